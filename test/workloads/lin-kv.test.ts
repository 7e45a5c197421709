import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { Op } from "../../checkers/history.js";
import { Random } from "../../harness/random.js";
import {
  IndependentKeys,
  linKv,
  MAX_OPS_PER_KEY,
  MAX_PROCESSES_PER_KEY,
  VALUE_BOUND_EXCLUSIVE,
} from "../../workloads/lin-kv.js";
import { completionFor } from "../../workloads/maelstrom/completion.js";
import { ReplyError } from "../../workloads/protocol.js";
import type { OpSpec, WorkerView, Workload } from "../../workloads/workload.js";
import { HistoryBuilder } from "../checkers/build-history.js";

const NODES3 = ["n0", "n1", "n2"];

function make(concurrency: number, nodes = NODES3, latency_ms = 0, seed = 1): Workload {
  return linKv({ nodes, concurrency, rng: new Random(seed), latency_ms, topology: "grid" });
}

function view(worker: number, process: number, nodes: readonly string[]): WorkerView {
  return { worker, process, node: nodes[worker % nodes.length] as string };
}

interface Drawn {
  worker: number;
  process: number;
  op: OpSpec;
}

/**
 * Drives the generator round-robin like the harness's workers would; with probability
 * `infoP` an op is treated as indeterminate and the worker continues as process + concurrency.
 */
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
    const op = w.generate(view(worker, process, nodes));
    if (!op) throw new Error("lin-kv generator must always have an op");
    out.push({ worker, process, op });
    if (rng.chance(infoP)) processes[worker] = process + concurrency;
  }
  return out;
}

const keyOf = (op: OpSpec) => (op.value as { key: number }).key;

function perKey(drawn: Drawn[]): Map<number, Drawn[]> {
  const m = new Map<number, Drawn[]>();
  for (const d of drawn) {
    const k = keyOf(d.op);
    m.set(k, [...(m.get(k) ?? []), d]);
  }
  return m;
}

describe("lin-kv generator", () => {
  it("reserves the first n workers of a full group for reads and mixes write : cas ≈ 1 : 2", () => {
    const w = make(6);
    const drawn = drive(w, 6, NODES3, 6000);
    const writerFs = { write: 0, cas: 0 };
    for (const { worker, op } of drawn) {
      if (worker < 3) expect(op.f).toBe("read");
      else {
        expect(["write", "cas"]).toContain(op.f);
        writerFs[op.f as "write" | "cas"]++;
      }
    }
    const casShare = writerFs.cas / (writerFs.write + writerFs.cas);
    expect(casShare).toBeGreaterThan(0.6);
    expect(casShare).toBeLessThan(0.73);
  });

  it("gives every f of a partial group (concurrency not a multiple of 2n) the overall mix", () => {
    const w = make(3);
    const drawn = drive(w, 3, NODES3, 6000);
    const counts = { read: 0, write: 0, cas: 0 } as Record<string, number>;
    for (const { op } of drawn) counts[op.f] = (counts[op.f] ?? 0) + 1;
    expect(Object.keys(counts).sort()).toEqual(["cas", "read", "write"]);
    expect((counts.read as number) / 6000).toBeCloseTo(1 / 2, 1);
    expect((counts.write as number) / 6000).toBeCloseTo(1 / 6, 1);
    expect((counts.cas as number) / 6000).toBeCloseTo(1 / 3, 1);
    // Each node sees reads and writes: worker i -> node i mod 3, and every worker mixes.
    for (let worker = 0; worker < 3; worker++) {
      const fs = new Set(drawn.filter((d) => d.worker === worker).map((d) => d.op.f));
      expect(fs).toEqual(new Set(["read", "write", "cas"]));
    }
  });

  it("draws values in [0, 5) and records Jepsen's value shapes", () => {
    const drawn = drive(make(6), 6, NODES3, 3000);
    const seen = new Set<number>();
    for (const { op } of drawn) {
      const v = op.value as Record<string, unknown>;
      if (op.f === "read") expect(Object.keys(v).sort()).toEqual(["key", "value"]);
      if (op.f === "read") expect(v.value).toBeNull();
      if (op.f === "write") expect(Object.keys(v).sort()).toEqual(["key", "value"]);
      if (op.f === "cas") expect(Object.keys(v).sort()).toEqual(["from", "key", "to"]);
      for (const field of ["value", "from", "to"]) {
        const x = v[field];
        if (x === null || x === undefined) continue;
        expect(Number.isInteger(x)).toBe(true);
        expect(x as number).toBeGreaterThanOrEqual(0);
        expect(x as number).toBeLessThan(VALUE_BOUND_EXCLUSIVE);
        seen.add(x as number);
      }
    }
    expect([...seen].sort()).toEqual([0, 1, 2, 3, 4]);
  });

  it("retires a key after MAX_OPS_PER_KEY ops and never reuses it", () => {
    const drawn = drive(make(6), 6, NODES3, 10 * MAX_OPS_PER_KEY);
    const keys = perKey(drawn);
    expect(keys.size).toBe(10);
    for (const ops of keys.values()) expect(ops.length).toBe(MAX_OPS_PER_KEY);
    // Keys are handed out in order, so once a key is retired it never comes back.
    let last = -1;
    for (const { op } of drawn) {
      expect(keyOf(op)).toBeGreaterThanOrEqual(last);
      last = keyOf(op);
    }
  });

  it("retires a key once MAX_PROCESSES_PER_KEY distinct processes used it", () => {
    // Every op crashes, so each worker gets a new process id after every op.
    const drawn = drive(make(6), 6, NODES3, 500, 1);
    for (const ops of perKey(drawn).values()) {
      expect(new Set(ops.map((d) => d.process)).size).toBeLessThanOrEqual(MAX_PROCESSES_PER_KEY);
      expect(ops.length).toBeLessThanOrEqual(MAX_PROCESSES_PER_KEY);
    }
    expect(perKey(drawn).size).toBeGreaterThanOrEqual(Math.floor(500 / MAX_PROCESSES_PER_KEY));
  });

  it("keeps every key within its bounds and inside one group, for any shape (property)", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 5 }),
        fc.integer({ min: 1, max: 24 }),
        fc.double({ min: 0, max: 1, noNaN: true }),
        fc.integer({ min: 0, max: 1000 }),
        (nodeCount, concurrency, infoP, seed) => {
          const nodes = Array.from({ length: nodeCount }, (_, i) => `n${i}`);
          const w = make(concurrency, nodes, 0, seed);
          const drawn = drive(w, concurrency, nodes, 400, infoP, seed + 1);
          for (const ops of perKey(drawn).values()) {
            expect(ops.length).toBeLessThanOrEqual(MAX_OPS_PER_KEY);
            expect(new Set(ops.map((d) => d.process)).size).toBeLessThanOrEqual(
              MAX_PROCESSES_PER_KEY,
            );
            const groups = new Set(ops.map((d) => Math.floor(d.worker / (2 * nodeCount))));
            expect(groups.size).toBe(1);
          }
        },
      ),
      { numRuns: 200 },
    );
  });

  it("rejects a worker index outside [0, concurrency)", () => {
    expect(() => make(6).generate(view(6, 6, NODES3))).toThrow(RangeError);
    expect(
      () =>
        new IndependentKeys({
          concurrency: 0,
          groupSize: 2,
          maxOpsPerKey: 1,
          maxProcessesPerKey: 1,
          keyName: String,
        }),
    ).toThrow(RangeError);
  });
});

