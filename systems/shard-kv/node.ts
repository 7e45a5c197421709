// faultline's sharded key-value store (MIT 6.5840 Lab 5): one program for every role.
//
//   node dist/systems/shard-kv/node.js [--bug NAME] [--consensus raft|paxos]
//
// init's node_ids say who is who (protocols/shard-kv.ts roleOf): the first 3 nodes are the shard
// controller's replicas, the rest replica groups of 3. Each role is a replicated state machine
// over its own peers only (Raft by default, Multi-Paxos with --consensus paxos), durable in
// FAULTLINE_DATA_DIR: the controller (controller.ts) and a group (group.ts, group-server.ts).
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { controllersOf, type Role, roleOf } from "../../protocols/shard-kv.js";
import {
  type Body,
  dataDir,
  ErrorCode,
  MaelstromNode,
  type Message,
  parseNodeArgs,
  RPCError,
} from "../lib/maelstrom-node.js";
import { PaxosReplicated, RSM_MESSAGE_TYPES } from "../lib/paxos/rsm.js";
import { FilePaxosStorage, FileSnapshotStore } from "../lib/paxos/storage.js";
import { guards, InvariantViolation } from "../lib/raft/invariant.js";
import { RAFT_MESSAGE_TYPES } from "../lib/raft/messages.js";
import { RaftNode } from "../lib/raft/raft.js";
import { RaftReplicated } from "../lib/raft/replicated.js";
import { Storage } from "../lib/raft/storage.js";
import type { Replicated, StateMachine } from "../lib/replicated.js";
import { BUGS, bugFlags, isBugName } from "./bugs.js";
import {
  type ControllerCommand,
  ControllerMachine,
  ControllerService,
  parseControllerRequest,
} from "./controller.js";
import { GroupMachine, isGroupCommand } from "./group.js";
import { GroupServer, POLL_INTERVAL_MS } from "./group-server.js";

/** A controller request waits this long for its log entry: under a clerk's 1 s request timeout. */
export const CONTROLLER_SUBMIT_TIMEOUT_MS = 800;
const CONSENSUS = ["raft", "paxos"] as const;
/** Paxos: how far behind the others a replica may fall before they stop waiting for it. */
export const PAXOS_MAX_LAG_SLOTS = 1000;

const args = parseNodeArgs(["consensus"]);
if (args.bug !== undefined && !isBugName(args.bug)) {
  process.stderr.write(`unknown --bug "${args.bug}"; known: ${BUGS.join(", ")}\n`);
  process.exit(2);
}
const consensus = args.extra.consensus ?? "raft";
if (!(CONSENSUS as readonly string[]).includes(consensus)) {
  process.stderr.write(`--consensus wants ${CONSENSUS.join(" or ")}, got "${consensus}"\n`);
  process.exit(2);
}
const bugs = bugFlags(args.bug);
const node = new MaelstromNode();

/** The role's consensus messages go here; undefined until init. */
let rsm: Replicated<unknown, Body> | undefined;
let group: GroupServer | undefined;
let controller: ControllerService | undefined;

const { die, guarded } = guards((text) => node.log(text));

/** The replicated state machine of `sm` over `peers`, durable in `dir`, on the chosen consensus. */
function replicate<C>(
  peers: string[],
  sm: StateMachine<C>,
  isCommand: (cmd: unknown) => cmd is C,
  dir: string,
): Replicated<C, Body> {
  return consensus === "paxos" ? overPaxos(peers, sm, dir) : overRaft(peers, sm, isCommand, dir);
}

/**
 * Multi-Paxos, as UMich's sharded Paxos: every replica may propose. A replica more than
 * PAXOS_MAX_LAG_SLOTS behind (killed, cut off) is no longer waited for by done()/min(), so the
 * others' memory stays bounded; it catches up from a snapshot.
 */
function overPaxos<C>(peers: string[], sm: StateMachine<C>, dir: string): Replicated<C, Body> {
  return new PaxosReplicated<C, Body>({
    me: node.nodeId,
    peers,
    send: (to, body) => node.send(to, body),
    storage: new FilePaxosStorage(dir),
    snapshots: new FileSnapshotStore(dir),
    machine: sm,
    now_ms: () => performance.now(),
    max_lag_slots: PAXOS_MAX_LAG_SLOTS,
    invariantBroken: (text) => die(new Error(text)),
    log: (...parts) => node.log(...parts),
  });
}

