// Directed tests of the search and its edges: empty and one-op histories, indeterminate ops,
// equal timestamps, the time and memory budgets, cancellation across partitions, worker
// threads, partial linearizations, the event API and the model helpers.

import { availableParallelism } from "node:os";
import { beforeAll, describe, expect, it } from "vitest";
import { WORKER_AFTER_MS, workerScript } from "../../checkers/porcupine/check.js";
import {
  appendKvModel,
  casRegisterModel,
  checkEvents,
  checkOperations,
  type Event,
  kvModel,
  type Model,
  nondeterministic,
  type Operation,
  type RegisterInput,
  type RegisterOutput,
  registerModel,
  unpartitioned,
} from "../../checkers/porcupine/index.js";

type RegOp = Operation<RegisterInput, RegisterOutput>;

const w = (value: number, call: number, ret?: number): RegOp =>
  ret === undefined
    ? { input: { f: "write", value }, call }
    : { input: { f: "write", value }, call, output: {}, return: ret };
const r = (value: number | null, call: number, ret: number): RegOp => ({
  input: { f: "read" },
  call,
  output: { value },
  return: ret,
});
const cas = (
  from: number,
  to: number,
  ok: boolean | undefined,
  call: number,
  ret?: number,
): RegOp => ({
  input: { f: "cas", from, to },
  call,
  output: ok === undefined ? undefined : { ok },
  return: ret,
});

/** n concurrent writes of distinct values, then a read of a value none wrote: illegal, but
 * proving it visits every subset of the writes (n · 2^(n-1) search states). */
function exponential(n: number, key?: string): Operation<unknown, unknown>[] {
  const ops: Operation<unknown, unknown>[] = [];
  for (let i = 0; i < n; i++) {
    ops.push({ input: { f: "write", key, value: i }, call: 0, output: {}, return: 100 });
  }
  ops.push({ input: { f: "read", key }, call: 200, output: { value: -1 }, return: 210 });
  return ops;
}

/** n concurrent writes, then a read of the first value: linearizable (that write last),
 * but the search tries the other orders first (about n · 2^n search states). */
function slowButLinearizable(n: number, key: string): Operation<unknown, unknown>[] {
  const ops: Operation<unknown, unknown>[] = [];
  for (let i = 0; i < n; i++) {
    ops.push({ input: { f: "write", key, value: i }, call: 0, output: {}, return: 100 });
  }
  ops.push({ input: { f: "read", key }, call: 200, output: { value: 0 }, return: 210 });
  return ops;
}

