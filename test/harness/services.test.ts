import { isDeepStrictEqual } from "node:util";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { Random } from "../../harness/random.js";
import { createServices, SERVICE_NAMES, type Service } from "../../harness/services.js";
import type { Body } from "../../workloads/protocol.js";

// Mirrors of constants in harness/services.ts (harness/services.md); the tests below would fail if
// they drifted.
const SEQ_KV_STATES = 32;
const LWW_KV_REPLICAS = 2;

function service(name: string, seed = 1): Service {
  const found = createServices(new Random(seed)).get(name);
  if (found === undefined) throw new Error(`no service ${name}`);
  return found;
}

let nextMsgId = 1;

/** Sends one request and insists on a well-formed reply to it. */
function rpc(svc: Service, src: string, body: Record<string, unknown>): Body {
  const request = { msg_id: nextMsgId++, ...body } as Body;
  const reply = svc.handle(src, request);
  if (reply === undefined) throw new Error(`${svc.name} did not reply to ${JSON.stringify(body)}`);
  expect(reply.in_reply_to).toBe(request.msg_id);
  expect(reply).not.toHaveProperty("msg_id");
  if (reply.type === "error") {
    expect(reply.code).not.toBe(0);
    expect(typeof reply.text).toBe("string");
  }
  return reply;
}

function readValue(svc: Service, src: string, key: unknown): unknown {
  const reply = rpc(svc, src, { type: "read", key });
  return reply.type === "read_ok" ? reply.value : undefined;
}

describe("createServices", () => {
  it("creates exactly the four Maelstrom services, keyed by their names", () => {
    const services = createServices(new Random(7));
    expect([...services.keys()]).toEqual(["lin-kv", "seq-kv", "lww-kv", "lin-tso"]);
    expect([...services.keys()]).toEqual([...SERVICE_NAMES]);
    for (const [name, svc] of services) expect(svc.name).toBe(name);
  });

  it("gives every call its own state", () => {
    const a = createServices(new Random(7)).get("lin-kv") as Service;
    const b = createServices(new Random(7)).get("lin-kv") as Service;
    rpc(a, "n0", { type: "write", key: "k", value: 1 });
    expect(rpc(b, "n0", { type: "read", key: "k" })).toMatchObject({ type: "error", code: 20 });
  });
});

const KV_SERVICES = ["lin-kv", "seq-kv", "lww-kv"] as const;

