// raft-kv's pure parts: the log, the replication and election rules of Figure 2, and the state
// machine with its request dedup. No processes, no disk.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  candidateLogUpToDate,
  decideVote,
  electionTimeoutMs,
  majority,
} from "../../systems/lib/raft/election.js";
import { InvariantViolation } from "../../systems/lib/raft/invariant.js";
import { type LogEntry, RaftLog } from "../../systems/lib/raft/log.js";
import {
  followerAppend,
  leaderCommitIndex,
  nextIndexAfterRejection,
  quorumMatchIndex,
} from "../../systems/lib/raft/replication.js";
import { type KvCommand, KvStateMachine, parseOp } from "../../systems/raft-kv/state-machine.js";

/** A log holding entries with these terms (commands are "t<term>#<index>"). */
function logOf(terms: number[]): RaftLog<string> {
  const log = new RaftLog<string>();
  log.append(terms.map((term, i) => ({ term, cmd: `t${term}#${i + 1}` })));
  return log;
}

const termsOf = (log: RaftLog<string>) =>
  Array.from({ length: log.lastIndex - log.snapshotIndex }, (_, k) =>
    log.termAt(log.snapshotIndex + 1 + k),
  );

const same = (a: string, b: string) => a === b;

describe("RaftLog", () => {
  it("numbers entries from 1 and knows the term at every index it holds", () => {
    const log = logOf([1, 1, 2, 3, 3]);
    expect(log.lastIndex).toBe(5);
    expect(log.lastTerm).toBe(3);
    expect(log.termAt(0)).toBe(0);
    expect(log.termAt(3)).toBe(2);
    expect(log.termAt(6)).toBeUndefined();
    expect(log.entry(4).cmd).toBe("t3#4");
    expect(log.slice(2, 2).map((e) => e.cmd)).toEqual(["t1#2", "t2#3"]);
    expect(() => log.entry(6)).toThrow(InvariantViolation);
  });

  it("refuses an entry whose term is lower than the last one (terms never decrease)", () => {
    const log = logOf([1, 2]);
    expect(() => log.append([{ term: 1, cmd: "x" }])).toThrow(InvariantViolation);
  });

  it("finds where a term's run starts and where a term last appears", () => {
    const log = logOf([1, 1, 2, 2, 2, 4]);
    expect(log.firstIndexOfTermAt(5)).toBe(3);
    expect(log.firstIndexOfTermAt(1)).toBe(1);
    expect(log.lastIndexOfTerm(2)).toBe(5);
    expect(log.lastIndexOfTerm(3)).toBeUndefined();
    expect(log.lastIndexOfTerm(4)).toBe(6);
  });

  it("compacts a prefix into a snapshot and still answers about the snapshot's last entry", () => {
    const log = logOf([1, 1, 2, 2, 3]);
    log.compactTo(3);
    expect(log.snapshotIndex).toBe(3);
    expect(log.snapshotTerm).toBe(2);
    expect(log.termAt(3)).toBe(2);
    expect(log.termAt(2)).toBeUndefined();
    expect(log.lastIndex).toBe(5);
    expect(log.entry(4).cmd).toBe("t2#4");
    expect(() => log.entry(3)).toThrow(InvariantViolation);
    expect(() => log.truncateFrom(3)).toThrow(InvariantViolation);
    expect(log.firstIndexOfTermAt(4)).toBe(4); // the run does not reach into the snapshot
    expect(log.lastIndexOfTerm(2)).toBe(4);
  });

  it("installing a snapshot keeps the suffix only if the log holds the snapshot's last entry", () => {
    const kept = logOf([1, 1, 2, 2, 3]);
    kept.installSnapshot(3, 2);
    expect([kept.snapshotIndex, kept.lastIndex]).toEqual([3, 5]);
    const dropped = logOf([1, 1, 1, 1]);
    dropped.installSnapshot(3, 2);
    expect([dropped.snapshotIndex, dropped.lastIndex, dropped.lastTerm]).toEqual([3, 3, 2]);
    const shorter = logOf([1]);
    shorter.installSnapshot(3, 2);
    expect([shorter.snapshotIndex, shorter.lastIndex]).toEqual([3, 3]);
  });
});

