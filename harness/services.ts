// Maelstrom's built-in services (harness/services.md): lin-kv, seq-kv, lww-kv and lin-tso. Each
// service is a synchronous state machine: the router hands it one request body at a time and sends
// back the body it returns, so — like Maelstrom's one worker thread per service — a service needs
// no locking, and its answers depend only on the order of requests and on the Random it was given
// (all randomness comes from there, so `--seed` repeats a run).
//
// Keys and values: both may be any JSON value. They are stored as canonical JSON text (object keys
// sorted), which gives Maelstrom's value equality (`{"a":1,"b":2}` equals `{"b":2,"a":1}`, the key
// `1` differs from the key `"1"`) and means stored state never aliases a caller's objects. JSON
// cannot tell `1` from `1.0` once parsed, so unlike Clojure those are the same key/value here.
// `null` is a valid key or value; a *missing* field is a malformed request (error 12).
//
// Bounds: value sizes are the router's job (it bounds message size). Nesting is bounded by
// MAX_JSON_DEPTH (deeper → error 12) so canonicalisation cannot blow the stack. The number of keys
// is unbounded, as in Maelstrom; per-key overhead is O(1) apart from seq-kv's bounded history
// below. Per-caller state (seq-kv) is one number per calling node; callers are the test's nodes.
import assert from "node:assert/strict";
import { SERVICE_NAMES } from "../protocols/maelstrom.js";
import { type Body, ERROR_CODES } from "../workloads/protocol.js";
import type { Random } from "./random.js";

export interface Service {
  readonly name: string;
  /**
   * The reply body (with in_reply_to = request msg_id, echoed as-is even if not an integer), or
   * undefined for no reply (unknown request type → the caller times out).
   */
  handle(src: string, body: Body): Body | undefined;
}

// The names live in protocols/ so reports can tell services from nodes without importing the
// engine.
export { SERVICE_NAMES };

/** States seq-kv keeps, as Maelstrom's ring buffer (`sequential` default). */
const SEQ_KV_STATES = 32;
/** lww-kv replicas: Maelstrom's code default (`eventual`); its docs say 5. */
const LWW_KV_REPLICAS = 2;
/** Deeper JSON nesting is refused (error 12) so the recursive canonicaliser stays well inside the stack. */
const MAX_JSON_DEPTH = 256;
/** Values quoted in error texts are cut to this many characters so an error stays small. */
const MAX_QUOTED_CHARS = 200;

const MALFORMED_REQUEST = 12;
const KEY_DOES_NOT_EXIST = 20;
const PRECONDITION_FAILED = 22;
assert.equal(ERROR_CODES[MALFORMED_REQUEST]?.name, "malformed-request");
assert.equal(ERROR_CODES[KEY_DOES_NOT_EXIST]?.name, "key-does-not-exist");
assert.equal(ERROR_CODES[PRECONDITION_FAILED]?.name, "precondition-failed");

export function createServices(random: Random): Map<string, Service> {
  // One fork per service: traffic to one service must not shift another's random choices.
  const services: Service[] = [
    new LinKv(),
    new SeqKv(random.fork("service/seq-kv"), SEQ_KV_STATES),
    new LwwKv(random.fork("service/lww-kv"), LWW_KV_REPLICAS),
    new LinTso(),
  ];
  assert.deepEqual(
    services.map((s) => s.name),
    SERVICE_NAMES,
  );
  return new Map(services.map((s) => [s.name, s]));
}

// ---------------------------------------------------------------------------------------------
// Requests and replies shared by the KV services

type KvRequest =
  | { op: "read"; key: string }
  | { op: "write"; key: string; value: string }
  | { op: "cas"; key: string; from: string; to: string; createIfMissing: boolean };

/** A parsed request, or the reply to send instead (an error), or undefined: unknown type, no reply. */
type Prepared = { request: KvRequest } | { reply: Body } | undefined;

/**
 * Canonical JSON text of a JSON value (object keys sorted), so equal values have equal text.
 * undefined if `v` is not JSON (NaN, undefined, class instances…) or nests deeper than MAX_JSON_DEPTH.
 */