function overRaft<C>(
  peers: string[],
  sm: StateMachine<C>,
  isCommand: (cmd: unknown) => cmd is C,
  dir: string,
): Replicated<C, Body> {
  const raft = new RaftNode<C, Body>(
    node.nodeId,
    peers,
    {
      send: (dest, body) => node.send(dest, body),
      setTimer: (delay_ms, callback) => setTimeout(guarded(callback), delay_ms),
      clearTimer: (handle) => clearTimeout(handle as NodeJS.Timeout),
      defer: (callback) => setImmediate(guarded(callback)),
      now_ms: () => performance.now(),
      random: Math.random,
      log: (text) => node.log(text),
    },
    new Storage<C>(dir),
    sm,
    isCommand,
    { commitOldTerm: false },
  );
  return new RaftReplicated(raft);
}

/** A controller log entry is a parsed request with `op` for `type`: valid when it parses again. */
function isControllerCommand(cmd: unknown): cmd is ControllerCommand {
  if (typeof cmd !== "object" || cmd === null) return false;
  const { op, ...rest } = cmd as Record<string, unknown>;
  if (typeof op !== "string") return false;
  try {
    parseControllerRequest({ ...rest, type: op });
    return true;
  } catch {
    return false;
  }
}

function startController(role: Extract<Role, { kind: "controller" }>, dir: string): void {
  const machine = new ControllerMachine({ unevenRebalance: bugs.unevenRebalance });
  const replicated = replicate(role.peers, machine, isControllerCommand, dir);
  rsm = replicated as Replicated<unknown, Body>;
  controller = new ControllerService(replicated, machine, {
    submit_timeout_ms: CONTROLLER_SUBMIT_TIMEOUT_MS,
  });
  replicated.start();
}

function startGroup(role: Extract<Role, { kind: "group" }>, dir: string): void {
  const machine = new GroupMachine(role.gid, bugs);
  const replicated = replicate(role.peers, machine, isGroupCommand, dir);
  rsm = replicated as Replicated<unknown, Body>;
  group = new GroupServer(
    replicated,
    machine,
    controllersOf(node.nodeIds),
    (dest, body, timeout_ms) => node.rpc(dest, body, timeout_ms),
    bugs,
    (text) => node.log(text),
  );
  const server = group;
  replicated.start();
  setInterval(
    guarded(() => server.tick()),
    POLL_INTERVAL_MS,
  );
}

node.onInit(() => {
  if (args.bug) node.log(`running with --bug ${args.bug}`);
  const dir = dataDir ?? mkdtempSync(join(tmpdir(), `shard-kv-${node.nodeId}-`));
  if (dataDir === undefined) node.log(`no FAULTLINE_DATA_DIR: keeping state in ${dir}`);
  try {
    const role = roleOf(node.nodeId, node.nodeIds);
    node.log(`${role.kind === "group" ? `gid ${role.gid}` : "controller"}, peers ${role.peers}`);
    if (role.kind === "group") startGroup(role, dir);
    else startController(role, dir);
  } catch (err) {
    if (err instanceof InvariantViolation) die(err);
    node.log(`cannot start: ${(err as Error).stack ?? err}`);
    process.exit(1);
  }
});

/** The controller service, or a definite refusal when this node is not a controller replica. */
function controllerService(): ControllerService {
  if (controller === undefined) {
    throw new RPCError(ErrorCode.notSupported, `${node.nodeId} is not a controller replica`);
  }
  return controller;
}

/** The group server, or a definite refusal when this node is not a group server. */
function groupServer(): GroupServer {
  if (group === undefined) {
    throw new RPCError(ErrorCode.notSupported, `${node.nodeId} is not a group server`);
  }
  return group;
}

for (const type of consensus === "paxos" ? RSM_MESSAGE_TYPES : RAFT_MESSAGE_TYPES) {
  node.on(
    type,
    guarded((msg: Message) => {
      rsm?.receive(msg.src, msg.body);
    }),
  );
}
for (const type of ["get", "put", "append"]) {
  node.on(
    type,
    guarded(async (msg: Message) => node.reply(msg, await groupServer().handleClient(msg.body))),
  );
}
for (const type of ["join", "leave", "move", "query"]) {
  node.on(
    type,
    guarded(async (msg: Message) => node.reply(msg, await controllerService().handle(msg.body))),
  );
}
node.on(
  "shard_pull",
  guarded((msg: Message) => node.reply(msg, groupServer().handlePull(msg.body))),
);
node.on(
  "shard_gc",
  guarded(async (msg: Message) => node.reply(msg, await groupServer().handleGc(msg.body))),
);

node.run();
