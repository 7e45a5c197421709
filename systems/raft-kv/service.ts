// The client-facing protocol: lin-kv and kv requests arrive at any node; the leader proposes
// them to the Raft log (reads included, so a read is ordered with the writes and answered only
// by a leader that a majority still follows) and answers once they are applied; any other node
// forwards them to the leader it has heard from recently, retrying with the same request
// identity if the leader changes or does not answer, and relays the answer. Errors say what is
// known: 11 (temporarily unavailable) only when no attempt can have reached a log, 0 (timeout)
// or 13 (crash) when one may have.
import { randomUUID } from "node:crypto";
import {
  type Body,
  ErrorCode,
  type MaelstromNode,
  type Message,
  RPCError,
} from "../lib/maelstrom-node.js";
import type { RaftNode } from "../lib/raft/raft.js";
import type { BugFlags } from "./bugs.js";
import {
  isKvCommand,
  type KvCommand,
  type KvStateMachine,
  MUTATING,
  parseOp,
  READS,
} from "./state-machine.js";

/**
 * A client request is answered within this long of its arrival: below the lin-kv/kv client
 * timeout (1000 ms), so the client hears a reason rather than silence.
 */
export const REQUEST_BUDGET_MS = 900;
/** One forward to the leader waits at most this long before we try again (maybe elsewhere). */
export const FORWARD_ATTEMPT_TIMEOUT_MS = 400;
/** Not worth starting another attempt with less time than this left. */
export const MIN_ATTEMPT_MS = 30;
/** The leader answers a forward this much before the forwarder stops waiting for it. */
export const FORWARD_REPLY_MARGIN_MS = 30;
/** Without a known leader, look again after this long (or as soon as one is known). */
export const LEADER_WAIT_MS = 50;
/** Bound on forwards awaiting replies, so a partitioned leader cannot make us grow. */
export const MAX_PENDING_FORWARDS = 10_000;

/** What one attempt at the leader came to. */
type Attempt =
  | { kind: "reply"; body: Body }
  /** Definitely not in any log through this attempt. */
  | { kind: "not-done" }
  /** Might be in a log and still take effect. */
  | { kind: "maybe"; code: number; text: string };

interface PendingForward {
  resolve: (body: Body) => void;
  timer: NodeJS.Timeout;
}

/** Error codes that are the request's answer (from the state machine), not a failure to run it. */
const DEFINITE_RESULTS = new Set<number>([
  ErrorCode.malformedRequest,
  ErrorCode.notSupported,
  ErrorCode.keyDoesNotExist,
  ErrorCode.preconditionFailed,
]);

export class KvService {
  /** Forward ids are unique across restarts, so a reply meant for our previous life is ignored. */
  private readonly incarnation = randomUUID().slice(0, 8);
  private nextForward = 1;
  private readonly pending = new Map<string, PendingForward>();

  constructor(
    private readonly node: MaelstromNode,
    private readonly raft: RaftNode<KvCommand, Body>,
    private readonly sm: KvStateMachine,
    private readonly bugs: BugFlags,
    private readonly now_ms: () => number,
  ) {}

  /** A client's read/write/cas/get/put/append. */
  async handleClient(req: Message): Promise<void> {
    const op = parseOp(req.body); // throws RPCError 12 / 10, which the library sends back
    if (typeof req.body.msg_id !== "number") {
      throw new RPCError(ErrorCode.malformedRequest, "client requests need a numeric msg_id");
    }
    const cmd: KvCommand = { client: req.src, id: req.body.msg_id, op };
    const reply = await this.execute(cmd, this.now_ms() + REQUEST_BUDGET_MS);
    this.node.reply(req, reply);
  }

  /** A peer forwarding a client request to us as the leader. */
  async handleForward(msg: Message): Promise<void> {
    const { forward_id, cmd, budget_ms } = msg.body;
    if (typeof forward_id !== "string" || !isKvCommand(cmd) || typeof budget_ms !== "number") {
      this.node.log(`dropped a malformed forward from ${msg.src}`);
      return;
    }
    const budget = Math.min(Math.max(0, budget_ms), REQUEST_BUDGET_MS);
    const attempt = await this.attemptAsLeader(cmd, this.now_ms() + budget);
    const reply =
      attempt.kind === "reply"
        ? attempt.body
        : attempt.kind === "not-done"
          ? errorBody(ErrorCode.temporarilyUnavailable, `${this.node.nodeId} is not the leader`)
          : errorBody(attempt.code, attempt.text);
    this.node.send(msg.src, { type: "forward_reply", forward_id, reply });
  }

  handleForwardReply(msg: Message): void {
    const { forward_id, reply } = msg.body;
    if (typeof forward_id !== "string" || typeof reply !== "object" || reply === null) return;
    const pending = this.pending.get(forward_id);
    if (!pending) return; // late, duplicated, or meant for our previous incarnation
    this.pending.delete(forward_id);
    clearTimeout(pending.timer);
    pending.resolve(reply as Body);
  }

