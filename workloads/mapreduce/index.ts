// The `mapreduce` workload as a plugin of the tcp transport: its flags, their checks before the
// run, and the driver (./driver.ts) that runs one job.
import {
  type NodeCommand,
  type OptionSpec,
  SetupError,
  type TcpNet,
  type WorkloadPlugin,
} from "../plugin.js";
import { MapReduceDriver } from "./driver.js";
import { MR_APPS, type MrApp } from "./job.js";
import {
  type MapReduceOptions,
  resolveMapReduceOptions,
  resolveMapReduceRoles,
} from "./options.js";

const OPTIONS: readonly OptionSpec[] = [
  {
    flags: "--mr-app <app>",
    description: "mapreduce: the application the workers run (default wc)",
    type: MR_APPS,
  },
  {
    flags: "--mr-files <n>",
    description: "mapreduce: input files, one map task each (default 8)",
    type: "integer",
    min: 1,
    max: 10_000,
  },
  {
    flags: "--mr-file-kib <n>",
    description: "mapreduce: size of each generated input file (default 32)",
    type: "number",
    min: 0.01,
  },
  {
    flags: "--n-reduce <n>",
    description: "mapreduce: reduce tasks (default 10)",
    type: "integer",
    min: 1,
    max: 10_000,
  },
  {
    flags: "--task-timeout-ms <ms>",
    description: "mapreduce: the coordinator re-assigns a task silent this long (default 10000)",
    type: "integer",
    min: 1,
  },
  {
    flags: "--mr-time-scale <x>",
    description:
      "mapreduce: FAULTLINE_MR_TIME_SCALE for the programs (0.2 = the apps' sleeps 5x shorter)",
    type: "number",
    min: 0,
  },
  {
    flags: "--coordinator-bin <file>",
    description: "mapreduce: your coordinator program (the same as --bin)",
    type: "program",
  },
  {
    flags: "--worker-bin <file>",
    description: "mapreduce: your worker program (default: ours)",
    type: "program",
  },
];

/** The parsed values of OPTIONS, as commander names them. */
interface MapReduceFlags {
  mrApp?: MrApp;
  mrFiles?: number;
  mrFileKib?: number;
  nReduce?: number;
  taskTimeoutMs?: number;
  mrTimeScale?: number;
  workerBin?: string;
  workerArg?: string[];
}

/** Only the flags the user gave, so resolveMapReduceOptions fills in the defaults. */
function fromFlags(
  given: Readonly<Record<string, unknown>>,
  program: (file: string, args?: readonly string[]) => NodeCommand,
) {
  const flags = given as MapReduceFlags;
  return {
    ...(flags.mrApp && { app: flags.mrApp }),
    ...(flags.mrFiles !== undefined && { files: flags.mrFiles }),
    ...(flags.mrFileKib !== undefined && { file_kib: flags.mrFileKib }),
    ...(flags.nReduce !== undefined && { n_reduce: flags.nReduce }),
    ...(flags.taskTimeoutMs !== undefined && { task_timeout_ms: flags.taskTimeoutMs }),
    ...(flags.mrTimeScale !== undefined && { time_scale: flags.mrTimeScale }),
    ...(flags.workerBin && { worker_command: program(flags.workerBin, flags.workerArg) }),
  };
}

export const mapreducePlugin: WorkloadPlugin<TcpNet, MapReduceOptions> = {
  name: "mapreduce",
  transport: "tcp",
  reference: "mapreduce",
  summary:
    "one MapReduce job (the MIT lab's test-mr.sh): a coordinator and --node-count workers through the TCP proxy",
  options_key: "mapreduce",
  options: OPTIONS,
  target_option: "--coordinator-bin <file>",
  fromFlags,
  prepare(settings, options, role) {
    if (settings.node_count < 1) {
      throw new SetupError("--node-count (the workers) must be at least 1");
    }
    const mr = resolveMapReduceOptions(options);
    const roles = resolveMapReduceRoles(settings.target, options, role);
    return {
      extra: {
        // Timeline rows: process 0 is the job, worker slot k's instances are k+1 mod (W + 1).
        concurrency: settings.node_count + 1,
        mapreduce: { ...mr, roles },
      },
    };
  },
  create(ctx, options) {
    const role = (name: string, fallback?: readonly string[]) => ctx.role(name, fallback);
    const roles = resolveMapReduceRoles(ctx.settings.target, options, role);
    return new MapReduceDriver(ctx, resolveMapReduceOptions(options), roles);
  },
};
