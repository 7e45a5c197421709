import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { Op } from "../../checkers/history.js";
import { Random } from "../../harness/random.js";
import { KV_GET_FRACTION, KV_PUT_FRACTION, kv, kvUniqueValue } from "../../workloads/kv.js";
import { MAX_OPS_PER_KEY, MAX_PROCESSES_PER_KEY } from "../../workloads/lin-kv.js";
import { ReplyError } from "../../workloads/protocol.js";
import type { OpSpec, Workload } from "../../workloads/workload.js";

const NODES3 = ["n0", "n1", "n2"];

function make(concurrency: number, nodes = NODES3, latency_ms = 0, seed = 1): Workload {
  return kv({ nodes, concurrency, rng: new Random(seed), latency_ms, topology: "grid" });
}

interface Drawn {
  worker: number;
  process: number;
  op: OpSpec;
}

/** Round-robin-ish workers; with probability infoP an op crashes and the process is renumbered. */
function drive(
  w: Workload,
  concurrency: number,
  nodes: readonly string[],
  count: number,
  infoP = 0,
  seed = 2,
): Drawn[] {
  const rng = new Random(seed);
  const processes = Array.from({ length: concurrency }, (_, i) => i);
  const out: Drawn[] = [];
  for (let i = 0; i < count; i++) {
    const worker = rng.int(0, concurrency - 1);
    const process = processes[worker] as number;
    const op = w.generate({ worker, process, node: nodes[worker % nodes.length] as string });
    if (!op) throw new Error("kv generator must always have an op");
    out.push({ worker, process, op });
    if (rng.chance(infoP)) processes[worker] = process + concurrency;
  }
  return out;
}

const keyOf = (op: OpSpec) => (op.value as { key: string }).key;

describe("kv generator", () => {
  it("mixes get 45% / put 5% / append 50% on string keys", () => {
    const drawn = drive(make(6), 6, NODES3, 10_000);
    const counts: Record<string, number> = {};
    for (const { op } of drawn) {
      counts[op.f] = (counts[op.f] ?? 0) + 1;
      expect(typeof keyOf(op)).toBe("string");
    }
    expect(Object.keys(counts).sort()).toEqual(["append", "get", "put"]);
    expect((counts.get as number) / 10_000).toBeCloseTo(KV_GET_FRACTION, 1);
    expect((counts.put as number) / 10_000).toBeCloseTo(KV_PUT_FRACTION, 1);
    expect((counts.append as number) / 10_000).toBeCloseTo(0.5, 1);
  });

  it("writes unique values of the shape 'x <process> <seq> y'", () => {
    const drawn = drive(make(7), 7, NODES3, 5000, 0.1);
    const written = drawn
      .filter((d) => d.op.f !== "get")
      .map((d) => (d.op.value as { value: string }).value);
    expect(new Set(written).size).toBe(written.length);
    for (const d of drawn) {
      const v = d.op.value as { value: unknown };
      if (d.op.f === "get") expect(v.value).toBeNull();
      else expect(v.value).toMatch(new RegExp(`^x ${d.process} \\d+ y$`));
    }
    expect(kvUniqueValue(3, 7)).toBe("x 3 7 y");
  });

  it("bounds every key's ops and processes, and keeps a key inside one group (property)", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 5 }),
        fc.integer({ min: 1, max: 24 }),
        fc.double({ min: 0, max: 1, noNaN: true }),
        fc.integer({ min: 0, max: 1000 }),
        (nodeCount, concurrency, infoP, seed) => {
          const nodes = Array.from({ length: nodeCount }, (_, i) => `n${i}`);
          const drawn = drive(
            make(concurrency, nodes, 0, seed),
            concurrency,
            nodes,
            400,
            infoP,
            seed + 1,
          );
          const byKey = new Map<string, Drawn[]>();
          for (const d of drawn) byKey.set(keyOf(d.op), [...(byKey.get(keyOf(d.op)) ?? []), d]);
          for (const ops of byKey.values()) {
            expect(ops.length).toBeLessThanOrEqual(MAX_OPS_PER_KEY);
            expect(new Set(ops.map((d) => d.process)).size).toBeLessThanOrEqual(
              MAX_PROCESSES_PER_KEY,
            );
            expect(new Set(ops.map((d) => Math.floor(d.worker / (2 * nodeCount)))).size).toBe(1);
          }
        },
      ),
      { numRuns: 200 },
    );
  });

  it("rotates keys: exactly MAX_OPS_PER_KEY ops per key without crashes", () => {
    const drawn = drive(make(6), 6, NODES3, 3 * MAX_OPS_PER_KEY);
    const keys = drawn.map((d) => keyOf(d.op));
    expect([...new Set(keys)]).toEqual(["0", "1", "2"]);
    for (const k of ["0", "1", "2"])
      expect(keys.filter((x) => x === k).length).toBe(MAX_OPS_PER_KEY);
  });
});

