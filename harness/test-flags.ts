// The options of `faultline test`, which `faultline sweep` takes too (harness/sweep-command.ts),
// and how they name the program under test.
import { type Command, InvalidArgumentError, Option } from "commander";
import { PLUGINS } from "../workloads/index.js";
import { TOPOLOGIES } from "../workloads/topology.js";
import { SetupError } from "./exit-codes.js";
import { LATENCY_DISTS, type LatencyDist } from "./links.js";
import { addMaelstromOptions, type MaelstromFlags } from "./maelstrom-flags.js";
import {
  type CrashPoint,
  DEFAULT_FAULT_CHANGES_PER_RUN,
  DEFAULT_PACKET_FAULTS,
  FAULT_KINDS,
  type FaultKind,
  MAX_DEFAULT_INTERVAL_S,
  MIN_DEFAULT_INTERVAL_S,
  parseCrashPoint,
  TARGETS,
  type Targets,
} from "./nemesis/nemesis.js";
import { PARTITION_SHAPES, type PartitionShape } from "./nemesis/partition-shapes.js";
import { integer, number, probability } from "./option-parsers.js";
import { MAX_SEED } from "./random.js";
import { loadManifest, resolveBin, resolveSystem, systemNames, type Target } from "./target.js";
import { addWorkloadOptions, targetFromWorkloadFlags } from "./workload-options.js";

/** `--nemesis` takes a comma list of fault kinds, or `all`. */
function faultList(text: string): FaultKind[] {
  // `crash` needs --crash-after to say when, and `reconfigure` a workload that can (shard-kv),
  // so `all` means the faults that need nothing more.
  if (text === "all")
    return FAULT_KINDS.filter((kind) => kind !== "crash" && kind !== "reconfigure");
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

export interface TestFlags extends MaelstromFlags {
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

/** Adds every option of `test` to `command`. */
export function addTestOptions(command: Command): Command {
  command
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
    .option("-q, --quiet", "no progress or log lines on stderr");
  return addMaelstromOptions(addWorkloadOptions(command));
}

export function resolveTarget(
  flags: TestFlags,
  nodeArgs: string[],
): { target: Target; workload: string } {
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
