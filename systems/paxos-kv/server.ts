// paxos-kv's replicated state machine (MIT kvpaxos; README.md "How it works"):
// every client op, reads included, is agreed on through a Paxos slot and applied in slot order
// on every replica; holes are filled with no-ops; duplicates are detected by client and request
// id; Done() is called once a durable snapshot covers the slots, so the log can be freed.
//
// Each replica has at most one proposal of its own in flight: a batch of the ops its clients
// sent since the last one, proposed into the slot after the highest it has heard of. When
// another replica turns out to be proposing in that slot (phase 1 meets a higher ballot) the
// batch steps aside to a later slot instead of duelling; when another value wins the slot
// after our accepts went out, the batch is proposed again higher up. A batch can be chosen
// only in a slot where it was sent in accept requests, and only one slot at a time has that,
// so ops of a batch whose slot went to another value have definitely not happened, and
// neither have queued ops that were never proposed.
import { type Body, ErrorCode } from "../lib/maelstrom-node.js";
import {
  Fate,
  Paxos,
  type PaxosMessage,
  type PaxosStorage,
  realTimers,
  type Timers,
} from "../lib/paxos/paxos.js";
import { type ClientOp, KvMachine, type MachineSnapshot, type OpResult } from "./kv-machine.js";

/** Most ops in one proposal (one slot). */
export const MAX_BATCH_OPS = 64;
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
/** A slot below the highest known that is still undecided after this long gets a no-op. */
export const HOLE_GRACE_MS = 60;
/** How many holes above the last applied slot are filled at once. */
export const HOLE_WINDOW_SLOTS = 64;
/** A snapshot is written (and Done called) after this many slots or this long. */
export const SNAPSHOT_EVERY_SLOTS = 100;
export const SNAPSHOT_EVERY_MS = 1000;

export interface Snapshot {
  /** Every slot <= applied is reflected in `machine`. */
  applied: number;
  machine: MachineSnapshot;
}

export interface SnapshotStore {
  load(): Snapshot | undefined;
  save(snapshot: Snapshot): void;
}

export class MemorySnapshotStore implements SnapshotStore {
  snapshot: Snapshot | undefined;
  load(): Snapshot | undefined {
    return this.snapshot;
  }
  save(snapshot: Snapshot): void {
    this.snapshot = structuredClone(snapshot);
  }
}

type SlotValue = { noop: true } | { batch: string; ops: ClientOp[] };
const NOOP: SlotValue = { noop: true };

interface Waiter {
  respond: (result: OpResult) => void;
  since_ms: number;
}

interface Queued {
  cop: ClientOp;
  since_ms: number;
}

export interface PaxosKvOptions {
  me: string;
  peers: readonly string[];
  send: (to: string, body: Body) => void;
  storage: PaxosStorage;
  snapshots: SnapshotStore;
  now_ms: () => number;
  timers?: Timers;
  random?: () => number;
  /** Deliberate bugs (see the README). */
  acceptLowerBallot?: boolean;
  skipHole?: boolean;
  /** Buggy builds log conflicting decisions instead of treating them as broken invariants. */
  tolerateConflicts?: boolean;
  /** A broken invariant; the default throws. The node exits, so the crashes checker sees it. */
  invariantBroken?: (text: string) => never;
  log?: (...parts: unknown[]) => void;
}

export function opKey(cop: ClientOp): string {
  return `${cop.client} ${cop.req}`;
}

export class PaxosKvServer {
  readonly paxos: Paxos;
  machine: KvMachine;
  /** Every slot <= applied has been applied, in order. */
  applied: number;
  /** Conflicting decisions seen (only possible in buggy builds). */
  conflicts = 0;
  private queue: Queued[] = [];
  private active: { seq: number; id: string; ops: Queued[] } | undefined;
  private readonly waiters = new Map<string, Waiter>();
  /** Ops of ours queued or in our active batch (by opKey): never queued twice. */
  private readonly inFlight = new Set<string>();
  private readonly holeSince = new Map<number, number>();
  /** skip-hole: slots above `applied` that were applied early. */
  private readonly appliedEarly = new Set<number>();
  private snapshotSlot: number;
  private snapshot_ms: number;
  private batches = 0;
  private readonly incarnation: string;

  constructor(private readonly options: PaxosKvOptions) {
    const random = options.random ?? Math.random;
    this.incarnation = Math.floor(random() * 2 ** 32).toString(36);
    const snap = options.snapshots.load();
    this.machine = snap ? KvMachine.restore(snap.machine) : new KvMachine();
    this.applied = snap?.applied ?? -1;
    this.snapshotSlot = this.applied;
    this.snapshot_ms = options.now_ms();
    this.paxos = new Paxos({
      me: options.me,
      peers: options.peers,
      send: (to, body) => options.send(to, body),
      storage: options.storage,
      timers: options.timers ?? realTimers,
      random,
      initialDone: this.applied,
      acceptLowerBallot: options.acceptLowerBallot ?? false,
      onDecide: (seq, value) => this.onDecide(seq, value as SlotValue),
      onYield: (seq) => this.onYield(seq),
      onConflict: (seq: number, first: unknown, second: unknown) => {
        this.conflicts++;
        const text = `slot ${seq} decided twice: ${JSON.stringify(first)} / ${JSON.stringify(second)}`;
        if (options.tolerateConflicts) options.log?.(text);
        else this.broken(text);
      },
      ...(options.log && { log: options.log }),
    });
    if (snap) options.log?.(`restored snapshot through slot ${snap.applied}`);
    // Slots decided before a restart and stored by Paxos can be applied at once.
    this.applyReady();
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
    this.queue.push({ cop, since_ms: this.options.now_ms() });
    this.pump();
  }