describe.each(KV_SERVICES)("%s: common KV API and errors", (name) => {
  it("answers a read of a missing key with error 20 naming the key", () => {
    const reply = rpc(service(name), "n0", { type: "read", key: "nope" });
    expect(reply).toMatchObject({ type: "error", code: 20 });
    expect(reply.text).toContain('"nope"');
  });

  it("answers a cas on a missing key with error 20 unless asked to create it", () => {
    const svc = service(name);
    expect(rpc(svc, "n0", { type: "cas", key: "k", from: 1, to: 2 })).toMatchObject({ code: 20 });
    const explicitNo = { type: "cas", key: "k", from: 1, to: 2, create_if_not_exists: false };
    expect(rpc(svc, "n0", explicitNo)).toMatchObject({ code: 20 });
  });

  it.each([
    [{ type: "read" }, /read request has no "key"/],
    [{ type: "write", key: "k" }, /write request has no "value"/],
    [{ type: "write", value: 1 }, /write request has no "key"/],
    [{ type: "cas", key: "k", to: 2 }, /cas request has no "from"/],
    [{ type: "cas", key: "k", from: 1 }, /cas request has no "to"/],
    [{ type: "cas", key: "k", from: 1, to: 2, create_if_not_exists: "yes" }, /must be a boolean/],
    [{ type: "write", key: "k", value: Number.NaN }, /"value" of write request is not JSON/],
    [{ type: "write", key: "k", value: { when: new Date(0) } }, /is not JSON/],
    [{ type: "read", key: undefined }, /has no "key"/],
  ])("answers malformed %j with error 12 and does not execute it", (body, text) => {
    const svc = service(name);
    const reply = rpc(svc, "n0", body);
    expect(reply).toMatchObject({ type: "error", code: 12 });
    expect(reply.text).toMatch(text);
    // Nothing was stored: "k" is still missing (lww-kv only ever stores what it was sent).
    expect(rpc(svc, "n0", { type: "read", key: "k" })).toMatchObject({ code: 20 });
  });

  it("refuses values nested deeper than its bound with error 12 instead of overflowing", () => {
    let deep: unknown = 0;
    for (let i = 0; i < 300; i++) deep = [deep];
    const reply = rpc(service(name), "n0", { type: "write", key: "k", value: deep });
    expect(reply).toMatchObject({ type: "error", code: 12 });
    expect(reply.text).toMatch(/deeper than/);
    let fine: unknown = 0;
    for (let i = 0; i < 200; i++) fine = { x: fine };
    expect(rpc(service(name), "n0", { type: "write", key: "k", value: fine }).type).toBe(
      "write_ok",
    );
  });

  it("answers a request without msg_id with error 12 and in_reply_to null", () => {
    const svc = service(name);
    const reply = svc.handle("n0", { type: "write", key: "k", value: 1 });
    expect(reply).toEqual({
      type: "error",
      in_reply_to: null,
      code: 12,
      text: "write request has no msg_id",
    });
    expect(rpc(svc, "n0", { type: "read", key: "k" })).toMatchObject({ code: 20 });
  });

  it.each(["delete", "read_ok", "ts", "init", "", 7])("does not answer type %j", (type) => {
    expect(service(name).handle("n0", { type, msg_id: 1, key: "k" } as Body)).toBeUndefined();
  });

  it.each([0, "abc", -3, 1.5, { deep: [1] }, null])("echoes msg_id %j as in_reply_to", (msgId) => {
    const svc = service(name);
    const reply = svc.handle("n0", { type: "read", key: "k", msg_id: msgId });
    expect(reply).toBeDefined();
    expect(reply?.in_reply_to).toEqual(msgId);
    expect(reply?.in_reply_to).toBe(msgId);
  });
});

