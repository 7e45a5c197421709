// A replica group's server: answers clients' get/put/append through the group's replicated log,
// answers other groups' shard hand-off requests, and (while it leads) does the group's
// background work: follow the controller's configs one at a time, pull the shards a config gives
// the group from their previous owner, and tell that owner when it may delete its copy.
//
// Every decision the group must agree on (taking a config, installing a shard, deleting one)
// is a log entry applied by GroupMachine; this file only decides when to propose them, so a
// proposal that is lost or duplicated (a leader change, two Paxos replicas proposing the same
// thing) changes nothing: the machine ignores what no longer applies.

import { type Config, parseConfig, WRONG_LEADER } from "../../protocols/shard-kv.js";
import { type Body, ErrorCode, RPCError } from "../lib/maelstrom-node.js";
import type { Replicated } from "../lib/replicated.js";
import type { BugFlags } from "./bugs.js";
import { type GroupCommand, type GroupMachine, isGroupCommand, parseClientOp } from "./group.js";

/** How often the background work runs (MIT's 100 ms config poll). */
export const POLL_INTERVAL_MS = 100;
/** A client request waits this long for its log entry: under a clerk's 1 s request timeout. */
export const CLIENT_SUBMIT_TIMEOUT_MS = 800;
/** A background proposal (config, install, delete, confirmed) waits this long to be applied. */
export const PROPOSE_TIMEOUT_MS = 500;
/** One query to one controller replica. */
export const CONTROLLER_RPC_TIMEOUT_MS = 300;
/** One shard_pull or shard_gc to one server of another group. */
export const PEER_RPC_TIMEOUT_MS = 500;

/** Sends a request to another node; rejects with RPCError (its error reply, or 0 on timeout). */
export type Rpc = (dest: string, body: Body, timeout_ms: number) => Promise<Body>;

function wrongLeader(): RPCError {
  return new RPCError(ErrorCode.temporarilyUnavailable, WRONG_LEADER);
}

function isNum(v: unknown): v is number {
  return Number.isSafeInteger(v) && (v as number) >= 0;
}

/** `num` and `shard` of a shard_pull / shard_gc request; RPCError 12 when absent. */
function handoffOf(body: Body): { num: number; shard: number } {
  if (!isNum(body.num) || !isNum(body.shard)) {
    throw new RPCError(ErrorCode.malformedRequest, `${body.type} needs a num and a shard`);
  }
  return { num: body.num, shard: body.shard };
}

export class GroupServer {
  /** Whether a background round is under way: rounds never overlap. */
  private busy = false;
  /** The controller replica that answered last: asked first next time. */
  private controllerIndex = 0;

  constructor(
    private readonly rsm: Replicated<GroupCommand, Body>,
    private readonly machine: GroupMachine,
    private readonly controllers: readonly string[],
    private readonly rpc: Rpc,
    private readonly bugs: BugFlags,
    private readonly log: (text: string) => void,
  ) {}

  /** A client's get / put / append: the reply body. */
  async handleClient(body: Body): Promise<Body> {
    const op = parseClientOp(body);
    if (!op) throw new RPCError(ErrorCode.malformedRequest, `${body.type} needs a string key`);
    const { client, seq } = body;
    const identified = typeof client === "string" && isNum(seq);
    if (!identified && op.type !== "get") {
      throw new RPCError(ErrorCode.malformedRequest, `${op.type} needs a client and a seq`);
    }
    const cmd: GroupCommand = identified ? { type: "op", op, client, seq } : { type: "op", op };
    const outcome = await this.rsm.submit(cmd, CLIENT_SUBMIT_TIMEOUT_MS);
    if (outcome.kind === "applied") return outcome.result;
    // A get changes nothing, so whatever became of it, another server may simply be asked.
    if (outcome.kind === "not-done" || op.type === "get") throw wrongLeader();
    throw new RPCError(ErrorCode.crash, `outcome unknown: ${outcome.reason}`);
  }

  /**
   * Another group pulls a shard we gave away in config `num`. Any replica may answer: a given
   * shard is frozen from the config entry on, so every replica past it holds the same copy.
   */
  handlePull(body: Body): Body {
    const { num, shard } = handoffOf(body);
    // Only the replica leading the group hands a shard out, as MIT's handlers check isLeader:
    // the one that also runs the group's background work and proposes its deletions.
    if (!this.rsm.leading()) throw wrongLeader();
    const exported = this.machine.exportShard(num, shard);
    if (exported.kind === "later") {
      throw new RPCError(ErrorCode.temporarilyUnavailable, `not at config ${num} yet`);
    }
    if (this.bugs.earlyGc) {
      // BUG early-gc: sent is not installed; a lost reply or an uncommitted install loses it.
      void this.rsm.submit({ type: "delete", num, shard }, PROPOSE_TIMEOUT_MS);
    }
    return { type: "shard_pull_ok", num, shard, data: exported.data, dedup: exported.dedup };
  }

