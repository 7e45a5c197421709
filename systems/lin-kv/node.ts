// faultline's lin-kv reference node: one program serving Maelstrom's `lin-kv` workload
// (read / write / cas) and faultline's MIT-style `kv` workload (get / put / append, see
// workloads/kv.md). Run: node dist/systems/lin-kv/node.js [--bug stale-read].
//
// Design: the first node of init's node_ids (n0) is the primary. It alone holds the state and
// applies requests one at a time in arrival order; every other node forwards each client
// request to it and relays the answer. Each op therefore takes effect at one instant (when n0
// applies it), inside the client's invoke..reply interval: linearizable. It is durable: n0
// appends every change to a write-ahead log in its data dir and fsyncs it before replying, and
// replays the log when it restarts, so a killed n0 comes back with every acknowledged write.
// It is not replicated: a partition from n0 makes the other nodes unavailable (Raft does better).
//
// --bug stale-read: n0 also sends every applied write to its peers, each after its own random
// 50-300 ms delay, and the other nodes answer read/get from that lagging local copy instead of
// asking n0. A read through n1 right after a write through n0 completed misses the write.
//
// --bug no-persist: n0 keeps its state only in memory, so killing it loses acknowledged writes.
import { appendFileSync, closeSync, fsyncSync, mkdirSync, openSync, readFileSync } from "node:fs";
import { join } from "node:path";
import {
  type Body,
  dataDir,
  ErrorCode,
  MaelstromNode,
  type Message,
  parseNodeArgs,
  RPCError,
} from "../lib/maelstrom-node.js";

export const BUGS = ["stale-read", "no-persist"];

/**
 * A forward to n0 unanswered this long is reported as error 0 (timeout, indefinite: n0 may
 * still apply it). Below lin-kv's 1000 ms client timeout so the client hears why.
 */
const FORWARD_TIMEOUT_MS = 900;
/** stale-read: bounds of each peer's replication delay. */
const REPLICATION_DELAY_MIN_MS = 50;
const REPLICATION_DELAY_MAX_MS = 300;

const args = parseNodeArgs();
if (args.bug !== undefined && !BUGS.includes(args.bug)) {
  process.stderr.write(`unknown --bug "${args.bug}"; known: ${BUGS.join(", ")}\n`);
  process.exit(2);
}
const staleRead = args.bug === "stale-read";
const persist = args.bug !== "no-persist" && dataDir !== undefined;

const node = new MaelstromNode();

// ---------------------------------------------------------------------------------------------
// State. lin-kv and kv live in separate namespaces: lin-kv keys and values are any JSON, kv's
// are strings, and a run uses one of them. Entries carry the primary's write counter so a
// stale-read replica can ignore updates that arrive out of order.

type Space = "lin-kv" | "kv";

interface Entry {
  value: unknown;
  version: number;
}

const entries = new Map<string, Entry>();
let lastVersion = 0;

/** Equal JSON values share one key (object key order aside). */
function slot(space: Space, key: unknown): string {
  return `${space} ${JSON.stringify(key)}`;
}

function lookup(space: Space, key: unknown): unknown {
  return entries.get(slot(space, key))?.value;
}

function primary(): string {
  const first = node.nodeIds[0];
  if (first === undefined) throw new RPCError(ErrorCode.temporarilyUnavailable, "no node ids yet");
  return first;
}

// ---------------------------------------------------------------------------------------------
// Durability: one JSON line per change in <data dir>/wal.jsonl, fsynced before the reply.

const walPath = dataDir === undefined ? undefined : join(dataDir, "wal.jsonl");

/** Rebuilds the state from the log. A torn last line (killed mid-write) was never acknowledged. */
function replay(): void {
  if (!persist || walPath === undefined) return;
  let text: string;
  try {
    text = readFileSync(walPath, "utf8");
  } catch {
    return; // no log yet: a fresh node
  }
  const lines = text.split("\n").filter((line) => line !== "");
  for (const [i, line] of lines.entries()) {
    let change: { slot: string; value: unknown; version: number };
    try {
      change = JSON.parse(line);
    } catch (err) {
      if (i === lines.length - 1) break;
      throw new Error(`${walPath} line ${i + 1} is corrupt: ${(err as Error).message}`);
    }
    entries.set(change.slot, { value: change.value, version: change.version });
    lastVersion = Math.max(lastVersion, change.version);
  }
  node.log(`replayed ${lines.length} changes from ${walPath}`);
}