describe("AppendEntries on a follower (Figure 2, receiver implementation)", () => {
  it("rejects when it has no entry at prevIndex, pointing the leader at its log's end", () => {
    const log = logOf([1, 1]);
    const r = followerAppend(
      log,
      { prevIndex: 4, prevTerm: 1, entries: [], leaderCommit: 0 },
      0,
      same,
    );
    expect(r).toEqual({ success: false, conflictIndex: 3, conflictTerm: undefined });
  });

  it("rejects a term mismatch at prevIndex with the first index of its conflicting term", () => {
    const log = logOf([1, 2, 2, 2]);
    const r = followerAppend(
      log,
      { prevIndex: 4, prevTerm: 3, entries: [], leaderCommit: 0 },
      1,
      same,
    );
    expect(r).toEqual({ success: false, conflictIndex: 2, conflictTerm: 2 });
    expect(log.lastIndex).toBe(4); // nothing deleted on a rejection
  });

  it("deletes a conflicting suffix and appends the leader's entries", () => {
    const log = logOf([1, 2, 2, 2]);
    const entries: LogEntry<string>[] = [
      { term: 3, cmd: "a" },
      { term: 3, cmd: "b" },
    ];
    const r = followerAppend(log, { prevIndex: 2, prevTerm: 2, entries, leaderCommit: 3 }, 1, same);
    expect(r).toEqual({
      success: true,
      matchIndex: 4,
      changedFrom: 3,
      truncatedFrom: 3,
      commitIndex: 3,
    });
    expect(termsOf(log)).toEqual([1, 2, 3, 3]);
  });

  it("keeps matching entries, so a stale or duplicated message never shortens the log", () => {
    const log = logOf([1, 1, 1, 1]);
    const old = [{ term: 1, cmd: "t1#2" }];
    const r = followerAppend(
      log,
      { prevIndex: 1, prevTerm: 1, entries: old, leaderCommit: 9 },
      0,
      same,
    );
    expect(r).toMatchObject({ success: true, matchIndex: 2, changedFrom: undefined });
    expect(log.lastIndex).toBe(4);
    // Commit only as far as this message proved the logs match (index 2), not to leaderCommit.
    expect(r.success && r.commitIndex).toBe(2);
  });

  it("never moves the commit index back", () => {
    const log = logOf([1, 1, 1]);
    const r = followerAppend(
      log,
      { prevIndex: 1, prevTerm: 1, entries: [], leaderCommit: 1 },
      3,
      same,
    );
    expect(r.success && r.commitIndex).toBe(3);
  });

  it("treats entries inside its snapshot as matching (they are committed)", () => {
    const log = logOf([1, 1, 2, 2]);
    log.compactTo(3);
    const entries = [
      { term: 1, cmd: "t1#2" },
      { term: 2, cmd: "t2#3" },
      { term: 2, cmd: "t2#4" },
      { term: 2, cmd: "new" },
    ];
    const r = followerAppend(log, { prevIndex: 1, prevTerm: 1, entries, leaderCommit: 0 }, 3, same);
    expect(r).toMatchObject({ success: true, matchIndex: 5, changedFrom: 5 });
    expect(log.entry(5).cmd).toBe("new");
    const inside = followerAppend(
      log,
      { prevIndex: 0, prevTerm: 0, entries: [{ term: 1, cmd: "t1#1" }], leaderCommit: 0 },
      3,
      same,
    );
    expect(inside).toMatchObject({ success: true, matchIndex: 1, changedFrom: undefined });
  });

  it("refuses to overwrite a committed entry (State Machine Safety)", () => {
    const log = logOf([1, 2, 2]);
    const entries = [{ term: 3, cmd: "x" }];
    expect(() =>
      followerAppend(log, { prevIndex: 1, prevTerm: 1, entries, leaderCommit: 0 }, 2, same),
    ).toThrow(/overwrites committed entry 2/);
    expect(() =>
      followerAppend(log, { prevIndex: 2, prevTerm: 3, entries: [], leaderCommit: 0 }, 2, same),
    ).toThrow(/committed/);
  });

  it("refuses a different command at the same index and term (Log Matching)", () => {
    const log = logOf([1, 1]);
    const entries = [{ term: 1, cmd: "not what we have" }];
    expect(() =>
      followerAppend(log, { prevIndex: 1, prevTerm: 1, entries, leaderCommit: 0 }, 0, same),
    ).toThrow(/Log Matching/);
  });

  it("property: any mix of duplicated and reordered messages from one leader leaves a prefix of its log", () => {
    // The leader's log: random terms, non-decreasing. Messages: random (prevIndex, count) windows.
    const arb = fc.record({
      steps: fc.array(fc.integer({ min: 0, max: 2 }), { minLength: 1, maxLength: 30 }),
      follower: fc.array(fc.integer({ min: 0, max: 2 }), { maxLength: 15 }),
      windows: fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 6 })), { maxLength: 40 }),
    });
    fc.assert(
      fc.property(arb, ({ steps, follower, windows }) => {
        // Leader terms are even and a diverging follower's are odd: in real Raft an entry that
        // differs from the leader's at an index always has a different term there.
        const leaderTerms: number[] = [];
        let t = 1;
        for (const d of steps) {
          t += d;
          leaderTerms.push(2 * t);
        }
        const leader = logOf(leaderTerms);
        // The follower's log shares a prefix with the leader's, then diverges with older terms.
        const shared = Math.min(follower.length, Math.floor(leaderTerms.length / 2));
        const log = logOf(leaderTerms.slice(0, shared));
        let ft = log.lastTerm + 1;
        for (const d of follower.slice(shared)) {
          ft += 2 * d;
          if (ft >= leader.lastTerm) break;
          log.append([{ term: ft, cmd: `stale${log.lastIndex + 1}` }]);
        }
        let commit = 0;
        for (const [start, count] of windows) {
          const prevIndex = start % (leader.lastIndex + 1);
          const entries = leader.slice(prevIndex + 1, count);
          const r = followerAppend(
            log,
            {
              prevIndex,
              prevTerm: leader.termAt(prevIndex) as number,
              entries,
              leaderCommit: leader.lastIndex,
            },
            commit,
            same,
          );
          if (r.success) commit = r.commitIndex;
          // Whatever happened: every entry up to the commit index equals the leader's.
          for (let i = 1; i <= commit; i++) expect(log.entry(i)).toEqual(leader.entry(i));
        }
        // A full catch-up from the last common point always succeeds and makes the logs equal.
        let next = log.lastIndex + 1;
        for (let guard = 0; guard < 100; guard++) {
          const prevIndex = Math.min(next, leader.lastIndex + 1) - 1;
          const r = followerAppend(
            log,
            {
              prevIndex,
              prevTerm: leader.termAt(prevIndex) as number,
              entries: leader.slice(prevIndex + 1),
              leaderCommit: leader.lastIndex,
            },
            commit,
            same,
          );
          if (r.success) break;
          next = Math.min(
            next - 1,
            nextIndexAfterRejection(leader, r.conflictIndex, r.conflictTerm),
          );
        }
        expect(termsOf(log)).toEqual(termsOf(leader));
      }),
      { numRuns: 300 },
    );
  });
});