// lin-kv, and seq-kv for a single caller (which always runs on the newest state), are
// deterministic.
describe.each(["lin-kv", "seq-kv"] as const)("%s: single-caller semantics", (name) => {
  it("writes, reads and compares-and-sets", () => {
    const svc = service(name);
    expect(rpc(svc, "n0", { type: "write", key: "k", value: 1 }).type).toBe("write_ok");
    expect(rpc(svc, "n0", { type: "read", key: "k" })).toMatchObject({ type: "read_ok", value: 1 });
    expect(rpc(svc, "n0", { type: "cas", key: "k", from: 1, to: 2 }).type).toBe("cas_ok");
    const mismatch = rpc(svc, "n0", { type: "cas", key: "k", from: 1, to: 3 });
    expect(mismatch).toMatchObject({ type: "error", code: 22, text: "current value 2 is not 1" });
    expect(readValue(svc, "n0", "k")).toBe(2);
  });

  it("creates a missing key on cas with create_if_not_exists, and otherwise ignores the flag", () => {
    const svc = service(name);
    const create = { type: "cas", key: "c", from: 9, to: 5, create_if_not_exists: true };
    expect(rpc(svc, "n0", create).type).toBe("cas_ok");
    expect(readValue(svc, "n0", "c")).toBe(5);
    // The key exists now, so `from` must match again.
    expect(rpc(svc, "n0", create)).toMatchObject({ code: 22, text: "current value 5 is not 9" });
    const nullFlag = { type: "cas", key: "d", from: 1, to: 2, create_if_not_exists: null };
    expect(rpc(svc, "n0", nullFlag)).toMatchObject({ code: 20 });
  });

  it('keeps key 1 and key "1" apart but ignores object key order', () => {
    const svc = service(name);
    rpc(svc, "n0", { type: "write", key: 1, value: "int" });
    rpc(svc, "n0", { type: "write", key: "1", value: "string" });
    rpc(svc, "n0", { type: "write", key: { a: 1, b: [2] }, value: "object" });
    expect(readValue(svc, "n0", 1)).toBe("int");
    expect(readValue(svc, "n0", "1")).toBe("string");
    expect(readValue(svc, "n0", { b: [2], a: 1 })).toBe("object");
    expect(rpc(svc, "n0", { type: "read", key: { b: [2] } })).toMatchObject({ code: 20 });
    rpc(svc, "n0", { type: "write", key: null, value: null });
    expect(rpc(svc, "n0", { type: "read", key: null })).toEqual(
      expect.objectContaining({ type: "read_ok", value: null }),
    );
  });

  it("compares cas values deeply, not by reference or key order", () => {
    const svc = service(name);
    rpc(svc, "n0", { type: "write", key: "k", value: { list: [1, 2], meta: { x: null } } });
    const reordered = { meta: { x: null }, list: [1, 2] };
    expect(rpc(svc, "n0", { type: "cas", key: "k", from: reordered, to: [3] }).type).toBe("cas_ok");
    const wrongOrder = rpc(svc, "n0", { type: "cas", key: "k", from: [3, 3], to: 0 });
    expect(wrongOrder).toMatchObject({ code: 22, text: "current value [3] is not [3,3]" });
  });

  it("does not share objects with its callers", () => {
    const svc = service(name);
    const value = { items: [1, 2] };
    rpc(svc, "n0", { type: "write", key: "k", value });
    value.items.push(3);
    const first = readValue(svc, "n0", "k") as { items: number[] };
    expect(first).toEqual({ items: [1, 2] });
    first.items.push(4);
    expect(readValue(svc, "n0", "k")).toEqual({ items: [1, 2] });
  });

  it("cuts long values in error texts", () => {
    const svc = service(name);
    rpc(svc, "n0", { type: "write", key: "k", value: "x".repeat(10_000) });
    const reply = rpc(svc, "n0", { type: "cas", key: "k", from: "y".repeat(10_000), to: 1 });
    expect(reply).toMatchObject({ code: 22 });
    expect((reply.text as string).length).toBeLessThan(500);
    expect(reply.text).toMatch(/^current value "x+… is not "y+…$/);
  });
});

// A small pool so that random cas ops hit as well as miss; two spellings of one object value.
const KEY_POOL: unknown[] = [0, 1, "0", "1", null, [0]];
const VALUE_POOL: unknown[] = [0, 1, 2, "x", null, [1, 2], { a: 1, b: [2] }, { b: [2], a: 1 }];

type KvOp =
  | { type: "read"; key: number }
  | { type: "write"; key: number; value: number }
  | { type: "cas"; key: number; from: number; to: number; create: boolean };

const kvOp = (keys: number, values: number): fc.Arbitrary<KvOp> => {
  const key = fc.nat(keys - 1);
  const value = fc.nat(values - 1);
  return fc.oneof(
    fc.record({ type: fc.constant("read" as const), key }),
    fc.record({ type: fc.constant("write" as const), key, value }),
    fc.record({
      type: fc.constant("cas" as const),
      key,
      from: value,
      to: value,
      create: fc.boolean(),
    }),
  );
};

function kvBody(
  op: KvOp,
  keys: readonly unknown[],
  values: readonly unknown[],
): Record<string, unknown> {
  switch (op.type) {
    case "read":
      return { type: "read", key: keys[op.key] };
    case "write":
      return { type: "write", key: keys[op.key], value: values[op.value] };
    case "cas":
      return {
        type: "cas",
        key: keys[op.key],
        from: values[op.from],
        to: values[op.to],
        ...(op.create ? { create_if_not_exists: true } : {}),
      };
  }
}

/** What a reply says, without the free-form text: enough to compare two implementations. */
function gist(reply: Body | undefined): unknown {
  if (reply === undefined) return undefined;
  const { type, code, value } = reply;
  return { type, code, value, in_reply_to: reply.in_reply_to };
}

