// The `linearizable` checker: our history (Op[]) -> Porcupine operations -> a CheckResult a
// student can read. Value shapes per model are the contract with the workloads (see
// convertOperation); `fail` = did not happen (dropped), `info` / no completion = may take
// effect at any later time (its return is at the end of time, its output unknown).
//
// The CheckResult, beyond valid/summary/ops (history indexes of the longest prefix and the
// op that cannot follow it): model; counts {operations, checked, dropped, indeterminate,
// partitions}; elapsed_ms; workers; and when not valid, failures[] per illegal or unfinished
// partition: {key, result, reason?, ops (count), longest: [{op, describe, state}] (state after
// each op), blocked?: {op, describe, state_before}, partials: history-index sequences (each
// op's longest linearizable prefix), partial_of: {op: index into partials, -1 = never placed}}.

import { HistoryError, type Op, type Operation as PairedOp, pairOperations } from "./history.js";
import {
  type CheckOperationsResult,
  checkOperations,
  isModelName,
  MODELS,
  type Model,
  type ModelName,
  type Operation,
  type PartitionResult,
  unpartitioned,
} from "./porcupine/index.js";
import type { CheckResult } from "./result.js";

export const DEFAULT_TIMEOUT_MS = 60_000;

export interface LinearizableOptions {
  /** One of MODELS: register, cas-register, kv, append-kv, set, fifo-queue. */
  model: string;
  /** Time budget; past it the verdict is "unknown". Default DEFAULT_TIMEOUT_MS. */
  timeout_ms?: number;
  /** Worker threads (0 = this thread); default: Porcupine's choice. */
  workers?: number;
  /** Check all keys as one state instead of key by key (slower; to cross-check partitioning). */
  unpartitioned?: boolean;
}

type AnyOperation = Operation<unknown, unknown>;

/** Counts of what the bridge kept and dropped. */
export interface LinearizableCounts {
  /** Client operations in the history (invocations). */
  operations: number;
  /** Operations given to the checker. */
  checked: number;
  /**
   * `fail` ops (definitely did not happen), indeterminate ops without effect (reads), and
   * indeterminate append-kv writes no get saw (unseenAppendKvWrites).
   */
  dropped: number;
  /** Checked ops whose outcome is unknown (`info` or never completed). */
  indeterminate: number;
}

/**
 * Checks that `history` is linearizable with respect to the named model. Throws HistoryError
 * (naming the line) when an op's value does not have the model's shape.
 */
export async function checkLinearizable(
  history: readonly Op[],
  options: LinearizableOptions,
): Promise<CheckResult> {
  const model = modelByName(options.model);
  const paired = pairOperations(history);
  let converted: Array<{ op: AnyOperation; ref: number }> = [];
  for (const p of paired) {
    const op = convertOperation(model.name, p);
    if (op) converted.push({ op, ref: p.invoke.index });
  }
  if (model.name === "append-kv") {
    const unseen = unseenAppendKvWrites(converted.map((c) => c.op));
    converted = converted.filter((c) => !unseen.has(c.op));
  }
  const operations = converted.map((c) => c.op);
  const refs = converted.map((c) => c.ref);
  const dropped = paired.length - operations.length;
  const indeterminate = operations.filter((op) => op.output === undefined).length;
  const counts: LinearizableCounts = {
    operations: paired.length,
    checked: operations.length,
    dropped,
    indeterminate,
  };
  return checkLinearizableOperations(model.name, operations, refs, { ...options, counts });
}

/**
 * Checks Porcupine operations directly, for importers whose semantics our history cannot
 * express (Porcupine's etcd logs: a failed cas there *did* run and saw another value).
 * `refs[i]` is the history index that names operation i in the result.
 */
