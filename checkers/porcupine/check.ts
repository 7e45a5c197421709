// checkOperations: partition the history (P-compositionality) and search each partition
// within a time and memory budget — in this thread, joined by worker threads when there are
// several partitions, more than one core and the check runs long enough to pay for them.
// The first illegal partition decides and cancels the rest.

import { existsSync } from "node:fs";
import { availableParallelism } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import type { Model, Operation } from "./model.js";
import { MODELS } from "./models.js";
import {
  acquireWorkers,
  CANCEL,
  CLAIMS,
  claimNext,
  idleWorkers,
  type PartitionOutcome,
  releaseWorker,
  type SearchWorker,
  type WorkerTask,
} from "./pool.js";
import { PartitionSearch, type SearchOp } from "./search.js";

export type Verdict = "ok" | "illegal" | "unknown";

export interface CheckOptions {
  /** Time budget for the whole check; past it the verdict is "unknown". Default: none. */
  timeout_ms?: number;
  /** Memory one partition's search may use (cache, step memo, states). Default 2048. */
  max_memory_mb?: number;
  /**
   * Worker threads that search partitions beside this thread. Default: one less than the
   * cores, started at once when warm ones are idle in the pool, else once the check has run
   * WORKER_AFTER_MS (a short check is over before a new worker has compiled the search). A
   * number starts that many at once; 0 = this thread only. Only built-in models (MODELS) go
   * to workers: functions cannot be sent to a thread.
   */
  workers?: number;
}

export interface PartitionResult {
  /** The model's partition key of this part (undefined for an unpartitioned model). */
  key: string | number | undefined;
  /**
   * "cancelled": not finished because another partition was illegal (or the budget ran out
   * while it waited); "unknown": this partition used up the time or memory budget.
   */
  result: Verdict | "cancelled";
  reason?: "timeout" | "memory";
  /** Indexes (into the checked operations) of this partition's ops, in call order. */
  ops: number[];
  /** The longest linearizable prefix found; a complete linearization when result is "ok". */
  longest: number[];
  /** When illegal: the op that no linearization could place after `longest`. */
  blocked?: number;
  /** Distinct partial linearizations: for each op, the longest linearizable prefix containing it. */
  partials: number[][];
  /** For each op of `ops` (same order): its entry in `partials`, or -1 if it was never placed. */
  partialOf: number[];
  cache_entries: number;
  states: number;
  elapsed_ms: number;
  /** Where it was searched; "none" = never started (cancelled before its turn). */
  thread: "main" | "worker" | "none";
}

export interface CheckOperationsResult {
  result: Verdict;
  partitions: PartitionResult[];
  elapsed_ms: number;
  /** Worker threads used (0: searched in this thread). */
  workers: number;
}

/** A default check starts new workers only when it is still running after this long. */
export const WORKER_AFTER_MS = 1000;
const DEFAULT_MAX_MEMORY_MB = 2048;
/** Loop iterations between looks at the clock and the cancel flag (~1 ms of search). */
const SLICE_ITERATIONS = 1 << 14;
/** A search in this thread gives the event loop (and worker replies) a turn this often. */
const YIELD_EVERY_MS = 50;
/** How long past the deadline a worker stuck in a model step is waited for. */
const WORKER_GRACE_MS = 1000;

/**
 * Runs `search` a slice at a time until it finishes, `until` (a Date.now() value) passes or
 * `cancelled()` says so. "paused" = `until` passed first.
 */
export function advance(
  search: PartitionSearch,
  cancelled: () => boolean,
  until: number,
): "finished" | "paused" | "cancelled" {
  while (search.status === "running") {
    if (cancelled()) return "cancelled";
    if (Date.now() > until) return "paused";
    search.run(SLICE_ITERATIONS);
  }
  return "finished";
}

/** The outcome of a search that finished, was cancelled, or ran out of time. */
export function outcomeOf(
  search: PartitionSearch,
  stopped: "finished" | "paused" | "cancelled",
  started: number,
  thread: "main" | "worker",
): PartitionOutcome {
  let result: PartitionOutcome["result"];
  let reason: PartitionOutcome["reason"];
  if (stopped === "cancelled") result = "cancelled";
  else if (stopped === "paused") [result, reason] = ["unknown", "timeout"];
  else if (search.status === "memory") [result, reason] = ["unknown", "memory"];
  else result = search.status === "ok" ? "ok" : "illegal";
  const { partials, partialOf } = search.partials();
  const o: PartitionOutcome = {
    result,
    longest: Array.from(search.longest),
    blocked: result === "illegal" ? search.blocked : -1,
    partials,
    partialOf,
    cache_entries: search.cacheEntries,
    states: search.stateCount,
    elapsed_ms: Date.now() - started,
    thread,
  };
  if (reason) o.reason = reason;
  return o;
}