describe("lin-kv", () => {
  it("behaves as a sequential map under random operation sequences", () => {
    fc.assert(
      fc.property(fc.array(kvOp(KEY_POOL.length, VALUE_POOL.length), { maxLength: 120 }), (ops) => {
        const svc = service("lin-kv");
        const model = new Map<number, unknown>(); // key pool index → value
        for (const op of ops) {
          const reply = rpc(svc, "n0", kvBody(op, KEY_POOL, VALUE_POOL));
          const current = model.get(op.key);
          const exists = model.has(op.key);
          if (op.type === "read") {
            if (exists) expect(reply).toMatchObject({ type: "read_ok", value: current });
            else expect(reply).toMatchObject({ type: "error", code: 20 });
          } else if (op.type === "write") {
            expect(reply.type).toBe("write_ok");
            model.set(op.key, VALUE_POOL[op.value]);
          } else if (!exists) {
            expect(reply).toMatchObject(op.create ? { type: "cas_ok" } : { code: 20 });
            if (op.create) model.set(op.key, VALUE_POOL[op.to]);
          } else if (isDeepStrictEqual(current, VALUE_POOL[op.from])) {
            expect(reply.type).toBe("cas_ok");
            model.set(op.key, VALUE_POOL[op.to]);
          } else {
            expect(reply).toMatchObject({ type: "error", code: 22 });
          }
        }
      }),
      { numRuns: 200 },
    );
  });
});

/**
 * seq-kv as harness/services.md reads, with a full copy of the map per kept state: the reference
 * for the multi-version store. Draws from the same Random fork in the same order as the service.
 */
class NaiveSeqKv {
  private readonly random: Random;
  private states: { version: number; map: Map<string, string> }[] = [
    { version: 0, map: new Map() },
  ];
  private readonly seen = new Map<string, number>();

  constructor(seed: number) {
    this.random = new Random(seed).fork("service/seq-kv");
  }

  handle(src: string, body: Record<string, unknown>): unknown {
    const newest = (this.states.at(-1) as { version: number }).version;
    const oldest = (this.states[0] as { version: number }).version;
    const from = Math.max(this.seen.get(src) ?? 0, oldest);
    const at = from < newest ? from + this.random.int(0, newest - from - 1) : newest;
    const state = this.states.find((s) => s.version === at) as { map: Map<string, string> };
    const tried = naiveKv(state.map, body);
    if (tried.next === state.map) {
      this.seen.set(src, at);
      return { ...tried.reply, in_reply_to: body.msg_id };
    }
    const applied = naiveKv((this.states.at(-1) as { map: Map<string, string> }).map, body);
    this.states.push({ version: newest + 1, map: applied.next });
    if (this.states.length > SEQ_KV_STATES) this.states.shift();
    this.seen.set(src, newest + 1);
    return { ...applied.reply, in_reply_to: body.msg_id };
  }
}

/** A KV op on an immutable map of JSON.stringify'd keys and values (pools without objects). */
function naiveKv(
  map: Map<string, string>,
  body: Record<string, unknown>,
  honourCreate = true,
): { next: Map<string, string>; reply: Record<string, unknown> } {
  const key = JSON.stringify(body.key);
  const current = map.get(key);
  const put = (value: unknown) => {
    const json = JSON.stringify(value);
    if (current === json) return map;
    return new Map(map).set(key, json);
  };
  const missing = { next: map, reply: { type: "error", code: 20, value: undefined } };
  switch (body.type) {
    case "read":
      if (current === undefined) return missing;
      return { next: map, reply: { type: "read_ok", code: undefined, value: JSON.parse(current) } };
    case "write":
      return {
        next: put(body.value),
        reply: { type: "write_ok", code: undefined, value: undefined },
      };
    default: {
      const ok = { type: "cas_ok", code: undefined, value: undefined };
      if (current === undefined) {
        return honourCreate && body.create_if_not_exists === true
          ? { next: put(body.to), reply: ok }
          : missing;
      }
      if (current !== JSON.stringify(body.from)) {
        return { next: map, reply: { type: "error", code: 22, value: undefined } };
      }
      return { next: put(body.to), reply: ok };
    }
  }
}

