// Lab mode (workloads/mit-lab1/README.md): MIT 6.5840 Lab 1 solutions run unchanged — the
// student's mrcoordinator and mrworker built as the lab builds them, meeting on the lab's UNIX
// socket — through one test-mr.sh test per run, judged by our oracle and checkers.
import type { OptionSpec, WorkloadPlugin } from "../plugin.js";
import { MitLab1Driver } from "./driver.js";
import { builtPlugin, LAB_TEST_NAMES, LAB_TESTS, type LabTestName, locateLab } from "./lab.js";
import { type LabOptions, resolveLabOptions } from "./options.js";

const OPTIONS: readonly OptionSpec[] = [
  {
    flags: "--lab-test <test>",
    description: "mit-lab1: the test-mr.sh test to run (default wc)",
    type: LAB_TEST_NAMES,
  },
  {
    flags: "--lab-socket <path>",
    description: "mit-lab1: the lab's coordinatorSock() path (default /var/tmp/5840-mr-<uid>)",
    type: "string",
  },
  {
    flags: "--lab-race",
    description: "mit-lab1: build with -race, as test-mr.sh does (slower)",
    type: "flag",
  },
];

interface LabFlags {
  labTest?: LabTestName;
  labSocket?: string;
  labRace?: boolean;
}

function fromFlags(given: Readonly<Record<string, unknown>>): LabOptions {
  const flags = given as LabFlags;
  return {
    ...(flags.labTest && { test: flags.labTest }),
    ...(flags.labSocket && { socket: flags.labSocket }),
    ...(flags.labRace && { race: true }),
  };
}

export const mitLab1Plugin: WorkloadPlugin<unknown, LabOptions> = {
  name: "mit-lab1",
  // The tcp transport's star nemesis drives the process faults; no traffic goes through it.
  transport: "tcp",
  summary:
    "MIT 6.5840 Lab 1 run unchanged: --bin is your repository (or its built programs); one test-mr.sh test per run (--lab-test); kill and pause only (one shared UNIX socket)",
  faults: ["kill", "pause"],
  // The lab's workers all dial one UNIX socket path per user: no per-worker link to fault.
  faults_note:
    "network faults cannot apply to a Lab 1 solution: every worker dials the same per-user UNIX socket, so there is no per-worker link to cut, drop or delay; clock faults need libfaketime, which Go programs bypass",
  options_key: "mit_lab1",
  options: OPTIONS,
  fromFlags,
  prepare(settings, options) {
    const lab = resolveLabOptions(options);
    const programs = locateLab(settings.target.command.file);
    const test = LAB_TESTS[lab.test_name];
    if (programs.kind === "built") builtPlugin(programs.dir, test.app);
    return {
      name: `mit-lab1-${lab.test_name}`,
      extra: {
        // Timeline rows: process 0 is the job, worker slot k's instances are k+1 mod (W + 1).
        concurrency: test.workers + 1,
        mit_lab1: { ...lab, app: test.app, workers: test.workers, programs },
      },
    };
  },
  create(ctx, options) {
    const lab = resolveLabOptions(options);
    const programs = locateLab(ctx.settings.target.command.file);
    return new MitLab1Driver(ctx, { ...lab, test: LAB_TESTS[lab.test_name], programs });
  },
};
