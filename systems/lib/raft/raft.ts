// The Raft core (Ongaro & Ousterhout, Figure 2): roles and terms, timers, the three RPCs, the
// commit rule, applying committed entries to the state machine, and snapshots. The rules
// themselves are in election.ts and replication.ts; durable state goes through storage.ts.
//
// Persistence before communication: every outgoing message waits in an outbox until the state
// it depends on is durable. Handlers change state and stage records; one deferred `flush` per
// turn of the event loop then writes and fsyncs everything staged (one fsync for all the
// messages processed in that turn: group commit) and only then sends the outbox. So a vote, an
// acknowledgement of entries or a new term can never be seen by a peer and then forgotten.
import type { Body } from "../maelstrom-node.js";
import type { StateMachine } from "../replicated.js";
import { decideVote, electionTimeoutMs, majority } from "./election.js";
import { invariant } from "./invariant.js";
import type { LogEntry, RaftLog } from "./log.js";
import {
  type AppendEntries,
  type AppendEntriesReply,
  type InstallSnapshot,
  type InstallSnapshotReply,
  parseRaftMessage,
  type RaftMessage,
  type RequestVote,
  type RequestVoteReply,
} from "./messages.js";
import { followerAppend, leaderCommitIndex, nextIndexAfterRejection } from "./replication.js";
import type { SnapshotRecord, Storage } from "./storage.js";

/** The Raft-level planted bugs (`systems/raft-kv/bugs.ts` names them). */
export interface RaftBugFlags {
  /** The leader commits any entry stored on a majority, whatever its term (Figure 8). */
  commitOldTerm: boolean;
}

export interface RaftOptions {
  electionTimeoutMinMs: number;
  electionTimeoutMaxMs: number;
  heartbeatIntervalMs: number;
  /** Take a snapshot once this many applied entries are not yet in one. */
  snapshotThresholdEntries: number;
  /** Also compact once the write-ahead file has grown this much since the last compaction. */
  maxWalGrowthBytes: number;
  /** At most this many entries in one AppendEntries message. */
  maxEntriesPerAppend: number;
  /** Do not send a lagging follower the snapshot more often than this. */
  snapshotResendIntervalMs: number;
}

export const DEFAULT_RAFT_OPTIONS: RaftOptions = {
  electionTimeoutMinMs: 300,
  electionTimeoutMaxMs: 600,
  heartbeatIntervalMs: 60,
  snapshotThresholdEntries: 200,
  maxWalGrowthBytes: 4 * 1024 * 1024,
  maxEntriesPerAppend: 256,
  snapshotResendIntervalMs: 300,
};

/** Missed heartbeats after which a follower stops sending client requests to its leader. */
export const LEADER_SILENCE_HEARTBEATS = 3;

/** What the core needs from the outside world; node.ts wires it to the process, tests to fakes. */
export interface RaftIo {
  send(dest: string, body: Body): void;
  setTimer(delay_ms: number, callback: () => void): unknown;
  clearTimer(handle: unknown): void;
  /** Runs `callback` soon, after the current batch of input (setImmediate). */
  defer(callback: () => void): void;
  /** Monotonic milliseconds (never the wall clock, which the clock nemesis moves). */
  now_ms(): number;
  random(): number;
  log(text: string): void;
}

export type { StateMachine } from "../replicated.js";

export type Role = "follower" | "candidate" | "leader";

/** How a proposed entry ended, as seen by the node that proposed it. */
export type Outcome<R> =
  | { kind: "applied"; result: R }
  /** Another entry took its index: this copy never takes effect. */
  | { kind: "overwritten" }
  /** A snapshot from the leader covered it: applied or not, the log cannot tell. */
  | { kind: "compacted" }
  | { kind: "timeout" };

interface Waiter<R> {
  term: number;
  resolve: (outcome: Outcome<R>) => void;
  timer: unknown;
}

export class RaftNode<C, R = unknown> {
  role: Role = "follower";
  currentTerm = 0;
  votedFor: string | null = null;
  /** The leader of currentTerm, once known. */
  leaderId: string | undefined;
  /** When we last heard from leaderId (monotonic ms). */
  private leaderHeardAt = Number.NEGATIVE_INFINITY;
  commitIndex = 0;
  lastApplied = 0;
  readonly log: RaftLog<C>;