describe("the leader's side", () => {
  it("backs up past the follower's conflicting term, or to its first index when it lacks that term", () => {
    const leader = logOf([1, 1, 2, 2, 4, 4]);
    expect(nextIndexAfterRejection(leader, 3, 2)).toBe(5); // we have term 2: resume after it
    expect(nextIndexAfterRejection(leader, 3, 3)).toBe(3); // no term 3 here: skip it whole
    expect(nextIndexAfterRejection(leader, 4, undefined)).toBe(4); // follower's log is short
  });

  it("takes the index a majority holds", () => {
    expect(quorumMatchIndex([5, 3, 9])).toBe(5);
    expect(quorumMatchIndex([5, 3, 9, 1, 2])).toBe(3);
    expect(quorumMatchIndex([7])).toBe(7);
    expect(quorumMatchIndex([4, 4, 0, 0])).toBe(0); // 4 nodes: 3 needed
  });

  it("commits by counting only entries of its own term (Figure 8)", () => {
    // Figure 8 (c): S1 leads term 4, its log is [1, 2]; entry 2 (term 2) is on S1, S2, S3.
    const log = logOf([1, 2]);
    expect(leaderCommitIndex(log, 4, 1, [2, 2, 2, 1, 1])).toBe(1);
    // The bug commits it, although S5 (term-3 entry at index 2) can still be elected.
    expect(leaderCommitIndex(log, 4, 1, [2, 2, 2, 1, 1], true)).toBe(2);
    // Once a term-4 entry is on a majority, it and everything before it commit.
    log.append([{ term: 4, cmd: "c" }]);
    expect(leaderCommitIndex(log, 4, 1, [3, 3, 3, 1, 1])).toBe(3);
    expect(leaderCommitIndex(log, 4, 3, [3, 1, 1, 1, 1])).toBe(3); // never backwards
  });
});

