// Worker threads for the search, and the shared queue partitions are claimed from.
//
// Every thread of a check (this one and its workers) claims partitions itself through an
// atomic flag per partition, each walking its own preferred order, so a worker never waits
// for the main thread (whose event loop is busy searching) to hand it work. The first
// thread to find an illegal partition raises the shared cancel flag.
//
// Workers stay alive between checks (unref'd while idle, so they never keep the process
// open): a new worker must compile the search afresh, a warm one is several times faster.

import { availableParallelism } from "node:os";
import { Worker } from "node:worker_threads";
import type { SearchOp } from "./search.js";

/** What one partition's search reports, in partition-local op numbers. */
export interface PartitionOutcome {
  result: "ok" | "illegal" | "unknown" | "cancelled";
  reason?: "timeout" | "memory";
  longest: number[];
  blocked: number;
  partials: number[][];
  partialOf: number[];
  cache_entries: number;
  states: number;
  elapsed_ms: number;
  /** Where it was searched; "none" = never started (cancelled before its turn). */
  thread: "main" | "worker" | "none";
}

/** Int32 slots of the shared control buffer. */
export const CANCEL = 0;
/** Then one claim flag per partition (0 = free, 1 = taken). */
export const CLAIMS = 1;

/** Claims the next free partition in `order` from `from` on; -1 when none is left. */
export function claimNext(
  control: Int32Array,
  order: readonly number[],
  cursor: { at: number },
): number {
  while (cursor.at < order.length) {
    const k = order[cursor.at++] as number;
    if (Atomics.compareExchange(control, CLAIMS + k, 0, 1) === 0) return k;
  }
  return -1;
}

/** A check's work for one worker: every partition, and the order it should claim them in. */
export interface WorkerTask {
  /** The model by registry name (functions cannot be sent). */
  model: string;
  parts: SearchOp[][];
  order: number[];
  /** Int32 slots: CANCEL, then the claim flags. */
  control: SharedArrayBuffer;
  /** Date.now() past which searches stop with "unknown". */
  deadline: number;
  max_bytes: number;
}

export type WorkerReply =
  | { kind: "outcome"; part: number; outcome: PartitionOutcome }
  | { kind: "done" }
  | { kind: "error"; error: string };

/** At most this many workers live at once. */
const MAX_WORKERS = Math.max(1, availableParallelism());

export class SearchWorker {
  private readonly worker: Worker;
  private task:
    | {
        onOutcome: (part: number, o: PartitionOutcome) => void;
        resolve: () => void;
        reject: (e: Error) => void;
      }
    | undefined;
  broken = false;

  constructor(script: URL) {
    this.worker = new Worker(script);
    this.worker.unref();
    this.worker.on("message", (reply: WorkerReply) => {
      const task = this.task;
      if (!task) return;
      if (reply.kind === "outcome") {
        task.onOutcome(reply.part, reply.outcome);
        return;
      }
      this.task = undefined;
      this.worker.unref();
      if (reply.kind === "done") task.resolve();
      else task.reject(new Error(`linearizability worker: ${reply.error}`));
    });
    const fail = (err: Error): void => {
      this.broken = true;
      live.delete(this);
      const i = idle.indexOf(this);
      if (i >= 0) idle.splice(i, 1);
      this.task?.reject(err);
      this.task = undefined;
    };
    this.worker.on("error", fail);
    this.worker.on("exit", (code) =>
      fail(new Error(`linearizability worker exited with code ${code}`)),
    );
    live.add(this);
  }

  /** Claims and searches partitions until none is left; the worker holds the process open meanwhile. */
  run(task: WorkerTask, onOutcome: (part: number, o: PartitionOutcome) => void): Promise<void> {
    if (this.task) throw new Error("internal: worker already busy");
    return new Promise((resolve, reject) => {
      try {
        this.worker.postMessage(task);
      } catch (err) {
        // E.g. an input that cannot be cloned to another thread.
        reject(err as Error);
        return;
      }
      this.task = { onOutcome, resolve, reject };
      this.worker.ref();
    });
  }

  /** Still searching for a check. */
  get busy(): boolean {
    return this.task !== undefined;
  }

  /** For a worker stuck in a model step past the deadline: it leaves the pool for good. */
  discard(): void {
    this.broken = true;
    live.delete(this);
    const i = idle.indexOf(this);
    if (i >= 0) idle.splice(i, 1);
    void this.worker.terminate();
  }
}

const live = new Set<SearchWorker>();
const idle: SearchWorker[] = [];

/** Idle workers ready now (they have compiled the search already). */
export function idleWorkers(): number {
  return idle.length;
}

/** Up to `n` workers: idle ones first, then new ones while under MAX_WORKERS. */
export function acquireWorkers(n: number, script: URL): SearchWorker[] {
  const out: SearchWorker[] = [];
  while (out.length < n && idle.length > 0) out.push(idle.pop() as SearchWorker);
  while (out.length < n && live.size < MAX_WORKERS) out.push(new SearchWorker(script));
  return out;
}

/** Back to the pool, unless it broke. */
export function releaseWorker(w: SearchWorker): void {
  if (!w.broken && !idle.includes(w)) idle.push(w);
}
