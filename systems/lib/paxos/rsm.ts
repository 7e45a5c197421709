// A replicated state machine over the Paxos library (UMich EECS 491's paxosrsm, the log under
// MIT 6.824's kvpaxos): any replica submits commands, they are agreed on one Paxos slot at a
// time and every replica applies the decided slots strictly in slot order.
//
// - Batching: each replica has at most one proposal of its own in flight, a batch of the
//   commands submitted to it since the last one, proposed into the slot after the highest it
//   has heard of. A batch carries a unique id (replica / incarnation / counter), so a slot won by
//   another value, even an equal list of commands, is told apart from our own.
// - When another replica is proposing in that slot (phase 1 meets a higher ballot) the batch
//   steps aside to a later slot instead of duelling (Paxos's yieldToOthers); when another value
//   wins the slot, the batch is proposed again higher up.
// - Holes: a slot below the highest known that stays undecided gets a no-op after a grace
//   period, which either learns the real value or fills the hole.
// - Snapshots: every so often the machine's state is written durably, and only then done() is
//   called, so peers may free the slots it covers. A restarted replica loads its snapshot and
//   replays the decided slots Paxos kept in its storage. A replica whose peers have forgotten a
//   slot it still needs (possible with maxLagSlots) asks the peer that said so for its state:
//   `paxos_snapshot {applied}` -> `paxos_snapshot_ok {applied, machine}`.
//
// What a submitter hears, and why it is honest. A batch value is given to Paxos.start in one
// slot only, ever (a new batch goes above every slot Paxos has heard of, so above every earlier
// batch), and Paxos proposes a foreign value in a slot only after an acceptor accepted it in
// that slot. So a batch can be chosen only in its own slot, and only if its accepts went out.
// - applied: its slot was decided with our batch and applied here.
// - not-done: the command is in the queue, never proposed, or back in the queue because its
//   batch surely lost its slot: either the slot was decided with another value, or the batch
//   gave the slot up (a higher ballot there, or peers had forgotten the slot) before any of its
//   accepts went out, so no acceptor holds it there.
// - unknown: its batch's slot is undecided here when the timeout comes (its accepts may have
//   gone out, it may be chosen later), or the slot was skipped by installing a peer's snapshot
//   (the command may be inside it), or the replica stopped with the batch in flight. A batch
//   whose Paxos proposal ended after its accepts went out, without this replica learning the
//   decision, stays unsettled (never re-queued) until the slot is learned or skipped.
import type { Replicated, StateMachine, Submitted } from "../replicated.js";
import {
  Fate,
  PAXOS_MESSAGE_TYPES,
  Paxos,
  type PaxosMessage,
  type PaxosStorage,
  realTimers,
  type Timers,
} from "./paxos.js";

/** Most commands in one proposal (one slot). */
export const MAX_BATCH_COMMANDS = 64;
/** A slot below the highest known that is still undecided after this long gets a no-op. */
export const HOLE_GRACE_MS = 60;
/** How many holes above the last applied slot are filled at once. */
export const HOLE_WINDOW_SLOTS = 64;
/** A snapshot is written (and done() called) after this many slots or this long. */
export const SNAPSHOT_EVERY_SLOTS = 100;
export const SNAPSHOT_EVERY_MS = 1000;
/** At most one snapshot request is outstanding; it is sent again after this long. */
export const SNAPSHOT_RETRY_MS = 200;
/** start() ticks (timeouts, holes, snapshots) this often. */
export const TICK_MS = 10;

export const SNAPSHOT_REQUEST = "paxos_snapshot";
export const SNAPSHOT_REPLY = "paxos_snapshot_ok";
/** Every node-to-node message type this replica sends and receive() takes. */
export const RSM_MESSAGE_TYPES: readonly string[] = [
  ...PAXOS_MESSAGE_TYPES,
  SNAPSHOT_REQUEST,
  SNAPSHOT_REPLY,
];

export interface Snapshot {
  /** Every slot <= applied is reflected in `machine`. */
  applied: number;
  machine: unknown;
}