describe("election rules (Figure 2, RequestVote receiver; §5.4.1)", () => {
  const voter = { currentTerm: 5, votedFor: null, lastLogTerm: 3, lastLogIndex: 10 };
  const ask = (over: Partial<Parameters<typeof decideVote>[1]> = {}) => ({
    term: 5,
    candidate: "n1",
    lastLogTerm: 3,
    lastLogIndex: 10,
    ...over,
  });

  it("grants a vote to an up-to-date candidate of the current term, once", () => {
    expect(decideVote(voter, ask())).toEqual({ grant: true });
    expect(decideVote({ ...voter, votedFor: "n1" }, ask())).toEqual({ grant: true }); // a retry
    expect(decideVote({ ...voter, votedFor: "n2" }, ask())).toEqual({
      grant: false,
      reason: "already-voted",
    });
  });

  it("refuses a candidate from an older term", () => {
    expect(decideVote(voter, ask({ term: 4 }))).toEqual({ grant: false, reason: "stale-term" });
  });

  it("refuses a candidate whose log is behind: lower last term, or same term and shorter", () => {
    expect(decideVote(voter, ask({ lastLogTerm: 2, lastLogIndex: 99 }))).toMatchObject({
      reason: "log-behind",
    });
    expect(decideVote(voter, ask({ lastLogIndex: 9 }))).toMatchObject({ reason: "log-behind" });
    expect(decideVote(voter, ask({ lastLogTerm: 4, lastLogIndex: 1 }))).toEqual({ grant: true });
  });

  it("up-to-date is a total preorder on (last term, last index)", () => {
    const pos = fc.record({ lastLogTerm: fc.nat(5), lastLogIndex: fc.nat(5) });
    fc.assert(
      fc.property(pos, pos, (a, b) => {
        // at least one direction holds; both hold exactly when the positions are equal
        expect(candidateLogUpToDate(a, b) || candidateLogUpToDate(b, a)).toBe(true);
        const both = candidateLogUpToDate(a, b) && candidateLogUpToDate(b, a);
        expect(both).toBe(a.lastLogTerm === b.lastLogTerm && a.lastLogIndex === b.lastLogIndex);
      }),
    );
  });

  it("needs a strict majority", () => {
    expect([1, 2, 3, 4, 5, 6, 7].map(majority)).toEqual([1, 2, 2, 3, 3, 4, 4]);
  });

  it("draws election timeouts uniformly inside the configured range", () => {
    expect(electionTimeoutMs(() => 0, 300, 600)).toBe(300);
    expect(electionTimeoutMs(() => 0.999, 300, 600)).toBeCloseTo(599.7);
    expect(() => electionTimeoutMs(Math.random, 600, 300)).toThrow(RangeError);
  });
});

