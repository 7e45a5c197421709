// faultline's Raft reference system: a linearizable key-value store replicated by Raft, serving
// Maelstrom's `lin-kv` (read / write / cas) and MIT's `kv` (get / put / append) on every node.
//
//   node dist/systems/raft-kv/node.js [--bug NAME] [--election-timeout-ms MIN[-MAX]]
//
// The Raft core (election, replication, log, durable storage, node-to-node messages) is the
// library in systems/lib/raft/; here are state-machine.ts (the KV store and request dedup) and
// service.ts (clients, forwarding, error codes). This file wires them to the process.
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import {
  type Body,
  dataDir,
  MaelstromNode,
  type Message,
  parseNodeArgs,
} from "../lib/maelstrom-node.js";
import { guards, InvariantViolation } from "../lib/raft/invariant.js";
import { RAFT_MESSAGE_TYPES } from "../lib/raft/messages.js";
import { DEFAULT_RAFT_OPTIONS, RaftNode, type RaftOptions } from "../lib/raft/raft.js";
import { Storage } from "../lib/raft/storage.js";
import { BUGS, bugFlags, isBugName } from "./bugs.js";
import { KvService } from "./service.js";
import { isKvCommand, type KvCommand, KvStateMachine } from "./state-machine.js";

const args = parseNodeArgs(["election-timeout-ms"]);
if (args.bug !== undefined && !isBugName(args.bug)) {
  process.stderr.write(`unknown --bug "${args.bug}"; known: ${BUGS.join(", ")}\n`);
  process.exit(2);
}
const raftOptions = withElectionTimeout(args.extra["election-timeout-ms"]);

/** `MIN` or `MIN-MAX` milliseconds (MAX defaults to twice MIN); the defaults when absent. */
function withElectionTimeout(text: string | undefined): RaftOptions {
  if (text === undefined) return DEFAULT_RAFT_OPTIONS;
  const match = /^(\d+)(?:-(\d+))?$/.exec(text);
  const min = Number(match?.[1]);
  const max = match?.[2] === undefined ? 2 * min : Number(match[2]);
  if (!match || !(min > DEFAULT_RAFT_OPTIONS.heartbeatIntervalMs && max > min)) {
    process.stderr.write(
      `--election-timeout-ms wants MIN or MIN-MAX milliseconds with ${DEFAULT_RAFT_OPTIONS.heartbeatIntervalMs} < MIN < MAX, got "${text}"\n`,
    );
    process.exit(2);
  }
  return { ...DEFAULT_RAFT_OPTIONS, electionTimeoutMinMs: min, electionTimeoutMaxMs: max };
}
const bugs = bugFlags(args.bug);
const node = new MaelstromNode();

let raft: RaftNode<KvCommand, Body> | undefined;
let service: KvService | undefined;

const { die, guarded } = guards((text) => node.log(text));

node.onInit(() => {
  if (args.bug) node.log(`running with --bug ${args.bug}`);
  const dir = dataDir ?? mkdtempSync(join(tmpdir(), `raft-kv-${node.nodeId}-`));
  if (dataDir === undefined) node.log(`no FAULTLINE_DATA_DIR: keeping state in ${dir}`);
  const sm = new KvStateMachine(!bugs.noDedup);
  const storage = new Storage<KvCommand>(dir, {
    fsync: !bugs.noFsync,
    persistVote: !bugs.noPersistVote,
  });
  const now_ms = () => performance.now();
  try {
    raft = new RaftNode<KvCommand, Body>(
      node.nodeId,
      node.nodeIds,
      {
        send: (dest, body) => node.send(dest, body),
        setTimer: (delay_ms, callback) => setTimeout(guarded(callback), delay_ms),
        clearTimer: (handle) => clearTimeout(handle as NodeJS.Timeout),
        defer: (callback) => setImmediate(guarded(callback)),
        now_ms,
        random: Math.random,
        log: (text) => node.log(text),
      },
      storage,
      {
        apply: (cmd) => sm.apply(cmd),
        snapshot: () => sm.snapshot(),
        restore: (state) => sm.restore(state),
      },
      isKvCommand,
      bugs,
      raftOptions,
    );
  } catch (err) {
    if (err instanceof InvariantViolation) die(err);
    node.log(`cannot recover the durable state: ${(err as Error).stack ?? err}`);
    process.exit(1);
  }
  service = new KvService(node, raft, sm, bugs, now_ms);
  raft.start();
});

for (const type of RAFT_MESSAGE_TYPES) {
  node.on(
    type,
    guarded((msg: Message) => raft?.handle(msg.src, msg.body)),
  );
}
for (const type of ["read", "write", "cas", "get", "put", "append"]) {
  node.on(
    type,
    guarded(async (msg: Message) => {
      await (service as KvService).handleClient(msg);
    }),
  );
}
node.on(
  "forward",
  guarded(async (msg: Message) => {
    await service?.handleForward(msg);
  }),
);
node.on(
  "forward_reply",
  guarded((msg: Message) => service?.handleForwardReply(msg)),
);

node.run();
