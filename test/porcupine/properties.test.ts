// Property tests: on thousands of small random histories per model, the Porcupine port and
// an exhaustive brute-force checker agree. Histories come from a sequential run of a
// reference implementation (written here, independent of the models) with random overlapping
// intervals — linearizable by construction — and then some are mutated (a wrong output, a
// moved interval, an op turned indeterminate), which may or may not break them.

import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { unseenAppendKvWrites } from "../../checkers/linearizable.js";
import {
  type AppendKvInput,
  type AppendKvOutput,
  appendKvModel,
  casRegisterModel,
  checkOperations,
  fifoQueueModel,
  kvModel,
  type Model,
  type NondeterministicModel,
  nondeterministic,
  type Operation,
  registerModel,
  setModel,
  unpartitioned,
} from "../../checkers/porcupine/index.js";
import { PartitionSearch, type SearchOp } from "../../checkers/porcupine/search.js";
import {
  bruteLinearizable,
  bruteLinearizableNd,
  bruteLongestPrefix,
  isLegalPrefix,
} from "./brute.js";

type AnyModel = Model<unknown, unknown, unknown>;
type Op = Operation<unknown, unknown>;

interface Spec {
  name: string;
  model: AnyModel;
  /** The model the brute force steps (the whole map for partitioned models). */
  brute: (ops: readonly Op[]) => boolean;
  input: fc.Arbitrary<unknown>;
  init: () => unknown;
  /** The reference semantics: the output and next state of `input`. */
  exec: (state: unknown, input: Record<string, unknown>) => [unknown, unknown];
  /** Outputs to swap in when mutating (may or may not be the right one). */
  wrong: (input: Record<string, unknown>) => unknown[];
}

const VALUES = [0, 1, 2] as const;
const value = fc.constantFrom(...VALUES);
const maybeValue = fc.constantFrom(null, ...VALUES);
const key = fc.constantFrom("a", "b");
const readOutputs = [{ value: null }, ...VALUES.map((v) => ({ value: v }))];

const registerInput = fc.oneof(
  fc.constant({ f: "read" }),
  value.map((v) => ({ f: "write", value: v })),
);
const casInput = fc.oneof(
  registerInput,
  fc.record({ f: fc.constant("cas"), from: maybeValue, to: value }),
);

function registerExec(state: unknown, input: Record<string, unknown>): [unknown, unknown] {
  if (input.f === "read") return [{ value: state }, state];
  if (input.f === "write") return [{}, input.value];
  return state === input.from ? [{ ok: true }, input.to] : [{ ok: false }, state];
}

function registerWrong(input: Record<string, unknown>): unknown[] {
  if (input.f === "read") return readOutputs;
  if (input.f === "cas") return [{ ok: true }, { ok: false }];
  return [];
}

function mapExec(
  exec: (state: unknown, input: Record<string, unknown>) => [unknown, unknown],
  initial: unknown,
): (state: unknown, input: Record<string, unknown>) => [unknown, unknown] {
  return (state, input) => {
    const m = state as ReadonlyMap<unknown, unknown>;
    const [out, next] = exec(m.has(input.key) ? m.get(input.key) : initial, input);
    return [out, new Map(m).set(input.key, next)];
  };
}

function appendExec(state: unknown, input: Record<string, unknown>): [unknown, unknown] {
  const s = state as string;
  if (input.f === "get") return [{ value: s }, s];
  if (input.f === "put") return [{}, input.value];
  return [{}, s + (input.value as string)];
}

/** A register whose writes may be lost: the nondeterministic-model adaptor's test subject. */
const lossyRegister: NondeterministicModel<unknown, unknown, unknown> = {
  name: "lossy-register",
  init: () => [null],
  step(state, input, output) {
    const i = input as Record<string, unknown>;
    if (i.f === "write") return [i.value, state];
    const o = output as { value?: unknown } | undefined;
    return o === undefined || o.value === state ? [state] : [];
  },
  hash: (s) => (s === null ? 7 : (s as number)),
};

