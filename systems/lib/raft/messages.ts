// The node-to-node protocol of raft-kv: Raft's three RPCs as one-way messages (each reply is a
// message of its own, matched by term and content rather than by msg_id, so duplicated,
// reordered and late messages are all harmless), and the forwarding of client requests to the
// leader. Parsers check shapes, because a peer's message is input like any other.
import type { Body } from "../maelstrom-node.js";
import type { LogEntry } from "./log.js";

export interface RequestVote {
  type: "request_vote";
  term: number;
  last_log_index: number;
  last_log_term: number;
}

export interface RequestVoteReply {
  type: "request_vote_reply";
  term: number;
  granted: boolean;
}

export interface AppendEntries<C> {
  type: "append_entries";
  term: number;
  prev_index: number;
  prev_term: number;
  entries: LogEntry<C>[];
  leader_commit: number;
}

export interface AppendEntriesReply {
  type: "append_entries_reply";
  term: number;
  success: boolean;
  /** On success: the last index the follower now holds that matches the leader. */
  match_index: number;
  /** On failure: where the leader should back up to (fast backtracking). */
  conflict_index: number;
  conflict_term: number | null;
}

export interface InstallSnapshot {
  type: "install_snapshot";
  term: number;
  last_index: number;
  last_term: number;
  /** The state machine at last_index (small for this KV store, so sent whole, not chunked). */
  state: unknown;
}

export interface InstallSnapshotReply {
  type: "install_snapshot_reply";
  term: number;
  match_index: number;
}

export type RaftMessage<C> =
  | RequestVote
  | RequestVoteReply
  | AppendEntries<C>
  | AppendEntriesReply
  | InstallSnapshot
  | InstallSnapshotReply;

export const RAFT_MESSAGE_TYPES = [
  "request_vote",
  "request_vote_reply",
  "append_entries",
  "append_entries_reply",
  "install_snapshot",
  "install_snapshot_reply",
] as const;

const isIndex = (v: unknown): v is number => Number.isSafeInteger(v) && (v as number) >= 0;

/** Validates a Raft message body; undefined (to be dropped) when it is malformed. */
export function parseRaftMessage<C>(
  body: Body,
  isCommand: (cmd: unknown) => cmd is C,
): RaftMessage<C> | undefined {
  if (!isIndex(body.term)) return undefined;
  switch (body.type) {
    case "request_vote":
      return isIndex(body.last_log_index) && isIndex(body.last_log_term)
        ? (body as unknown as RequestVote)
        : undefined;
    case "request_vote_reply":
      return typeof body.granted === "boolean" ? (body as unknown as RequestVoteReply) : undefined;
    case "append_entries": {
      const { prev_index, prev_term, entries, leader_commit } = body;
      if (!isIndex(prev_index) || !isIndex(prev_term) || !isIndex(leader_commit)) return undefined;
      if (!Array.isArray(entries)) return undefined;
      for (const e of entries) {
        if (typeof e !== "object" || e === null || !isIndex(e.term) || !isCommand(e.cmd)) {
          return undefined;
        }
      }
      return body as unknown as AppendEntries<C>;
    }
    case "append_entries_reply": {
      const { success, match_index, conflict_index, conflict_term } = body;
      if (typeof success !== "boolean" || !isIndex(match_index) || !isIndex(conflict_index)) {
        return undefined;
      }
      return conflict_term === null || isIndex(conflict_term)
        ? (body as unknown as AppendEntriesReply)
        : undefined;
    }
    case "install_snapshot":
      return isIndex(body.last_index) && isIndex(body.last_term) && "state" in body
        ? (body as unknown as InstallSnapshot)
        : undefined;
    case "install_snapshot_reply":
      return isIndex(body.match_index) ? (body as unknown as InstallSnapshotReply) : undefined;
    default:
      return undefined;
  }
}