function canonicalJson(v: unknown, depth = 0): string | undefined {
  if (v === null || typeof v === "boolean" || typeof v === "string") return JSON.stringify(v);
  if (typeof v === "number") return Number.isFinite(v) ? JSON.stringify(v) : undefined;
  if (typeof v !== "object" || depth >= MAX_JSON_DEPTH) return undefined;
  const parts: string[] = [];
  if (Array.isArray(v)) {
    for (let i = 0; i < v.length; i++) {
      const text = canonicalJson(v[i], depth + 1);
      if (text === undefined) return undefined;
      parts.push(text);
    }
    return `[${parts.join(",")}]`;
  }
  const proto: unknown = Object.getPrototypeOf(v);
  if (proto !== Object.prototype && proto !== null) return undefined;
  const record = v as Record<string, unknown>;
  for (const k of Object.keys(record).sort()) {
    const text = canonicalJson(record[k], depth + 1);
    if (text === undefined) return undefined;
    parts.push(`${JSON.stringify(k)}:${text}`);
  }
  return `{${parts.join(",")}}`;
}

function quote(json: string): string {
  return json.length <= MAX_QUOTED_CHARS ? json : `${json.slice(0, MAX_QUOTED_CHARS)}…`;
}

/** A request without msg_id still gets an (error) reply; `null` marks it as a reply nobody awaits. */
function replyTo(request: Body): unknown {
  return request.msg_id === undefined ? null : request.msg_id;
}

function okReply(request: Body, type: string, fields: Record<string, unknown> = {}): Body {
  return { type, ...fields, in_reply_to: replyTo(request) };
}

function errorReply(request: Body, code: number, text: string): Body {
  // Go nodes read code 0 as "no error" (README.md "The node protocol").
  assert.ok(Number.isInteger(code) && code > 0, `service error code must be > 0, got ${code}`);
  return { type: "error", in_reply_to: replyTo(request), code, text };
}

function malformed(request: Body, text: string): { reply: Body } {
  return { reply: errorReply(request, MALFORMED_REQUEST, text) };
}

/** Canonical JSON of a required field, or the reason it is unusable. */
function field(body: Body, name: string): { json: string } | { problem: string } {
  const v = body[name];
  if (v === undefined) return { problem: `${body.type} request has no "${name}"` };
  const json = canonicalJson(v);
  if (json === undefined) {
    return {
      problem: `"${name}" of ${body.type} request is not JSON or nests deeper than ${MAX_JSON_DEPTH}`,
    };
  }
  return { json };
}

function prepareKv(body: Body): Prepared {
  const type = body.type;
  if (type !== "read" && type !== "write" && type !== "cas") return undefined;
  if (body.msg_id === undefined) return malformed(body, `${type} request has no msg_id`);
  const key = field(body, "key");
  if ("problem" in key) return malformed(body, key.problem);
  if (type === "read") return { request: { op: "read", key: key.json } };
  if (type === "write") {
    const value = field(body, "value");
    if ("problem" in value) return malformed(body, value.problem);
    return { request: { op: "write", key: key.json, value: value.json } };
  }
  const from = field(body, "from");
  if ("problem" in from) return malformed(body, from.problem);
  const to = field(body, "to");
  if ("problem" in to) return malformed(body, to.problem);
  const create = body.create_if_not_exists;
  if (create !== undefined && create !== null && typeof create !== "boolean") {
    return malformed(body, `"create_if_not_exists" must be a boolean, got ${typeof create}`);
  }
  return {
    request: {
      op: "cas",
      key: key.json,
      from: from.json,
      to: to.json,
      createIfMissing: create === true,
    },
  };
}

interface KvOutcome {
  reply: Body;
  /** The value the op stores (write, successful cas), even if equal to the current one. */
  store?: { key: string; value: string };
  /** Whether the op alters the state it ran against (seq-kv only answers from old states if not). */
  changed: boolean;
}

/** Runs one KV request against one state, seen through `current` (canonical value or undefined). */
function evaluateKv(
  body: Body,
  request: KvRequest,
  current: (key: string) => string | undefined,
  honourCreate: boolean,
): KvOutcome {
  const now = current(request.key);
  const missing = (): KvOutcome => ({
    reply: errorReply(body, KEY_DOES_NOT_EXIST, `key ${quote(request.key)} does not exist`),
    changed: false,
  });
  switch (request.op) {
    case "read":
      if (now === undefined) return missing();
      return { reply: okReply(body, "read_ok", { value: JSON.parse(now) }), changed: false };
    case "write":
      return {
        reply: okReply(body, "write_ok"),
        store: { key: request.key, value: request.value },
        changed: now !== request.value,
      };
    case "cas":
      if (now === undefined) {
        if (!(honourCreate && request.createIfMissing)) return missing();
        return {
          reply: okReply(body, "cas_ok"),
          store: { key: request.key, value: request.to },
          changed: true,
        };
      }
      if (now !== request.from) {
        const text = `current value ${quote(now)} is not ${quote(request.from)}`;
        return { reply: errorReply(body, PRECONDITION_FAILED, text), changed: false };
      }
      return {
        reply: okReply(body, "cas_ok"),
        store: { key: request.key, value: request.to },
        changed: request.to !== now,
      };
  }
}