describe("checkOperations", () => {
  it("an empty history is linearizable", async () => {
    const res = await checkOperations(registerModel, []);
    expect(res.result).toBe("ok");
    expect(res.partitions).toEqual([]);
  });

  it("a single op: legal or not in the initial state", async () => {
    expect((await checkOperations(registerModel, [r(null, 0, 1)])).result).toBe("ok");
    const bad = await checkOperations(registerModel, [r(1, 0, 1)]);
    expect(bad.result).toBe("illegal");
    expect(bad.partitions[0]).toMatchObject({ result: "illegal", longest: [], blocked: 0 });
  });

  it("orders by real time, and only by it", async () => {
    // write 1 returns before the read starts: the read must see 1.
    expect((await checkOperations(registerModel, [w(1, 0, 10), r(null, 11, 20)])).result).toBe(
      "illegal",
    );
    // Overlapping: the read may go first.
    expect((await checkOperations(registerModel, [w(1, 0, 10), r(null, 5, 20)])).result).toBe("ok");
  });

  it("equal timestamps: touching intervals are concurrent", async () => {
    expect((await checkOperations(registerModel, [w(1, 0, 10), r(null, 10, 20)])).result).toBe(
      "ok",
    );
    // All at one instant: any order is allowed (w2 r2 w1 r1), but still only values written.
    expect(
      (await checkOperations(registerModel, [r(2, 5, 5), w(1, 5, 5), w(2, 5, 5), r(1, 5, 5)]))
        .result,
    ).toBe("ok");
    expect(
      (await checkOperations(registerModel, [r(2, 5, 5), w(1, 5, 5), w(2, 5, 5), r(3, 5, 5)]))
        .result,
    ).toBe("illegal");
  });

  it("an indeterminate op may take effect at any later time, or never", async () => {
    // A write that never returned, seen by a much later read.
    expect(
      (await checkOperations(registerModel, [w(1, 0), r(null, 5, 6), r(1, 100, 101)])).result,
    ).toBe("ok");
    // ... or never seen.
    expect((await checkOperations(registerModel, [w(1, 0), r(null, 100, 101)])).result).toBe("ok");
    // But not before it was invoked.
    expect((await checkOperations(registerModel, [r(1, 0, 1), w(1, 5)])).result).toBe("illegal");
    // An indeterminate cas applies only where its precondition holds.
    const ops = [w(0, 0, 1), cas(0, 5, undefined, 2), r(5, 10, 11), r(0, 12, 13)];
    expect((await checkOperations(casRegisterModel, ops)).result).toBe("illegal");
    expect((await checkOperations(casRegisterModel, ops.slice(0, 3))).result).toBe("ok");
  });

  it("a failed cas saw another value", async () => {
    expect(
      (await checkOperations(casRegisterModel, [w(1, 0, 1), cas(1, 2, false, 2, 3)])).result,
    ).toBe("illegal");
    expect(
      (await checkOperations(casRegisterModel, [w(1, 0, 1), cas(0, 2, false, 2, 3), r(1, 4, 5)]))
        .result,
    ).toBe("ok");
  });

  it("equal ops are interchangeable only when the swap keeps real time (the dominator rule)", async () => {
    // The short append must precede the get; the long one, equal to it, cannot stand in.
    const ops: Operation<unknown, unknown>[] = [
      { input: { f: "append", key: "k", value: "x" }, call: 0, output: {}, return: 100 },
      { input: { f: "append", key: "k", value: "x" }, call: 10, output: {}, return: 20 },
      { input: { f: "get", key: "k" }, call: 30, output: { value: "x" }, return: 40 },
      { input: { f: "get", key: "k" }, call: 110, output: { value: "xx" }, return: 120 },
    ];
    expect((await checkOperations(appendKvModel, ops)).result).toBe("ok");
  });

  it("reports the longest linearizable prefix and the op that cannot follow it", async () => {
    const ops = [w(1, 0, 10), w(2, 20, 30), r(2, 40, 50), r(1, 60, 70), r(2, 80, 90)];
    const res = await checkOperations(registerModel, ops);
    expect(res.result).toBe("illegal");
    const p = res.partitions[0];
    expect(p?.longest).toEqual([0, 1, 2]);
    expect(p?.blocked).toBe(3);
    // Each placed op's longest prefix; op 4 (after the blocked one) was never placed.
    expect(p?.partialOf.map((k) => (k < 0 ? undefined : p.partials[k]))).toEqual([
      [0, 1, 2],
      [0, 1, 2],
      [0, 1, 2],
      undefined,
      undefined,
    ]);
  });

  it("a complete linearization for a linearizable history", async () => {
    const ops = [w(1, 0, 10), r(2, 5, 30), w(2, 6, 20)];
    const res = await checkOperations(registerModel, ops);
    expect(res.result).toBe("ok");
    expect(res.partitions[0]?.longest).toEqual([0, 2, 1]);
    expect(res.partitions[0]?.partials).toEqual([[0, 2, 1]]);
  });

  it("runs out of its time budget: unknown", async () => {
    const started = Date.now();
    const res = await checkOperations(casRegisterModel, exponential(24) as RegOp[], {
      timeout_ms: 100,
      workers: 0,
    });
    expect(res.result).toBe("unknown");
    expect(res.partitions[0]).toMatchObject({ result: "unknown", reason: "timeout" });
    expect(res.partitions[0]?.longest.length).toBeGreaterThan(0);
    expect(Date.now() - started).toBeLessThan(5_000);
  });

  it("runs out of its memory budget: unknown", async () => {
    const res = await checkOperations(casRegisterModel, exponential(24) as RegOp[], {
      max_memory_mb: 1,
      workers: 0,
    });
    expect(res.result).toBe("unknown");
    expect(res.partitions[0]).toMatchObject({ result: "unknown", reason: "memory" });
  });

  it("an illegal partition decides and cancels the rest, even an unfinishable one", async () => {
    const hard = exponential(24, "hard");
    const bad = [
      { input: { f: "write", key: "bad", value: 1 }, call: 0, output: {}, return: 1 },
      { input: { f: "read", key: "bad" }, call: 2, output: { value: 2 }, return: 3 },
    ];
    const started = Date.now();
    const res = await checkOperations(
      kvModel as Model<unknown, unknown, unknown>,
      [...hard, ...bad],
      {
        timeout_ms: 30_000,
        workers: 0,
      },
    );
    expect(res.result).toBe("illegal");
    expect(res.partitions.map((p) => [p.key, p.result])).toEqual([
      ['"hard"', "cancelled"],
      ['"bad"', "illegal"],
    ]);
    expect(Date.now() - started).toBeLessThan(5_000);
  });

  it("validates times", async () => {
    await expect(checkOperations(registerModel, [r(null, 5, 4)])).rejects.toThrow(/before call/);
    await expect(
      checkOperations(registerModel, [r(null, 0, 1)], { timeout_ms: -1 }),
    ).rejects.toThrow(/timeout_ms/);
  });
});

