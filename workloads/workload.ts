// What a workload module provides (ARCHITECTURE.md "Workload plugins"): the op generator, the
// client adaptor (op -> request body -> completion), the final ops, and its checkers.
import type { CompletionType, Op } from "../checkers/history.js";
import type { CheckResult } from "../checkers/result.js";
import type { Body } from "./protocol.js";

/** The slice of the run's seeded PRNG a workload may use (harness/random.ts implements it). */
export interface Rng {
  float(): number;
  int(from: number, to: number): number;
  chance(p: number): boolean;
  pick<T>(items: readonly T[]): T;
  shuffle<T>(items: readonly T[]): T[];
  /** An independent stream for one purpose, so adding draws elsewhere changes nothing here. */
  fork(label: string): Rng;
}

/** An operation to perform: what ends up as the invoke's `f` and `value`. */
export interface OpSpec {
  f: string;
  value: unknown;
  final?: boolean;
}

/** The worker asking for its next op. */
export interface WorkerView {
  /** 0-based worker index; a worker keeps its index for the whole run. */
  worker: number;
  /** The worker's current Jepsen process id (grows by `concurrency` after every info). */
  process: number;
  /** The node this worker talks to (worker i -> node i mod n). */
  node: string;
}

export interface WorkloadOptions {
  nodes: readonly string[];
  concurrency: number;
  rng: Rng;
  /** Mean inter-node latency the run uses, for timeouts that scale with it. */
  latency_ms: number;
  /** Broadcast topology name (grid, line, tree, tree2..4, total). */
  topology: string;
}

/** How a workload overrides the generic error mapping for one reply. */
export interface Completion {
  type: CompletionType;
  value: unknown;
  error?: unknown;
}

export interface Workload {
  readonly name: string;
  /** How long a client waits for a reply before the op is indeterminate. */
  readonly timeout_ms: number;
  /**
   * When true, even a definite error code on an op with effect is `info` (g-set and the counters:
   * Maelstrom's clients for them record every error as indeterminate). Reads still `fail`.
   */
  readonly errorsIndefinite?: boolean;
  /** Message bodies sent to each node after init, before any op (broadcast's topology). */
  setup?(node: string): Body[];
  /** The worker's next op, or undefined when it has nothing to do (it will ask again later). */
  generate(worker: WorkerView): OpSpec | undefined;
  /** Final-phase ops, run by every worker after the heal and the recovery wait. */
  final?(worker: WorkerView): OpSpec[];
  /** The request body for an op (without msg_id: the client numbers requests). */
  request(op: OpSpec): Body;
  /** The completion value of a `*_ok` reply; throws ReplyError when the reply breaks the schema. */
  okValue(op: OpSpec, reply: Body): unknown;
  /** Ops with no effect: a timeout or indefinite error on them is `fail`, not `info`. */
  idempotent(f: string): boolean;
  /** Optional override for an `error` reply (e.g. lin-kv's read of a missing key). */
  mapError?(op: OpSpec, code: number, reply: Body): Completion | undefined;
  /** Checks the history; keys are checker names (`stats` is added by the harness). */
  check(history: readonly Op[]): Promise<Record<string, CheckResult>>;
}

export type WorkloadFactory = (options: WorkloadOptions) => Workload;