describe("lin-kv client adaptor", () => {
  const w = make(6);
  const read: OpSpec = { f: "read", value: { key: 3, value: null } };
  const write: OpSpec = { f: "write", value: { key: 3, value: 4 } };
  const cas: OpSpec = { f: "cas", value: { key: 3, from: 1, to: 2 } };

  it("builds Maelstrom's request bodies", () => {
    expect(w.request(read)).toEqual({ type: "read", key: 3 });
    expect(w.request(write)).toEqual({ type: "write", key: 3, value: 4 });
    expect(w.request(cas)).toEqual({ type: "cas", key: 3, from: 1, to: 2 });
    expect(() => w.request({ f: "delete", value: { key: 3 } })).toThrow(TypeError);
  });

  it("maps ok replies to completion values", () => {
    expect(w.okValue(read, { type: "read_ok", in_reply_to: 1, value: 2 })).toEqual({
      key: 3,
      value: 2,
    });
    // Extra keys and an echoed msg_id are tolerated (README.md "The node protocol").
    expect(w.okValue(read, { type: "read_ok", in_reply_to: 1, msg_id: 9, value: 0, x: 1 })).toEqual(
      {
        key: 3,
        value: 0,
      },
    );
    expect(w.okValue(read, { type: "read_ok", value: null })).toEqual({ key: 3, value: null });
    expect(w.okValue(write, { type: "write_ok" })).toEqual({ key: 3, value: 4 });
    expect(w.okValue(cas, { type: "cas_ok" })).toEqual({ key: 3, from: 1, to: 2 });
  });

  it("throws ReplyError on a malformed reply", () => {
    expect(() => w.okValue(read, { type: "read_ok" })).toThrow(ReplyError);
    expect(() => w.okValue(read, { type: "write_ok", value: 1 })).toThrow(ReplyError);
    expect(() => w.okValue(cas, { type: "write_ok" })).toThrow(ReplyError);
    expect(() => w.okValue(write, { type: "read_ok", value: 1 })).toThrow(ReplyError);
  });

  it("maps errors: read of a missing key is an ok null; cas 20/22 fail; the rest is generic", () => {
    const mapError = w.mapError?.bind(w);
    if (!mapError) throw new Error("lin-kv must define mapError");
    expect(mapError(read, 20, { type: "error", code: 20 })).toEqual({
      type: "ok",
      value: { key: 3, value: null },
    });
    expect(
      mapError(cas, 22, { type: "error", code: 22, text: "current value 3 is not 1" }),
    ).toEqual({
      type: "fail",
      value: { key: 3, from: 1, to: 2 },
      error: ["precondition-failed", "current value 3 is not 1"],
    });
    expect(mapError(cas, 20, { type: "error", code: 20 })).toEqual({
      type: "fail",
      value: { key: 3, from: 1, to: 2 },
      error: ["key-does-not-exist", null],
    });
    expect(mapError(cas, 13, { type: "error", code: 13 })).toBeUndefined();
    expect(mapError(write, 20, { type: "error", code: 20 })).toBeUndefined();
    expect(mapError(read, 11, { type: "error", code: 11 })).toBeUndefined();
  });

  it("records a read answered with error 20 as an ok nil (Maelstrom: fail), which the checker uses", async () => {
    const absent = completionFor(w, read, "read", { type: "error", in_reply_to: 1, code: 20 });
    expect(absent).toEqual({ type: "ok", value: { key: 3, value: null } });
    // A "key absent" answer after an acknowledged write is a stale read, not a failed op.
    const h = new HistoryBuilder();
    h.op(0, "write", { key: 3, value: 1 }, "ok");
    h.op(1, "read", { key: 3, value: null }, "ok", absent.value);
    expect((await w.check(h.ops)).linearizable?.valid).toBe(false);
  });

  it("treats only read as idempotent", () => {
    expect(w.idempotent("read")).toBe(true);
    expect(w.idempotent("write")).toBe(false);
    expect(w.idempotent("cas")).toBe(false);
  });

  it("times out after max(10 × latency, 1000 ms)", () => {
    expect(make(6, NODES3, 0).timeout_ms).toBe(1000);
    expect(make(6, NODES3, 50).timeout_ms).toBe(1000);
    expect(make(6, NODES3, 250).timeout_ms).toBe(2500);
  });
});

