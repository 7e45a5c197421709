// A Paxos library in the shape of MIT 6.824's (README.md "How it works"): one
// independent Paxos instance per sequence number (slot), with
//   start(seq, v)  begin agreement on slot seq, proposing v (ignored below min())
//   status(seq)    Decided (+ value) | Pending | Forgotten — local, no messages
//   done(seq)      this peer no longer needs slots <= seq
//   max()          highest slot this peer has heard of, or -1
//   min()          1 + the lowest done() value over *all* peers (-1 for a peer never heard
//                  from; optionally not waiting for a peer far behind, see maxLagSlots);
//                  slots below it are forgotten and their memory freed.
// Done values ride on every Paxos message, and a done() that moves is also sent to every peer
// (`px_done`): replicas that only answer one proposer never message each other, and would
// otherwise never learn each other's done, so min() would stall and memory grow without bound.
// Unlike the MIT library, acceptors persist their
// promised/accepted state (PaxosStorage) before answering, so a peer survives kill + restart.
//
// The library is transport- and clock-agnostic (a `send` function and a timer interface), so
// unit tests run whole clusters over a simulated network. Nothing here imports the harness.

/** A ballot: round × BALLOT_STRIDE + the proposer's index, so ballots are unique per peer. */
export type Ballot = number;
export const NO_BALLOT: Ballot = -1;
/** More peers than this cannot have distinct ballots. */
export const BALLOT_STRIDE = 1024;

/** The smallest ballot owned by peer `index` that is above `above`. */
export function nextBallot(above: Ballot, index: number): Ballot {
  if (!Number.isSafeInteger(index) || index < 0 || index >= BALLOT_STRIDE) {
    throw new RangeError(`peer index ${index} outside [0, ${BALLOT_STRIDE})`);
  }
  let b = Math.floor(above / BALLOT_STRIDE) * BALLOT_STRIDE + index;
  while (b <= above) b += BALLOT_STRIDE;
  return b;
}

/** An acceptor's durable state for one slot: n_p, n_a and v_a of the textbook. */
export interface AcceptorState {
  promised: Ballot;
  acceptedBallot: Ballot;
  acceptedValue: unknown;
}

export function freshAcceptor(): AcceptorState {
  return { promised: NO_BALLOT, acceptedBallot: NO_BALLOT, acceptedValue: undefined };
}

export type PrepareAnswer =
  | { ok: true; acceptedBallot: Ballot; acceptedValue: unknown }
  | { ok: false; promised: Ballot };

/** Phase 1b: promise never to accept below `ballot`, if nothing higher was promised. Mutates. */
export function acceptorPrepare(state: AcceptorState, ballot: Ballot): PrepareAnswer {
  if (ballot > state.promised) {
    state.promised = ballot;
    return { ok: true, acceptedBallot: state.acceptedBallot, acceptedValue: state.acceptedValue };
  }
  return { ok: false, promised: state.promised };
}

/**
 * Phase 2b: accept (ballot, value) unless a higher ballot was promised. Mutates; returns
 * whether it accepted. `acceptLowerBallot` is the deliberate bug: the acceptor compares with
 * the last ballot it *accepted* instead of the one it promised, so a proposer that was
 * overtaken in phase 1 still gets its value accepted.
 */
export function acceptorAccept(
  state: AcceptorState,
  ballot: Ballot,
  value: unknown,
  acceptLowerBallot = false,
): boolean {
  const floor = acceptLowerBallot ? state.acceptedBallot : state.promised;
  if (ballot < floor) return false;
  state.promised = Math.max(state.promised, ballot);
  state.acceptedBallot = ballot;
  state.acceptedValue = value;
  return true;
}

/** Phase 2a's value rule: the value accepted under the highest ballot among the promises, else ours. */
export function chooseValue(
  promises: Iterable<{ acceptedBallot: Ballot; acceptedValue: unknown }>,
  own: unknown,
): unknown {
  let best: Ballot = NO_BALLOT;
  let value = own;
  for (const p of promises) {
    if (p.acceptedBallot > best) {
      best = p.acceptedBallot;
      value = p.acceptedValue;
    }
  }
  return value;
}

export const Fate = { Decided: 1, Pending: 2, Forgotten: 3 } as const;
export type Fate = (typeof Fate)[keyof typeof Fate];

/** What storage keeps of one slot. */
export interface PersistedInstance {
  acceptor: AcceptorState;
  decided: boolean;
  value?: unknown;
}

