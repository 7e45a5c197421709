#!/usr/bin/env node
// The `faultline` command. Every non-zero exit prints one line saying why (ARCHITECTURE.md "The
// lifecycle").
import { Command, CommanderError, InvalidArgumentError, Option } from "commander";
import { PLUGINS, workloadPlugin } from "../workloads/index.js";
import { TOPOLOGIES } from "../workloads/topology.js";
import { type BugRun, bugRunFor, describeBugRun } from "./bug-run.js";
import { registerCheckCommand } from "./check-command.js";
import { EXIT, SetupError } from "./exit-codes.js";
import { LATENCY_DISTS, type LatencyDist } from "./links.js";
import { Logger } from "./logger.js";
import {
  addMaelstromOptions,
  type MaelstromFlags,
  maelstromRunOptions,
  repeatRuns,
  runSeed,
} from "./maelstrom-flags.js";
import { findLibfaketime } from "./nemesis/clock-control.js";
import {
  type CrashPoint,
  DEFAULT_FAULT_CHANGES_PER_RUN,
  DEFAULT_PACKET_FAULTS,
  defaultNemesisInterval,
  FAULT_KINDS,
  type FaultKind,
  MAX_DEFAULT_INTERVAL_S,
  MIN_DEFAULT_INTERVAL_S,
  type NemesisScript,
  parseCrashPoint,
  TARGETS,
  type Targets,
} from "./nemesis/nemesis.js";
import { PARTITION_SHAPES, type PartitionShape } from "./nemesis/partition-shapes.js";
import { loadNemesisScript } from "./nemesis/script-loader.js";
import { integer, number, probability } from "./option-parsers.js";
import { killAllGroups } from "./process-groups.js";
import { MAX_SEED } from "./random.js";
import { referenceOptions, referenceTarget } from "./reference.js";
import { registerReportCommands } from "./report-command.js";
import { type Progress, runTest } from "./run.js";
import { printSummary } from "./summary.js";
import { loadManifest, resolveBin, resolveSystem, systemNames, type Target } from "./target.js";
import {
  addWorkloadOptions,
  assertOwnOptions,
  describeWorkloads,
  targetFromWorkloadFlags,
  workloadOptions,
} from "./workload-options.js";

/** `--nemesis` takes a comma list of fault kinds, or `all`. */
function faultList(text: string): FaultKind[] {
  // `crash` needs --crash-after to say when, so `all` means the faults that need nothing more.
  if (text === "all") return FAULT_KINDS.filter((kind) => kind !== "crash");
  const kinds = text
    .split(",")
    .map((k) => k.trim())
    .filter((k) => k !== "" && k !== "none");
  for (const kind of kinds) {
    if (!(FAULT_KINDS as readonly string[]).includes(kind)) {
      throw new InvalidArgumentError(
        `unknown fault "${kind}"; choose from ${FAULT_KINDS.join(", ")} or all`,
      );
    }
  }
  return [...new Set(kinds)] as FaultKind[];
}

/** `--crash-after` takes a comma list of TYPE or TYPE.FIELD=VALUE. */
function crashPoints(text: string): CrashPoint[] {
  try {
    return text.split(",").map(parseCrashPoint);
  } catch (err) {
    throw new InvalidArgumentError((err as Error).message);
  }
}

function targetList(text: string): Targets[] {
  const targets = text.split(",").map((t) => t.trim());
  for (const t of targets) {
    if (!(TARGETS as readonly string[]).includes(t)) {
      throw new InvalidArgumentError(`unknown target "${t}"; choose from ${TARGETS.join(", ")}`);
    }
  }
  return targets as Targets[];
}

/** `--concurrency` takes N or Nn (N times the node count), as Maelstrom does. */
function concurrency(text: string): string {
  if (!/^[1-9][0-9]*n?$/.test(text))
    throw new InvalidArgumentError(`expected N or Nn, e.g. 10 or 2n`);
  return text;
}

interface TestFlags extends MaelstromFlags {
  workload?: string;
  bin?: string;
  system?: string;
  bug?: string;
  timeLimit: number;
  rate: number;
  concurrency: string;
  latency: number;
  latencyDist: LatencyDist;
  topology: string;
  recoveryTime: number;
  strict?: boolean;
  againstReference?: true | string;
  seed?: number;
  store: string;
  quiet?: boolean;
  nemesis: FaultKind[];
  nemesisInterval?: number;
  nemesisSerial?: boolean;
  nemesisScript?: string;
  partitionShape?: PartitionShape;
  packetLoss: number;
  packetDup: number;
  packetDelay: number;
  killTargets?: Targets[];
  crashAfter?: CrashPoint[];
}