const SEQ_KEYS = ["a", "b", "c"];
const SEQ_VALUES = [0, 1, 2, 3];
const seqCall = fc.record({ caller: fc.constantFrom("n0", "n1", "n2"), op: kvOp(3, 4) });

/** n0 writes first…last to key "k"; from a fresh service, value i is the state at version i. */
function writeSequence(svc: Service, last: number, first = 1): void {
  for (let i = first; i <= last; i++) rpc(svc, "n0", { type: "write", key: "k", value: i });
}

describe("seq-kv", () => {
  it("matches a full-copy reference of the 32-state buffer, choice for choice", () => {
    fc.assert(
      fc.property(
        fc.nat(1000),
        fc.array(seqCall, { minLength: 50, maxLength: 400 }),
        (seed, calls) => {
          const svc = service("seq-kv", seed);
          const naive = new NaiveSeqKv(seed);
          for (const { caller, op } of calls) {
            const body = { msg_id: nextMsgId++, ...kvBody(op, SEQ_KEYS, SEQ_VALUES) };
            expect(gist(svc.handle(caller, body as Body))).toEqual(naive.handle(caller, body));
          }
        },
      ),
      { numRuns: 100 },
    );
  });

  it("lets each caller read its own writes and never go back in time", () => {
    // Every write stores a fresh integer, so a value names the write that produced it; `log` is the
    // order writes reached the newest state. A caller's floor is the latest write it has observed:
    // any value it reads later must still have been current at (or after) its floor.
    fc.assert(
      fc.property(fc.nat(1000), fc.array(seqCall, { maxLength: 300 }), (seed, calls) => {
        const svc = service("seq-kv", seed);
        const log: { key: string; value: number }[] = [];
        const positionOf = new Map<number, number>();
        const floor = new Map<string, number>([
          ["n0", -1],
          ["n1", -1],
          ["n2", -1],
        ]);
        let fresh = 100;
        const overwrittenSince = (key: string, position: number, upTo: number): boolean =>
          log.slice(position + 1, upTo + 1).some((w) => w.key === key);
        const observe = (caller: string, key: string, value: unknown): void => {
          const mine = floor.get(caller) as number;
          if (value === undefined) {
            // A missing key: nothing can have written it up to the caller's floor.
            expect(overwrittenSince(key, -1, mine)).toBe(false);
            return;
          }
          const position = positionOf.get(value as number);
          expect(position).toBeDefined();
          expect(overwrittenSince(key, position as number, mine)).toBe(false);
          floor.set(caller, Math.max(mine, position as number));
        };
        for (const { caller, op } of calls) {
          const key = SEQ_KEYS[op.key] as string;
          if (op.type === "read") {
            observe(caller, key, readValue(svc, caller, key));
            continue;
          }
          const value = fresh++;
          const from = op.type === "cas" ? readValue(svc, caller, key) : undefined;
          if (op.type === "cas") observe(caller, key, from);
          const body =
            op.type === "write"
              ? { type: "write", key, value }
              : { type: "cas", key, from: from ?? -1, to: value, create_if_not_exists: op.create };
          const reply = rpc(svc, caller, body);
          if (reply.type === "write_ok" || reply.type === "cas_ok") {
            log.push({ key, value });
            positionOf.set(value, log.length - 1);
            floor.set(caller, log.length - 1);
          } else if (reply.code === 22) {
            const current = /^current value (-?\d+) is not/.exec(reply.text as string);
            observe(caller, key, Number(current?.[1]));
          } else {
            expect(reply.code).toBe(20);
            observe(caller, key, undefined);
          }
        }
      }),
      { numRuns: 150 },
    );
  });

  it("serves other callers stale reads: never the newest state, at most 32 states back", () => {
    for (let seed = 1; seed <= 20; seed++) {
      const svc = service("seq-kv", seed);
      writeSequence(svc, 100);
      for (let reader = 0; reader < 10; reader++) {
        const value = readValue(svc, `r${reader}`, "k") as number;
        expect(value).toBeLessThan(100);
        expect(value).toBeGreaterThanOrEqual(100 - SEQ_KV_STATES + 1);
      }
    }
  });

  it("can keep a read-only caller one state behind forever (Maelstrom #47)", () => {
    const svc = service("seq-kv", 3);
    writeSequence(svc, 40); // states 9…40 are kept, so every read finds the key
    const seen: number[] = [];
    for (let i = 0; i < 300; i++) seen.push(readValue(svc, "n1", "k") as number);
    expect(seen).toEqual([...seen].sort((x, y) => x - y));
    expect(seen[0]).toBeGreaterThanOrEqual(9);
    expect(seen.at(-1)).toBe(39);
    // Another change lets the reader advance — to the state before the newest again.
    writeSequence(svc, 41, 41);
    for (let i = 0; i < 50; i++) expect(readValue(svc, "n1", "k")).toBeGreaterThanOrEqual(39);
    for (let i = 0; i < 50; i++) expect(readValue(svc, "n1", "k")).toBe(40);
  });

  it("lets an identity cas succeed on a stale state (Maelstrom #39)", () => {
    let staleIdentityCas = 0;
    for (let seed = 0; seed < 20; seed++) {
      const svc = service("seq-kv", seed);
      writeSequence(svc, 40);
      const stale = readValue(svc, "n1", "k") as number;
      expect(stale).toBeLessThan(40);
      const reply = rpc(svc, "n1", { type: "cas", key: "k", from: stale, to: stale });
      if (reply.type === "cas_ok") staleIdentityCas++;
      else expect(reply).toMatchObject({ code: 22 });
    }
    expect(staleIdentityCas).toBeGreaterThan(0);
  });

  it("answers a failed cas from a state no older than the caller has seen", () => {
    for (let seed = 0; seed < 20; seed++) {
      const svc = service("seq-kv", seed);
      writeSequence(svc, 40);
      const stale = readValue(svc, "n1", "k") as number;
      const reply = rpc(svc, "n1", { type: "cas", key: "k", from: -1, to: 99 });
      const current = Number(/^current value (\d+) is not -1$/.exec(reply.text as string)?.[1]);
      expect(current).toBeGreaterThanOrEqual(stale);
      expect(current).toBeLessThan(40);
    }
  });

  it("runs a state-changing request on the newest state, so the caller catches up", () => {
    const svc = service("seq-kv", 5);
    writeSequence(svc, 40);
    expect(readValue(svc, "n1", "k")).toBeLessThan(40);
    // The usual trick: a write of a unique dummy value forces the caller onto the newest state.
    rpc(svc, "n1", { type: "write", key: "dummy", value: "n1-1" });
    for (let i = 0; i < 20; i++) expect(readValue(svc, "n1", "k")).toBe(40);
    // n1 can now only be served state 40. A cas that would change it is re-applied to the newest
    // state, where it fails, and the caller has caught up with 41.
    writeSequence(svc, 41, 41);
    const failed = rpc(svc, "n1", { type: "cas", key: "k", from: 40, to: 42 });
    expect(failed).toMatchObject({ code: 22, text: "current value 41 is not 40" });
    expect(rpc(svc, "n1", { type: "cas", key: "k", from: 41, to: 42 }).type).toBe("cas_ok");
    expect(readValue(svc, "n1", "k")).toBe(42);
  });

  it("keeps 32 states of a large map without copying it per write", () => {
    const svc = service("seq-kv", 9);
    const send = (src: string, body: Record<string, unknown>) =>
      svc.handle(src, { msg_id: 1, ...body } as Body);
    for (let k = 0; k < 5000; k++) send("n0", { type: "write", key: k, value: k });
    const started = performance.now();
    for (let i = 0; i < 20_000; i++) send("n0", { type: "write", key: i % 7, value: i });
    for (let i = 0; i < 5000; i++) send(`r${i % 50}`, { type: "read", key: i });
    // Copying the 5000-key map per write is 10^8 map insertions (seconds); this takes milliseconds.
    expect(performance.now() - started).toBeLessThan(1500);
    expect(send("n0", { type: "read", key: 4999 })).toMatchObject({ value: 4999 });
    expect(send("n0", { type: "read", key: 3 })).toMatchObject({ value: 19_995 });
  });
});

