// Maelstrom's own `test` flags (maelstrom.core and jepsen.cli) beyond the ones cli.ts shares with
// it, with Maelstrom's meaning; those that cannot apply to local subprocesses end the command with
// one line naming what to do instead.
import { readFileSync } from "node:fs";
import { type Command, InvalidArgumentError, Option } from "commander";
import type { Availability } from "../checkers/availability.js";
import { PLUGINS } from "../workloads/index.js";
import { EXIT, SetupError } from "./exit-codes.js";
import { MAX_SEED, Random } from "./random.js";
import { SERVICE_NAMES } from "./services.js";
import type { TestOptions } from "./test-options.js";

export interface MaelstromFlags {
  nodeCount: number;
  nodes?: string[];
  node?: string[];
  nodesFile?: string;
  testCount: number;
  availability?: Availability;
  logStderr?: boolean;
  logNetSend?: boolean;
  logNetRecv?: boolean;
}

/** What the Maelstrom flags add to a run, and how many runs to make. */
export interface MaelstromRunOptions extends Pick<TestOptions, "nodes" | "availability" | "log"> {
  node_count: number;
  test_count: number;
}

const SSH = "faultline runs nodes as local processes, never over SSH: drop it";
const TXN = "goes with Maelstrom's transactional workloads, which faultline does not run yet";

/** Flags that do not apply here: the spelling, commander's key, and the one-line answer. */
const UNSUPPORTED: ReadonlyArray<{ flag: string; key: string; answer: string }> = [
  {
    flag: "--leave-db-running",
    key: "leaveDbRunning",
    answer:
      "faultline stops every node when the run ends; their logs and data dirs stay in store/latest/node-logs and store/latest/data",
  },
  { flag: "--username <user>", key: "username", answer: SSH },
  { flag: "--password <pass>", key: "password", answer: SSH },
  { flag: "--ssh-private-key <file>", key: "sshPrivateKey", answer: SSH },
  { flag: "--strict-host-key-checking", key: "strictHostKeyChecking", answer: SSH },
  {
    flag: "--no-ssh",
    key: "ssh",
    answer: "faultline never uses SSH (nodes are local processes): drop it",
  },
  {
    flag: "--logging-json",
    key: "loggingJson",
    answer:
      "faultline.log is plain text; results.json and history.jsonl are the machine-readable output",
  },
  { flag: "--consistency-models <models>", key: "consistencyModels", answer: TXN },
  { flag: "--key-count <n>", key: "keyCount", answer: TXN },
  { flag: "--max-txn-length <n>", key: "maxTxnLength", answer: TXN },
  { flag: "--max-writes-per-key <n>", key: "maxWritesPerKey", answer: TXN },
];

/** Node names become file names (node-logs/<node>.log, data/<node>/). */
const NODE_NAME = /^[A-Za-z0-9_.-]+$/;

function availability(text: string): Availability {
  if (text === "total") return "total";
  const fraction = Number(text);
  if (text.trim() === "" || !(fraction >= 0 && fraction <= 1)) {
    throw new InvalidArgumentError("expected total or a fraction from 0 to 1, e.g. 0.99");
  }
  return fraction;
}

function positiveInteger(text: string): number {
  const n = Number(text);
  if (!Number.isSafeInteger(n) || n < 1) throw new InvalidArgumentError("expected an integer >= 1");
  return n;
}

const commaList = (text: string, previous: string[] = []) => [
  ...previous,
  ...text.split(",").map((name) => name.trim()),
];
const collect = (text: string, previous: string[] = []) => [...previous, text];

export function addMaelstromOptions(command: Command): Command {
  command
    .option("--nodes <names>", "node names, comma-separated (instead of n0 … n(N-1))", commaList)
    .option("-n, --node <name>", "a node name; repeat for more", collect)
    .option("--nodes-file <file>", "node names, one per line")
    .option(
      "--test-count <n>",
      "run the test N times, stopping at the first that is not valid",
      positiveInteger,
      1,
    )
    .option(
      "--availability <fraction>",
      "fraction of client ops that must succeed: total or a number from 0 to 1",
      availability,
    )
    .option("--log-stderr", "print each node's stderr lines on ours, prefixed with the node")
    .option("--log-net-send", "print each message as it is sent")
    .option("--log-net-recv", "print each message as it is received");
  for (const { flag } of UNSUPPORTED) command.addOption(new Option(flag).hideHelp());
  return command;
}