export async function checkLinearizableOperations(
  modelName: ModelName,
  operations: readonly AnyOperation[],
  refs: readonly number[],
  options: {
    timeout_ms?: number;
    workers?: number;
    unpartitioned?: boolean;
    counts?: LinearizableCounts;
  },
): Promise<CheckResult> {
  if (refs.length !== operations.length) throw new RangeError("refs must name every operation");
  const named = modelByName(modelName);
  const model = options.unpartitioned && named.partition ? unpartitioned(named) : named;
  const timeout_ms = options.timeout_ms ?? DEFAULT_TIMEOUT_MS;
  const checkOptions: { timeout_ms: number; workers?: number } = { timeout_ms };
  if (options.workers !== undefined) checkOptions.workers = options.workers;
  const r = await checkOperations(model, operations, checkOptions);
  const counts = options.counts ?? {
    operations: operations.length,
    checked: operations.length,
    dropped: 0,
    indeterminate: operations.filter((o) => o.output === undefined).length,
  };
  return explain(model, operations, refs, r, counts, timeout_ms);
}

function modelByName(name: string): Model<unknown, unknown, unknown> & { name: ModelName } {
  if (!isModelName(name)) {
    throw new RangeError(`unknown model "${name}"; use one of ${Object.keys(MODELS).join(", ")}`);
  }
  return MODELS[name] as Model<unknown, unknown, unknown> & { name: ModelName };
}

// ---------------------------------------------------------------------------------------
// Our history -> Porcupine operations.

const EFFECT_FREE: Record<ModelName, readonly string[]> = {
  register: ["read"],
  "cas-register": ["read"],
  kv: ["read"],
  "append-kv": ["get"],
  set: ["read"],
  "fifo-queue": [],
};

const FS: Record<ModelName, readonly string[]> = {
  register: ["read", "write"],
  "cas-register": ["read", "write", "cas"],
  kv: ["read", "write", "cas"],
  "append-kv": ["get", "put", "append"],
  set: ["add", "read"],
  "fifo-queue": ["enqueue", "dequeue"],
};

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/**
 * Indeterminate puts and appends (append-kv) whose value no successful get on their key
 * contains. Leaving them out changes no verdict: had one taken effect, every get until the
 * next put on that key would contain its value, so no get saw its effect; and without it the
 * history still allows it at the end of time. Each one kept would double the search on its
 * key, which is how runs with many timed-out appends used to end "unknown".
 */
export function unseenAppendKvWrites(operations: readonly AnyOperation[]): Set<AnyOperation> {
  const seen = new Map<unknown, string[]>();
  for (const op of operations) {
    const input = op.input as { f: string; key: unknown };
    const output = op.output as { value?: unknown } | undefined;
    if (input.f !== "get" || typeof output?.value !== "string") continue;
    const values = seen.get(input.key) ?? [];
    values.push(output.value);
    seen.set(input.key, values);
  }
  const unseen = new Set<AnyOperation>();
  for (const op of operations) {
    const input = op.input as { f: string; key: unknown; value?: unknown };
    if (op.output !== undefined || input.f === "get" || typeof input.value !== "string") continue;
    const value = input.value;
    if (!(seen.get(input.key) ?? []).some((got) => got.includes(value))) unseen.add(op);
  }
  return unseen;
}