export interface PaxosStorage {
  /** What a previous incarnation stored: live slots and the min() it had compacted to. */
  load(): { instances: Map<number, PersistedInstance>; floor: number };
  /**
   * Records a slot's state. With `sync` it must be durable on return: acceptors call this
   * before answering a prepare or accept.
   */
  save(seq: number, instance: PersistedInstance, sync: boolean): void;
  /** Drops every slot below `floor` (all peers are done with them). */
  compact(floor: number, live: Map<number, PersistedInstance>): void;
}

/** Keeps nothing across restarts: for tests, and for the no-promise-persist bug. */
export class MemoryPaxosStorage implements PaxosStorage {
  saves = 0;
  load() {
    return { instances: new Map<number, PersistedInstance>(), floor: 0 };
  }
  save(): void {
    this.saves++;
  }
  compact(): void {}
}

export interface Timers {
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export const realTimers: Timers = {
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout),
};

/** A Paxos message body (node-to-node; never has msg_id / in_reply_to). */
export type PaxosMessage = { type: string; seq: number; done: number; [key: string]: unknown };
export const PAXOS_MESSAGE_TYPES = [
  "px_prepare",
  "px_promise",
  "px_accept",
  "px_accepted",
  "px_decide",
  "px_done",
] as const;

export interface PaxosOptions {
  me: string;
  /** Every peer including `me`, the same order on every peer (ballots use the index). */
  peers: readonly string[];
  send: (to: string, body: PaxosMessage) => void;
  storage: PaxosStorage;
  timers?: Timers;
  /** Uniform in [0, 1): backoff jitter. */
  random?: () => number;
  /** Called once per slot when this peer learns its decision. */
  onDecide?: (seq: number, value: unknown) => void;
  /**
   * Called when a proposal started with `yieldToOthers` gave up its slot before sending a
   * single accept (another proposer holds a higher ballot there, or peers have forgotten the
   * slot), so its value cannot be chosen in that slot unless some other peer proposes it.
   */
  onYield?: (seq: number, value: unknown) => void;
  /** The done() value this peer had persisted before a restart. */
  initialDone?: number;
  /**
   * min() stops waiting for a peer whose done() value is more than this many slots below ours
   * (default: waits for every peer forever, as MIT's library does). Forgetting slot s needs
   * only that this peer is done with s, so it holds a snapshot covering s: a peer left behind
   * catches up from such a snapshot (onForgotten), not from the slots.
   */
  maxLagSlots?: number;
  /** A peer answered that it has forgotten `seq`: this peer needs a snapshot to get past it. */
  onForgotten?: (seq: number, peer: string) => void;
  acceptLowerBallot?: boolean;
  /**
   * Two different decisions for one slot break Paxos's one guarantee; a correct build throws.
   * Buggy builds (whose bugs cause exactly that) log it and keep the first, so the history
   * checker, not a crash, is what reports them.
   */
  onConflict?: (seq: number, first: unknown, second: unknown) => void;
  log?: (...parts: unknown[]) => void;
}

/** No majority within this long (no reply, or not enough) starts a new round. */
export const ROUND_TIMEOUT_MS = 100;
/** A new round after a failed one waits a random time up to this (doubling per attempt). */
export const BACKOFF_BASE_MS = 5;
export const BACKOFF_MAX_MS = 160;
/** Storage is rewritten without forgotten slots once min() has moved this far since. */
export const COMPACT_EVERY_SLOTS = 256;

interface Instance extends PersistedInstance {}

interface Proposal {
  seq: number;
  own: unknown;
  ballot: Ballot;
  /** Highest ballot any acceptor told us about: the next round must beat it. */
  highestSeen: Ballot;
  phase: "prepare" | "accept" | "backoff";
  promises: Map<string, { acceptedBallot: Ballot; acceptedValue: unknown }>;
  rejects: Set<string>;
  accepts: Set<string>;
  value: unknown;
  attempt: number;
  /** Give the slot up on the first refusal in phase 1 (see start()). */
  yields: boolean;
  /** Some round of this proposal sent accepts: its value may be chosen here, never yield. */
  acceptSent: boolean;
  timer: unknown;
}

export class Paxos {
  readonly me: string;
  readonly peers: readonly string[];
  private readonly index: number;
  private readonly majority: number;
  private readonly instances = new Map<number, Instance>();
  private readonly proposals = new Map<number, Proposal>();
  private readonly doneBy = new Map<string, number>();
  private maxSeq = -1;
  /** min() may never drop below this: storage no longer has the slots under it. */
  private floor = 0;
  private compactedAt = 0;
  private readonly timers: Timers;
  private readonly random: () => number;
  private stopped = false;

