// faultline's gossip reference node: one program serving Maelstrom's echo, unique-ids,
// broadcast, g-set, g-counter and pn-counter workloads (README.md "The interface, per workload").
// Run: node dist/systems/gossip/node.js [--bug NAME] [--workload NAME]. README.md beside this
// file describes the interface and the deliberately wrong variants (--bug).
import { randomBytes } from "node:crypto";
import {
  type Body,
  ErrorCode,
  MaelstromNode,
  type Message,
  type NodeArgs,
  parseNodeArgs,
  RPCError,
} from "../lib/maelstrom-node.js";

export const BUGS = ["bad-echo", "duplicate-ids", "lose-messages", "double-count", "no-retry"];

// Timing and bounds. Every resend is driven by one of these timers, never by a reply.
/** How often each peer's unacknowledged broadcast values are (re)sent. */
const BROADCAST_RETRY_MS = 100;
/** A gossip batch unanswered this long is presumed lost; its values go out again. */
const BROADCAST_ACK_TIMEOUT_MS = 500;
/** Values per gossip message, so one message stays small however far a peer is behind. */
const MAX_BATCH_VALUES = 512;
/** How often the g-set and counter states are sent to peers (state gossip needs no acks). */
const STATE_GOSSIP_MS = 200;
/** Elements per g-set state message; a larger set goes out in several messages. */
const MAX_STATE_ELEMENTS = 4096;
/** How long a read waits to learn whether this is a g-set or a counter run (see `read`). */
const WORKLOAD_WAIT_MS = 2000;
/** bad-echo's fixed-size buffer. */
const BAD_ECHO_CHARS = 14;

let args: NodeArgs;
try {
  args = parseNodeArgs();
} catch (err) {
  process.stderr.write(
    `${(err as Error).message}\nusage: node.js [--bug NAME] [--workload NAME]\n`,
  );
  process.exit(2);
}
const bug = args.bug;
if (bug !== undefined && !BUGS.includes(bug)) {
  process.stderr.write(`unknown --bug "${bug}"; known: ${BUGS.join(", ")}\n`);
  process.exit(2);
}

const node = new MaelstromNode();

/** Values are any JSON; equal values must share one key (object key order aside). */
function keyOf(value: unknown): string {
  return JSON.stringify(value) ?? "null";
}

// ---------------------------------------------------------------------------------------------
// Which workload is running. broadcast, g-set and the counters all use `read`, with different
// replies, so the node infers the workload from the first message that tells them apart (a
// `topology`, an `add` with `element` or `delta`, or a peer's gossip) unless --workload says.

type Mode = "broadcast" | "g-set" | "counter";
let mode: Mode | undefined = modeFromName(args.workload);
const modeWaiters: Array<() => void> = [];

function modeFromName(name: string | undefined): Mode | undefined {
  if (name === undefined || name === "echo" || name === "unique-ids") return undefined;
  if (name === "broadcast" || name === "g-set") return name;
  if (name === "g-counter" || name === "pn-counter") return "counter";
  process.stderr.write(`unknown --workload "${name}"\n`);
  process.exit(2);
}

function learnMode(evidence: Mode): void {
  if (mode === undefined) {
    mode = evidence;
    for (const wake of modeWaiters.splice(0)) wake();
  } else if (mode !== evidence) {
    node.log(
      `${evidence} traffic in what was taken for a ${mode} run; reads still answer as ${mode}`,
    );
  }
}

async function awaitMode(): Promise<Mode> {
  if (mode !== undefined) return mode;
  await new Promise<void>((resolve) => {
    const wake = () => {
      clearTimeout(timer);
      resolve();
    };
    const timer = setTimeout(() => {
      modeWaiters.splice(modeWaiters.indexOf(wake), 1); // waiters never outlive their read
      resolve();
    }, WORKLOAD_WAIT_MS);
    modeWaiters.push(wake);
  });
  if (mode === undefined) {
    // Definite: the read had no effect, and a later one will be answered.
    throw new RPCError(
      ErrorCode.temporarilyUnavailable,
      "cannot tell yet whether this is a g-set or a counter run (no add seen)",
    );
  }
  return mode;
}

node.on("read", async (req) => {
  switch (await awaitMode()) {
    case "broadcast":
      return node.reply(req, { type: "read_ok", messages: [...messages.values()] });
    case "g-set":
      return node.reply(req, { type: "read_ok", value: [...elements.values()] });
    case "counter":
      return node.reply(req, { type: "read_ok", value: counterValue() });
  }
});

node.on("add", (req) => {
  if ("element" in req.body) return addElement(req);
  if ("delta" in req.body) return addDelta(req);
  throw new RPCError(
    ErrorCode.malformedRequest,
    "add needs an element (g-set) or a delta (counter)",
  );
});

// ---------------------------------------------------------------------------------------------
// echo