/** Resolves the Maelstrom flags for one `test` command; throws SetupError for what cannot apply. */
export function maelstromRunOptions(
  flags: MaelstromFlags,
  workload: string,
  command: Command,
): MaelstromRunOptions {
  const given = (key: string) => command.getOptionValueSource(key) === "cli";
  const unsupported = UNSUPPORTED.find(({ key }) => given(key));
  if (unsupported) {
    throw new SetupError(`${unsupported.flag.split(" ")[0]}: ${unsupported.answer}`);
  }
  const fromFile = flags.nodesFile ? readNodesFile(flags.nodesFile) : [];
  const named = [...fromFile, ...(flags.nodes ?? []), ...(flags.node ?? [])];
  // As in Maelstrom, --node-count overrides --nodes.
  const names = named.length > 0 && !given("nodeCount") ? checkNodeNames(named) : undefined;
  const log = {
    ...(flags.logStderr && { stderr: true }),
    ...(flags.logNetSend && { net_send: true }),
    ...(flags.logNetRecv && { net_recv: true }),
  };
  if ((PLUGINS[workload]?.transport ?? "maelstrom") !== "maelstrom") {
    const maelstromOnly = [
      names && "--nodes",
      flags.availability !== undefined && "--availability",
      flags.logStderr && "--log-stderr",
      flags.logNetSend && "--log-net-send",
      flags.logNetRecv && "--log-net-recv",
    ].find(Boolean);
    if (maelstromOnly) {
      throw new SetupError(
        `${maelstromOnly} applies to maelstrom-protocol nodes; ${workload} runs on another transport`,
      );
    }
  }
  return {
    node_count:
      names?.length ??
      // A node count typed, or set by a bug's run (merged into `flags`, not into `command`),
      // wins over the workload's default.
      (given("nodeCount") || flags.nodeCount !== command.getOptionValue("nodeCount")
        ? flags.nodeCount
        : (PLUGINS[workload]?.default_node_count ?? flags.nodeCount)),
    test_count: flags.testCount,
    ...(names && { nodes: names }),
    ...(flags.availability !== undefined && { availability: flags.availability }),
    ...(Object.keys(log).length > 0 && { log }),
  };
}

function readNodesFile(file: string): string[] {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (err) {
    throw new SetupError(`--nodes-file ${file}: ${(err as Error).message}`);
  }
  return text
    .split("\n")
    .map((line) => line.trim())
    .filter((line) => line !== "");
}

function checkNodeNames(names: string[]): string[] {
  for (const name of names) {
    if (!NODE_NAME.test(name) || /^\.+$/.test(name)) {
      throw new SetupError(
        `node name "${name}": use letters, digits, _, . and - (it names the node's log file)`,
      );
    }
    // `--nodes 5` reads as a count to anyone who has not met Maelstrom's meaning (names).
    if (/^[0-9]+$/.test(name))
      throw new SetupError(
        `node name "${name}": --nodes takes node names (Maelstrom's meaning); for a count use --node-count ${name}`,
      );
    // Maelstrom's rule: an id starting with c is a client.
    if (name.startsWith("c"))
      throw new SetupError(`node name "${name}": ids starting with c are clients`);
    if (SERVICE_NAMES.includes(name)) throw new SetupError(`node name "${name}" is a service's`);
  }
  const duplicate = names.find((name, i) => names.indexOf(name) !== i);
  if (duplicate) throw new SetupError(`node name "${duplicate}" is given twice`);
  return names;
}

/** Run `index` of a --test-count series: the given seed and the ones after it, or fresh seeds. */
export function runSeed(first: number | undefined, index: number): number {
  return first === undefined ? Random.freshSeed() : (first + index) % (MAX_SEED + 1);
}

/**
 * Makes up to `count` runs in sequence, as Jepsen's --test-count does: each is its own run with
 * its own seed, and the series stops at the first run that is not valid (or interrupted: exit 3),
 * whose exit code it returns.
 */
export async function repeatRuns(
  count: number,
  once: (index: number) => Promise<number>,
): Promise<number> {
  let exitCode: number = EXIT.valid;
  for (let index = 0; index < count && exitCode === EXIT.valid; index++)
    exitCode = await once(index);
  return exitCode;
}
