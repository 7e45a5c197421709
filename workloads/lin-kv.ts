// lin-kv: Maelstrom's linearizable key-value workload (systems/lin-kv/README.md "Interface"),
// i.e. Jepsen's linearizable-register test over independent keys, checked per key with the
// `kv` model of our Porcupine port.
//
// Also exports `IndependentKeys`, the key-rotation scheme the `kv` workload shares.
import type { Op } from "../checkers/history.js";
import { checkLinearizable } from "../checkers/linearizable.js";
import type { CheckResult } from "../checkers/result.js";
import { type Body, describeErrorCode, ReplyError } from "./protocol.js";
import type {
  Completion,
  OpSpec,
  Rng,
  WorkerView,
  Workload,
  WorkloadFactory,
  WorkloadOptions,
} from "./workload.js";

/**
 * A key is retired after this many invocations. Maelstrom has no per-key op limit (a group
 * without indeterminate ops stays on one key all run); we bound it so every per-key
 * linearizability search stays small no matter how long the run is.
 */
export const MAX_OPS_PER_KEY = 100;
/** A key is retired once this many distinct processes touched it (Jepsen's process-limit 20). */
export const MAX_PROCESSES_PER_KEY = 20;
/** Written values are integers uniform in [0, VALUE_BOUND_EXCLUSIVE), as in Jepsen/Maelstrom. */
export const VALUE_BOUND_EXCLUSIVE = 5;
/** Floor of the client timeout; Maelstrom lin-kv uses max(10 × mean latency, 1000 ms). */
export const MIN_TIMEOUT_MS = 1000;

/** Maelstrom lin-kv's client timeout. */
export function linKvTimeoutMs(latency_ms: number): number {
  return Math.max(10 * latency_ms, MIN_TIMEOUT_MS);
}

export interface IndependentKeysOptions<K> {
  concurrency: number;
  /** Workers per key group; the last group may be smaller when concurrency is not a multiple. */
  groupSize: number;
  maxOpsPerKey: number;
  maxProcessesPerKey: number;
  /** The i-th key ever handed out (0, 1, 2, …), e.g. `i` or `String(i)`. */
  keyName: (i: number) => K;
}

interface GroupState<K> {
  key: K;
  ops: number;
  processes: Set<number>;
}

/**
 * Jepsen's `independent/concurrent-generator` with rotation: workers are split into groups of
 * contiguous indexes (`groupSize` each); every group drives one key at a time; a key is retired
 * and the group moves to a fresh key once it has had `maxOpsPerKey` invocations, or when one
 * more distinct process would exceed `maxProcessesPerKey` (processes multiply only through
 * `info` renumbering, and every crashed op stays pending for the rest of the key's history, so
 * this bounds the checker's search). Keys are never reused, so no key is shared by two groups.
 * Ops still in flight on a retired key simply complete there; keys are independent.
 */
export class IndependentKeys<K> {
  private readonly groups: GroupState<K>[] = [];
  private nextKey = 0;

  constructor(private readonly options: IndependentKeysOptions<K>) {
    const { concurrency, groupSize, maxOpsPerKey, maxProcessesPerKey } = options;
    for (const [name, v] of Object.entries({
      concurrency,
      groupSize,
      maxOpsPerKey,
      maxProcessesPerKey,
    })) {
      if (!Number.isSafeInteger(v) || v < 1) {
        throw new RangeError(`${name} must be a positive integer, got ${v}`);
      }
    }
    const groupCount = Math.ceil(concurrency / groupSize);
    for (let g = 0; g < groupCount; g++) this.groups.push(this.freshGroup());
  }

  get groupCount(): number {
    return this.groups.length;
  }

  /** How many keys have been handed out so far. */
  get keysUsed(): number {
    return this.nextKey;
  }

  groupOf(worker: number): number {
    if (!Number.isSafeInteger(worker) || worker < 0 || worker >= this.options.concurrency) {
      throw new RangeError(`worker ${worker} out of range [0, ${this.options.concurrency})`);
    }
    return Math.floor(worker / this.options.groupSize);
  }

  /** The worker's position inside its group, 0-based. */
  positionOf(worker: number): number {
    this.groupOf(worker);
    return worker % this.options.groupSize;
  }

  /** Workers in the worker's group (groupSize, or fewer for the last group). */
  sizeOfGroupOf(worker: number): number {
    const g = this.groupOf(worker);
    return Math.min(this.options.groupSize, this.options.concurrency - g * this.options.groupSize);
  }

  /** The key the worker's next op uses; counts that op against the key and rotates if needed. */
  take(view: WorkerView): K {
    const g = this.groupOf(view.worker);
    let group = this.groups[g] as GroupState<K>;
    const newProcess = !group.processes.has(view.process);
    if (
      group.ops >= this.options.maxOpsPerKey ||
      (newProcess && group.processes.size >= this.options.maxProcessesPerKey)
    ) {
      group = this.freshGroup();
      this.groups[g] = group;
    }
    group.ops++;
    group.processes.add(view.process);
    return group.key;
  }

  private freshGroup(): GroupState<K> {
    return { key: this.options.keyName(this.nextKey++), ops: 0, processes: new Set() };
  }
}

/**
 * `[name, text]`, the `error` Maelstrom records for an error reply (README.md "Workloads"); text
 * null if none.
 */