  private readonly peers: string[];
  private votes = new Set<string>();
  /** Peers that answered our RequestVote in the current term (granted or not). */
  private voteAnswers = new Set<string>();
  private readonly nextIndex = new Map<string, number>();
  private readonly matchIndex = new Map<string, number>();
  /** Peers whose position is uncertain after a rejection: no pipelining until they answer. */
  private readonly probing = new Set<string>();
  private readonly snapshotSentAt = new Map<string, number>();
  /** When each peer last answered us in our current term as leader (monotonic ms). */
  private readonly heardFrom = new Map<string, number>();
  /** The latest snapshot, kept to send to lagging followers. */
  private snapshot: SnapshotRecord;
  /** The highest log index known to be on our own disk (the leader's own "match index"). */
  private durableIndex = 0;

  private outbox: Array<[string, Body]> = [];
  private flushScheduled = false;
  private hardDirty = false;
  /** Lowest log index changed since the last sync (Infinity: none). */
  private logDirtyFrom = Number.POSITIVE_INFINITY;
  private replicateDue = false;
  private electionTimer: unknown;
  private heartbeatTimer: unknown;
  private voteRetryTimer: unknown;
  private readonly waiters = new Map<number, Waiter<R>>();
  private durableWaiters: Array<{ index: number; resolve: () => void }> = [];
  private readonly leaderListeners = new Set<() => void>();
  private stopped = false;

  constructor(
    readonly id: string,
    readonly ids: readonly string[],
    private readonly io: RaftIo,
    private readonly storage: Storage<C>,
    private readonly sm: StateMachine<C>,
    private readonly isCommand: (cmd: unknown) => cmd is C,
    private readonly bugs: RaftBugFlags,
    private readonly options: RaftOptions = DEFAULT_RAFT_OPTIONS,
  ) {
    invariant(ids.includes(id), `${id} is not in the cluster ${ids.join(",")}`);
    this.peers = ids.filter((n) => n !== id);
    const recovered = storage.recover();
    if (recovered.tornBytes > 0) {
      io.log(`cut a torn write of ${recovered.tornBytes} bytes off ${storage.path}`);
    }
    this.log = recovered.log;
    this.currentTerm = recovered.hard.term;
    this.votedFor = recovered.hard.vote;
    this.snapshot = recovered.snapshot ?? { index: 0, term: 0, state: sm.snapshot() };
    if (recovered.snapshot) sm.restore(recovered.snapshot.state);
    this.lastApplied = this.snapshot.index;
    this.commitIndex = Math.max(this.snapshot.index, recovered.hard.commit);
    this.durableIndex = this.log.lastIndex;
    io.log(
      `recovered term ${this.currentTerm}, vote ${this.votedFor}, log (${this.log.snapshotIndex}, ${this.log.lastIndex}], commit ${this.commitIndex} from ${recovered.records} records`,
    );
    this.applyCommitted();
  }

  /** Starts the election timer; call once the node knows its peers. */
  start(): void {
    this.resetElectionTimer();
  }

  /** Stops every timer (tests; a real node just exits). */
  stop(): void {
    this.stopped = true;
    this.io.clearTimer(this.electionTimer);
    this.io.clearTimer(this.heartbeatTimer);
    this.io.clearTimer(this.voteRetryTimer);
    for (const [index, w] of this.waiters) {
      this.io.clearTimer(w.timer);
      this.waiters.delete(index);
    }
  }

  get isLeader(): boolean {
    return this.role === "leader";
  }

  /**
   * The leader to send client requests to: a peer whose heartbeats still arrive (we heard from
   * it within LEADER_SILENCE_HEARTBEATS intervals). One that has gone quiet is probably cut off
   * from us, and a request sent to it would only time out with an unknown outcome.
   */
  get reachableLeader(): string | undefined {
    if (this.leaderId === undefined || this.leaderId === this.id) return undefined;
    const silence_ms = LEADER_SILENCE_HEARTBEATS * this.options.heartbeatIntervalMs;
    return this.io.now_ms() - this.leaderHeardAt < silence_ms ? this.leaderId : undefined;
  }