function toSearchOps(
  operations: readonly Operation<unknown, unknown>[],
  indexes: readonly number[],
): SearchOp[] {
  return indexes.map((i) => {
    const op = operations[i] as Operation<unknown, unknown>;
    return {
      input: op.input,
      output: op.output,
      call: op.call,
      ret: op.return ?? Number.POSITIVE_INFINITY,
    };
  });
}

function validate(operations: readonly Operation<unknown, unknown>[]): void {
  operations.forEach((op, i) => {
    if (typeof op.call !== "number" || Number.isNaN(op.call)) {
      throw new RangeError(`operation ${i}: call must be a number`);
    }
    const ret = op.return ?? Number.POSITIVE_INFINITY;
    if (typeof ret !== "number" || !(ret >= op.call)) {
      throw new RangeError(
        `operation ${i}: return (${String(op.return)}) is before call (${op.call})`,
      );
    }
  });
}

/** The partitions as index lists, in order of first op; a model without `partition` gives one. */
function partitionOps<I, O>(
  model: Model<unknown, I, O>,
  operations: readonly Operation<I, O>[],
): { key: string | number | undefined; indexes: number[] }[] {
  const order = operations
    .map((_, i) => i)
    .sort((a, b) => {
      const x = operations[a] as Operation<I, O>;
      const y = operations[b] as Operation<I, O>;
      return x.call - y.call || a - b;
    });
  if (!model.partition) return operations.length === 0 ? [] : [{ key: undefined, indexes: order }];
  const parts = new Map<string | number, number[]>();
  for (const i of order) {
    const op = operations[i] as Operation<I, O>;
    const key = model.partition(op.input);
    let part = parts.get(key);
    if (!part) {
      part = [];
      parts.set(key, part);
    }
    part.push(i);
  }
  return [...parts].map(([key, indexes]) => ({ key, indexes }));
}

/**
 * Checks whether `operations` is linearizable with respect to `model`. The verdict is
 * "illegal" as soon as any partition is (even if the budget then runs out), "unknown" when a
 * partition ran out of time or memory, "ok" otherwise.
 */
export async function checkOperations<S, I, O>(
  model: Model<S, I, O>,
  operations: readonly Operation<I, O>[],
  options: CheckOptions = {},
): Promise<CheckOperationsResult> {
  const started = Date.now();
  const m = model as unknown as Model<unknown, unknown, unknown>;
  const ops = operations as readonly Operation<unknown, unknown>[];
  validate(ops);
  if (options.timeout_ms !== undefined && !(options.timeout_ms >= 0)) {
    throw new RangeError(`timeout_ms must be a non-negative number, got ${options.timeout_ms}`);
  }
  const deadline = started + (options.timeout_ms ?? Number.POSITIVE_INFINITY);
  const max_bytes = (options.max_memory_mb ?? DEFAULT_MAX_MEMORY_MB) * 2 ** 20;
  const parts = partitionOps(m, ops);

  const pool = poolPlan(m, parts.length, options.workers);
  const scheduler = new Scheduler(
    m,
    parts.map((p) => toSearchOps(ops, p.indexes)),
    deadline,
    max_bytes,
    pool,
  );
  const outcomes = await scheduler.run();

  const partitions = parts.map((p, k): PartitionResult => {
    const o = outcomes[k] as PartitionOutcome;
    const global = (local: number): number => p.indexes[local] as number;
    const r: PartitionResult = {
      key: p.key,
      result: o.result,
      ops: p.indexes,
      longest: o.longest.map(global),
      partials: o.partials.map((seq) => seq.map(global)),
      partialOf: o.partialOf,
      cache_entries: o.cache_entries,
      states: o.states,
      elapsed_ms: o.elapsed_ms,
      thread: o.thread,
    };
    if (o.reason) r.reason = o.reason;
    if (o.result === "illegal") r.blocked = global(o.blocked);
    return r;
  });
  const result: Verdict = partitions.some((p) => p.result === "illegal")
    ? "illegal"
    : partitions.every((p) => p.result === "ok")
      ? "ok"
      : "unknown";
  return {
    result,
    partitions,
    elapsed_ms: Date.now() - started,
    workers: scheduler.workersStarted,
  };
}