  constructor(private readonly options: PaxosOptions) {
    this.me = options.me;
    this.peers = [...options.peers];
    this.index = this.peers.indexOf(this.me);
    if (this.index < 0) throw new Error(`peers ${this.peers.join(",")} do not include ${this.me}`);
    if (new Set(this.peers).size !== this.peers.length) throw new Error("duplicate peer names");
    this.majority = Math.floor(this.peers.length / 2) + 1;
    this.timers = options.timers ?? realTimers;
    this.random = options.random ?? Math.random;
    for (const p of this.peers) this.doneBy.set(p, -1);
    if (options.initialDone !== undefined) this.doneBy.set(this.me, options.initialDone);
    const { instances, floor } = options.storage.load();
    this.floor = floor;
    this.compactedAt = floor;
    for (const [seq, inst] of instances) {
      if (seq < floor) continue;
      this.instances.set(seq, inst);
      this.maxSeq = Math.max(this.maxSeq, seq);
    }
  }

  // ------------------------------------------------------------------------------ the API

  /**
   * Begins agreement on `seq`, proposing `value`. With `yieldToOthers`, the proposal gives the
   * slot up (onYield) when phase 1 meets a higher ballot, instead of competing with a higher
   * one: right for a value that may go in any slot (a replica's batch), wrong for learning a
   * slot (a hole), which must go on until the slot is decided.
   */
  start(seq: number, value: unknown, yieldToOthers = false): void {
    if (this.stopped || !Number.isSafeInteger(seq) || seq < this.min()) return;
    this.noteSeq(seq);
    if (this.instances.get(seq)?.decided || this.proposals.has(seq)) return;
    const proposal: Proposal = {
      seq,
      own: value,
      ballot: NO_BALLOT,
      highestSeen: NO_BALLOT,
      phase: "backoff",
      promises: new Map(),
      rejects: new Set(),
      accepts: new Set(),
      value: undefined,
      attempt: 0,
      yields: yieldToOthers,
      acceptSent: false,
      timer: undefined,
    };
    this.proposals.set(seq, proposal);
    this.round(proposal);
  }

  status(seq: number): { fate: Fate; value?: unknown } {
    if (seq < this.min()) return { fate: Fate.Forgotten };
    const inst = this.instances.get(seq);
    return inst?.decided ? { fate: Fate.Decided, value: inst.value } : { fate: Fate.Pending };
  }

  done(seq: number): void {
    if (seq > (this.doneBy.get(this.me) ?? -1)) {
      this.doneBy.set(this.me, seq);
      for (const peer of this.peers) {
        if (peer !== this.me) this.options.send(peer, this.message("px_done", seq, {}));
      }
      this.forget();
    }
  }

  max(): number {
    return this.maxSeq;
  }

  min(): number {
    const own = this.doneBy.get(this.me) ?? -1;
    const maxLag = this.options.maxLagSlots ?? Number.POSITIVE_INFINITY;
    let lowest = own; // our own done() always counts: we never forget a slot we still need
    for (const d of this.doneBy.values()) if (own - d <= maxLag) lowest = Math.min(lowest, d);
    return Math.max(this.floor, lowest + 1);
  }

  /** Whether this peer is running a proposal for `seq` right now. */
  proposing(seq: number): boolean {
    return this.proposals.has(seq);
  }

  /** Slots held in memory (for tests of forgetting). */
  get liveSlots(): number {
    return this.instances.size;
  }

  /** The done() value every peer last told us (for tests and logs). */
  doneValues(): Record<string, number> {
    return Object.fromEntries(this.doneBy);
  }

  kill(): void {
    this.stopped = true;
    for (const p of this.proposals.values()) this.timers.clearTimeout(p.timer);
    this.proposals.clear();
  }

  /** Feeds one Paxos message from `src` (another peer) into this peer. */
  receive(src: string, body: PaxosMessage): void {
    if (this.stopped || !this.peers.includes(src) || src === this.me) return;
    if (!Number.isSafeInteger(body.seq) || typeof body.done !== "number") {
      this.options.log?.("ignoring malformed paxos message", body);
      return;
    }
    this.noteDone(src, body.done);
    const answer = this.handle(src, body);
    if (answer) this.options.send(src, answer);
  }

  // ------------------------------------------------------------------------------ messages

  private message(type: string, seq: number, fields: Record<string, unknown>): PaxosMessage {
    return { type, seq, done: this.doneBy.get(this.me) ?? -1, ...fields };
  }