node.on("echo", (req) => {
  let echo = req.body.echo;
  if (bug === "bad-echo") {
    // BUG: treats the value as a short string, as if copied into a fixed-size buffer.
    echo = String(typeof echo === "string" ? echo : JSON.stringify(echo)).slice(0, BAD_ECHO_CHARS);
  }
  node.reply(req, { type: "echo_ok", echo });
});

// ---------------------------------------------------------------------------------------------
// unique-ids: node id + a per-process random boot nonce + a counter. The node id keeps nodes
// apart; the nonce keeps a restarted node (its counter back at 0) apart from its earlier self.

const bootNonce = randomBytes(4).toString("hex");
let idCounter = 0;

node.on("generate", (req) => {
  const n = idCounter++;
  // BUG duplicate-ids: a per-node counter alone; every node hands out 0, 1, 2, ...
  const id = bug === "duplicate-ids" ? n : `${node.nodeId}-${bootNonce}-${n}`;
  node.reply(req, { type: "generate_ok", id });
});

// ---------------------------------------------------------------------------------------------
// broadcast: reliable gossip along the given topology. Each new value is queued for every
// neighbour except the one it came from; a timer sends each neighbour its queue in batches, and
// values leave the queue only when the neighbour acknowledges the batch. A partitioned or lossy
// link therefore just delays delivery until it heals.

const messages = new Map<string, unknown>();
/** Per neighbour: keys of values it has not acknowledged yet (bounded by `messages`). */
const unacked = new Map<string, Set<string>>();
/** Neighbours with a batch in flight: one at a time per neighbour bounds outstanding RPCs. */
const inFlight = new Set<string>();
let neighbours: string[] | undefined;

node.on("topology", (req) => {
  const topology = req.body.topology;
  if (typeof topology !== "object" || topology === null) {
    throw new RPCError(ErrorCode.malformedRequest, "topology must be an object");
  }
  const mine: unknown = (topology as Record<string, unknown>)[node.nodeId] ?? [];
  if (!Array.isArray(mine) || !mine.every((n) => typeof n === "string")) {
    throw new RPCError(ErrorCode.malformedRequest, `topology.${node.nodeId} must list node ids`);
  }
  learnMode("broadcast");
  neighbours = mine.filter((n) => n !== node.nodeId && node.nodeIds.includes(n));
  // Values learnt before the topology were queued for every node; that is merely redundant.
  node.log(`neighbours: ${neighbours.join(" ") || "(none)"}`);
  node.reply(req, { type: "topology_ok" });
});

node.on("broadcast", (req) => {
  if (!("message" in req.body)) throw new RPCError(ErrorCode.malformedRequest, "no message");
  learnMode("broadcast");
  learnMessages([req.body.message], undefined);
  node.reply(req, { type: "broadcast_ok" });
});

node.on("gossip", (req) => {
  const values = req.body.messages;
  if (!Array.isArray(values)) throw new RPCError(ErrorCode.malformedRequest, "no messages array");
  learnMode("broadcast");
  learnMessages(values, req.src);
  if (req.body.msg_id !== undefined) node.reply(req, { type: "gossip_ok" });
});

/** Stores new values and queues them for the neighbours; `from` is the peer that sent them. */
function learnMessages(values: readonly unknown[], from: string | undefined): void {
  const relayTo = (neighbours ?? node.nodeIds).filter((n) => n !== node.nodeId && n !== from);
  for (const value of values) {
    const key = keyOf(value);
    if (from !== undefined) unacked.get(from)?.delete(key); // the sender evidently has it
    if (messages.has(key)) continue;
    messages.set(key, value);
    // BUG lose-messages: values from peers are kept but never passed on, so only the
    // receiving node's direct neighbours ever see a value.
    if (from !== undefined && bug === "lose-messages") continue;
    for (const peer of relayTo) {
      let queue = unacked.get(peer);
      if (!queue) {
        queue = new Set();
        unacked.set(peer, queue);
      }
      queue.add(key);
    }
  }
}

node.every(BROADCAST_RETRY_MS, () => {
  for (const [peer, queue] of unacked) {
    if (queue.size === 0 || inFlight.has(peer)) continue;
    const batch: string[] = [];
    for (const key of queue) {
      if (batch.length >= MAX_BATCH_VALUES) break;
      batch.push(key);
    }
    const body: Body = { type: "gossip", messages: batch.map((key) => messages.get(key)) };
    if (bug === "no-retry") {
      // BUG: values leave the queue when sent, not when acknowledged; a dropped message is
      // never resent.
      for (const key of batch) queue.delete(key);
      node.send(peer, body);
      continue;
    }
    inFlight.add(peer);
    node
      .rpc(peer, body, BROADCAST_ACK_TIMEOUT_MS)
      .then(
        () => {
          for (const key of batch) queue.delete(key);
        },
        () => {
          // Timed out or refused: the values stay queued and go out again on a later tick.
        },
      )
      .finally(() => inFlight.delete(peer));
  }
});