  receive(src: string, body: PaxosMessage): void {
    this.paxos.receive(src, body);
  }

  /** Periodic work: refuse stale queued ops, fill holes, snapshot. */
  tick(): void {
    const now = this.options.now_ms();
    this.queue = this.queue.filter((q) => {
      if (now - q.since_ms < QUEUE_DEADLINE_MS) return true;
      this.inFlight.delete(opKey(q.cop));
      this.answer(q.cop, {
        code: ErrorCode.temporarilyUnavailable,
        text: `not proposed within ${QUEUE_DEADLINE_MS} ms (no quorum?)`,
      });
      return false;
    });
    for (const [key, w] of this.waiters) {
      if (now - w.since_ms >= CLIENT_GIVES_UP_MS) this.waiters.delete(key);
    }
    for (const seq of this.holeSince.keys()) if (seq <= this.applied) this.holeSince.delete(seq);
    const top = Math.min(this.paxos.max(), this.applied + HOLE_WINDOW_SLOTS);
    for (let seq = this.applied + 1; seq <= top; seq++) {
      if (this.paxos.status(seq).fate !== Fate.Pending || this.paxos.proposing(seq)) continue;
      const since = this.holeSince.get(seq);
      if (since === undefined) this.holeSince.set(seq, now);
      else if (now - since >= HOLE_GRACE_MS) this.paxos.start(seq, NOOP);
    }
    const active = this.active;
    if (active && !this.paxos.proposing(active.seq)) {
      // Paxos gave up on the slot without a decision (its peers had forgotten it): the batch
      // was not chosen there, so it goes back to the queue.
      this.active = undefined;
      this.queue.unshift(...active.ops);
      this.pump();
    }
    this.maybeSnapshot(now);
  }

  /** Ops waiting for a reply (for tests). */
  get pendingOps(): number {
    return this.waiters.size;
  }

  private pump(): void {
    if (this.active || this.queue.length === 0) return;
    const ops = this.queue.splice(0, MAX_BATCH_OPS);
    const seq = Math.max(this.paxos.max() + 1, this.applied + 1);
    const id = `${this.options.me}/${this.incarnation}/${++this.batches}`;
    this.active = { seq, id, ops };
    const value: SlotValue = { batch: id, ops: ops.map((q) => q.cop) };
    this.paxos.start(seq, value, true);
  }

  /** Another replica is proposing in our batch's slot: take the batch to a later slot. */
  private onYield(seq: number): void {
    const active = this.active;
    if (!active || active.seq !== seq) return;
    this.active = undefined;
    this.queue.unshift(...active.ops);
    this.pump();
  }

  private onDecide(seq: number, value: SlotValue): void {
    if (this.options.skipHole && seq > this.applied + 1 && !this.appliedEarly.has(seq)) {
      // The bug: apply now, ahead of the undecided slots below it.
      this.appliedEarly.add(seq);
      this.applyValue(value);
    }
    this.applyReady();
    const active = this.active;
    if (active && seq === active.seq) {
      this.active = undefined;
      if (!("batch" in value) || value.batch !== active.id) {
        // Another value won the slot: our batch can no longer be chosen anywhere; retry it.
        this.queue.unshift(...active.ops);
      }
      this.pump();
    }
  }

  private applyReady(): void {
    for (;;) {
      const next = this.applied + 1;
      const st = this.paxos.status(next);
      if (st.fate !== Fate.Decided) {
        if (st.fate === Fate.Forgotten) {
          // Everyone is done with a slot we never applied: only possible if our own Done()
          // ran ahead of our state, which the snapshot-before-Done rule forbids.
          this.broken(`slot ${next} was forgotten before this replica applied it`);
        }
        break;
      }
      if (this.appliedEarly.delete(next)) {
        this.applied = next;
        continue;
      }
      this.applyValue(st.value as SlotValue);
      this.applied = next;
    }
  }

  private applyValue(value: SlotValue): void {
    if ("noop" in value) return;
    for (const cop of value.ops) {
      this.inFlight.delete(opKey(cop));
      const { status, result } = this.machine.apply(cop);
      if (status === "stale" || result === undefined) {
        this.answer(cop, {
          code: ErrorCode.crash,
          text: "a later request of this client was applied first; this one may or may not have been",
        });
      } else {
        this.answer(cop, result);
      }
    }
  }

  private answer(cop: ClientOp, result: OpResult): void {
    const key = opKey(cop);
    const w = this.waiters.get(key);
    if (!w) return;
    this.waiters.delete(key);
    if (this.options.now_ms() - w.since_ms < CLIENT_GIVES_UP_MS) w.respond(result);
  }

  private broken(text: string): never {
    if (this.options.invariantBroken) this.options.invariantBroken(text);
    throw new Error(`invariant broken: ${text}`);
  }

  private maybeSnapshot(now: number): void {
    if (this.applied <= this.snapshotSlot) return;
    if (
      this.applied - this.snapshotSlot < SNAPSHOT_EVERY_SLOTS &&
      now - this.snapshot_ms < SNAPSHOT_EVERY_MS
    ) {
      return;
    }
    // Durable first, Done second: peers may free every slot <= applied once we say so.
    this.options.snapshots.save({ applied: this.applied, machine: this.machine.snapshot() });
    this.snapshotSlot = this.applied;
    this.snapshot_ms = now;
    this.paxos.done(this.applied);
  }
}
