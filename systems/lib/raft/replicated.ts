// A RaftNode seen as a `Replicated` (systems/lib/replicated.ts): the shape the shard controller
// and the shard groups of systems/shard-kv are written against, whatever the consensus.
import type { Body } from "../maelstrom-node.js";
import type { Replicated, Submitted } from "../replicated.js";
import { RAFT_MESSAGE_TYPES } from "./messages.js";
import type { Outcome, RaftNode } from "./raft.js";

const RAFT_TYPES: ReadonlySet<string> = new Set(RAFT_MESSAGE_TYPES);

/** What a waitApplied outcome tells the submitter. */
export function submittedOf<R>(outcome: Outcome<R>): Submitted<R> {
  switch (outcome.kind) {
    case "applied":
      return { kind: "applied", result: outcome.result };
    case "overwritten":
      // Another entry took the index: this copy never takes effect.
      return { kind: "not-done", reason: "the entry was overwritten by a newer leader" };
    case "compacted":
      return { kind: "unknown", reason: "the entry went into a snapshot from the leader" };
    case "timeout":
      return { kind: "unknown", reason: "not committed in time" };
  }
}

export class RaftReplicated<C, R = unknown> implements Replicated<C, R> {
  constructor(readonly raft: RaftNode<C, R>) {}

  async submit(cmd: C, timeout_ms: number): Promise<Submitted<R>> {
    const proposed = this.raft.propose(cmd);
    if (!proposed) return { kind: "not-done", reason: `${this.raft.id} is not the leader` };
    return submittedOf(await this.raft.waitApplied(proposed.index, proposed.term, timeout_ms));
  }

  leading(): boolean {
    return this.raft.isLeader;
  }

  receive(src: string, body: { type: string; [key: string]: unknown }): boolean {
    if (!RAFT_TYPES.has(body.type)) return false;
    this.raft.handle(src, body as Body);
    return true;
  }

  start(): void {
    this.raft.start();
  }

  stop(): void {
    this.raft.stop();
  }
}