/**
 * The event form (Porcupine's Event API): calls and returns in real-time order, matched by
 * `id`; the position in the list is the time. A call with no return never returned.
 */
export interface Event<Input, Output> {
  kind: "call" | "return";
  id: number;
  /** The input for a call, the output for a return (undefined = unknown outcome). */
  value: Input | Output | undefined;
  client?: number;
}

export async function checkEvents<S, I, O>(
  model: Model<S, I, O>,
  events: readonly Event<I, O>[],
  options: CheckOptions = {},
): Promise<CheckOperationsResult> {
  const byId = new Map<number, Operation<I, O>>();
  const operations: Operation<I, O>[] = [];
  events.forEach((ev, t) => {
    const op = byId.get(ev.id);
    if (ev.kind === "call") {
      if (op) throw new RangeError(`event ${t}: id ${ev.id} is called twice`);
      const fresh: Operation<I, O> = { input: ev.value as I, call: t };
      if (ev.client !== undefined) fresh.client = ev.client;
      byId.set(ev.id, fresh);
      operations.push(fresh);
    } else {
      if (!op || op.return !== undefined) {
        throw new RangeError(`event ${t}: return for id ${ev.id} without a pending call`);
      }
      op.output = ev.value as O | undefined;
      op.return = t;
    }
  });
  return checkOperations(model, operations, options);
}

// ---------------------------------------------------------------------------------------
// Scheduling: this thread searches partitions smallest first; pool workers, once started,
// take them largest first from the same queue. The first illegal one cancels the rest.

interface PoolPlan {
  workers: number;
  /** Start workers only once the check has run this long (0: at once). */
  after_ms: number;
}

function poolPlan(
  model: Model<unknown, unknown, unknown>,
  partitions: number,
  requested: number | undefined,
): PoolPlan | undefined {
  if (requested !== undefined && (!Number.isInteger(requested) || requested < 0)) {
    throw new RangeError(`workers must be a non-negative integer, got ${requested}`);
  }
  if (requested === 0 || partitions < 2) return undefined;
  // Workers rebuild the model from the registry by name: only built-in models can go there.
  if ((MODELS as Record<string, unknown>)[model.name] !== model || !workerScript()) {
    return undefined;
  }
  if (requested !== undefined) return { workers: Math.min(requested, partitions - 1), after_ms: 0 };
  const spare = availableParallelism() - 1;
  if (spare <= 0) return undefined;
  // Warm workers idle in the pool pay off at once; new ones only for a check that turns out
  // to run a while (measured: starting them at once made 2k-op histories slower, not faster).
  return {
    workers: Math.min(spare, partitions - 1),
    after_ms: idleWorkers() > 0 ? 0 : WORKER_AFTER_MS,
  };
}

/**
 * The compiled worker entry. Running from dist/ it sits beside this file; running from the
 * TypeScript source (vitest) we use the compiled copy in dist/ when there is one.
 */
export function workerScript(): URL | undefined {
  const here = fileURLToPath(import.meta.url);
  if (here.endsWith(".js")) return new URL("./worker.js", import.meta.url);
  let dir = dirname(here);
  for (let depth = 0; depth < 8; depth++) {
    if (existsSync(join(dir, "package.json"))) {
      const compiled = join(dir, "dist", "checkers", "porcupine", "worker.js");
      return existsSync(compiled) ? pathToFileURL(compiled) : undefined;
    }
    dir = dirname(dir);
  }
  return undefined;
}

class Scheduler {
  workersStarted = 0;
  private readonly started = Date.now();
  /** Claim order here: smallest first, so a cheap illegal partition ends the check early. */
  private readonly order: number[];
  private readonly cursor = { at: 0 };
  private readonly outcomes: (PartitionOutcome | undefined)[];
  /** Int32 slots: CANCEL, then one claim flag per partition. */
  private readonly controlBuffer: SharedArrayBuffer;
  private readonly control: Int32Array;
  private readonly running: Promise<void>[] = [];
  private readonly workers: SearchWorker[] = [];
  private failure: Error | undefined;

  constructor(
    private readonly model: Model<unknown, unknown, unknown>,
    private readonly parts: SearchOp[][],
    private readonly deadline: number,
    private readonly max_bytes: number,
    private readonly pool: PoolPlan | undefined,
  ) {
    this.order = parts.map((_, k) => k).sort((a, b) => this.size(a) - this.size(b) || a - b);
    this.outcomes = new Array(parts.length).fill(undefined);
    this.controlBuffer = new SharedArrayBuffer(4 * (CLAIMS + parts.length));
    this.control = new Int32Array(this.controlBuffer);
  }