  // ---------------------------------------------------------------------------------------------
  // Client side: proposing commands and waiting for them.

  /**
   * Appends a command if we are the leader and a majority answered us within the last election
   * timeout; its (index, term), or undefined if not. A leader cut off from its majority has
   * probably been replaced: refusing lets the client hear a definite "not done" (error 11)
   * instead of waiting for an entry that will never commit (an indefinite timeout).
   */
  propose(cmd: C): { index: number; term: number } | undefined {
    if (this.role !== "leader" || !this.hasQuorumContact()) return undefined;
    const entry: LogEntry<C> = { term: this.currentTerm, cmd };
    this.log.append([entry]);
    const index = this.log.lastIndex;
    this.logDirtyFrom = Math.min(this.logDirtyFrom, index);
    this.replicateDue = true;
    this.scheduleFlush();
    return { index, term: this.currentTerm };
  }

  /** Resolves when the entry at (index, term) is applied, lost, or `timeout_ms` passes. */
  waitApplied(index: number, term: number, timeout_ms: number): Promise<Outcome<R>> {
    invariant(!this.waiters.has(index), () => `two waiters for index ${index}`);
    return new Promise((resolve) => {
      const timer = this.io.setTimer(Math.max(0, timeout_ms), () => {
        this.waiters.delete(index);
        resolve({ kind: "timeout" });
      });
      this.waiters.set(index, { term, resolve, timer });
    });
  }

  /** Resolves once the entry at `index` is on our own disk (the early-ack bug's "done"). */
  waitDurable(index: number): Promise<void> {
    if (index <= this.durableIndex) return Promise.resolve();
    return new Promise((resolve) => this.durableWaiters.push({ index, resolve }));
  }