// ---------------------------------------------------------------------------------------------
// g-set: a state-based CRDT. Every STATE_GOSSIP_MS the whole set goes to both ring neighbours
// (the previous and next node in node_ids); receivers merge by union, so the set travels
// around the ring and a lost message is simply superseded by the next one.

const elements = new Map<string, unknown>();
/** Elements added by this node's own clients (what the lose-messages bug gossips). */
const ownElements = new Map<string, unknown>();

function ringPeers(): string[] {
  const ids = node.nodeIds;
  const i = ids.indexOf(node.nodeId);
  const peers = [ids[(i + ids.length - 1) % ids.length], ids[(i + 1) % ids.length]];
  return [...new Set(peers)].filter((p): p is string => p !== undefined && p !== node.nodeId);
}

function addElement(req: Message): void {
  learnMode("g-set");
  const element = req.body.element;
  ownElements.set(keyOf(element), element);
  mergeElements([element], undefined);
  node.reply(req, { type: "add_ok" });
}

/** Unions `incoming` into the set; returns what was new. */
function mergeElements(incoming: readonly unknown[], from: string | undefined): unknown[] {
  const fresh: unknown[] = [];
  for (const element of incoming) {
    const key = keyOf(element);
    if (elements.has(key)) continue;
    elements.set(key, element);
    fresh.push(element);
  }
  if (bug === "no-retry" && fresh.length > 0) {
    // BUG: new elements are pushed to the ring once instead of gossiping the state forever.
    for (const peer of ringPeers()) {
      if (peer !== from) node.send(peer, { type: "gset_state", elements: fresh });
    }
  }
  return fresh;
}

node.on("gset_state", (req) => {
  const incoming = req.body.elements;
  if (!Array.isArray(incoming)) throw new RPCError(ErrorCode.malformedRequest, "no elements");
  learnMode("g-set");
  mergeElements(incoming, req.src);
});

node.every(STATE_GOSSIP_MS, () => {
  if (bug === "no-retry" || elements.size === 0) return;
  // BUG lose-messages: gossips only its own clients' elements, never what it learnt from peers.
  const state = [...(bug === "lose-messages" ? ownElements : elements).values()];
  for (const peer of ringPeers()) {
    for (let start = 0; start < state.length; start += MAX_STATE_ELEMENTS) {
      node.send(peer, {
        type: "gset_state",
        elements: state.slice(start, start + MAX_STATE_ELEMENTS),
      });
    }
  }
});

// ---------------------------------------------------------------------------------------------
// g-counter / pn-counter: a state-based PN-counter. Each node counts its own increments and
// decrements in its entry of two vectors; the value is sum(inc) - sum(dec). Every
// STATE_GOSSIP_MS the vectors go to every other node, which merges entry by entry with max:
// entries only grow, so max is idempotent and order-free, and a lost or duplicated message is
// harmless.

const inc = new Map<string, number>();
const dec = new Map<string, number>();

function addDelta(req: Message): void {
  const delta = req.body.delta;
  if (typeof delta !== "number" || !Number.isSafeInteger(delta)) {
    throw new RPCError(ErrorCode.malformedRequest, "delta must be an integer");
  }
  learnMode("counter");
  const vector = delta >= 0 ? inc : dec;
  vector.set(node.nodeId, (vector.get(node.nodeId) ?? 0) + Math.abs(delta));
  node.reply(req, { type: "add_ok" });
}

function counterValue(): number {
  let value = 0;
  for (const n of inc.values()) value += n;
  for (const n of dec.values()) value -= n;
  return value;
}

function mergeVector(mine: Map<string, number>, theirs: unknown, from: string): void {
  if (typeof theirs !== "object" || theirs === null) {
    throw new RPCError(ErrorCode.malformedRequest, "counter vectors must be objects");
  }
  for (const [owner, count] of Object.entries(theirs)) {
    if (typeof count !== "number" || !Number.isSafeInteger(count) || count < 0) {
      throw new RPCError(ErrorCode.malformedRequest, `bad count for ${owner}`);
    }
    // Our own entry changes only through our own adds: peers hold copies of it, never more.
    if (owner === node.nodeId) continue;
    const current = mine.get(owner) ?? 0;
    if (bug === "double-count" && owner === from) {
      // BUG: treats the sender's running total as a fresh increment and adds it.
      mine.set(owner, current + count);
    } else {
      mine.set(owner, Math.max(current, count));
    }
  }
}

node.on("counter_state", (req) => {
  learnMode("counter");
  mergeVector(inc, req.body.inc, req.src);
  mergeVector(dec, req.body.dec, req.src);
});

node.every(STATE_GOSSIP_MS, () => {
  if (inc.size === 0 && dec.size === 0) return;
  const body: Body = {
    type: "counter_state",
    inc: Object.fromEntries(inc),
    dec: Object.fromEntries(dec),
  };
  for (const peer of node.nodeIds) if (peer !== node.nodeId) node.send(peer, body);
});

node.run();
