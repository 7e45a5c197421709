// kv: MIT 6.5840's Get/Put/Append key-value service (kvsrv, kvraft, shardkv) spoken as
// Maelstrom-styled JSON RPCs, checked per key with the `append-kv` model of our Porcupine port
// (the MIT tester's KvModel). Message shapes and rules: workloads/kv.md.
import type { Op } from "../checkers/history.js";
import { checkLinearizable } from "../checkers/linearizable.js";
import type { CheckResult } from "../checkers/result.js";
import {
  expectOkType,
  IndependentKeys,
  linKvTimeoutMs,
  MAX_OPS_PER_KEY,
  MAX_PROCESSES_PER_KEY,
} from "./lin-kv.js";
import { type Body, ReplyError } from "./protocol.js";
import type {
  Completion,
  OpSpec,
  WorkerView,
  Workload,
  WorkloadFactory,
  WorkloadOptions,
} from "./workload.js";

/** MIT GenericTest with random keys: 50% Append, else 10% Put — so get 45%, put 5%, append 50%. */
export const KV_GET_FRACTION = 0.45;
export const KV_PUT_FRACTION = 0.05;

/**
 * A value no other op in the run writes, Porcupine's kv-data shape `"x <process> <seq> y"`:
 * unique values make the checker sharp (a read value pins down exactly which writes it saw).
 * The process id identifies the worker (process ≡ worker mod concurrency) and `seq` counts that
 * worker's writes, so the pair is unique for the run.
 */
export function kvUniqueValue(process: number, seq: number): string {
  return `x ${process} ${seq} y`;
}

function keyOf(op: OpSpec): string {
  const v = op.value;
  if (typeof v !== "object" || v === null || typeof (v as { key?: unknown }).key !== "string") {
    throw new TypeError(`kv op ${op.f} has no string key: ${JSON.stringify(v)}`);
  }
  return (v as { key: string }).key;
}

/**
 * Generator: groups of 2n workers (n = node count; the last group may be smaller) share a key,
 * so each key gets concurrent ops through every node; every worker draws get 45% / put 5% /
 * append 50%. Keys are the strings "0", "1", … (MIT keys are strings), rotated by
 * IndependentKeys with the same bounds as lin-kv. Put and append values are unique.
 *
 * Error mapping: a get answered with error 20 is `ok` with value "" (MIT's ErrNoKey: a Get of a
 * missing key returns ""); otherwise the generic mapping — definite codes (11 for "not the
 * leader", 12, 14…) `fail`; indefinite codes and timeouts `info`, except for get, which has no
 * effect and so becomes `fail`.
 */
export const kv: WorkloadFactory = (options: WorkloadOptions): Workload => {
  const n = options.nodes.length;
  if (n < 1) throw new RangeError("kv needs at least one node");
  const keys = new IndependentKeys<string>({
    concurrency: options.concurrency,
    groupSize: 2 * n,
    maxOpsPerKey: MAX_OPS_PER_KEY,
    maxProcessesPerKey: MAX_PROCESSES_PER_KEY,
    keyName: (i) => String(i),
  });
  const rng = options.rng;
  const writesByWorker = new Map<number, number>();
  const nextValue = (view: WorkerView): string => {
    const seq = writesByWorker.get(view.worker) ?? 0;
    writesByWorker.set(view.worker, seq + 1);
    return kvUniqueValue(view.process, seq);
  };

  return {
    name: "kv",
    // Same as lin-kv: a retrying MIT clerk would wait forever, but a history needs an end.
    timeout_ms: linKvTimeoutMs(options.latency_ms),

    generate(worker: WorkerView): OpSpec {
      const key = keys.take(worker);
      const x = rng.float();
      if (x < KV_GET_FRACTION) return { f: "get", value: { key, value: null } };
      const f = x < KV_GET_FRACTION + KV_PUT_FRACTION ? "put" : "append";
      return { f, value: { key, value: nextValue(worker) } };
    },

    request(op: OpSpec): Body {
      const key = keyOf(op);
      switch (op.f) {
        case "get":
          return { type: "get", key };
        case "put":
        case "append":
          return { type: op.f, key, value: (op.value as { value: string }).value };
        default:
          throw new TypeError(`kv has no op ${JSON.stringify(op.f)}`);
      }
    },

    okValue(op: OpSpec, reply: Body): unknown {
      expectOkType(op, reply);
      if (op.f === "get") {
        if (typeof reply.value !== "string") {
          throw new ReplyError(`get_ok value must be a string, got ${JSON.stringify(reply.value)}`);
        }
        return { key: keyOf(op), value: reply.value };
      }
      return op.value;
    },

    idempotent(f: string): boolean {
      return f === "get";
    },

    mapError(op: OpSpec, code: number, _reply: Body): Completion | undefined {
      if (op.f === "get" && code === 20)
        return { type: "ok", value: { key: keyOf(op), value: "" } };
      return undefined;
    },

    async check(history: readonly Op[]): Promise<Record<string, CheckResult>> {
      return { linearizable: await checkLinearizable(history, { model: "append-kv" }) };
    },
  };
};