// ---------------------------------------------------------------------------------------------
// lin-kv: one map, updated atomically — linearizable.

class LinKv implements Service {
  readonly name = "lin-kv";
  /** canonical key → canonical value. Key count unbounded, as in Maelstrom. */
  private readonly values = new Map<string, string>();

  handle(_src: string, body: Body): Body | undefined {
    const prepared = prepareKv(body);
    if (prepared === undefined || "reply" in prepared) return prepared?.reply;
    const outcome = evaluateKv(body, prepared.request, (k) => this.values.get(k), true);
    if (outcome.store) this.values.set(outcome.store.key, outcome.store.value);
    return outcome.reply;
  }
}

// ---------------------------------------------------------------------------------------------
// seq-kv: sequentially consistent — callers may be served from one of the last 32 states.

/**
 * The last `capacity` states of a map, stored as one multi-version map rather than `capacity` copies.
 * Every state differs from the previous one in at most one key (each change is one new state), so we
 * keep, per key, its values tagged with the version that set them, and drop a value once a newer value
 * of the same key is itself at or below the oldest kept version (nothing can read the older one any
 * more). Invariant: every key has at most one value at or below `oldest`, so the store holds at most
 * (keys + capacity) values however many states go by, and a lookup scans at most capacity + 1 values.
 */
class VersionedMap {
  /** Version of the newest state; version 0 is the empty map. */
  newest = 0;
  private readonly values = new Map<string, { version: number; value: string }[]>();
  /** Ring: the key changed by version v is at v % capacity (undefined: v changed nothing). */
  private readonly changedKeyAt: (string | undefined)[];

  constructor(private readonly capacity: number) {
    assert.ok(Number.isInteger(capacity) && capacity >= 1);
    this.changedKeyAt = new Array<string | undefined>(capacity).fill(undefined);
  }

  get oldest(): number {
    return Math.max(0, this.newest - this.capacity + 1);
  }

  get(key: string, version: number): string | undefined {
    assert.ok(this.oldest <= version && version <= this.newest, `version ${version} is not kept`);
    const history = this.values.get(key);
    if (history === undefined) return undefined;
    for (let i = history.length - 1; i >= 0; i--) {
      const entry = history[i] as { version: number; value: string };
      if (entry.version <= version) return entry.value;
    }
    return undefined;
  }

  /** Adds a new newest state: the previous one with `change` applied (none: an identical state). */
  commit(change: { key: string; value: string } | undefined): void {
    this.newest += 1;
    assert.ok(Number.isSafeInteger(this.newest));
    this.changedKeyAt[this.newest % this.capacity] = change?.key;
    if (change !== undefined) {
      let history = this.values.get(change.key);
      if (history === undefined) {
        history = [];
        this.values.set(change.key, history);
      }
      history.push({ version: this.newest, value: change.value });
    }
    // Version `oldest` just became the oldest kept state; only its key can have gained a droppable
    // value.
    const oldest = this.oldest;
    const key = oldest > 0 ? this.changedKeyAt[oldest % this.capacity] : undefined;
    if (key !== undefined) {
      const history = this.values.get(key) ?? [];
      const at = history.findIndex((e) => e.version === oldest);
      assert.ok(at >= 0, "the oldest state's change is missing");
      assert.ok(at <= 1, "a key held two values at or below the oldest kept state");
      history.splice(0, at);
    }
    if (change !== undefined) {
      const length = this.values.get(change.key)?.length ?? 0;
      assert.ok(length <= this.capacity + 1, `key history grew to ${length}`);
    }
  }
}

class SeqKv implements Service {
  readonly name = "seq-kv";
  private readonly states: VersionedMap;
  /** Calling node → version of the newest state it has seen. One entry per caller. */
  private readonly seen = new Map<string, number>();

  constructor(
    private readonly random: Random,
    capacity: number,
  ) {
    this.states = new VersionedMap(capacity);
  }