describe("the KV state machine", () => {
  const cmd = (client: string, id: number, body: Record<string, unknown>): KvCommand => ({
    client,
    id,
    op: parseOp(body as { type: string }),
  });

  it("implements lin-kv: read of a missing key is error 20, cas checks from", () => {
    const sm = new KvStateMachine();
    expect(sm.apply(cmd("c1", 1, { type: "read", key: 1 }))).toMatchObject({ code: 20 });
    expect(sm.apply(cmd("c1", 2, { type: "cas", key: 1, from: 0, to: 1 }))).toMatchObject({
      code: 20,
    });
    expect(sm.apply(cmd("c1", 3, { type: "write", key: 1, value: 2 }))).toEqual({
      type: "write_ok",
    });
    expect(sm.apply(cmd("c1", 4, { type: "cas", key: 1, from: 0, to: 1 }))).toMatchObject({
      code: 22,
    });
    expect(sm.apply(cmd("c1", 5, { type: "cas", key: 1, from: 2, to: 3 }))).toEqual({
      type: "cas_ok",
    });
    expect(sm.apply(cmd("c1", 6, { type: "read", key: 1 }))).toEqual({ type: "read_ok", value: 3 });
  });

  it("implements kv: get of a missing key is empty, append concatenates, put replaces", () => {
    const sm = new KvStateMachine();
    expect(sm.apply(cmd("c1", 1, { type: "get", key: "k" }))).toEqual({
      type: "get_ok",
      value: "",
    });
    sm.apply(cmd("c1", 2, { type: "append", key: "k", value: "a" }));
    sm.apply(cmd("c2", 1, { type: "append", key: "k", value: "b" }));
    expect(sm.query({ type: "get", key: "k" })).toEqual({ type: "get_ok", value: "ab" });
    sm.apply(cmd("c2", 2, { type: "put", key: "k", value: "p" }));
    expect(sm.query({ type: "get", key: "k" })).toEqual({ type: "get_ok", value: "p" });
  });

  it("applies a retried request once and answers it with the first reply", () => {
    const sm = new KvStateMachine();
    const append = cmd("c7", 3, { type: "append", key: "k", value: "x" });
    expect(sm.apply(append)).toEqual({ type: "append_ok" });
    expect(sm.apply(append)).toEqual({ type: "append_ok" });
    expect(sm.query({ type: "get", key: "k" })).toEqual({ type: "get_ok", value: "x" });
    sm.apply(cmd("c8", 1, { type: "write", key: 1, value: 0 }));
    const cas = cmd("c8", 2, { type: "cas", key: 1, from: 0, to: 4 });
    expect(sm.apply(cas)).toEqual({ type: "cas_ok" });
    expect(sm.apply(cas)).toEqual({ type: "cas_ok" }); // not 22: it is the same request
    // An older request of the same client, arriving late, is not applied at all.
    const late = sm.apply(cmd("c7", 2, { type: "append", key: "k", value: "late" }));
    expect(late).toMatchObject({ code: 13 });
    expect(sm.query({ type: "get", key: "k" })).toEqual({ type: "get_ok", value: "x" });
    expect(sm.appliedReply("c8", 2)).toEqual({ type: "cas_ok" });
    expect(sm.appliedReply("c8", 1)).toBeUndefined();
  });

  it("the no-dedup bug applies the retry again", () => {
    const sm = new KvStateMachine(false);
    const append = cmd("c7", 3, { type: "append", key: "k", value: "x" });
    sm.apply(append);
    sm.apply(append);
    expect(sm.query({ type: "get", key: "k" })).toEqual({ type: "get_ok", value: "xx" });
  });

  it("carries data and the dedup table through a snapshot", () => {
    const sm = new KvStateMachine();
    const append = cmd("c1", 1, { type: "append", key: "k", value: "x" });
    sm.apply(append);
    sm.apply(cmd("c1", 2, { type: "write", key: [1, "a"], value: { v: 1 } }));
    const copy = new KvStateMachine();
    copy.restore(JSON.parse(JSON.stringify(sm.snapshot())));
    expect(copy.apply(append)).toMatchObject({ code: 13 }); // superseded by c1's request 2
    expect(copy.query({ type: "get", key: "k" })).toEqual({ type: "get_ok", value: "x" });
    expect(copy.query({ type: "read", key: [1, "a"] })).toEqual({
      type: "read_ok",
      value: { v: 1 },
    });
    expect(() => copy.restore({ nope: 1 })).toThrow();
  });

  it("rejects malformed requests with 12 and unknown ones with 10", () => {
    expect(() => parseOp({ type: "write", key: 1 })).toThrow(expect.objectContaining({ code: 12 }));
    expect(() => parseOp({ type: "append", key: "k", value: 5 })).toThrow(
      expect.objectContaining({ code: 12 }),
    );
    expect(() => parseOp({ type: "frob" })).toThrow(expect.objectContaining({ code: 10 }));
  });
});