function logChange(s: string, value: unknown, version: number): void {
  if (!persist || walPath === undefined) return;
  mkdirSync(dataDir as string, { recursive: true });
  appendFileSync(walPath, `${JSON.stringify({ slot: s, value, version })}\n`);
  const fd = openSync(walPath, "r");
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** Primary only: stores a value durably and, under stale-read, schedules its replication. */
function store(space: Space, key: unknown, value: unknown): void {
  const version = ++lastVersion;
  logChange(slot(space, key), value, version);
  entries.set(slot(space, key), { value, version });
  if (!staleRead) return;
  for (const peer of node.nodeIds) {
    if (peer === node.nodeId) continue;
    const delay_ms =
      REPLICATION_DELAY_MIN_MS +
      Math.random() * (REPLICATION_DELAY_MAX_MS - REPLICATION_DELAY_MIN_MS);
    setTimeout(() => node.send(peer, { type: "replicate", space, key, value, version }), delay_ms);
  }
}

// ---------------------------------------------------------------------------------------------
// Requests. `answer` computes the reply body from the local state (throwing RPCError for
// Maelstrom errors); on the primary it is the one place state changes.

const READS = new Set(["read", "get"]);

function requireKey(body: Body): unknown {
  if (body.key === undefined)
    throw new RPCError(ErrorCode.malformedRequest, `${body.type} needs a key`);
  return body.key;
}

function requireString(body: Body, field: "key" | "value"): string {
  const v = body[field];
  if (typeof v !== "string") {
    throw new RPCError(ErrorCode.malformedRequest, `${body.type} needs a string ${field}`);
  }
  return v;
}

function answer(body: Body): Body {
  switch (body.type) {
    case "read": {
      const value = lookup("lin-kv", requireKey(body));
      if (value === undefined) throw new RPCError(ErrorCode.keyDoesNotExist, "key does not exist");
      return { type: "read_ok", value };
    }
    case "write": {
      const key = requireKey(body);
      if (body.value === undefined)
        throw new RPCError(ErrorCode.malformedRequest, "write needs a value");
      store("lin-kv", key, body.value);
      return { type: "write_ok" };
    }
    case "cas": {
      const key = requireKey(body);
      if (body.from === undefined || body.to === undefined) {
        throw new RPCError(ErrorCode.malformedRequest, "cas needs from and to");
      }
      const current = lookup("lin-kv", key);
      if (current === undefined)
        throw new RPCError(ErrorCode.keyDoesNotExist, "key does not exist");
      if (JSON.stringify(current) !== JSON.stringify(body.from)) {
        const text = `current value ${JSON.stringify(current)} is not ${JSON.stringify(body.from)}`;
        throw new RPCError(ErrorCode.preconditionFailed, text);
      }
      store("lin-kv", key, body.to);
      return { type: "cas_ok" };
    }
    case "get":
      return { type: "get_ok", value: lookup("kv", requireString(body, "key")) ?? "" };
    case "put": {
      const key = requireString(body, "key");
      store("kv", key, requireString(body, "value"));
      return { type: "put_ok" };
    }
    case "append": {
      const key = requireString(body, "key");
      const suffix = requireString(body, "value");
      store("kv", key, `${(lookup("kv", key) as string | undefined) ?? ""}${suffix}`);
      return { type: "append_ok" };
    }
    default:
      throw new RPCError(ErrorCode.notSupported, `unknown request type "${body.type}"`);
  }
}

async function serve(req: Message): Promise<void> {
  const leader = primary();
  if (node.nodeId === leader || (staleRead && READS.has(req.body.type))) {
    node.reply(req, answer(req.body));
    return;
  }
  // Forward to the primary and relay its answer; an error reply or the timeout rejects with an
  // RPCError, which the library sends back to the client as it is (code 0 on timeout).
  const { msg_id: _ours, in_reply_to: _theirs, ...request } = req.body;
  const reply = await node.rpc(leader, request as Body, FORWARD_TIMEOUT_MS);
  const { msg_id: _m, in_reply_to: _r, ...result } = reply;
  node.reply(req, result as Body);
}

for (const type of ["read", "write", "cas", "get", "put", "append"]) node.on(type, serve);

// stale-read: a peer's copy of a write n0 applied; older versions than what we have are ignored.
node.on("replicate", (msg) => {
  if (!staleRead || msg.src !== primary()) return;
  const { space, key, value, version } = msg.body;
  if ((space !== "lin-kv" && space !== "kv") || typeof version !== "number") {
    node.log("ignoring malformed replicate", msg.body);
    return;
  }
  const s = slot(space, key);
  if ((entries.get(s)?.version ?? 0) < version) entries.set(s, { value, version });
});

replay();
node.run();