export function errorDescription(code: number, reply: Body): [string, string | null] {
  return [
    describeErrorCode(code).name,
    typeof reply.text === "string" ? reply.text.slice(0, 1024) : null,
  ];
}

/** Throws ReplyError unless the reply's type is `<f>_ok`. */
export function expectOkType(op: OpSpec, reply: Body): void {
  const expected = `${op.f}_ok`;
  if (reply.type !== expected) {
    throw new ReplyError(
      `expected a ${expected} reply to ${op.f}, got type ${JSON.stringify(reply.type)}`,
    );
  }
}

export type LinKvKey = number;

function keyedValue(op: OpSpec): Record<string, unknown> & { key: unknown } {
  const v = op.value;
  if (typeof v !== "object" || v === null || !("key" in v)) {
    throw new TypeError(`lin-kv op ${op.f} has no key: ${JSON.stringify(v)}`);
  }
  return v as Record<string, unknown> & { key: unknown };
}

/** Drawn f for a mixing worker: read 1/2, write 1/6, cas 1/3 — Maelstrom's overall proportions. */
function mixedF(rng: Rng): "read" | "write" | "cas" {
  const x = rng.float();
  return x < 1 / 2 ? "read" : x < 2 / 3 ? "write" : "cas";
}

/** For a writer: write : cas = 1 : 2, as Maelstrom's `(mix [w cas cas])`. */
function writerF(rng: Rng): "write" | "cas" {
  return rng.float() < 1 / 3 ? "write" : "cas";
}

/**
 * Generator (Maelstrom lin-kv): groups of 2n workers (n = node count) share a key; in a full
 * group the first n workers only read and the other n write : cas = 1 : 2, so every node gets
 * both readers and writers of every key (worker i talks to node i mod n). Maelstrom refuses a
 * concurrency that is not a multiple of 2n; we accept it and let the smaller last group mix all
 * three fs in the same overall proportions (read 1/2, write 1/6, cas 1/3), because a small group
 * of pure readers would never see a write. Keys are integers 0, 1, 2, … rotated by
 * IndependentKeys (MAX_OPS_PER_KEY ops or MAX_PROCESSES_PER_KEY processes per key).
 *
 * Error mapping: a read answered with error 20 (key-does-not-exist) is `ok` with value null —
 * the key definitely had no value at that moment, which is evidence the kv model checks
 * (Maelstrom records it as `fail` and thereby throws the evidence away). cas with 20 or 22 is
 * `fail` (definite: it did not happen). Everything else follows the generic mapping: other
 * definite codes `fail`, indefinite codes and timeouts `info`, except for read, which has no
 * effect and so becomes `fail`.
 */
export const linKv: WorkloadFactory = (options: WorkloadOptions): Workload => {
  const n = options.nodes.length;
  if (n < 1) throw new RangeError("lin-kv needs at least one node");
  const groupSize = 2 * n;
  const keys = new IndependentKeys<LinKvKey>({
    concurrency: options.concurrency,
    groupSize,
    maxOpsPerKey: MAX_OPS_PER_KEY,
    maxProcessesPerKey: MAX_PROCESSES_PER_KEY,
    keyName: (i) => i,
  });
  const rng = options.rng;
  const value = () => rng.int(0, VALUE_BOUND_EXCLUSIVE - 1);

  return {
    name: "lin-kv",
    timeout_ms: linKvTimeoutMs(options.latency_ms),

    generate(worker: WorkerView): OpSpec {
      const full = keys.sizeOfGroupOf(worker.worker) === groupSize;
      const f = full ? (keys.positionOf(worker.worker) < n ? "read" : writerF(rng)) : mixedF(rng);
      const key = keys.take(worker);
      switch (f) {
        case "read":
          return { f, value: { key, value: null } };
        case "write":
          return { f, value: { key, value: value() } };
        case "cas":
          return { f, value: { key, from: value(), to: value() } };
      }
    },

    request(op: OpSpec): Body {
      const v = keyedValue(op);
      switch (op.f) {
        case "read":
          return { type: "read", key: v.key };
        case "write":
          return { type: "write", key: v.key, value: v.value };
        case "cas":
          return { type: "cas", key: v.key, from: v.from, to: v.to };
        default:
          throw new TypeError(`lin-kv has no op ${JSON.stringify(op.f)}`);
      }
    },

    okValue(op: OpSpec, reply: Body): unknown {
      expectOkType(op, reply);
      const v = keyedValue(op);
      if (op.f === "read") {
        if (!("value" in reply) || reply.value === undefined) {
          throw new ReplyError("read_ok without a value");
        }
        return { key: v.key, value: reply.value };
      }
      // write_ok and cas_ok carry nothing; the completion repeats what was asked (Jepsen's rule).
      return op.value;
    },

    idempotent(f: string): boolean {
      return f === "read";
    },

    mapError(op: OpSpec, code: number, reply: Body): Completion | undefined {
      const v = keyedValue(op);
      if (op.f === "read" && code === 20) return { type: "ok", value: { key: v.key, value: null } };
      if (op.f === "cas" && (code === 20 || code === 22)) {
        return { type: "fail", value: op.value, error: errorDescription(code, reply) };
      }
      return undefined;
    },

    async check(history: readonly Op[]): Promise<Record<string, CheckResult>> {
      return { linearizable: await checkLinearizable(history, { model: "kv" }) };
    },
  };
};