const SPECS: Spec[] = [
  {
    name: "register",
    model: registerModel as AnyModel,
    brute: (ops) => bruteLinearizable(registerModel as AnyModel, ops),
    input: registerInput,
    init: () => null,
    exec: registerExec,
    wrong: registerWrong,
  },
  {
    name: "cas-register",
    model: casRegisterModel as AnyModel,
    brute: (ops) => bruteLinearizable(casRegisterModel as AnyModel, ops),
    input: casInput,
    init: () => null,
    exec: registerExec,
    wrong: registerWrong,
  },
  {
    name: "kv (partitioned by key)",
    model: kvModel as AnyModel,
    brute: (ops) => bruteLinearizable(unpartitioned(kvModel) as AnyModel, ops),
    input: fc.tuple(casInput, key).map(([i, k]) => ({ ...i, key: k })),
    init: () => new Map(),
    exec: mapExec(registerExec, null),
    wrong: registerWrong,
  },
  {
    name: "kv (unpartitioned)",
    model: unpartitioned(kvModel) as AnyModel,
    brute: (ops) => bruteLinearizable(unpartitioned(kvModel) as AnyModel, ops),
    input: fc.tuple(casInput, key).map(([i, k]) => ({ ...i, key: k })),
    init: () => new Map(),
    exec: mapExec(registerExec, null),
    wrong: registerWrong,
  },
  {
    name: "append-kv",
    model: appendKvModel as AnyModel,
    brute: (ops) => bruteLinearizable(unpartitioned(appendKvModel) as AnyModel, ops),
    input: fc
      .tuple(
        fc.oneof(
          fc.constant({ f: "get" }),
          fc.record({ f: fc.constantFrom("put", "append"), value: fc.constantFrom("x", "y") }),
        ),
        key,
      )
      .map(([i, k]) => ({ ...i, key: k })),
    init: () => new Map(),
    exec: mapExec(appendExec, ""),
    wrong: (input) =>
      input.f === "get" ? ["", "x", "y", "xy", "yx", "xx"].map((v) => ({ value: v })) : [],
  },
  {
    name: "set",
    model: setModel as AnyModel,
    brute: (ops) => bruteLinearizable(setModel as AnyModel, ops),
    input: fc.oneof(
      fc.constant({ f: "read" }),
      value.map((v) => ({ f: "add", value: v })),
    ),
    init: () => new Set(),
    exec(state, input) {
      const s = state as ReadonlySet<number>;
      if (input.f === "read") return [{ value: [...s].reverse() }, s];
      return [{}, new Set(s).add(input.value as number)];
    },
    wrong: (input) =>
      input.f === "read"
        ? [[], [0], [1], [0, 1], [0, 2], [0, 1, 2]].map((v) => ({ value: v }))
        : [],
  },
  {
    name: "fifo-queue",
    model: fifoQueueModel as AnyModel,
    brute: (ops) => bruteLinearizable(fifoQueueModel as AnyModel, ops),
    input: fc.oneof(
      fc.constant({ f: "dequeue" }),
      value.map((v) => ({ f: "enqueue", value: v })),
    ),
    init: () => [],
    exec(state, input) {
      const q = state as readonly number[];
      if (input.f === "enqueue") return [{}, [...q, input.value as number]];
      return q.length === 0 ? [{ empty: true }, q] : [{ value: q[0] }, q.slice(1)];
    },
    wrong: (input) =>
      input.f === "dequeue" ? [{ empty: true }, ...VALUES.map((v) => ({ value: v }))] : [],
  },
  {
    name: "nondeterministic (lossy register)",
    model: nondeterministic(lossyRegister) as AnyModel,
    brute: (ops) => bruteLinearizableNd(lossyRegister, ops),
    input: registerInput,
    init: () => null,
    exec: registerExec,
    wrong: registerWrong,
  },
];

const MAX_OPS = 7;
const RUNS_PER_MODEL = 2500;

interface Draft {
  input: Record<string, unknown>;
  before: number;
  after: number;
  info: boolean;
}

interface Mutation {
  op: number;
  kind: "output" | "time" | "info";
  pick: number;
}