  private size(k: number): number {
    return (this.parts[k] as SearchOp[]).length;
  }

  private get cancelled(): boolean {
    return Atomics.load(this.control, CANCEL) !== 0;
  }

  private finish(k: number, o: PartitionOutcome): void {
    this.outcomes[k] = o;
    if (o.result === "illegal") Atomics.store(this.control, CANCEL, 1);
  }

  async run(): Promise<PartitionOutcome[]> {
    try {
      this.maybeStartPool();
      while (!this.cancelled) {
        const k = this.claim();
        if (k < 0) break;
        this.finish(k, await this.searchHere(k));
      }
      await this.drain();
      if (this.failure) throw this.failure;
    } finally {
      // Workers still searching (after a failure) stop at their next slice.
      Atomics.store(this.control, CANCEL, 1);
    }
    // Partitions nobody searched (after an illegal one) were cancelled.
    return this.outcomes.map((o, k) => o ?? cancelledOutcome(this.parts[k] as SearchOp[]));
  }

  private claim(): number {
    return claimNext(this.control, this.order, this.cursor);
  }

  /** Searches partition k in this thread, letting the event loop run every YIELD_EVERY_MS. */
  private async searchHere(k: number): Promise<PartitionOutcome> {
    const started = Date.now();
    const search = new PartitionSearch(this.model, this.parts[k] as SearchOp[], {
      max_bytes: this.max_bytes,
    });
    for (;;) {
      const until = Math.min(this.deadline, Date.now() + YIELD_EVERY_MS);
      const stopped = advance(search, () => this.cancelled, until);
      if (stopped !== "paused" || Date.now() > this.deadline) {
        return outcomeOf(search, stopped, started, "main");
      }
      this.maybeStartPool();
      await new Promise((resolve) => setImmediate(resolve));
    }
  }

  private maybeStartPool(): void {
    const plan = this.pool;
    if (!plan || this.workersStarted > 0 || this.cursor.at >= this.order.length) return;
    if (Date.now() - this.started < plan.after_ms) return;
    const script = workerScript();
    if (!script) return;
    const workers = acquireWorkers(plan.workers, script);
    this.workersStarted = workers.length;
    // Workers claim largest first: long partitions start early, and the two ends of the
    // order meet in the middle.
    const task: WorkerTask = {
      model: this.model.name,
      parts: this.parts,
      order: [...this.order].reverse(),
      control: this.controlBuffer,
      deadline: this.deadline,
      max_bytes: this.max_bytes,
    };
    for (const w of workers) {
      this.workers.push(w);
      this.running.push(
        w
          .run(task, (k, o) => this.finish(k, o))
          .then(
            () => releaseWorker(w),
            (err: Error) => {
              releaseWorker(w);
              this.failure ??= err;
              Atomics.store(this.control, CANCEL, 1);
            },
          ),
      );
    }
  }

  /** Waits for the workers; one stuck in a model step past the deadline is given up on. */
  private async drain(): Promise<void> {
    if (this.running.length === 0) return;
    let timer: NodeJS.Timeout | undefined;
    const graceOver = new Promise<"late">((resolve) => {
      if (Number.isFinite(this.deadline)) {
        timer = setTimeout(
          () => resolve("late"),
          Math.max(0, this.deadline - Date.now()) + WORKER_GRACE_MS,
        );
      }
    });
    const late = await Promise.race([
      Promise.all(this.running).then(() => "done" as const),
      graceOver,
    ]);
    if (timer) clearTimeout(timer);
    if (late === "late") {
      for (const w of this.workers) if (w.busy) w.discard();
      this.outcomes.forEach((o, k) => {
        // Claimed by a worker that never reported: it is stuck.
        if (!o && Atomics.load(this.control, CLAIMS + k) !== 0) {
          const c = cancelledOutcome(this.parts[k] as SearchOp[]);
          this.outcomes[k] = { ...c, result: "unknown", reason: "timeout", thread: "worker" };
        }
      });
    }
  }
}

function cancelledOutcome(ops: SearchOp[]): PartitionOutcome {
  return {
    result: "cancelled",
    longest: [],
    blocked: -1,
    partials: [],
    partialOf: ops.map(() => -1),
    cache_entries: 0,
    states: 0,
    elapsed_ms: 0,
    thread: "none",
  };
}