/** One paired op as a Porcupine operation, or undefined when it is dropped. */
function convertOperation(model: ModelName, p: PairedOp): AnyOperation | undefined {
  const { invoke, complete } = p;
  const line = invoke.index + 1;
  const bad = (what: string): never => {
    throw new HistoryError(line, `op ${invoke.index} (${p.f}): ${what} for the ${model} model`);
  };
  if (!FS[model].includes(p.f)) {
    const hint = model === "register" && p.f === "cas" ? "; check with --model cas-register" : "";
    bad(`f must be one of ${FS[model].join(", ")}${hint}`);
  }
  if (p.type === "fail") return undefined;
  const known = p.type === "ok";
  // An indeterminate op without effect can be left out: it constrains nothing.
  if (!known && EFFECT_FREE[model].includes(p.f)) return undefined;
  const result = complete?.value;
  let input: unknown;
  let output: unknown;
  switch (model) {
    case "register":
    case "cas-register":
      if (p.f === "read") {
        input = { f: "read" };
        output = { value: result ?? null };
      } else if (p.f === "write") {
        input = { f: "write", value: invoke.value ?? null };
        output = {};
      } else {
        const v = invoke.value;
        if (!Array.isArray(v) || v.length !== 2) bad("the value must be [from, to]");
        const [from, to] = v as unknown[];
        input = { f: "cas", from: from ?? null, to: to ?? null };
        output = { ok: true };
      }
      break;
    case "kv": {
      const v = invoke.value;
      if (!isRecord(v) || !("key" in v)) bad("the value must be an object with a key");
      const args = v as Record<string, unknown>;
      const key = args.key;
      if (p.f === "read") {
        input = { f: "read", key };
        if (known) {
          if (!isRecord(result) || !("value" in result)) bad("the ok value must be {key, value}");
          output = { value: (result as Record<string, unknown>).value ?? null };
        }
      } else if (p.f === "write") {
        if (!("value" in args)) bad("the value must be {key, value}");
        input = { f: "write", key, value: args.value ?? null };
        output = {};
      } else {
        if (!("from" in args) || !("to" in args)) bad("the value must be {key, from, to}");
        input = { f: "cas", key, from: args.from ?? null, to: args.to ?? null };
        output = { ok: true };
      }
      break;
    }
    case "append-kv": {
      const v = invoke.value;
      if (!isRecord(v) || !("key" in v)) bad("the value must be an object with a key");
      const args = v as Record<string, unknown>;
      if (p.f === "get") {
        input = { f: "get", key: args.key };
        const got = isRecord(result) ? result.value : undefined;
        if (typeof got !== "string") bad(`the ok value must be {key, value: "<string>"}`);
        output = { value: got };
      } else {
        if (typeof args.value !== "string") bad(`the value must be {key, value: "<string>"}`);
        input = { f: p.f, key: args.key, value: args.value };
        output = {};
      }
      break;
    }
    case "set":
      if (p.f === "add") {
        input = { f: "add", value: invoke.value ?? null };
        output = {};
      } else {
        if (!Array.isArray(result)) bad("the ok value of a read must be an array of elements");
        input = { f: "read" };
        output = { value: result };
      }
      break;
    case "fifo-queue":
      if (p.f === "enqueue") {
        if (invoke.value === null || invoke.value === undefined)
          bad("enqueued elements must not be null");
        input = { f: "enqueue", value: invoke.value };
        output = {};
      } else {
        input = { f: "dequeue" };
        // A dequeue that completed with null found the queue empty.
        output = result === null || result === undefined ? { empty: true } : { value: result };
      }
      break;
  }
  return {
    client: p.process,
    input,
    call: invoke.time,
    output: known ? output : undefined,
    return: known ? (complete as Op).time : Number.POSITIVE_INFINITY,
  };
}

// ---------------------------------------------------------------------------------------
// Porcupine's answer -> a CheckResult.

interface Step {
  op: number;
  describe: string;
  /** The model state after the op. */
  state: string;
}