  /**
   * Gets `cmd` done by whoever leads, until `deadline_ms`. Retrying is safe for mutations
   * because every attempt carries the same (client, id), which the state machine applies once.
   */
  private async execute(cmd: KvCommand, deadline_ms: number): Promise<Body> {
    let maybe: { code: number; text: string } | undefined;
    for (;;) {
      const remaining_ms = deadline_ms - this.now_ms();
      if (remaining_ms < MIN_ATTEMPT_MS) break;
      let attempt: Attempt;
      const leader = this.raft.reachableLeader;
      if (this.raft.isLeader) {
        attempt = await this.attemptAsLeader(cmd, deadline_ms);
      } else if (leader !== undefined) {
        attempt = await this.forward(leader, cmd, remaining_ms);
      } else {
        await this.raft.waitForLeader(Math.min(remaining_ms, LEADER_WAIT_MS));
        continue;
      }
      if (attempt.kind === "reply") return attempt.body;
      if (attempt.kind === "maybe") maybe = attempt;
      // Give the cluster a moment to settle (a new leader to become known) before retrying.
      if (attempt.kind === "not-done") {
        await this.raft.waitForLeader(Math.min(deadline_ms - this.now_ms(), LEADER_WAIT_MS));
      }
    }
    if (READS.has(cmd.op.type)) {
      return errorBody(ErrorCode.temporarilyUnavailable, "no leader answered in time");
    }
    return maybe
      ? errorBody(maybe.code, `outcome unknown: ${maybe.text}`)
      : errorBody(ErrorCode.temporarilyUnavailable, "no leader could take the request");
  }

  /** Proposes `cmd` to our own log (if we lead) and waits for its outcome. */
  private async attemptAsLeader(cmd: KvCommand, deadline_ms: number): Promise<Attempt> {
    if (this.bugs.staleRead && READS.has(cmd.op.type) && this.raft.isLeader) {
      // BUG stale-read: our state is only as fresh as our belief that we still lead.
      return { kind: "reply", body: this.sm.query(cmd.op) };
    }
    const proposed = this.raft.propose(cmd);
    if (!proposed) return { kind: "not-done" };
    if (this.bugs.earlyAck && MUTATING.has(cmd.op.type) && cmd.op.type !== "cas") {
      // BUG early-ack: on our disk is not committed; a new leader may never have heard of it.
      await this.raft.waitDurable(proposed.index);
      return { kind: "reply", body: { type: `${cmd.op.type}_ok` } };
    }
    const outcome = await this.raft.waitApplied(
      proposed.index,
      proposed.term,
      deadline_ms - this.now_ms(),
    );
    switch (outcome.kind) {
      case "applied":
        return { kind: "reply", body: outcome.result };
      case "overwritten":
        // This copy is gone, but a forwarder's earlier attempt might sit in another log.
        return { kind: "maybe", code: ErrorCode.crash, text: "the entry was overwritten" };
      case "compacted": {
        const reply = this.sm.appliedReply(cmd.client, cmd.id);
        if (reply) return { kind: "reply", body: reply };
        return { kind: "maybe", code: ErrorCode.crash, text: "the entry went into a snapshot" };
      }
      case "timeout":
        return { kind: "maybe", code: ErrorCode.timeout, text: "not committed in time" };
    }
  }

  /** One forward to `leader`: its answer, or what its absence means. */
  private forward(leader: string, cmd: KvCommand, remaining_ms: number): Promise<Attempt> {
    if (this.pending.size >= MAX_PENDING_FORWARDS) {
      return Promise.resolve({ kind: "not-done" });
    }
    const forward_id = `${this.incarnation}-${this.nextForward++}`;
    const wait_ms = Math.min(remaining_ms, FORWARD_ATTEMPT_TIMEOUT_MS);
    return new Promise<Attempt>((resolve) => {
      const timer = setTimeout(() => {
        this.pending.delete(forward_id);
        resolve({ kind: "maybe", code: ErrorCode.timeout, text: `no answer from ${leader}` });
      }, wait_ms);
      this.pending.set(forward_id, {
        timer,
        resolve: (body) => {
          if (body.type !== "error") return resolve({ kind: "reply", body });
          const code = typeof body.code === "number" ? body.code : ErrorCode.crash;
          if (code === ErrorCode.temporarilyUnavailable) return resolve({ kind: "not-done" });
          if (DEFINITE_RESULTS.has(code)) return resolve({ kind: "reply", body });
          resolve({ kind: "maybe", code, text: String(body.text ?? `error ${code}`) });
        },
      });
      this.node.send(leader, {
        type: "forward",
        forward_id,
        cmd,
        budget_ms: Math.max(0, wait_ms - FORWARD_REPLY_MARGIN_MS),
      });
    });
  }
}

function errorBody(code: number, text: string): Body {
  return { type: "error", code, text };
}
