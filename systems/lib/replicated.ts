// A replicated state machine as a service sees it, whatever agrees on the order of commands:
// systems/lib/raft/ (a leader's log) or systems/lib/paxos/ (one Paxos instance per slot). The
// shard controller and the shard groups of systems/shard-kv are written once against this.

/** What the replicas agree to apply, in the same order on every replica. Pure and deterministic. */
export interface StateMachine<C> {
  /** Applies a committed command; its return value answers the proposer. */
  apply(cmd: C, index: number): unknown;
  snapshot(): unknown;
  restore(state: unknown): void;
}

/** How a submitted command ended, as seen by the replica it was submitted to. */
export type Submitted<R> =
  | { kind: "applied"; result: R }
  /** It was not proposed, or surely lost: it never takes effect (error 11 is honest). */
  | { kind: "not-done"; reason: string }
  /** It may or may not take effect (error 0 / 13). */
  | { kind: "unknown"; reason: string };

export interface Replicated<C, R = unknown> {
  /** Proposes `cmd` and waits for it to be applied, for at most `timeout_ms`. */
  submit(cmd: C, timeout_ms: number): Promise<Submitted<R>>;
  /** Whether this replica should run the group's background work (Raft: the leader; Paxos: any). */
  leading(): boolean;
  /** Routes a consensus message from a peer; returns false when the type is not the back end's. */
  receive(src: string, body: { type: string; [key: string]: unknown }): boolean;
  start(): void;
  stop(): void;
}