  /** Resolves when a leader becomes known (or changes), or after `timeout_ms`. */
  waitForLeader(timeout_ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        this.leaderListeners.delete(done);
        this.io.clearTimer(timer);
        resolve();
      };
      const timer = this.io.setTimer(Math.max(0, timeout_ms), done);
      this.leaderListeners.add(done);
    });
  }

  // ---------------------------------------------------------------------------------------------
  // Messages.

  /** Handles a Raft message from `src`; malformed ones are dropped with a log line. */
  handle(src: string, body: Body): void {
    if (this.stopped) return;
    if (!this.peers.includes(src)) {
      this.io.log(`dropped ${body.type} from ${src}, which is not a peer`);
      return;
    }
    const msg = parseRaftMessage<C>(body, this.isCommand);
    if (!msg) {
      this.io.log(`dropped a malformed ${body.type} from ${src}`);
      return;
    }
    // Figure 2, all servers: a higher term in any message makes us a follower of that term.
    if (msg.term > this.currentTerm) this.becomeFollower(msg.term);
    this.dispatch(src, msg);
    this.scheduleFlush();
  }

  private dispatch(src: string, msg: RaftMessage<C>): void {
    switch (msg.type) {
      case "request_vote":
        this.onRequestVote(src, msg);
        break;
      case "request_vote_reply":
        this.onVoteReply(src, msg);
        break;
      case "append_entries":
        this.onAppendEntries(src, msg);
        break;
      case "append_entries_reply":
        this.onAppendReply(src, msg);
        break;
      case "install_snapshot":
        this.onInstallSnapshot(src, msg);
        break;
      case "install_snapshot_reply":
        this.onSnapshotReply(src, msg);
        break;
    }
  }

  private send(dest: string, body: Body): void {
    this.outbox.push([dest, body]);
    this.scheduleFlush();
  }

  // ---------------------------------------------------------------------------------------------
  // Elections.

  private becomeFollower(term: number): void {
    invariant(
      term >= this.currentTerm,
      () => `term going back from ${this.currentTerm} to ${term}`,
    );
    if (term > this.currentTerm) {
      this.currentTerm = term;
      this.votedFor = null;
      this.leaderId = undefined;
      this.hardDirty = true;
    }
    if (this.role === "leader") {
      this.io.clearTimer(this.heartbeatTimer);
      this.heartbeatTimer = undefined;
      this.io.log(`stepping down in term ${this.currentTerm}`);
    }
    if (this.role !== "follower") this.resetElectionTimer();
    this.role = "follower";
  }

  private resetElectionTimer(): void {
    this.io.clearTimer(this.electionTimer);
    const { electionTimeoutMinMs: min, electionTimeoutMaxMs: max } = this.options;
    const timeout_ms = electionTimeoutMs(() => this.io.random(), min, max);
    this.electionTimer = this.io.setTimer(timeout_ms, () => this.startElection());
  }

  private startElection(): void {
    if (this.stopped || this.role === "leader") return;
    this.currentTerm++;
    this.role = "candidate";
    this.votedFor = this.id;
    this.leaderId = undefined;
    this.votes = new Set([this.id]);
    this.voteAnswers = new Set();
    this.hardDirty = true;
    this.resetElectionTimer();
    this.io.log(`election for term ${this.currentTerm}`);
    if (this.votes.size >= majority(this.ids.length)) {
      this.becomeLeader();
    } else {
      this.requestVotes(this.currentTerm);
    }
    this.scheduleFlush();
  }

  /**
   * Sends RequestVote to every peer that has not answered in `term`, and again every heartbeat
   * interval while we are still its candidate (Raft §5.1: servers retry RPCs that get no response;
   * a peer that was down or cut off when the election began can still vote).
   */
  private requestVotes(term: number): void {
    if (this.stopped || this.role !== "candidate" || this.currentTerm !== term) return;
    const request: RequestVote = {
      type: "request_vote",
      term,
      last_log_index: this.log.lastIndex,
      last_log_term: this.log.lastTerm,
    };
    // Sent after the flush has made our new term and self-vote durable.
    for (const peer of this.peers) {
      if (!this.voteAnswers.has(peer)) this.send(peer, request as unknown as Body);
    }
    this.scheduleFlush();
    this.io.clearTimer(this.voteRetryTimer);
    this.voteRetryTimer = this.io.setTimer(this.options.heartbeatIntervalMs, () =>
      this.requestVotes(term),
    );
  }

  private onRequestVote(src: string, req: RequestVote): void {
    const decision = decideVote(
      {
        currentTerm: this.currentTerm,
        votedFor: this.votedFor,
        lastLogTerm: this.log.lastTerm,
        lastLogIndex: this.log.lastIndex,
      },
      {
        term: req.term,
        candidate: src,
        lastLogTerm: req.last_log_term,
        lastLogIndex: req.last_log_index,
      },
    );
    if (decision.grant) {
      invariant(this.role === "follower", () => `${this.role} granting a vote in its own term`);
      if (this.votedFor !== src) {
        this.votedFor = src;
        this.hardDirty = true;
      }
      this.resetElectionTimer();
    }
    const reply: RequestVoteReply = {
      type: "request_vote_reply",
      term: this.currentTerm,
      granted: decision.grant,
    };
    this.send(src, reply as unknown as Body);
  }

  private onVoteReply(src: string, reply: RequestVoteReply): void {
    if (this.role !== "candidate" || reply.term !== this.currentTerm) return;
    this.voteAnswers.add(src);
    if (!reply.granted) return;
    this.votes.add(src);
    if (this.votes.size >= majority(this.ids.length)) this.becomeLeader();
  }

  private becomeLeader(): void {
    invariant(this.role === "candidate", () => `${this.role} becoming leader`);
    invariant(
      this.votes.size >= majority(this.ids.length),
      () => `leader with ${this.votes.size} votes of ${this.ids.length}`,
    );
    this.role = "leader";
    this.leaderId = this.id;
    this.io.clearTimer(this.electionTimer);
    this.electionTimer = undefined;
    const now = this.io.now_ms();
    for (const peer of this.peers) {
      this.nextIndex.set(peer, this.log.lastIndex + 1);
      this.matchIndex.set(peer, 0);
      this.probing.add(peer);
      this.snapshotSentAt.delete(peer);
      // Our voters just answered; the rest get the benefit of the doubt for one timeout.
      this.heardFrom.set(peer, now);
    }
    this.io.log(`leader of term ${this.currentTerm} with votes ${[...this.votes].join(",")}`);
    this.scheduleHeartbeat();
    this.replicateDue = true;
    this.scheduleFlush();
    this.notifyLeader();
  }

  private notifyLeader(): void {
    for (const listener of [...this.leaderListeners]) listener();
  }

  /** Accepts `src` as the leader of currentTerm; two leaders in one term is a safety violation. */
  private recognizeLeader(src: string): void {
    invariant(
      this.role !== "leader",
      () => `two leaders in term ${this.currentTerm}: us and ${src} (Election Safety)`,
    );
    invariant(
      this.leaderId === undefined || this.leaderId === src,
      () =>
        `two leaders in term ${this.currentTerm}: ${this.leaderId} and ${src} (Election Safety)`,
    );
    if (this.role === "candidate") this.becomeFollower(this.currentTerm);
    const changed = this.leaderId !== src;
    this.leaderId = src;
    this.leaderHeardAt = this.io.now_ms();
    this.resetElectionTimer();
    if (changed) this.notifyLeader();
  }

  // ---------------------------------------------------------------------------------------------
  // Replication, leader side.

  private scheduleHeartbeat(): void {
    this.heartbeatTimer = this.io.setTimer(this.options.heartbeatIntervalMs, () => {
      if (this.stopped || this.role !== "leader") return;
      this.replicateDue = true;
      this.scheduleFlush();
      this.scheduleHeartbeat();
    });
  }

  /** One AppendEntries (or the snapshot) to each peer, from its nextIndex. */
  private replicateToAll(): void {
    this.replicateDue = false;
    if (this.role !== "leader") return;
    for (const peer of this.peers) this.replicateTo(peer);
  }

  /** Whether a majority (us included) answered within electionTimeoutMinMs. */
  private hasQuorumContact(): boolean {
    const since = this.io.now_ms() - this.options.electionTimeoutMinMs;
    let count = 1;
    for (const peer of this.peers) if ((this.heardFrom.get(peer) ?? -Infinity) >= since) count++;
    return count >= majority(this.ids.length);
  }

  private replicateTo(peer: string): void {
    const next = this.nextIndex.get(peer) as number;
    if (next <= this.log.snapshotIndex) {
      const sentAt = this.snapshotSentAt.get(peer);
      const now = this.io.now_ms();
      if (sentAt !== undefined && now - sentAt < this.options.snapshotResendIntervalMs) return;
      this.snapshotSentAt.set(peer, now);
      const msg: InstallSnapshot = {
        type: "install_snapshot",
        term: this.currentTerm,
        last_index: this.snapshot.index,
        last_term: this.snapshot.term,
        state: this.snapshot.state,
      };
      this.outbox.push([peer, msg as unknown as Body]);
      return;
    }
    const prevIndex = next - 1;
    const entries = this.log.slice(next, this.options.maxEntriesPerAppend);
    const msg: AppendEntries<C> = {
      type: "append_entries",
      term: this.currentTerm,
      prev_index: prevIndex,
      prev_term: this.log.termAt(prevIndex) as number,
      entries,
      leader_commit: this.commitIndex,
    };
    this.outbox.push([peer, msg as unknown as Body]);
    // Pipelining: assume it arrives and send the following entries next time, unless this
    // peer's position is uncertain (then the same entries go again with the next heartbeat).
    if (!this.probing.has(peer)) this.nextIndex.set(peer, next + entries.length);
  }

  private onAppendReply(src: string, reply: AppendEntriesReply): void {
    if (this.role !== "leader" || reply.term !== this.currentTerm) return;
    this.heardFrom.set(src, this.io.now_ms());
    const match = this.matchIndex.get(src) as number;
    if (reply.success) {
      invariant(
        reply.match_index <= this.log.lastIndex,
        () => `${src} claims to match ${reply.match_index}, past our end ${this.log.lastIndex}`,
      );
      this.probing.delete(src);
      if (reply.match_index > match) this.matchIndex.set(src, reply.match_index);
      const next = Math.max(this.nextIndex.get(src) as number, reply.match_index + 1);
      this.nextIndex.set(src, next);
      this.advanceCommit();
      if (next <= this.log.lastIndex) this.replicateTo(src);
      return;
    }
    const conflictTerm = reply.conflict_term ?? undefined;
    const next = Math.max(
      match + 1,
      nextIndexAfterRejection(this.log, reply.conflict_index, conflictTerm),
    );
    // A rejection of the message we sent last always points below nextIndex; one that does not
    // answers an older message and says nothing new (and following it could loop).
    if (next >= (this.nextIndex.get(src) as number)) return;
    this.nextIndex.set(src, next);
    this.probing.add(src);
    this.replicateTo(src);
  }

  private onSnapshotReply(src: string, reply: InstallSnapshotReply): void {
    if (this.role !== "leader" || reply.term !== this.currentTerm) return;
    this.heardFrom.set(src, this.io.now_ms());
    const match = Math.min(reply.match_index, this.log.lastIndex);
    if (match > (this.matchIndex.get(src) as number)) this.matchIndex.set(src, match);
    this.nextIndex.set(src, Math.max(this.nextIndex.get(src) as number, match + 1));
    this.probing.delete(src);
    this.snapshotSentAt.delete(src);
    this.advanceCommit();
    if ((this.nextIndex.get(src) as number) <= this.log.lastIndex) this.replicateTo(src);
  }

  private advanceCommit(): void {
    if (this.role !== "leader") return;
    const matches = [this.durableIndex, ...this.peers.map((p) => this.matchIndex.get(p) as number)];
    const commit = leaderCommitIndex(
      this.log,
      this.currentTerm,
      this.commitIndex,
      matches,
      this.bugs.commitOldTerm,
    );
    if (commit > this.commitIndex) this.setCommitIndex(commit);
  }

  private setCommitIndex(commit: number): void {
    invariant(commit >= this.commitIndex, () => `commit index going back to ${commit}`);
    invariant(commit <= this.log.lastIndex, () => `commit ${commit} past the log end`);
    this.commitIndex = commit;
    this.hardDirty = true;
    this.applyCommitted();
  }

  // ---------------------------------------------------------------------------------------------
  // Replication, follower side.

  private onAppendEntries(src: string, req: AppendEntries<C>): void {
    const reply: AppendEntriesReply = {
      type: "append_entries_reply",
      term: this.currentTerm,
      success: false,
      match_index: 0,
      conflict_index: 0,
      conflict_term: null,
    };
    if (req.term < this.currentTerm) {
      this.send(src, reply as unknown as Body);
      return;
    }
    this.recognizeLeader(src);
    const result = followerAppend(
      this.log,
      {
        prevIndex: req.prev_index,
        prevTerm: req.prev_term,
        entries: req.entries,
        leaderCommit: req.leader_commit,
      },
      this.commitIndex,
      (a, b) => JSON.stringify(a) === JSON.stringify(b),
    );
    if (!result.success) {
      reply.conflict_index = result.conflictIndex;
      reply.conflict_term = result.conflictTerm ?? null;
      this.send(src, reply as unknown as Body);
      return;
    }
    if (result.truncatedFrom !== undefined) this.dropWaitersFrom(result.truncatedFrom);
    if (result.changedFrom !== undefined) {
      this.logDirtyFrom = Math.min(this.logDirtyFrom, result.changedFrom);
    }
    if (result.commitIndex > this.commitIndex) this.setCommitIndex(result.commitIndex);
    reply.success = true;
    reply.match_index = result.matchIndex;
    // The outbox goes out after the flush: the leader hears "I have it" only once it is on disk.
    this.send(src, reply as unknown as Body);
  }

  private onInstallSnapshot(src: string, req: InstallSnapshot): void {
    const reply: InstallSnapshotReply = {
      type: "install_snapshot_reply",
      term: this.currentTerm,
      match_index: 0,
    };
    if (req.term < this.currentTerm) {
      this.send(src, reply as unknown as Body);
      return;
    }
    this.recognizeLeader(src);
    if (req.last_index > this.commitIndex) {
      // Keep the entries after the snapshot only if our log holds its last entry (Figure 13).
      const matchesOurs = this.log.termAt(req.last_index) === req.last_term;
      this.sm.restore(req.state);
      this.log.installSnapshot(req.last_index, req.last_term);
      this.snapshot = { index: req.last_index, term: req.last_term, state: req.state };
      this.commitIndex = req.last_index;
      this.lastApplied = req.last_index;
      if (!matchesOurs) this.dropWaitersFrom(req.last_index + 1);
      this.compactWaitersUpTo(req.last_index);
      // Durable before the reply; everything staged so far is subsumed by the rewrite.
      this.logDirtyFrom = Number.POSITIVE_INFINITY;
      this.hardDirty = false;
      this.storage.rewrite(this.snapshot, this.hardState(), this.log);
      this.durableIndex = this.log.lastIndex;
      this.io.log(`installed a snapshot up to ${req.last_index} from ${src}`);
    }
    reply.match_index = req.last_index;
    this.send(src, reply as unknown as Body);
  }

  // ---------------------------------------------------------------------------------------------
  // Applying, snapshots, waiters.

  private applyCommitted(): void {
    invariant(this.lastApplied <= this.commitIndex, "applied past the commit index");
    while (this.lastApplied < this.commitIndex) {
      const index = this.lastApplied + 1;
      const entry = this.log.entry(index);
      const result = this.sm.apply(entry.cmd, index) as R;
      this.lastApplied = index;
      const waiter = this.waiters.get(index);
      if (waiter) {
        this.waiters.delete(index);
        this.io.clearTimer(waiter.timer);
        waiter.resolve(
          waiter.term === entry.term ? { kind: "applied", result } : { kind: "overwritten" },
        );
      }
    }
  }

  /** Entries from `from` on were replaced: whoever waits for them waits in vain. */
  private dropWaitersFrom(from: number): void {
    for (const [index, w] of this.waiters) {
      if (index < from) continue;
      this.waiters.delete(index);
      this.io.clearTimer(w.timer);
      w.resolve({ kind: "overwritten" });
    }
  }

  private compactWaitersUpTo(last: number): void {
    for (const [index, w] of this.waiters) {
      if (index > last) continue;
      this.waiters.delete(index);
      this.io.clearTimer(w.timer);
      w.resolve({ kind: "compacted" });
    }
  }

  private maybeSnapshot(): void {
    const unsnapshotted = this.lastApplied - this.log.snapshotIndex;
    const grown = this.storage.bytesSinceRewrite > this.options.maxWalGrowthBytes;
    if (unsnapshotted < this.options.snapshotThresholdEntries && !grown) return;
    if (unsnapshotted > 0) {
      const term = this.log.termAt(this.lastApplied) as number;
      this.snapshot = { index: this.lastApplied, term, state: this.sm.snapshot() };
      this.log.compactTo(this.lastApplied);
    }
    this.storage.rewrite(this.snapshot, this.hardState(), this.log);
    this.hardDirty = false;
  }

  private hardState() {
    return { term: this.currentTerm, vote: this.votedFor, commit: this.commitIndex };
  }

  // ---------------------------------------------------------------------------------------------
  // The flush: persist, then act on what is now durable, then talk.

  private scheduleFlush(): void {
    if (this.flushScheduled || this.stopped) return;
    this.flushScheduled = true;
    this.io.defer(() => this.flush());
  }

  private flush(): void {
    this.flushScheduled = false;
    if (this.stopped) return;
    if (this.logDirtyFrom !== Number.POSITIVE_INFINITY) {
      const from = Math.max(this.logDirtyFrom, this.log.snapshotIndex + 1);
      this.storage.stageEntries(from, from <= this.log.lastIndex ? this.log.slice(from) : []);
      this.logDirtyFrom = Number.POSITIVE_INFINITY;
    }
    if (this.hardDirty) {
      this.storage.stageHardState(this.hardState());
      this.hardDirty = false;
    }
    this.storage.sync();
    this.durableIndex = this.log.lastIndex;
    if (this.durableWaiters.length > 0) {
      const ready = this.durableWaiters.filter((w) => w.index <= this.durableIndex);
      this.durableWaiters = this.durableWaiters.filter((w) => w.index > this.durableIndex);
      for (const w of ready) w.resolve();
    }
    this.advanceCommit();
    this.maybeSnapshot();
    if (this.replicateDue) this.replicateToAll();
    const out = this.outbox;
    this.outbox = [];
    for (const [dest, body] of out) this.io.send(dest, body);
    // A commit index advanced just now is persisted by the next flush; it is only a hint.
    if (this.hardDirty) this.scheduleFlush();
  }
}
