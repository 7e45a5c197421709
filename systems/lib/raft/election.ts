// Election rules (Raft paper Figure 2, "RequestVote RPC" and "Rules for Servers"), as pure
// functions so they can be tested without a cluster. raft.ts applies them.

/** Votes (or acknowledgements) needed out of `clusterSize`: a strict majority. */
export function majority(clusterSize: number): number {
  return Math.floor(clusterSize / 2) + 1;
}

/**
 * Raft §5.4.1: a candidate's log is at least as up-to-date as ours if its last term is higher, or
 * the last terms are equal and its log is at least as long.
 */
export function candidateLogUpToDate(
  candidate: { lastLogTerm: number; lastLogIndex: number },
  ours: { lastLogTerm: number; lastLogIndex: number },
): boolean {
  if (candidate.lastLogTerm !== ours.lastLogTerm) return candidate.lastLogTerm > ours.lastLogTerm;
  return candidate.lastLogIndex >= ours.lastLogIndex;
}

export interface VoterState {
  /** Our term after adopting any higher term the request carried. */
  currentTerm: number;
  votedFor: string | null;
  lastLogTerm: number;
  lastLogIndex: number;
}

export interface VoteRequest {
  term: number;
  candidate: string;
  lastLogTerm: number;
  lastLogIndex: number;
}

export type VoteDecision =
  | { grant: true }
  | { grant: false; reason: "stale-term" | "already-voted" | "log-behind" };

/**
 * Whether to grant a vote. The caller has already adopted `req.term` if it was higher (which
 * clears votedFor); it must persist the vote before the reply leaves.
 */
export function decideVote(state: VoterState, req: VoteRequest): VoteDecision {
  if (req.term < state.currentTerm) return { grant: false, reason: "stale-term" };
  if (state.votedFor !== null && state.votedFor !== req.candidate) {
    return { grant: false, reason: "already-voted" };
  }
  if (!candidateLogUpToDate(req, state)) return { grant: false, reason: "log-behind" };
  return { grant: true };
}

/** A fresh randomized election timeout in [min_ms, max_ms) (Raft §5.2: avoids split votes). */
export function electionTimeoutMs(random: () => number, min_ms: number, max_ms: number): number {
  if (!(min_ms > 0 && max_ms > min_ms)) {
    throw new RangeError(`need 0 < min_ms < max_ms, got ${min_ms}, ${max_ms}`);
  }
  return min_ms + random() * (max_ms - min_ms);
}