/**
 * lww-kv as harness/services.md reads, merging whole maps; same Random fork and draw order as the
 * service.
 */
class NaiveLwwKv {
  private readonly random: Random;
  private readonly replicas = Array.from({ length: LWW_KV_REPLICAS }, () => ({
    clock: 0,
    map: new Map<string, { ts: number; value: string }>(),
  }));

  constructor(seed: number) {
    this.random = new Random(seed).fork("service/lww-kv");
  }

  handle(body: Record<string, unknown>): unknown {
    const n = this.replicas.length;
    const source = this.replicas[this.random.int(0, n - 1)] as (typeof this.replicas)[number];
    const dest = this.replicas[this.random.int(0, n - 1)] as (typeof this.replicas)[number];
    for (const [key, theirs] of source.map) {
      const ours = dest.map.get(key);
      if (ours === undefined || theirs.ts > ours.ts) dest.map.set(key, theirs);
    }
    dest.clock = Math.max(dest.clock, source.clock);
    const replica = this.replicas[this.random.int(0, n - 1)] as (typeof this.replicas)[number];
    const values = new Map([...replica.map].map(([k, e]) => [k, e.value]));
    const { next, reply } = naiveKv(values, body, false);
    const key = JSON.stringify(body.key);
    if (reply.type === "write_ok" || reply.type === "cas_ok") {
      replica.map.set(key, { ts: replica.clock, value: next.get(key) as string });
      replica.clock += 1;
    }
    return { ...reply, in_reply_to: body.msg_id };
  }
}

