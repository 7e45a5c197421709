// Log replication rules (Raft paper Figure 2, "AppendEntries RPC" and the leader's rules), as
// functions over a RaftLog so they can be tested without a cluster. raft.ts applies them.
import { majority } from "./election.js";
import { invariant } from "./invariant.js";
import type { LogEntry, RaftLog } from "./log.js";

export interface AppendRequest<C> {
  prevIndex: number;
  prevTerm: number;
  entries: readonly LogEntry<C>[];
  leaderCommit: number;
}

export type AppendResult =
  | {
      success: true;
      /** The last index the leader now knows we hold: prevIndex + entries.length. */
      matchIndex: number;
      /** Lowest index whose entry changed (to persist from), or undefined if none did. */
      changedFrom: number | undefined;
      /** Set when a conflicting suffix was deleted: the first index removed. */
      truncatedFrom: number | undefined;
      /** Our new commit index (never lower than before). */
      commitIndex: number;
    }
  | {
      success: false;
      /** Fast backtracking (Raft §5.3, "optimization"): where the leader should try next. */
      conflictIndex: number;
      /** The term of our conflicting entry at prevIndex, if we have one there. */
      conflictTerm: number | undefined;
    };

/**
 * A follower's handling of AppendEntries from the current leader (the term check is done by the
 * caller). Mutates `log`. Entries we already hold with the same term are kept, so reordered or
 * duplicated messages never delete anything; only a real conflict truncates, and never at or
 * below our commit index (that would undo a committed entry: State Machine Safety).
 * `sameCommand` compares two commands, to check Log Matching: same index and term, same command.
 */
export function followerAppend<C>(
  log: RaftLog<C>,
  req: AppendRequest<C>,
  commitIndex: number,
  sameCommand: (a: C, b: C) => boolean,
): AppendResult {
  const matchIndex = req.prevIndex + req.entries.length;
  let prevIndex = req.prevIndex;
  let entries = req.entries;
  if (prevIndex < log.snapshotIndex) {
    // Our snapshot holds only committed entries, which every leader's log contains (Leader
    // Completeness), so the part of the request it covers matches; skip over it.
    const skip = log.snapshotIndex - prevIndex;
    if (skip >= entries.length) {
      return {
        success: true,
        matchIndex,
        changedFrom: undefined,
        truncatedFrom: undefined,
        commitIndex,
      };
    }
    entries = entries.slice(skip);
    prevIndex = log.snapshotIndex;
  } else {
    const ours = log.termAt(prevIndex);
    if (ours === undefined) {
      return { success: false, conflictIndex: log.lastIndex + 1, conflictTerm: undefined };
    }
    if (ours !== req.prevTerm) {
      invariant(
        prevIndex > commitIndex,
        () => `leader's entry ${prevIndex} has term ${req.prevTerm}, our committed one ${ours}`,
      );
      return {
        success: false,
        conflictIndex: log.firstIndexOfTermAt(prevIndex),
        conflictTerm: ours,
      };
    }
  }

  let changedFrom: number | undefined;
  let truncatedFrom: number | undefined;
  for (const [k, entry] of entries.entries()) {
    const index = prevIndex + 1 + k;
    const ours = log.termAt(index);
    if (ours === entry.term) {
      invariant(
        sameCommand(log.entry(index).cmd, entry.cmd),
        () => `entry ${index} of term ${entry.term} differs from the leader's (Log Matching)`,
      );
      continue;
    }
    if (ours !== undefined) {
      invariant(
        index > commitIndex,
        () => `leader overwrites committed entry ${index} (term ${ours} -> ${entry.term})`,
      );
      log.truncateFrom(index);
      truncatedFrom = index;
    }
    log.append(entries.slice(k));
    changedFrom = index;
    break;
  }
  // Figure 2, rule 5: commit up to what the leader committed, but only as far as this request
  // proved our log matches the leader's.
  const newCommit = Math.max(commitIndex, Math.min(req.leaderCommit, matchIndex));
  return { success: true, matchIndex, changedFrom, truncatedFrom, commitIndex: newCommit };
}

/**
 * Where a leader resumes replication after a rejection carrying the follower's conflict hint:
 * just past our last entry of the follower's conflicting term if we have that term, otherwise
 * at the first index of that term on the follower (or its log end).
 */
export function nextIndexAfterRejection<C>(
  log: RaftLog<C>,
  conflictIndex: number,
  conflictTerm: number | undefined,
): number {
  if (conflictTerm !== undefined) {
    const last = log.lastIndexOfTerm(conflictTerm);
    if (last !== undefined) return last + 1;
  }
  return Math.max(1, conflictIndex);
}

/** The highest index held by a majority, given every member's match index (the leader's too). */
export function quorumMatchIndex(matchIndexes: readonly number[]): number {
  const sorted = [...matchIndexes].sort((a, b) => b - a);
  return sorted[majority(matchIndexes.length) - 1] ?? 0;
}

/**
 * The leader's new commit index (Figure 2, last rule for leaders). An entry is committed by
 * counting replicas only if it is from the leader's current term (Raft §5.4.2, Figure 8); earlier
 * entries are committed indirectly by it. `allowOldTerm` is the commit-old-term bug.
 */
export function leaderCommitIndex<C>(
  log: RaftLog<C>,
  currentTerm: number,
  commitIndex: number,
  matchIndexes: readonly number[],
  allowOldTerm = false,
): number {
  const n = Math.min(quorumMatchIndex(matchIndexes), log.lastIndex);
  if (n <= commitIndex) return commitIndex;
  if (allowOldTerm || log.termAt(n) === currentTerm) return n;
  return commitIndex;
}