describe("worker threads", () => {
  // Start a pool worker first, so the timing of the tests below does not include its start.
  beforeAll(async () => {
    const ops: Operation<unknown, unknown>[] = ["x", "y"].map((key) => ({
      input: { f: "write", key, value: 1 },
      call: 0,
      output: {},
      return: 1,
    }));
    expect(
      (await checkOperations(kvModel as Model<unknown, unknown, unknown>, ops, { workers: 1 }))
        .workers,
    ).toBe(1);
  });

  it("the compiled worker exists (build with npx tsc -p tsconfig.json)", () => {
    expect(
      workerScript(),
      "dist/checkers/porcupine/worker.js is missing: run npx tsc -p tsconfig.json",
    ).toBeDefined();
  });

  it("partitions searched in a worker give the same verdicts", async () => {
    // Two slow partitions (~0.3 s each): this thread claims tiny ones and then "a"; the
    // worker claims from the other end and gets "b" long before this thread could.
    const tiny: Operation<unknown, unknown>[] = [];
    for (let k = 0; k < 4; k++) {
      const key = `t${k}`;
      tiny.push({ input: { f: "write", key, value: k }, call: 0, output: {}, return: 5 });
      tiny.push({ input: { f: "read", key }, call: 6, output: { value: k }, return: 9 });
    }
    const ops = [...tiny, ...slowButLinearizable(16, "a"), ...slowButLinearizable(16, "b")];
    const ok = await checkOperations(kvModel as Model<unknown, unknown, unknown>, ops, {
      workers: 1,
    });
    expect(ok.result).toBe("ok");
    expect(ok.workers).toBe(1);
    expect(ok.partitions.find((p) => p.key === '"b"')?.thread).toBe("worker");
    expect(ok.partitions.every((p) => p.result === "ok" && p.longest.length === p.ops.length)).toBe(
      true,
    );

    // The same, with "b" made illegal: the worker finds it and names the op.
    const broken = [...tiny, ...slowButLinearizable(16, "a"), ...exponential(16, "b")];
    const bad = await checkOperations(kvModel as Model<unknown, unknown, unknown>, broken, {
      workers: 1,
    });
    expect(bad.result).toBe("illegal");
    const illegal = bad.partitions.find((p) => p.result === "illegal");
    expect(illegal).toMatchObject({ key: '"b"', thread: "worker", blocked: broken.length - 1 });
  });

  it("a worker's illegal partition cancels the search in this thread", async () => {
    const hard = exponential(24, "hard");
    const bad: Operation<unknown, unknown>[] = [];
    for (let i = 0; i < 40; i++) {
      bad.push({
        input: { f: "write", key: "bad", value: 1 },
        call: 10 * i,
        output: {},
        return: 10 * i + 1,
      });
    }
    bad.push({ input: { f: "read", key: "bad" }, call: 1000, output: { value: 2 }, return: 1001 });
    const started = Date.now();
    // The bad partition is the larger, so the worker takes it; this thread takes the hard one.
    const res = await checkOperations(
      kvModel as Model<unknown, unknown, unknown>,
      [...hard, ...bad],
      {
        timeout_ms: 30_000,
        workers: 1,
      },
    );
    expect(res.result).toBe("illegal");
    const byKey = Object.fromEntries(res.partitions.map((p) => [p.key, p]));
    expect(byKey['"bad"']).toMatchObject({ result: "illegal", thread: "worker" });
    // This thread was searching it, or had not started it yet.
    expect(byKey['"hard"']?.result).toBe("cancelled");
    expect(["main", "none"]).toContain(byKey['"hard"']?.thread);
    expect(Date.now() - started).toBeLessThan(10_000);
  });

  it("workers share the time budget", async () => {
    const ops = [...exponential(24, "a"), ...exponential(24, "b")];
    const res = await checkOperations(kvModel as Model<unknown, unknown, unknown>, ops, {
      timeout_ms: 200,
      workers: 1,
    });
    expect(res.result).toBe("unknown");
    expect(res.partitions.map((p) => p.result)).toEqual(["unknown", "unknown"]);
  });

  it("by default, workers join a check that runs long (after WORKER_AFTER_MS, or at once when warm)", async () => {
    const ops = [...exponential(24, "a"), ...exponential(24, "b"), ...exponential(24, "c")];
    const res = await checkOperations(kvModel as Model<unknown, unknown, unknown>, ops, {
      timeout_ms: WORKER_AFTER_MS + 1500,
    });
    expect(res.result).toBe("unknown");
    const spare = availableParallelism() - 1;
    expect(res.workers).toBe(Math.min(spare, 2));
    if (spare > 0) expect(res.partitions.some((p) => p.thread === "worker")).toBe(true);
  });

  it("models outside the registry stay in this thread", async () => {
    const custom = { ...kvModel, name: "my-kv" } as Model<unknown, unknown, unknown>;
    const ops: Operation<unknown, unknown>[] = [
      { input: { f: "write", key: "a", value: 1 }, call: 0, output: {}, return: 1 },
      { input: { f: "write", key: "b", value: 1 }, call: 0, output: {}, return: 1 },
    ];
    const res = await checkOperations(custom, ops, { workers: 2 });
    expect(res.result).toBe("ok");
    expect(res.workers).toBe(0);
    expect(res.partitions.every((p) => p.thread === "main")).toBe(true);
  });
});