function historyArbitrary(spec: Spec) {
  return fc.record({
    drafts: fc.array(
      fc.record({
        input: spec.input as fc.Arbitrary<Record<string, unknown>>,
        // Mostly short intervals, some long ones spanning several others.
        before: fc.oneof(
          { arbitrary: fc.nat(25), weight: 3 },
          { arbitrary: fc.nat(90), weight: 1 },
        ),
        after: fc.oneof({ arbitrary: fc.nat(25), weight: 3 }, { arbitrary: fc.nat(90), weight: 1 }),
        info: fc.nat(9).map((n) => n === 0),
      }),
      { maxLength: MAX_OPS },
    ),
    mutations: fc.array(
      fc.record({ op: fc.nat(), kind: fc.constantFrom("output", "time", "info"), pick: fc.nat() }),
      { maxLength: 2 },
    ) as fc.Arbitrary<Mutation[]>,
    // Coarse time grids make equal timestamps (touching intervals) common.
    grid: fc.constantFrom(1, 5, 10),
  });
}

function build(spec: Spec, drafts: Draft[], mutations: Mutation[], grid: number): Op[] {
  let state = spec.init();
  const ops: Op[] = drafts.map((d, i) => {
    const point = 10 * (i + 1);
    const [output, next] = spec.exec(state, d.input);
    state = next;
    const call = Math.floor((point - d.before) / grid) * grid;
    const ret = Math.ceil((point + d.after) / grid) * grid;
    return d.info ? { input: d.input, call } : { input: d.input, call, output, return: ret };
  });
  for (const m of mutations) {
    if (ops.length === 0) break;
    const op = ops[m.op % ops.length] as Op;
    if (m.kind === "info") {
      op.output = undefined;
      op.return = undefined;
    } else if (m.kind === "time") {
      op.call = (m.pick % 9) * 10;
      if (op.return !== undefined) op.return = op.call + ((m.pick >> 4) % 40);
    } else if (op.output !== undefined) {
      const wrong = spec.wrong(op.input as Record<string, unknown>);
      if (wrong.length > 0) op.output = wrong[m.pick % wrong.length];
    }
  }
  return ops;
}

describe("the Porcupine port agrees with an exhaustive checker", () => {
  for (const spec of SPECS) {
    it(`${spec.name}: ${RUNS_PER_MODEL} random histories`, async () => {
      const seen = { ok: 0, illegal: 0 };
      await fc.assert(
        fc.asyncProperty(historyArbitrary(spec), async ({ drafts, mutations, grid }) => {
          const ops = build(spec, drafts, mutations, grid);
          const expected = spec.brute(ops);
          const r = await checkOperations(spec.model, ops, { workers: 0 });
          expect(r.result).toBe(expected ? "ok" : "illegal");
          seen[r.result as "ok" | "illegal"]++;
          // The reported linearization (complete or longest partial) is a legal prefix of its
          // partition that respects real time; an illegal partition's blocked op is not in it.
          for (const p of r.partitions) {
            const local = new Map(p.ops.map((op, k) => [op, k]));
            const sub = p.ops.map((i) => ops[i] as Op);
            const seq = p.longest.map((i) => local.get(i) as number);
            expect(isLegalPrefix(spec.model, sub, seq)).toBe(true);
            if (p.result === "ok") expect(p.longest.length).toBe(p.ops.length);
            if (p.result === "illegal") {
              expect(p.longest).not.toContain(p.blocked);
              // It is the longest there is.
              if (!spec.name.startsWith("nondeterministic")) {
                expect(p.longest.length).toBe(bruteLongestPrefix(spec.model, sub));
              }
            }
            // Every placed op's own longest prefix is legal too.
            for (const partial of p.partials) {
              expect(
                isLegalPrefix(
                  spec.model,
                  sub,
                  partial.map((i) => local.get(i) as number),
                ),
              ).toBe(true);
            }
          }
        }),
        { numRuns: RUNS_PER_MODEL },
      );
      // The generator must produce both verdicts, or the property proves little.
      expect(seen.ok).toBeGreaterThan(RUNS_PER_MODEL / 10);
      expect(seen.illegal).toBeGreaterThan(RUNS_PER_MODEL / 20);
    });
  }
});