  /** The new owner of a shard we gave away in `num` has installed it: delete it, through the log. */
  async handleGc(body: Body): Promise<Body> {
    const { num, shard } = handoffOf(body);
    if (this.machine.current.num < num) {
      throw new RPCError(ErrorCode.temporarilyUnavailable, `not at config ${num} yet`);
    }
    if (this.machine.deleted(num, shard)) return { type: "shard_gc_ok" };
    const outcome = await this.rsm.submit({ type: "delete", num, shard }, PROPOSE_TIMEOUT_MS);
    if (outcome.kind === "applied" && outcome.result.type === "delete_ok") {
      return { type: "shard_gc_ok" };
    }
    if (outcome.kind === "not-done") throw wrongLeader();
    const why = outcome.kind === "applied" ? String(outcome.result.text) : outcome.reason;
    throw new RPCError(ErrorCode.temporarilyUnavailable, `not deleted: ${why}`);
  }

  /** One round of background work; node.ts calls it every POLL_INTERVAL_MS. */
  async tick(): Promise<void> {
    if (this.busy) return;
    this.busy = true;
    try {
      const leading = this.rsm.leading();
      await Promise.all([
        leading || this.bugs.configOutsideLog ? this.followConfig() : undefined,
        leading ? this.pullShards() : undefined,
        leading ? this.confirmShards() : undefined,
      ]);
    } finally {
      this.busy = false;
    }
  }

  /** Proposes the controller's next config once every shard has finished moving. */
  private async followConfig(): Promise<void> {
    if (!this.machine.settled()) return;
    const current = this.machine.current.num;
    // BUG skip-config: asks for the latest config rather than the next one.
    const config = await this.queryController(this.bugs.skipConfig ? -1 : current + 1);
    if (config === undefined || config.num <= current) return;
    if (!this.bugs.skipConfig && config.num !== current + 1) return;
    if (this.bugs.configOutsideLog) {
      // BUG config-outside-log: this replica alone switches, at its own moment in the log.
      this.machine.apply({ type: "config", config });
      return;
    }
    await this.rsm.submit({ type: "config", config }, PROPOSE_TIMEOUT_MS);
  }

  /** Config `num` from the controller replicas, asked in turn; undefined when none answers. */
  private async queryController(num: number): Promise<Config | undefined> {
    for (let i = 0; i < this.controllers.length; i++) {
      const index = (this.controllerIndex + i) % this.controllers.length;
      try {
        const reply = await this.rpc(
          this.controllers[index] as string,
          { type: "query", num },
          CONTROLLER_RPC_TIMEOUT_MS,
        );
        const config = parseConfig(reply.config);
        if (config === undefined) continue;
        this.controllerIndex = index;
        return config;
      } catch {
        // Not the controller's leader, cut off, or slow: the next replica may do.
      }
    }
    return undefined;
  }

  /** Pulls every shard the current config gives us from its previous owner, and installs it. */
  private async pullShards(): Promise<void> {
    await Promise.all(
      this.machine.shardsIn("pulling").map(async ({ shard, num }) => {
        const reply = await this.askPreviousOwner(shard, { type: "shard_pull", num, shard });
        if (reply === undefined) return;
        const install = { type: "install", num, shard, data: reply.data, dedup: reply.dedup };
        if (!isGroupCommand(install)) {
          this.log(`dropped a malformed shard_pull_ok for shard ${shard}`);
          return;
        }
        await this.rsm.submit(install, PROPOSE_TIMEOUT_MS);
      }),
    );
  }

  /** Tells the previous owner of every shard we installed that it may delete its copy. */
  private async confirmShards(): Promise<void> {
    await Promise.all(
      this.machine.shardsIn("confirming").map(async ({ shard, num }) => {
        const reply = await this.askPreviousOwner(shard, { type: "shard_gc", num, shard });
        if (reply === undefined) return;
        await this.rsm.submit({ type: "confirmed", num, shard }, PROPOSE_TIMEOUT_MS);
      }),
    );
  }

  /** Sends `body` to the servers of the shard's owner in the previous config, in turn. */
  private async askPreviousOwner(shard: number, body: Body): Promise<Body | undefined> {
    const prev = this.machine.previous;
    const servers = prev.groups[String(prev.shards[shard])] ?? [];
    for (const server of servers) {
      try {
        return await this.rpc(server, body, PEER_RPC_TIMEOUT_MS);
      } catch {
        // Not there yet, not its leader, or unreachable: another server may answer.
      }
    }
    return undefined;
  }
}