  /** Our own acceptor first (persisting before anything leaves), then every other peer. */
  private broadcast(body: PaxosMessage): void {
    const own = this.handle(this.me, body);
    for (const peer of this.peers) if (peer !== this.me) this.options.send(peer, body);
    if (own) this.handle(this.me, own);
  }

  /** Handles a request (returning the answer) or an answer (returning undefined). */
  private handle(src: string, body: PaxosMessage): PaxosMessage | undefined {
    const seq = body.seq;
    switch (body.type) {
      case "px_prepare":
        return this.onPrepare(seq, body.ballot as Ballot);
      case "px_accept":
        return this.onAccept(seq, body.ballot as Ballot, body.value);
      case "px_decide":
        this.learn(seq, body.value);
        return undefined;
      case "px_done": // its done value was noted on receipt
        return undefined;
      case "px_promise":
        this.onPromise(src, body);
        return undefined;
      case "px_accepted":
        this.onAccepted(src, body);
        return undefined;
      default:
        this.options.log?.(`unknown paxos message type ${body.type}`);
        return undefined;
    }
  }

  private instance(seq: number): Instance {
    let inst = this.instances.get(seq);
    if (!inst) {
      inst = { acceptor: freshAcceptor(), decided: false };
      this.instances.set(seq, inst);
      this.noteSeq(seq);
    }
    return inst;
  }

  private onPrepare(seq: number, ballot: Ballot): PaxosMessage {
    if (seq < this.min())
      return this.message("px_promise", seq, { ballot, ok: false, forgotten: true });
    const inst = this.instance(seq);
    // A decided slot answers with its decision: the proposer learns in one round trip.
    if (inst.decided)
      return this.message("px_promise", seq, {
        ballot,
        ok: false,
        decided: true,
        value: inst.value,
      });
    const answer = acceptorPrepare(inst.acceptor, ballot);
    if (!answer.ok)
      return this.message("px_promise", seq, { ballot, ok: false, promised: answer.promised });
    this.options.storage.save(seq, inst, true);
    return this.message("px_promise", seq, {
      ballot,
      ok: true,
      accepted_ballot: answer.acceptedBallot,
      accepted_value: answer.acceptedValue,
    });
  }

  private onAccept(seq: number, ballot: Ballot, value: unknown): PaxosMessage {
    if (seq < this.min())
      return this.message("px_accepted", seq, { ballot, ok: false, forgotten: true });
    const inst = this.instance(seq);
    if (inst.decided)
      return this.message("px_accepted", seq, {
        ballot,
        ok: false,
        decided: true,
        value: inst.value,
      });
    if (!acceptorAccept(inst.acceptor, ballot, value, this.options.acceptLowerBallot)) {
      return this.message("px_accepted", seq, {
        ballot,
        ok: false,
        promised: inst.acceptor.promised,
      });
    }
    this.options.storage.save(seq, inst, true);
    return this.message("px_accepted", seq, { ballot, ok: true });
  }

  private onPromise(src: string, body: PaxosMessage): void {
    if (body.decided === true) {
      this.learn(body.seq, body.value);
      return;
    }
    if (body.forgotten === true) this.options.onForgotten?.(body.seq, src);
    const p = this.proposals.get(body.seq);
    if (p?.phase !== "prepare" || body.ballot !== p.ballot) return; // an old round's answer
    if (body.forgotten === true) {
      this.abandon(p, "peers have forgotten this slot");
      return;
    }
    if (body.ok === true) {
      p.promises.set(src, {
        acceptedBallot: body.accepted_ballot as Ballot,
        acceptedValue: body.accepted_value,
      });
      if (p.promises.size >= this.majority) {
        p.phase = "accept";
        p.acceptSent = true;
        p.value = chooseValue(p.promises.values(), p.own);
        this.broadcast(this.message("px_accept", p.seq, { ballot: p.ballot, value: p.value }));
      }
    } else {
      this.rejected(p, src, body.promised as Ballot);
    }
  }

  private onAccepted(src: string, body: PaxosMessage): void {
    if (body.decided === true) {
      this.learn(body.seq, body.value);
      return;
    }
    if (body.forgotten === true) this.options.onForgotten?.(body.seq, src);
    const p = this.proposals.get(body.seq);
    if (p?.phase !== "accept" || body.ballot !== p.ballot) return;
    if (body.forgotten === true) {
      this.abandon(p, "peers have forgotten this slot");
      return;
    }
    if (body.ok === true) {
      p.accepts.add(src);
      if (p.accepts.size >= this.majority) {
        const value = p.value;
        const seq = p.seq;
        // Chosen: tell the others, then ourselves (which ends the proposal and may start the
        // application's next one; the decide messages go out first either way).
        for (const peer of this.peers) {
          if (peer !== this.me) this.options.send(peer, this.message("px_decide", seq, { value }));
        }
        this.learn(seq, value);
      }
    } else {
      this.rejected(p, src, body.promised as Ballot);
    }
  }