describe("leaving out indeterminate append-kv writes that no get saw", () => {
  it(`changes no verdict: ${RUNS_PER_MODEL} random histories`, () => {
    const spec = SPECS.find((s) => s.name === "append-kv") as Spec;
    let pruned = 0;
    fc.assert(
      fc.property(historyArbitrary(spec), ({ drafts, mutations, grid }) => {
        const ops = build(spec, drafts, mutations, grid);
        const unseen = unseenAppendKvWrites(ops);
        if (unseen.size > 0) pruned++;
        expect(spec.brute(ops.filter((op) => !unseen.has(op)))).toBe(spec.brute(ops));
      }),
      { numRuns: RUNS_PER_MODEL },
    );
    expect(pruned).toBeGreaterThan(RUNS_PER_MODEL / 20);
  });
});

describe("pruning states that only grow (Model.reaches), from the first iteration", () => {
  /** Each key's verdict from a search that prunes from the start; illegal if any key is. */
  function prunedVerdict(ops: readonly Op[]): { legal: boolean; pruned: number } {
    const byKey = new Map<string, SearchOp[]>();
    for (const op of ops) {
      const key = String(appendKvModel.partition?.(op.input as AppendKvInput));
      const part = byKey.get(key) ?? [];
      part.push({
        input: op.input,
        output: op.output,
        call: op.call,
        ret: op.return ?? Number.POSITIVE_INFINITY,
      });
      byKey.set(key, part);
    }
    let legal = true;
    let pruned = 0;
    for (const [, part] of byKey) {
      const search = new PartitionSearch(appendKvModel as AnyModel, part, {
        max_bytes: 2 ** 30,
        prune_after_iterations: 0,
      });
      while (search.run(1 << 14) === "running");
      expect(search.status).not.toBe("memory");
      pruned += search.pruned;
      if (search.status === "illegal") legal = false;
      // Pruned or not, the reported prefix is a legal one.
      const seq = Array.from(search.longest);
      expect(isLegalPrefix(appendKvModel as AnyModel, part.map(toOperation), seq)).toBe(true);
    }
    return { legal, pruned };
  }
  const toOperation = (o: SearchOp): Op => ({
    input: o.input,
    output: o.output,
    call: o.call,
    return: o.ret,
  });

  it(`append-kv: ${RUNS_PER_MODEL} random histories, same verdicts as the exhaustive checker`, () => {
    const spec = SPECS.find((s) => s.name === "append-kv") as Spec;
    let prunedRuns = 0;
    fc.assert(
      fc.property(historyArbitrary(spec), ({ drafts, mutations, grid }) => {
        const ops = build(spec, drafts, mutations, grid);
        const { legal, pruned } = prunedVerdict(ops);
        if (pruned > 0) prunedRuns++;
        expect(legal).toBe(spec.brute(ops));
      }),
      { numRuns: RUNS_PER_MODEL },
    );
    // The pruning must actually fire, or this proves nothing about it.
    expect(prunedRuns).toBeGreaterThan(RUNS_PER_MODEL / 20);
  });

  it("a get missing one of 16 concurrent appends is illegal, without trying 16! orders", async () => {
    const appends: Op[] = Array.from({ length: 16 }, (_, i) => ({
      input: { f: "append", key: "k", value: `<${i}>` },
      output: {},
      call: 0,
      return: 10,
    }));
    const seen = Array.from({ length: 16 }, (_, i) => `<${(i * 7) % 16}>`);
    const get = (value: string): Op => ({
      input: { f: "get", key: "k" },
      output: { value },
      call: 20,
      return: 30,
    });
    const illegal = await checkOperations(
      appendKvModel,
      [...appends, get(seen.slice(1).join(""))] as Operation<AppendKvInput, AppendKvOutput>[],
      { timeout_ms: 10_000, workers: 0 },
    );
    // Without the pruning this runs out of its budget: "unknown".
    expect(illegal.result).toBe("illegal");
    const legal = await checkOperations(
      appendKvModel,
      [...appends, get(seen.join(""))] as Operation<AppendKvInput, AppendKvOutput>[],
      { timeout_ms: 10_000, workers: 0 },
    );
    expect(legal.result).toBe("ok");
  });
});