export interface SnapshotStore {
  load(): Snapshot | undefined;
  /** Durable on return: done() follows it. */
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

/** A slot's value on the wire: `{"noop": true}` or `{"batch": id, "ops": [command, ...]}`. */
export type SlotValue<C> = { noop: true } | { batch: string; ops: C[] };
const NOOP = { noop: true } as const;

export type RsmMessage = { type: string; [key: string]: unknown };

interface Entry<C, R> {
  cmd: C;
  since_ms: number;
  /** Refused (not-done) if still unproposed this long after since_ms. */
  propose_within_ms: number;
  /** Answered unknown if still unsettled then. */
  deadline_ms: number;
  /** Undefined once answered. */
  settle: ((outcome: Submitted<R>) => void) | undefined;
}

interface Batch<C, R> {
  seq: number;
  id: string;
  entries: Entry<C, R>[];
}

export interface PaxosReplicatedOptions<C> {
  me: string;
  /** Every replica including `me`, in the same order on each. */
  peers: readonly string[];
  send: (to: string, body: RsmMessage) => void;
  /** The acceptors' durable state (FilePaxosStorage in a data dir). */
  storage: PaxosStorage;
  snapshots: SnapshotStore;
  /**
   * Applied in slot order, with the slot as `index` (the commands of one batch share it);
   * restore() replaces its state in place. It must tolerate a command applied twice when its
   * submitter resubmits after an unknown outcome (dedup by request identity).
   */
  machine: StateMachine<C>;
  now_ms: () => number;
  timers?: Timers;
  random?: () => number;
  /** A command not proposed within this long is refused even if its timeout is longer. */
  queue_deadline_ms?: number;
  /** See PaxosOptions.maxLagSlots; by default min() waits for every replica. */
  max_lag_slots?: number;
  /** Deliberate bugs: see systems/paxos-kv/README.md. */
  acceptLowerBallot?: boolean;
  skipHole?: boolean;
  /** Buggy builds log conflicting decisions instead of treating them as broken invariants. */
  tolerateConflicts?: boolean;
  /** A broken invariant; the default throws. */
  invariantBroken?: (text: string) => never;
  log?: (...parts: unknown[]) => void;
}

export class PaxosReplicated<C, R = unknown> implements Replicated<C, R> {
  readonly paxos: Paxos;
  /** Every slot <= applied has been applied, in order. */
  private _applied: number;
  /** Conflicting decisions seen (only possible in buggy builds). */
  conflicts = 0;
  private queue: Entry<C, R>[] = [];
  private active: Batch<C, R> | undefined;
  /** Our batches by slot, until the slot is applied here or known to have gone to another value. */
  private readonly unsettled = new Map<number, Batch<C, R>>();
  private readonly holeSince = new Map<number, number>();
  /** skip-hole: slots above `applied` that were applied early. */
  private readonly appliedEarly = new Set<number>();
  private snapshotSlot: number;
  private snapshot_ms: number;
  private snapshotAsked_ms = Number.NEGATIVE_INFINITY;
  private batches = 0;
  private readonly incarnation: string;
  private readonly timers: Timers;
  private tickTimer: unknown;
  private stopped = false;