function explain(
  model: Model<unknown, unknown, unknown>,
  operations: readonly AnyOperation[],
  refs: readonly number[],
  r: CheckOperationsResult,
  counts: LinearizableCounts,
  timeout_ms: number,
): CheckResult {
  const describeOp = (i: number): string => {
    const o = operations[i] as AnyOperation;
    return model.describeOperation
      ? model.describeOperation(o.input, o.output)
      : JSON.stringify(o.input);
  };
  const describeState = (s: unknown): string =>
    model.describeState ? model.describeState(s) : JSON.stringify(s);
  const name = (i: number): number => refs[i] as number;
  const keyLabel = (p: PartitionResult): string => (p.key === undefined ? "" : `key ${p.key}: `);

  /** Replays the prefix to show the state after each op (the search keeps only state ids). */
  const replay = (prefix: readonly number[]): { steps: Step[]; final: unknown } => {
    let state = model.init();
    const steps: Step[] = [];
    for (const i of prefix) {
      const o = operations[i] as AnyOperation;
      const s = model.step(state, o.input, o.output);
      if (!s.ok)
        throw new Error(`internal: op ${name(i)} of a linearizable prefix is illegal on replay`);
      state = s.state;
      steps.push({ op: name(i), describe: describeOp(i), state: describeState(state) });
    }
    return { steps, final: state };
  };

  const details = {
    model: model.name,
    counts: { ...counts, partitions: r.partitions.length },
    elapsed_ms: r.elapsed_ms,
    workers: r.workers,
  };
  const noun = (n: number, one: string): string => `${n} ${one}${n === 1 ? "" : "s"}`;

  if (r.result === "ok") {
    const parts = r.partitions.length > 1 ? ` across ${noun(r.partitions.length, "key")}` : "";
    return {
      valid: true,
      summary: `All ${noun(counts.checked, "operation")}${parts} are linearizable with the ${model.name} model${counts.dropped > 0 ? ` (${counts.dropped} failed or effect-free indeterminate ops left out)` : ""}.`,
      ...details,
    };
  }

  const failures = r.partitions
    .filter((p) => p.result === "illegal" || p.result === "unknown")
    .map((p) => {
      const { steps, final } = replay(p.longest);
      const failure: Record<string, unknown> = {
        key: p.key ?? null,
        result: p.result,
        ops: p.ops.length,
        longest: steps,
        // For each op of the partition, its longest linearizable prefix (history indexes).
        partials: p.partials.map((seq) => seq.map(name)),
        partial_of: Object.fromEntries(p.ops.map((i, k) => [name(i), p.partialOf[k]])),
      };
      if (p.reason) failure.reason = p.reason;
      if (p.blocked !== undefined) {
        failure.blocked = {
          op: name(p.blocked),
          describe: describeOp(p.blocked),
          state_before: describeState(final),
        };
      }
      return failure;
    });

  if (r.result === "illegal") {
    const p = r.partitions.find((q) => q.result === "illegal") as PartitionResult;
    const blocked = p.blocked as number;
    const { final } = replay(p.longest);
    const prefix =
      p.longest.length === 0
        ? "it cannot even be the first op (the initial state is " +
          describeState(model.init()) +
          ")"
        : `the longest linearizable prefix is ${prefixText(p.longest.map(name))}, leaving the state ${describeState(final)}`;
    return {
      valid: false,
      summary: `${keyLabel(p)}no linearization places op ${name(blocked)} (${describeOp(blocked)}); ${prefix}.`,
      ops: [...p.longest.map(name), name(blocked)],
      ...details,
      failures,
    };
  }

  const stuck = r.partitions.filter((p) => p.result === "unknown");
  const memory = stuck.some((p) => p.reason === "memory");
  const where =
    stuck.length > 0 && stuck[0]?.key !== undefined
      ? ` (unfinished: ${stuck
          .map((p) => `key ${p.key}`)
          .slice(0, 5)
          .join(", ")}${stuck.length > 5 ? ", …" : ""})`
      : "";
  const budget = memory ? "memory budget" : `${formatSeconds(timeout_ms)} time budget`;
  return {
    valid: "unknown",
    summary: `The linearizability check ran out of its ${budget}${where} before it could decide; ${memory ? "check fewer ops per key (the search state grew too large)" : `raise --timeout (e.g. --timeout ${Math.max(60, Math.ceil((timeout_ms * 4) / 1000))}) or check fewer ops per key`}.`,
    ...details,
    failures,
  };
}

function formatSeconds(ms: number): string {
  return ms >= 1000 ? `${+(ms / 1000).toFixed(1)} s` : `${ms} ms`;
}

/** "ops 3, 8, 11", or for long prefixes the count and its last few ops. */
function prefixText(ops: readonly number[]): string {
  if (ops.length === 1) return `op ${ops[0]}`;
  if (ops.length <= 8) return `ops ${ops.join(", ")}`;
  return `${ops.length} ops (…, ${ops.slice(-5).join(", ")})`;
}