  /** A higher ballot is out there; once a majority is impossible, back off and retry. */
  private rejected(p: Proposal, src: string, promised: Ballot): void {
    // A real refusal names a higher ballot; "promised == ours" is a duplicated prepare of ours.
    if (typeof promised !== "number" || !(promised > p.ballot)) return;
    p.highestSeen = Math.max(p.highestSeen, promised);
    p.rejects.add(src);
    if (p.yields && !p.acceptSent && p.phase === "prepare") {
      // Another proposer is ahead in this slot and none of our accepts went out: step aside
      // rather than duel (the duel costs both a backoff and often several rounds).
      this.timers.clearTimeout(p.timer);
      this.proposals.delete(p.seq);
      this.options.onYield?.(p.seq, p.own);
      return;
    }
    if (p.rejects.size > this.peers.length - this.majority) this.backoff(p);
  }

  // ------------------------------------------------------------------------------ proposer

  private round(p: Proposal): void {
    if (this.stopped || this.proposals.get(p.seq) !== p) return;
    this.timers.clearTimeout(p.timer);
    const local = this.instances.get(p.seq)?.acceptor.promised ?? NO_BALLOT;
    p.ballot = nextBallot(Math.max(p.highestSeen, local, p.ballot), this.index);
    p.phase = "prepare";
    p.promises.clear();
    p.rejects.clear();
    p.accepts.clear();
    p.attempt++;
    p.timer = this.timers.setTimeout(() => this.backoff(p), ROUND_TIMEOUT_MS);
    this.broadcast(this.message("px_prepare", p.seq, { ballot: p.ballot }));
  }

  private backoff(p: Proposal): void {
    if (this.proposals.get(p.seq) !== p || p.phase === "backoff") return;
    this.timers.clearTimeout(p.timer);
    p.phase = "backoff";
    const cap_ms = Math.min(BACKOFF_MAX_MS, BACKOFF_BASE_MS * 2 ** Math.min(p.attempt, 10));
    p.timer = this.timers.setTimeout(() => this.round(p), this.random() * cap_ms);
  }

  private abandon(p: Proposal, why: string): void {
    this.timers.clearTimeout(p.timer);
    this.proposals.delete(p.seq);
    this.options.log?.(`paxos: gave up on slot ${p.seq}: ${why}`);
    // The slot was decided without our value if none of our accepts went out: like a yield.
    if (p.yields && !p.acceptSent) this.options.onYield?.(p.seq, p.own);
  }

  // ------------------------------------------------------------------------------ learning

  private learn(seq: number, value: unknown): void {
    if (seq < this.min()) return;
    const inst = this.instance(seq);
    if (inst.decided) {
      if (JSON.stringify(inst.value) !== JSON.stringify(value)) {
        if (this.options.onConflict) this.options.onConflict(seq, inst.value, value);
        else {
          throw new Error(
            `paxos invariant broken: slot ${seq} decided twice, ${JSON.stringify(inst.value)} and ${JSON.stringify(value)}`,
          );
        }
      }
      return;
    }
    inst.decided = true;
    inst.value = value;
    // Not synced: a lost decision is learned again from the acceptors, which are durable.
    this.options.storage.save(seq, inst, false);
    const p = this.proposals.get(seq);
    if (p) {
      this.timers.clearTimeout(p.timer);
      this.proposals.delete(seq);
    }
    this.options.onDecide?.(seq, value);
  }

  private noteSeq(seq: number): void {
    if (seq > this.maxSeq) this.maxSeq = seq;
  }

  private noteDone(peer: string, done: number): void {
    if (done > (this.doneBy.get(peer) ?? -1)) {
      this.doneBy.set(peer, done);
      this.forget();
    }
  }

  /** Frees every slot below min(); rewrites storage now and then. */
  private forget(): void {
    const min = this.min();
    for (const seq of this.instances.keys()) if (seq < min) this.instances.delete(seq);
    const dropped = [...this.proposals.values()].filter((p) => p.seq < min);
    if (min - this.compactedAt >= COMPACT_EVERY_SLOTS) {
      this.options.storage.compact(min, this.instances);
      this.compactedAt = min;
      this.floor = Math.max(this.floor, min);
    }
    // Last: a yield callback may start the application's next proposal.
    for (const p of dropped) this.abandon(p, "every peer is done with this slot");
  }
}