  handle(src: string, body: Body): Body | undefined {
    const prepared = prepareKv(body);
    if (prepared === undefined || "reply" in prepared) return prepared?.reply;
    const request = prepared.request;
    const newest = this.states.newest;
    const seen = this.seen.get(src) ?? 0;
    // A caller further behind than the buffer reaches starts from the oldest state still kept.
    const from = Math.max(seen, this.states.oldest);
    // Maelstrom draws `(+ from (rand-int (- newest from)))`: a state in [from, newest) — the newest
    // state itself only when the caller is already there. So a caller that only reads can stay one
    // state behind until something changes the state (Maelstrom issue #47); we keep that.
    const at = from < newest ? from + this.random.int(0, newest - from - 1) : newest;
    assert.ok(seen <= at && from <= at && at <= newest);
    const tried = evaluateKv(body, request, (k) => this.states.get(k, at), true);
    if (!tried.changed) {
      // Reads, failed cas and identity cas/write leave the state as it was: that answer stands
      // (#39).
      this.seen.set(src, at);
      return tried.reply;
    }
    // Changing an old state could fork the timeline: run it again on the newest state instead. Like
    // Maelstrom, this always adds a state, even when the op turns out not to change the newest one.
    const applied = evaluateKv(body, request, (k) => this.states.get(k, newest), true);
    this.states.commit(applied.changed ? applied.store : undefined);
    this.seen.set(src, this.states.newest);
    return applied.reply;
  }
}

// ---------------------------------------------------------------------------------------------
// lww-kv: independent replicas merged by last-write-wins on Lamport timestamps — stale reads and
// lost updates are expected.

interface LwwEntry {
  readonly ts: number;
  readonly value: string;
}

interface LwwReplica {
  /** Lamport clock: the timestamp of this replica's next write. */
  clock: number;
  readonly entries: Map<string, LwwEntry>;
  /**
   * unsent[d]: keys whose entry here changed since this replica was last merged into replica d. Every
   * other key's entry in d is already at least as new, so a merge only visits these keys instead of the
   * whole map (Maelstrom merges whole maps per request). Each set holds at most the number of keys.
   */
  readonly unsent: Set<string>[];
}

class LwwKv implements Service {
  readonly name = "lww-kv";
  private readonly replicas: LwwReplica[];

  constructor(
    private readonly random: Random,
    replicaCount: number,
  ) {
    assert.ok(Number.isInteger(replicaCount) && replicaCount >= 1);
    this.replicas = Array.from({ length: replicaCount }, () => ({
      clock: 0,
      entries: new Map<string, LwwEntry>(),
      unsent: Array.from({ length: replicaCount }, () => new Set<string>()),
    }));
  }

  handle(_src: string, body: Body): Body | undefined {
    // Only requests that get processed cause gossip (in Maelstrom an unknown type throws before).
    const prepared = prepareKv(body);
    if (prepared === undefined || "reply" in prepared) return prepared?.reply;
    const n = this.replicas.length;
    const source = this.random.int(0, n - 1);
    const dest = this.random.int(0, n - 1);
    this.merge(source, dest);
    const target = this.random.int(0, n - 1);
    const replica = this.replicas[target] as LwwReplica;
    const outcome = evaluateKv(body, prepared.request, (k) => replica.entries.get(k)?.value, false);
    if (outcome.store) {
      // Every successful write/cas is a new version, even of an equal value: LWW orders by
      // timestamp.
      this.set(target, outcome.store.key, { ts: replica.clock, value: outcome.store.value });
      replica.clock += 1;
      assert.ok(Number.isSafeInteger(replica.clock));
    }
    return outcome.reply;
  }

  /** Merges replica `source` into `dest`: the higher timestamp wins; a tie keeps dest's value. */
  private merge(source: number, dest: number): void {
    if (source === dest) return;
    const from = this.replicas[source] as LwwReplica;
    const into = this.replicas[dest] as LwwReplica;
    const pending = from.unsent[dest] as Set<string>;
    for (const key of pending) {
      const theirs = from.entries.get(key);
      assert.ok(theirs !== undefined, "unsent key without an entry");
      const ours = into.entries.get(key);
      if (ours === undefined || theirs.ts > ours.ts) this.set(dest, key, theirs);
    }
    pending.clear();
    into.clock = Math.max(into.clock, from.clock);
  }

  /** Stores an entry in a replica and queues it for every other replica (with more than two
   * replicas, a value merged in from one must still travel on to the third). */
  private set(index: number, key: string, entry: LwwEntry): void {
    const replica = this.replicas[index] as LwwReplica;
    replica.entries.set(key, entry);
    replica.unsent.forEach((keys, other) => {
      if (other !== index) keys.add(key);
    });
  }
}

// ---------------------------------------------------------------------------------------------
// lin-tso: a linearizable timestamp oracle.

class LinTso implements Service {
  readonly name = "lin-tso";
  private next = 0;

  handle(_src: string, body: Body): Body | undefined {
    if (body.type !== "ts") return undefined;
    if (body.msg_id === undefined)
      return errorReply(body, MALFORMED_REQUEST, "ts request has no msg_id");
    const ts = this.next;
    this.next += 1;
    assert.ok(Number.isSafeInteger(this.next));
    return okReply(body, "ts_ok", { ts });
  }
}