  constructor(private readonly options: PaxosReplicatedOptions<C>) {
    const random = options.random ?? Math.random;
    this.timers = options.timers ?? realTimers;
    this.incarnation = Math.floor(random() * 2 ** 32).toString(36);
    const snap = options.snapshots.load();
    if (snap) options.machine.restore(snap.machine);
    this._applied = snap?.applied ?? -1;
    this.snapshotSlot = this._applied;
    this.snapshot_ms = options.now_ms();
    this.paxos = new Paxos({
      me: options.me,
      peers: options.peers,
      send: (to, body) => options.send(to, body),
      storage: options.storage,
      timers: this.timers,
      random,
      initialDone: this._applied,
      acceptLowerBallot: options.acceptLowerBallot ?? false,
      ...(options.max_lag_slots !== undefined && { maxLagSlots: options.max_lag_slots }),
      onDecide: (seq, value) => this.onDecide(seq, value as SlotValue<C>),
      onYield: (seq) => this.onYield(seq),
      onForgotten: (seq, peer) => this.onForgotten(seq, peer),
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

  get applied(): number {
    return this._applied;
  }

  submit(cmd: C, timeout_ms: number): Promise<Submitted<R>> {
    return new Promise((resolve) => this.submitWith(cmd, timeout_ms, resolve));
  }

  /**
   * submit() with a callback, called in the same turn as the outcome is known (for servers that
   * answer at once, and synchronous tests). Timeouts need start() or a host calling tick().
   */
  submitWith(cmd: C, timeout_ms: number, settle: (outcome: Submitted<R>) => void): void {
    if (this.stopped) {
      settle({ kind: "not-done", reason: "replica stopped" });
      return;
    }
    const now = this.options.now_ms();
    const propose_within_ms = Math.min(timeout_ms, this.options.queue_deadline_ms ?? timeout_ms);
    this.queue.push({
      cmd,
      since_ms: now,
      propose_within_ms,
      deadline_ms: now + timeout_ms,
      settle,
    });
    this.pump();
  }

  /** Every replica may do background work: the state machine tolerates duplicate commands. */
  leading(): boolean {
    return true;
  }

  receive(src: string, body: RsmMessage): boolean {
    if ((PAXOS_MESSAGE_TYPES as readonly string[]).includes(body.type)) {
      this.paxos.receive(src, body as PaxosMessage);
      return true;
    }
    if (body.type === SNAPSHOT_REQUEST) {
      // Our state is past what the peer has applied, and covers only decided slots.
      const theirs = body.applied;
      if (this.options.peers.includes(src) && typeof theirs === "number" && this._applied > theirs)
        this.options.send(src, {
          type: SNAPSHOT_REPLY,
          applied: this._applied,
          machine: this.options.machine.snapshot(),
        });
      return true;
    }
    if (body.type === SNAPSHOT_REPLY) {
      if (this.options.peers.includes(src)) this.install(body.applied, body.machine);
      return true;
    }
    return false;
  }

  /** Ticks every TICK_MS on the timers; a host with its own periodic work calls tick() instead. */
  start(): void {
    if (this.stopped || this.tickTimer !== undefined) return;
    const loop = () => {
      this.tick();
      if (!this.stopped) this.tickTimer = this.timers.setTimeout(loop, TICK_MS);
    };
    this.tickTimer = this.timers.setTimeout(loop, TICK_MS);
  }

  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    this.timers.clearTimeout(this.tickTimer);
    this.paxos.kill();
    for (const e of this.queue) settle(e, { kind: "not-done", reason: "replica stopped" });
    this.queue = [];
    for (const b of this.unsettled.values()) {
      for (const e of b.entries) settle(e, { kind: "unknown", reason: "replica stopped" });
    }
    this.unsettled.clear();
    this.active = undefined;
  }

  /** Periodic work: time out submissions, fill holes, snapshot. */
  tick(): void {
    if (this.stopped) return;
    const now = this.options.now_ms();
    this.queue = this.queue.filter((e) => {
      if (e.settle === undefined) return false;
      if (now - e.since_ms < e.propose_within_ms) return true;
      const reason = `not proposed within ${e.propose_within_ms} ms (no quorum?)`;
      settle(e, { kind: "not-done", reason });
      return false;
    });
    for (const b of this.unsettled.values()) {
      for (const e of b.entries) {
        if (now >= e.deadline_ms)
          settle(e, { kind: "unknown", reason: `slot ${b.seq} not applied in time` });
      }
    }
    for (const seq of this.holeSince.keys()) if (seq <= this._applied) this.holeSince.delete(seq);
    const top = Math.min(this.paxos.max(), this._applied + HOLE_WINDOW_SLOTS);
    for (let seq = this._applied + 1; seq <= top; seq++) {
      if (this.paxos.status(seq).fate !== Fate.Pending || this.paxos.proposing(seq)) continue;
      const since = this.holeSince.get(seq);
      if (since === undefined) this.holeSince.set(seq, now);
      else if (now - since >= HOLE_GRACE_MS) this.paxos.start(seq, NOOP);
    }
    this.settleSkipped();
    const active = this.active;
    if (active && !this.paxos.proposing(active.seq)) {
      // Paxos gave up on the slot without our learning its decision (peers had forgotten it):
      // the batch stays unsettled until the slot is learned, and the next batch may go.
      this.active = undefined;
      this.pump();
    }
    this.maybeSnapshot(now);
  }

  private pump(): void {
    if (this.stopped || this.active || this.queue.length === 0) return;
    const entries = this.queue.splice(0, MAX_BATCH_COMMANDS);
    const seq = Math.max(this.paxos.max() + 1, this._applied + 1);
    const id = `${this.options.me}/${this.incarnation}/${++this.batches}`;
    const batch = { seq, id, entries };
    this.active = batch;
    this.unsettled.set(seq, batch);
    const value: SlotValue<C> = { batch: id, ops: entries.map((e) => e.cmd) };
    this.paxos.start(seq, value, true);
  }

  /** Unanswered entries go back to the front of the queue, in their order. */
  private requeue(entries: Entry<C, R>[]): void {
    this.queue.unshift(...entries.filter((e) => e.settle !== undefined));
  }

  /** Another replica is proposing in our batch's slot, and no accept of ours went out there. */
  private onYield(seq: number): void {
    const batch = this.unsettled.get(seq);
    if (!batch) return;
    this.unsettled.delete(seq);
    if (this.active === batch) this.active = undefined;
    this.requeue(batch.entries);
    this.pump();
  }

  private onDecide(seq: number, value: SlotValue<C>): void {
    if (this.options.skipHole && seq > this._applied + 1 && !this.appliedEarly.has(seq)) {
      // The bug: apply now, ahead of the undecided slots below it.
      this.appliedEarly.add(seq);
      this.applyValue(seq, value);
    }
    this.claim(seq, value); // a lost batch is re-queued now, not once the holes below are filled
    if (this.active?.seq === seq) this.active = undefined;
    this.applyReady();
    this.pump();
  }

  /** Our batch in slot `seq` if `value` is it; a batch of ours that lost the slot is re-queued. */
  private claim(seq: number, value: SlotValue<C>): Batch<C, R> | undefined {
    const batch = this.unsettled.get(seq);
    if (!batch) return undefined;
    if ("batch" in value && value.batch === batch.id) return batch;
    this.unsettled.delete(seq);
    if (this.active === batch) this.active = undefined;
    this.requeue(batch.entries);
    return undefined;
  }

  private applyReady(): void {
    for (;;) {
      const next = this._applied + 1;
      const st = this.paxos.status(next);
      if (st.fate !== Fate.Decided) {
        if (st.fate === Fate.Forgotten) {
          // Forgotten here means our own done() ran ahead of our state, which the
          // snapshot-before-done rule forbids.
          this.broken(`slot ${next} was forgotten before this replica applied it`);
        }
        break;
      }
      if (this.appliedEarly.delete(next)) {
        this._applied = next;
        continue;
      }
      this.applyValue(next, st.value as SlotValue<C>);
      this._applied = next;
    }
  }

  private applyValue(seq: number, value: SlotValue<C>): void {
    const batch = this.claim(seq, value);
    if (batch) this.unsettled.delete(seq);
    if ("noop" in value) return;
    for (const [i, cmd] of value.ops.entries()) {
      const result = this.options.machine.apply(cmd, seq) as R;
      const entry = batch?.entries[i];
      if (entry) settle(entry, { kind: "applied", result });
    }
  }

  private broken(text: string): never {
    if (this.options.invariantBroken) this.options.invariantBroken(text);
    throw new Error(`invariant broken: ${text}`);
  }

  private maybeSnapshot(now: number): void {
    if (this._applied <= this.snapshotSlot) return;
    if (
      this._applied - this.snapshotSlot < SNAPSHOT_EVERY_SLOTS &&
      now - this.snapshot_ms < SNAPSHOT_EVERY_MS
    ) {
      return;
    }
    this.saveSnapshot(now);
  }

  /** Durable first, done() second: peers may free every slot <= applied once we say so. */
  private saveSnapshot(now: number): void {
    this.options.snapshots.save({
      applied: this._applied,
      machine: this.options.machine.snapshot(),
    });
    this.snapshotSlot = this._applied;
    this.snapshot_ms = now;
    this.paxos.done(this._applied);
  }

  /** A peer has forgotten a slot we have not applied: ask it for its state (one at a time). */
  private onForgotten(seq: number, peer: string): void {
    const now = this.options.now_ms();
    if (seq <= this._applied || now - this.snapshotAsked_ms < SNAPSHOT_RETRY_MS) return;
    this.snapshotAsked_ms = now;
    this.options.send(peer, { type: SNAPSHOT_REQUEST, applied: this._applied });
  }

  /** Installs a peer's state through slot `applied`, if that is ahead of ours. */
  private install(applied: unknown, machine: unknown): void {
    if (this.stopped || typeof applied !== "number" || !Number.isSafeInteger(applied)) return;
    if (applied <= this._applied) return;
    this.options.machine.restore(machine);
    this._applied = applied;
    this.snapshotAsked_ms = Number.NEGATIVE_INFINITY;
    for (const seq of this.appliedEarly) if (seq <= applied) this.appliedEarly.delete(seq);
    this.options.log?.(`installed a peer's snapshot through slot ${applied}`);
    // done() may drop our proposals in forgotten slots: those that sent no accepts step aside.
    this.saveSnapshot(this.options.now_ms());
    this.settleSkipped();
    this.applyReady();
    this.pump();
  }

  /**
   * Our batches in slots a peer's snapshot covered whose Paxos proposal has ended: whether the
   * batch is in that state cannot be told from it. (A proposal still running there ends in a
   * decision, which claim() settles, or in a yield, or here.)
   */
  private settleSkipped(): void {
    for (const [seq, b] of this.unsettled) {
      if (seq > this._applied || this.paxos.proposing(seq)) continue;
      for (const e of b.entries) {
        settle(e, { kind: "unknown", reason: `slot ${seq} skipped by a snapshot` });
      }
      this.unsettled.delete(seq);
      if (this.active === b) this.active = undefined;
    }
  }
}

/** Answers an entry once. */
function settle<C, R>(e: Entry<C, R>, outcome: Submitted<R>): void {
  const fn = e.settle;
  e.settle = undefined;
  fn?.(outcome);
}