function testCommand(): Command {
  const command = new Command("test")
    .description("start a system's nodes, drive a workload at them, check the history")
    .addOption(
      new Option(
        "-w, --workload <name>",
        "workload to run (faultline workloads lists them)",
      ).choices(Object.keys(PLUGINS)),
    )
    .option("--bin <file>", "your node program (arguments for it go after --)")
    .option("--system <name>", `a built-in reference system (${systemNames().join(", ")})`)
    .option(
      "--bug <name>",
      "with --system: run one of its deliberately buggy variants, with the faults and flags that expose it (printed; flags you give win)",
    )
    .option("--node-count <n>", "number of nodes, named n0 … n(N-1)", integer(1, 1000), 5)
    .option("--time-limit <s>", "seconds of workload before the final phase", number(0), 30)
    .option("--rate <ops/s>", "total client operations per second", number(0), 10)
    .option("--concurrency <n>", "client workers: N, or Nn for N per node", concurrency, "1n")
    .option("--latency <ms>", "mean inter-node message latency", number(0), 0)
    .addOption(
      new Option("--latency-dist <dist>", "latency distribution")
        .choices(LATENCY_DISTS)
        .default("constant"),
    )
    .addOption(
      new Option("--topology <name>", "broadcast topology").choices(TOPOLOGIES).default("grid"),
    )
    .option(
      "--nemesis <faults>",
      `faults to inject: comma list of ${FAULT_KINDS.join(", ")}, or all`,
      faultList,
      [],
    )
    .option(
      "--nemesis-interval <s>",
      `mean seconds between fault changes (default: --time-limit / ${DEFAULT_FAULT_CHANGES_PER_RUN}, from ${MIN_DEFAULT_INTERVAL_S} to ${MAX_DEFAULT_INTERVAL_S})`,
      number(0.01),
    )
    .option(
      "--nemesis-script <script>",
      "an exact fault schedule: FILE[#EXPORT], an ES module exporting async (control) => {…}, or the name of a script the --system ships",
    )
    .option(
      "--nemesis-serial",
      "one fault at a time: each start picks one kind from --nemesis, which stops before the next",
    )
    .addOption(
      new Option(
        "--partition-shape <shape>",
        "partition shape (default: each in turn, seeded order, ones that split the cluster first)",
      ).choices(PARTITION_SHAPES),
    )
    .option(
      "--packet-loss <p>",
      "packet faults: drop probability",
      probability,
      DEFAULT_PACKET_FAULTS.loss,
    )
    .option(
      "--packet-dup <p>",
      "packet faults: duplicate probability",
      probability,
      DEFAULT_PACKET_FAULTS.duplicate,
    )
    .option(
      "--packet-delay <ms>",
      "packet faults: mean extra delay (uniform, so it reorders)",
      number(0),
      DEFAULT_PACKET_FAULTS.delay_ms,
    )
    .option(
      "--kill-targets <sets>",
      "which nodes kill/pause/packet/clock faults hit: comma list of one, minority, all (default all three)",
      targetList,
    )
    .option(
      "--crash-after <messages>",
      "crash faults: while one is on, a target node that sends a matching message is killed right then and restarted at once: comma list of TYPE or TYPE.FIELD=VALUE (e.g. request_vote_reply.granted=true)",
      crashPoints,
    )
    .option(
      "--recovery-time <s>",
      "seconds to wait after healing before the final ops",
      number(0),
      10,
    )
    .option(
      "--strict",
      "fail, not warn, on rules stricter than the course's contract (the report names each one)",
    )
    .option(
      "--against-reference [system]",
      "then run our reference system for the workload (or SYSTEM) with the same options and seed, and report both verdicts: is the test fair?",
    )
    .option(
      "--seed <n>",
      "seed for every random choice (default: random, printed)",
      integer(0, MAX_SEED),
    )
    .option("--store <dir>", "where runs are stored", "store")
    .option("-q, --quiet", "no progress or log lines on stderr")
    .argument("[node-args...]", "arguments passed to --bin")
    .action(async (nodeArgs: string[], flags: TestFlags, given: Command) => {
      const fresh = () => addMaelstromOptions(testCommand());
      const run = await bugRunFor(flags.system, flags.bug, given, nodeArgs, fresh);
      process.exitCode = await test(run.nodeArgs, { ...flags, ...run.values }, given, run);
    });
  return addWorkloadOptions(command);
}

