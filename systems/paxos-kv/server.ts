// paxos-kv's server (MIT kvpaxos; README.md "How it works"): client ops go through the generic
// Paxos replicated state machine (systems/lib/paxos/rsm.ts: batching, slot order, hole filling,
// snapshots, Done) with KvMachine as the state machine; this file adds what a client of
// paxos-kv sees: at-most-once answers by client and request id, a repeated request that joins
// the one in flight, and error 11 for an op that was never proposed.
import { ErrorCode } from "../lib/maelstrom-node.js";
import { PaxosReplicated, type PaxosReplicatedOptions, type RsmMessage } from "../lib/paxos/rsm.js";
import type { StateMachine } from "../lib/replicated.js";
import { type ClientOp, KvMachine, type MachineSnapshot, type OpResult } from "./kv-machine.js";

/**
 * An op not yet proposed after this long is refused with error 11 (definite: it never left
 * this node), below the clients' 1000 ms timeout so they hear why.
 */
export const QUEUE_DEADLINE_MS = 800;
/**
 * A client request still unanswered after this long is forgotten and never answered: its
 * client has given up (faultline's lin-kv / kv clients wait max(10 × latency, 1000 ms)), and
 * a reply sent after the run closed its clients would be a message to nobody.
 */
export const CLIENT_GIVES_UP_MS = 1000;

/** The replicated machine: KvMachine's answer, a stale request answered as indefinite. */
class KvStateMachine implements StateMachine<ClientOp> {
  kv = new KvMachine();
  apply(cop: ClientOp): OpResult {
    const { status, result } = this.kv.apply(cop);
    if (status === "stale" || result === undefined) {
      return {
        code: ErrorCode.crash,
        text: "a later request of this client was applied first; this one may or may not have been",
      };
    }
    return result;
  }
  snapshot(): MachineSnapshot {
    return this.kv.snapshot();
  }
  restore(state: unknown): void {
    this.kv = KvMachine.restore(state as MachineSnapshot);
  }
}

interface Waiter {
  respond: (result: OpResult) => void;
  since_ms: number;
}

export type PaxosKvOptions = Omit<
  PaxosReplicatedOptions<ClientOp>,
  "machine" | "queue_deadline_ms" | "max_lag_slots"
>;

export function opKey(cop: ClientOp): string {
  return `${cop.client} ${cop.req}`;
}

export class PaxosKvServer {
  readonly rsm: PaxosReplicated<ClientOp, OpResult>;
  private readonly kv = new KvStateMachine();
  private readonly waiters = new Map<string, Waiter>();
  /** Ops submitted to the replicated machine and not yet settled (by opKey): never twice. */
  private readonly inFlight = new Set<string>();

  constructor(private readonly options: PaxosKvOptions) {
    // min() waits for every replica (MIT's semantics): no replica ever needs a peer's snapshot.
    this.rsm = new PaxosReplicated({
      ...options,
      machine: this.kv,
      queue_deadline_ms: QUEUE_DEADLINE_MS,
    });
  }

  get machine(): KvMachine {
    return this.kv.kv;
  }

  /** Every slot <= applied has been applied, in order. */
  get applied(): number {
    return this.rsm.applied;
  }

  /** Accepts a client op; `respond` is called once, when it is applied or refused. */
  submit(cop: ClientOp, respond: (result: OpResult) => void): void {
    const done = this.machine.lastResult(cop.client, cop.req);
    if (done !== undefined) {
      respond(done); // a duplicate of an op already applied
      return;
    }
    const key = opKey(cop);
    this.waiters.set(key, { respond, since_ms: this.options.now_ms() });
    if (this.inFlight.has(key)) return; // a repeated request: the op is queued or proposed
    this.inFlight.add(key);
    this.rsm.submitWith(cop, CLIENT_GIVES_UP_MS, (outcome) => {
      this.inFlight.delete(key);
      if (outcome.kind === "applied") this.answer(key, outcome.result);
      else if (outcome.kind === "not-done") {
        // Not applied through this replica; it may have been through another one.
        const result = this.machine.lastResult(cop.client, cop.req);
        this.answer(
          key,
          result ?? { code: ErrorCode.temporarilyUnavailable, text: outcome.reason },
        );
      } else this.waiters.delete(key); // unknown: no answer, the client times out
    });
  }

  receive(src: string, body: RsmMessage): void {
    this.rsm.receive(src, body);
  }

  /** Periodic work: forget requests whose clients gave up, then the replicated machine's. */
  tick(): void {
    const now = this.options.now_ms();
    for (const [key, w] of this.waiters) {
      if (now - w.since_ms >= CLIENT_GIVES_UP_MS) this.waiters.delete(key);
    }
    this.rsm.tick();
  }

  private answer(key: string, result: OpResult): void {
    const w = this.waiters.get(key);
    if (!w) return;
    this.waiters.delete(key);
    if (this.options.now_ms() - w.since_ms < CLIENT_GIVES_UP_MS) w.respond(result);
  }
}