describe("lww-kv", () => {
  it("matches a whole-map-merge reference of two Lamport-clocked replicas, choice for choice", () => {
    fc.assert(
      fc.property(
        fc.nat(1000),
        fc.array(kvOp(3, 4), { minLength: 20, maxLength: 300 }),
        (seed, ops) => {
          const svc = service("lww-kv", seed);
          const naive = new NaiveLwwKv(seed);
          for (const op of ops) {
            const body = { msg_id: nextMsgId++, ...kvBody(op, SEQ_KEYS, SEQ_VALUES) };
            expect(gist(svc.handle("n0", body as Body))).toEqual(naive.handle(body));
          }
        },
      ),
      { numRuns: 150 },
    );
  });

  it("never honours create_if_not_exists", () => {
    const svc = service("lww-kv");
    for (let i = 0; i < 50; i++) {
      const create = { type: "cas", key: "k", from: 0, to: 1, create_if_not_exists: true };
      expect(rpc(svc, `n${i % 3}`, create)).toMatchObject({ type: "error", code: 20 });
    }
  });

  it("serves stale reads, even of the caller's own writes", () => {
    const svc = service("lww-kv", 4);
    let stale = 0;
    for (let i = 1; i <= 100; i++) {
      rpc(svc, "n0", { type: "write", key: "k", value: i });
      if (readValue(svc, "n0", "k") !== i) stale++;
    }
    expect(stale).toBeGreaterThan(0);
  });

  it("loses acknowledged read-modify-write increments", () => {
    const svc = service("lww-kv", 8);
    rpc(svc, "n0", { type: "write", key: "counter", value: 0 });
    let acknowledged = 0;
    for (let i = 0; i < 200; i++) {
      const node = `n${i % 3}`;
      const current = readValue(svc, node, "counter");
      if (typeof current !== "number") continue;
      const reply = rpc(svc, node, { type: "cas", key: "counter", from: current, to: current + 1 });
      if (reply.type === "cas_ok") acknowledged++;
    }
    let highest = 0;
    for (let i = 0; i < 50; i++)
      highest = Math.max(highest, readValue(svc, "n0", "counter") as number);
    expect(acknowledged).toBeGreaterThan(highest);
  });
});