function resolveTarget(flags: TestFlags, nodeArgs: string[]): { target: Target; workload: string } {
  // mapreduce's --coordinator-bin names the target in the course's words.
  const own = flags.workload && targetFromWorkloadFlags(flags.workload, flags as never);
  if (own && (flags.bin || flags.system)) {
    throw new SetupError(`${own.flag} names the program to test: give it or --bin/--system`);
  }
  if (flags.bin && flags.system) throw new SetupError("give --bin or --system, not both");
  if (flags.system) {
    const workload = flags.workload ?? loadManifest(flags.system).workloads[0];
    if (!workload) throw new SetupError(`system ${flags.system} lists no workloads`);
    return { target: resolveSystem(flags.system, workload, flags.bug, nodeArgs), workload };
  }
  if (flags.bug) throw new SetupError("--bug goes with --system");
  if (own && flags.workload) {
    return { target: resolveBin(own.bin, [...own.args, ...nodeArgs]), workload: flags.workload };
  }
  if (!flags.bin) throw new SetupError("say what to test: --bin ./your-node or --system NAME");
  if (!flags.workload) throw new SetupError("--bin needs a workload: -w/--workload NAME");
  return { target: resolveBin(flags.bin, nodeArgs), workload: flags.workload };
}

async function test(
  nodeArgs: string[],
  flags: TestFlags,
  command: Command,
  run: BugRun,
): Promise<number> {
  const { target, workload } = resolveTarget(flags, nodeArgs);
  assertOwnOptions(workload, (key) => command.getOptionValueSource(key) === "cli");
  const reference =
    flags.againstReference === undefined
      ? undefined
      : referenceTarget(workload, flags.againstReference);
  const maelstrom = maelstromRunOptions(flags, workload, command);
  if (flags.nemesis.includes("clock") && !findLibfaketime()) {
    throw new SetupError(
      "--nemesis clock needs libfaketime, which is not installed: run `apt-get install libfaketime`",
    );
  }
  if (flags.crashAfter && !flags.nemesis.includes("crash")) {
    throw new SetupError("--crash-after says when crash faults strike: add crash to --nemesis");
  }
  if (flags.nemesis.includes("crash") && !flags.crashAfter) {
    throw new SetupError(
      "--nemesis crash needs --crash-after TYPE[.FIELD=VALUE] (which messages a node crashes right after)",
    );
  }
  let script: NemesisScript | undefined;
  if (flags.nemesisScript !== undefined) {
    if (workloadPlugin(workload).transport !== "maelstrom") {
      throw new SetupError(
        `--nemesis-script drives maelstrom-protocol nodes; ${workload} runs on another transport`,
      );
    }
    script = await loadNemesisScript(flags.nemesisScript, target.manifest);
  }
  const concurrencyCount = flags.concurrency.endsWith("n")
    ? Number(flags.concurrency.slice(0, -1)) * maelstrom.node_count
    : Number(flags.concurrency);
  const showProgress = !flags.quiet && process.stderr.isTTY === true;
  const clearLine = () => {
    if (showProgress) process.stderr.write("\r\x1b[K");
  };
  // One logger per run: it attaches to that run's faultline.log.
  let log = new Logger(flags.quiet === true, clearLine);
  const applied = flags.bug && describeBugRun(flags.bug, run);

  const controller = new AbortController();
  let signals = 0;
  const onSignal = (name: NodeJS.Signals) => {
    signals++;
    if (signals === 1) {
      log.info(`${name}: stopping nodes and keeping the history (press Ctrl-C again to force)`);
      controller.abort();
    } else {
      killAllGroups();
      process.stderr.write(`faultline: ${name} again: killed every node; exiting\n`);
      process.exit(EXIT.couldNotRun);
    }
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  const once = async (index: number): Promise<number> => {
    const seed = runSeed(flags.seed, index);
    if (index > 0) log = new Logger(flags.quiet === true, clearLine);
    if (maelstrom.test_count > 1) log.info(`run ${index + 1} of ${maelstrom.test_count}`);
    log.info(`seed ${seed}`);
    if (applied) log.info(applied);
    const repeat = repeatCommand(seed, run);
    const outcome = await runTest(
      {
        workload,
        target,
        node_count: maelstrom.node_count,
        time_limit_s: flags.timeLimit,
        rate: flags.rate,
        concurrency: concurrencyCount,
        latency: { mean_ms: flags.latency, dist: flags.latencyDist },
        topology: flags.topology,
        recovery_s: flags.recoveryTime,
        ...(flags.strict && { strict: true }),
        seed,
        store: flags.store,
        command: repeat,
        nemesis: {
          faults: flags.nemesis,
          interval_s: flags.nemesisInterval ?? defaultNemesisInterval(flags.timeLimit),
          ...(flags.nemesisSerial && { serial: true }),
          ...(script && { script }),
          ...(flags.partitionShape && { partition_shape: flags.partitionShape }),
          packet: {
            loss: flags.packetLoss,
            duplicate: flags.packetDup,
            delay_ms: flags.packetDelay,
          },
          ...(flags.killTargets && { targets: flags.killTargets }),
          ...(flags.crashAfter && { crash_points: flags.crashAfter }),
        },
        ...workloadOptions(workload, flags as unknown as Record<string, unknown>),
        ...(maelstrom.nodes && { nodes: maelstrom.nodes }),
        ...(maelstrom.availability !== undefined && { availability: maelstrom.availability }),
        ...(maelstrom.log && { log: maelstrom.log }),
      },
      log,
      controller.signal,
      showProgress ? (p) => process.stderr.write(`\r\x1b[K${progressLine(p)}`) : undefined,
      reference &&
        ((options) => ({
          options: referenceOptions(
            options,
            reference,
            flags as unknown as Record<string, unknown>,
          ),
          log: new Logger(flags.quiet === true, clearLine),
        })),
    );
    clearLine();
    printSummary(outcome, repeat);
    if (controller.signal.aborted) {
      const interrupted = outcome.results.reference?.status === "interrupted" ? "reference/" : "";
      process.stderr.write(
        `faultline: interrupted; the history so far is in ${outcome.dir}/${interrupted}history.jsonl\n`,
      );
    }
    return outcome.exitCode;
  };
  try {
    return await repeatRuns(maelstrom.test_count, once);
  } finally {
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
  }
}

function progressLine(p: Progress): string {
  return `[${p.elapsed_s.toFixed(1)}/${p.time_limit_s} s] ${p.phase} · ok ${p.ok} fail ${p.fail} info ${p.info} · faults: ${p.faults.join("; ") || "none"}`;
}

/** Flags (with their value) the repeat command drops: it repeats one run, with its own seed. */
const ONE_RUN_FLAGS = ["--seed", "--test-count"];

/** The command line that repeats this run, with its seed and the bug run's flags spelt out. */
function repeatCommand(seed: number, run: BugRun): string {
  const args = process.argv
    .slice(2)
    .filter(
      (arg, i, all) => !ONE_RUN_FLAGS.includes(arg) && !ONE_RUN_FLAGS.includes(all[i - 1] ?? ""),
    );
  const dashes = args.indexOf("--");
  const head = dashes === -1 ? args : args.slice(0, dashes);
  const tail = run.nodeArgsFromRun
    ? ["--", ...run.nodeArgs]
    : dashes === -1
      ? []
      : args.slice(dashes);
  return ["faultline", ...head, ...run.words, "--seed", String(seed), ...tail]
    .map(shellQuote)
    .join(" ");
}

function shellQuote(arg: string): string {
  return /^[A-Za-z0-9_./:=,@%+-]+$/.test(arg) ? arg : `'${arg.replace(/'/g, `'\\''`)}'`;
}

export function buildProgram(): Command {
  const program = new Command("faultline")
    .description(
      "Jepsen-style fault injection and linearizability checking for local distributed systems",
    )
    .version("0.1.0")
    .exitOverride()
    .showHelpAfterError(false);
  program.addCommand(addMaelstromOptions(testCommand()).exitOverride());
  program.addCommand(
    new Command("workloads")
      .description("list the workloads: transport, what each does, and its own options")
      .action(() => {
        process.stdout.write(describeWorkloads());
      }),
  );
  registerCheckCommand(program);
  registerReportCommands(program);
  for (const sub of program.commands) sub.exitOverride();
  return program;
}

async function main(): Promise<void> {
  process.on("uncaughtException", (err) => {
    killAllGroups();
    process.stderr.write(`faultline: internal error: ${err.stack ?? err.message}\n`);
    process.exit(EXIT.couldNotRun);
  });
  try {
    await buildProgram().parseAsync(process.argv);
  } catch (err) {
    if (err instanceof CommanderError) {
      const done =
        err.code === "commander.helpDisplayed" ||
        err.code === "commander.version" ||
        err.code === "commander.help";
      process.exitCode = done ? EXIT.valid : EXIT.couldNotRun;
      return;
    }
    if (err instanceof SetupError) {
      process.stderr.write(`faultline: ${err.message}\n`);
      process.exitCode = EXIT.couldNotRun;
      return;
    }
    throw err;
  }
}

await main();