describe("kv client adaptor", () => {
  const w = make(6);
  const get: OpSpec = { f: "get", value: { key: "4", value: null } };
  const put: OpSpec = { f: "put", value: { key: "4", value: "x 1 0 y" } };
  const append: OpSpec = { f: "append", value: { key: "4", value: "x 1 1 y" } };

  it("builds the request bodies of workloads/kv.md", () => {
    expect(w.request(get)).toEqual({ type: "get", key: "4" });
    expect(w.request(put)).toEqual({ type: "put", key: "4", value: "x 1 0 y" });
    expect(w.request(append)).toEqual({ type: "append", key: "4", value: "x 1 1 y" });
    expect(() => w.request({ f: "read", value: { key: "4" } })).toThrow(TypeError);
  });

  it("maps ok replies, and rejects malformed ones with ReplyError", () => {
    expect(w.okValue(get, { type: "get_ok", value: "x 1 0 yx 2 0 y" })).toEqual({
      key: "4",
      value: "x 1 0 yx 2 0 y",
    });
    expect(w.okValue(get, { type: "get_ok", value: "" })).toEqual({ key: "4", value: "" });
    expect(w.okValue(put, { type: "put_ok", in_reply_to: 3 })).toEqual(put.value);
    expect(w.okValue(append, { type: "append_ok" })).toEqual(append.value);
    expect(() => w.okValue(get, { type: "get_ok" })).toThrow(ReplyError);
    expect(() => w.okValue(get, { type: "get_ok", value: null })).toThrow(ReplyError);
    expect(() => w.okValue(get, { type: "get_ok", value: 3 })).toThrow(ReplyError);
    expect(() => w.okValue(get, { type: "read_ok", value: "" })).toThrow(ReplyError);
    expect(() => w.okValue(append, { type: "put_ok" })).toThrow(ReplyError);
  });

  it('maps a get of a missing key (error 20) to ok ""; leaves the rest to the generic mapping', () => {
    const mapError = w.mapError?.bind(w);
    if (!mapError) throw new Error("kv must define mapError");
    expect(mapError(get, 20, { type: "error", code: 20 })).toEqual({
      type: "ok",
      value: { key: "4", value: "" },
    });
    expect(mapError(get, 11, { type: "error", code: 11 })).toBeUndefined();
    expect(mapError(append, 13, { type: "error", code: 13 })).toBeUndefined();
  });

  it("treats only get as idempotent and uses lin-kv's timeout", () => {
    expect(w.idempotent("get")).toBe(true);
    expect(w.idempotent("put")).toBe(false);
    expect(w.idempotent("append")).toBe(false);
    expect(make(6, NODES3, 0).timeout_ms).toBe(1000);
    expect(make(6, NODES3, 300).timeout_ms).toBe(3000);
  });
});

function history(rows: [number, Op["type"], string, unknown][]): Op[] {
  return rows.map(([process, type, f, value], index) => ({
    index,
    time: index * 1_000_000,
    process,
    type,
    f,
    value,
  }));
}

describe("kv check", () => {
  const w = make(6);

  it("accepts a linearizable history with concurrent appends and an info append", async () => {
    const h = history([
      [0, "invoke", "get", { key: "0", value: null }],
      [0, "ok", "get", { key: "0", value: "" }],
      [1, "invoke", "append", { key: "0", value: "x 1 0 y" }],
      [2, "invoke", "append", { key: "0", value: "x 2 0 y" }],
      [2, "ok", "append", { key: "0", value: "x 2 0 y" }],
      [1, "ok", "append", { key: "0", value: "x 1 0 y" }],
      // The two appends were concurrent: either order is fine, this get picks one.
      [0, "invoke", "get", { key: "0", value: null }],
      [0, "ok", "get", { key: "0", value: "x 1 0 yx 2 0 y" }],
      [2, "invoke", "append", { key: "0", value: "x 2 1 y" }],
      [2, "info", "append", { key: "0", value: "x 2 1 y" }],
      [1, "invoke", "put", { key: "1", value: "x 1 1 y" }],
      [1, "ok", "put", { key: "1", value: "x 1 1 y" }],
      [0, "invoke", "get", { key: "1", value: null }],
      [0, "ok", "get", { key: "1", value: "x 1 1 y" }],
      // The info append may take effect later.
      [0, "invoke", "get", { key: "0", value: null }],
      [0, "ok", "get", { key: "0", value: "x 1 0 yx 2 0 yx 2 1 y" }],
    ]);
    const result = await w.check(h);
    expect(Object.keys(result)).toEqual(["linearizable"]);
    expect(result.linearizable?.valid).toBe(true);
  });

  it("rejects a stale get", async () => {
    const h = history([
      [1, "invoke", "append", { key: "0", value: "x 1 0 y" }],
      [1, "ok", "append", { key: "0", value: "x 1 0 y" }],
      [0, "invoke", "get", { key: "0", value: null }],
      [0, "ok", "get", { key: "0", value: "" }],
    ]);
    expect((await w.check(h)).linearizable?.valid).toBe(false);
  });

  it("rejects two gets that saw concurrent appends in different orders", async () => {
    const h = history([
      [1, "invoke", "append", { key: "0", value: "a" }],
      [2, "invoke", "append", { key: "0", value: "b" }],
      [1, "ok", "append", { key: "0", value: "a" }],
      [2, "ok", "append", { key: "0", value: "b" }],
      [0, "invoke", "get", { key: "0", value: null }],
      [0, "ok", "get", { key: "0", value: "ab" }],
      [3, "invoke", "get", { key: "0", value: null }],
      [3, "ok", "get", { key: "0", value: "ba" }],
    ]);
    expect((await w.check(h)).linearizable?.valid).toBe(false);
  });
});