describe("lin-tso", () => {
  it("hands out strictly increasing timestamps from 0 to every caller", () => {
    const svc = service("lin-tso");
    for (let i = 0; i < 100; i++) {
      expect(rpc(svc, `n${i % 4}`, { type: "ts" })).toEqual({
        type: "ts_ok",
        ts: i,
        in_reply_to: expect.anything(),
      });
    }
  });

  it("echoes any msg_id, rejects a missing one with error 12, and ignores other types", () => {
    const svc = service("lin-tso");
    expect(svc.handle("n0", { type: "ts", msg_id: "x-1" })).toEqual({
      type: "ts_ok",
      ts: 0,
      in_reply_to: "x-1",
    });
    expect(svc.handle("n0", { type: "ts" })).toMatchObject({
      type: "error",
      code: 12,
      in_reply_to: null,
    });
    for (const type of ["read", "ts_ok", "write"]) {
      expect(svc.handle("n0", { type, msg_id: 2, key: "k", value: 1 })).toBeUndefined();
    }
    // Refused and unanswered requests use no timestamps.
    expect(svc.handle("n0", { type: "ts", msg_id: 3 })).toMatchObject({ ts: 1 });
  });
});

type Call = { to: string; caller: string; body: Record<string, unknown> };

const anyCall: fc.Arbitrary<Call> = fc.oneof(
  fc.record({
    to: fc.constantFrom("lin-kv", "seq-kv", "lww-kv"),
    caller: fc.constantFrom("n0", "n1", "n2"),
    body: kvOp(3, 4).map((op) => kvBody(op, SEQ_KEYS, SEQ_VALUES)),
  }),
  fc.record({
    to: fc.constant("lin-tso"),
    caller: fc.constant("n0"),
    body: fc.constant({ type: "ts" }),
  }),
);

function run(seed: number, calls: readonly Call[]): unknown[] {
  const services = createServices(new Random(seed));
  return calls.map((c, i) =>
    services.get(c.to)?.handle(c.caller, { msg_id: i, ...c.body } as Body),
  );
}

describe("determinism", () => {
  it("gives the same answers for the same seed", () => {
    fc.assert(
      fc.property(fc.nat(1000), fc.array(anyCall, { maxLength: 200 }), (seed, calls) => {
        expect(run(seed, calls)).toEqual(run(seed, calls));
      }),
      { numRuns: 100 },
    );
  });

  it("gives different answers for different seeds (the seed is really used)", () => {
    const calls: Call[] = [];
    for (let i = 0; i < 60; i++) {
      calls.push({ to: "seq-kv", caller: "n0", body: { type: "write", key: "k", value: i } });
      calls.push({ to: "seq-kv", caller: `n${1 + (i % 2)}`, body: { type: "read", key: "k" } });
      calls.push({ to: "lww-kv", caller: "n0", body: { type: "write", key: "k", value: i } });
      calls.push({ to: "lww-kv", caller: "n1", body: { type: "read", key: "k" } });
    }
    const answers = new Set([1, 2, 3, 4, 5].map((seed) => JSON.stringify(run(seed, calls))));
    expect(answers.size).toBeGreaterThan(1);
  });

  it("keeps each service's choices independent of other traffic and of refused requests", () => {
    fc.assert(
      fc.property(fc.nat(1000), fc.array(anyCall, { maxLength: 150 }), (seed, calls) => {
        const noise: Call[] = [
          { to: "lin-kv", caller: "n0", body: { type: "write", key: "a", value: 1 } },
          { to: "lin-tso", caller: "n0", body: { type: "ts" } },
          { to: "seq-kv", caller: "n1", body: { type: "read" } },
          { to: "lww-kv", caller: "n1", body: { type: "frobnicate", key: "a" } },
        ];
        const interleaved = calls.flatMap((c, i) => [c, noise[i % noise.length] as Call]);
        const quiet = run(seed, calls);
        const noisy = run(seed, interleaved);
        // msg_ids are positions in the run, so they differ; everything else must not.
        const strip = (a: unknown) => (a === undefined ? a : { ...(a as Body), in_reply_to: 0 });
        calls.forEach((call, i) => {
          if (call.to === "seq-kv" || call.to === "lww-kv") {
            expect(strip(noisy[2 * i])).toEqual(strip(quiet[i]));
          }
        });
      }),
      { numRuns: 100 },
    );
  });
});