/** Builds a history from [process, type, f, value] rows, 1 ms apart. */
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

describe("lin-kv check", () => {
  const w = make(6);

  it("accepts a linearizable history (incl. a read of a missing key and a failed cas)", async () => {
    const h = history([
      [0, "invoke", "read", { key: 0, value: null }],
      [0, "ok", "read", { key: 0, value: null }],
      [1, "invoke", "write", { key: 0, value: 1 }],
      [2, "invoke", "read", { key: 0, value: null }],
      [1, "ok", "write", { key: 0, value: 1 }],
      [2, "ok", "read", { key: 0, value: 1 }],
      [1, "invoke", "cas", { key: 0, from: 3, to: 4 }],
      [1, "fail", "cas", { key: 0, from: 3, to: 4 }],
      [1, "invoke", "cas", { key: 0, from: 1, to: 2 }],
      [1, "ok", "cas", { key: 0, from: 1, to: 2 }],
      [0, "invoke", "read", { key: 1, value: null }],
      [0, "ok", "read", { key: 1, value: null }],
      [2, "invoke", "read", { key: 0, value: null }],
      [2, "ok", "read", { key: 0, value: 2 }],
    ]);
    const result = await w.check(h);
    expect(Object.keys(result)).toEqual(["linearizable"]);
    expect(result.linearizable?.valid).toBe(true);
  });

  it("rejects a stale read", async () => {
    const h = history([
      [1, "invoke", "write", { key: 0, value: 1 }],
      [1, "ok", "write", { key: 0, value: 1 }],
      [1, "invoke", "write", { key: 0, value: 2 }],
      [1, "ok", "write", { key: 0, value: 2 }],
      // Invoked after write 2 completed, yet sees 1.
      [0, "invoke", "read", { key: 0, value: null }],
      [0, "ok", "read", { key: 0, value: 1 }],
    ]);
    const result = await w.check(h);
    expect(result.linearizable?.valid).toBe(false);
  });

  it("rejects a read of a missing key after a completed write (the evidence error 20 gives)", async () => {
    const h = history([
      [1, "invoke", "write", { key: 5, value: 3 }],
      [1, "ok", "write", { key: 5, value: 3 }],
      [0, "invoke", "read", { key: 5, value: null }],
      [0, "ok", "read", { key: 5, value: null }],
    ]);
    expect((await w.check(h)).linearizable?.valid).toBe(false);
  });

  it("rejects a cas that succeeded against a value the register never held", async () => {
    const h = history([
      [1, "invoke", "write", { key: 0, value: 1 }],
      [1, "ok", "write", { key: 0, value: 1 }],
      [2, "invoke", "cas", { key: 0, from: 4, to: 0 }],
      [2, "ok", "cas", { key: 0, from: 4, to: 0 }],
    ]);
    expect((await w.check(h)).linearizable?.valid).toBe(false);
  });
});
