// The deliberately wrong variants (`--bug NAME`). Each is one small, realistic mistake; the
// flags below switch exactly that mistake on. Descriptions live in manifest.json and README.md.

export const BUGS = [
  "stale-read",
  "no-persist-vote",
  "commit-old-term",
  "no-dedup",
  "early-ack",
  "no-fsync",
] as const;

export type BugName = (typeof BUGS)[number];

export interface BugFlags {
  /** The leader answers reads from its own state, without checking it is still the leader. */
  staleRead: boolean;
  /** votedFor is kept in memory only; currentTerm and the log are persisted. */
  noPersistVote: boolean;
  /** The leader commits any entry stored on a majority, whatever its term (Figure 8). */
  commitOldTerm: boolean;
  /** Requests are applied every time they reach the log, retries and duplicates included. */
  noDedup: boolean;
  /** write/put/append are acknowledged once in the leader's own log, before they commit. */
  earlyAck: boolean;
  /** Durable state goes to a user-space buffer written out lazily and never fsynced. */
  noFsync: boolean;
}

export function isBugName(name: string): name is BugName {
  return (BUGS as readonly string[]).includes(name);
}

export function bugFlags(bug: BugName | undefined): BugFlags {
  return {
    staleRead: bug === "stale-read",
    noPersistVote: bug === "no-persist-vote",
    commitOldTerm: bug === "commit-old-term",
    noDedup: bug === "no-dedup",
    earlyAck: bug === "early-ack",
    noFsync: bug === "no-fsync",
  };
}