describe("models and adaptors", () => {
  it("checkEvents: position is time, unreturned calls never returned", async () => {
    const events: Event<RegisterInput, RegisterOutput>[] = [
      { kind: "call", id: 0, value: { f: "write", value: 1 } },
      { kind: "call", id: 1, value: { f: "read" } },
      { kind: "return", id: 1, value: { value: 1 } },
      { kind: "call", id: 2, value: { f: "read" } },
      { kind: "return", id: 2, value: { value: null } },
    ];
    // The write is still pending: it may land before the first read but then the second
    // read (after the first returned) cannot see nil.
    expect((await checkEvents(registerModel, events)).result).toBe("illegal");
    expect((await checkEvents(registerModel, events.slice(0, 3))).result).toBe("ok");
    await expect(
      checkEvents(registerModel, [{ kind: "return", id: 9, value: {} }]),
    ).rejects.toThrow(/without a pending call/);
  });

  it("models without hash or equal still intern states", async () => {
    // Primitive states, no hash, no equal: keyed by value.
    const counter: Model<number, "inc" | "get", number> = {
      name: "counter",
      init: () => 0,
      step: (s, input, out) =>
        input === "inc"
          ? { ok: true, state: s + 1 }
          : out === undefined || out === s
            ? { ok: true, state: s }
            : { ok: false },
    };
    const ops: Operation<"inc" | "get", number>[] = [
      { input: "inc", call: 0, output: 0, return: 10 },
      { input: "inc", call: 0, output: 0, return: 10 },
      { input: "get", call: 5, output: 1, return: 6 },
      { input: "get", call: 11, output: 2, return: 12 },
    ];
    expect((await checkOperations(counter, ops)).result).toBe("ok");
    expect(
      (await checkOperations(counter, [...ops, { input: "get", call: 13, output: 1, return: 14 }]))
        .result,
    ).toBe("illegal");
    // Object states with only `equal`: compared by scanning.
    const boxed: Model<{ n: number }, "inc" | "get", number> = {
      name: "boxed",
      init: () => ({ n: 0 }),
      step: (s, input, out) =>
        input === "inc"
          ? { ok: true, state: { n: s.n + 1 } }
          : out === undefined || out === s.n
            ? { ok: true, state: s }
            : { ok: false },
      equal: (a, b) => a.n === b.n,
    };
    expect((await checkOperations(boxed, ops)).result).toBe("ok");
  });

  it("nondeterministic(): a step legal in any possible state is legal", async () => {
    const lossy = nondeterministic<number | null, RegisterInput, RegisterOutput>({
      name: "lossy",
      init: () => [null],
      step: (s, input, out) => {
        if (input.f === "write") return [input.value as number, s];
        return out === undefined || out.value === s ? [s] : [];
      },
    });
    // The second read may see the first value if the second write was lost.
    const ops = [w(1, 0, 1), w(2, 2, 3), r(1, 4, 5)];
    expect((await checkOperations(lossy, ops)).result).toBe("ok");
    expect((await checkOperations(lossy, [...ops, r(3, 6, 7)])).result).toBe("illegal");
    expect((await checkOperations(registerModel, ops)).result).toBe("illegal");
    expect(lossy.describeState?.([1, 2])).toBe("{1, 2}");
  });

  it("unpartitioned() keeps every key in one state", async () => {
    const whole = unpartitioned(kvModel);
    const s1 = whole.step(whole.init(), { f: "write", key: "a", value: 1 }, {});
    expect(s1.ok).toBe(true);
    if (!s1.ok) return;
    expect(whole.describeState?.(s1.state)).toBe('{"a": 1}');
    // Writing the initial value back leaves the map equal to the initial one.
    const s2 = whole.step(s1.state, { f: "write", key: "a", value: null }, {});
    expect(s2.ok && whole.equal?.(s2.state, whole.init())).toBe(true);
    expect(s2.ok && whole.hash?.(s2.state)).toBe(whole.hash?.(whole.init()));
    expect(() => unpartitioned(registerModel)).toThrow(/no partition/);
  });

  it("describes operations and states for the report", () => {
    expect(casRegisterModel.describeOperation?.({ f: "cas", from: 1, to: 2 }, { ok: false })).toBe(
      "cas 1→2 (failed)",
    );
    expect(casRegisterModel.describeOperation?.({ f: "write", value: 3 }, undefined)).toBe(
      "write 3 (outcome unknown)",
    );
    expect(kvModel.describeOperation?.({ f: "read", key: "k" }, { value: null })).toBe(
      'read "k" → nil',
    );
    expect(appendKvModel.describeState?.({ text: "ab", hash: 0 })).toBe('"ab"');
    expect(() => registerModel.step(null, { f: "cas", from: 1, to: 2 }, { ok: true })).toThrow(
      /cas-register/,
    );
  });
});
