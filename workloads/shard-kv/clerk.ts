// The shard-kv clerk (systems/shard-kv/README.md "The interface a replacement must speak"), as
// MIT 6.5840's Lab 5 Clerk behaves: it keeps the config it last queried from the controller,
// sends an op to the owning group's servers in turn with the same `client`/`seq` on every retry,
// moves on after ErrWrongLeader or a timeout, re-queries after ErrWrongGroup or a round without
// an answer, and gives up at an op deadline, which a real clerk never does but a history needs.
// Every controller query it makes is an op of its own in the history (process `queryProcess`).
import {
  type Config,
  key2shard,
  parseConfig,
  WRONG_GROUP,
  WRONG_LEADER,
} from "../../protocols/shard-kv.js";
import { errorDescription } from "../lin-kv.js";
import type { DriverContext, HistoryEvent, MaelstromNet, MalformedReply } from "../plugin.js";
import { type Body, describeErrorCode } from "../protocol.js";
import { sleepUnlessAborted } from "../timing.js";

/** How long one request to one server waits for its answer before the clerk moves on. */
export const REQUEST_TIMEOUT_MS = 1000;
/** A clerk gives up on an op this long after it began (then put/append are info, get fails). */
export const OP_DEADLINE_MS = 5000;
/** Pause after a round in which no server answered, before re-querying (MIT's 100 ms). */
export const RETRY_PAUSE_MS = 100;
/** A malformed reply is quoted in the protocol check up to this many characters. */
export const MAX_QUOTED_REPLY_CHARS = 1024;

/** How an op that went to the service ended, before it becomes a history completion. */
export type ClerkOutcome =
  | { type: "ok"; node: string; reply: Body }
  /** A definite error other than the ones the clerk retries on: it did not happen. */
  | { type: "error"; node: string; code: number; error: [string, string | null] }
  /** The deadline passed (or the run was interrupted) with no definite answer. */
  | { type: "gave-up"; error: [string, string] }
  | { type: "malformed"; node: string; reason: string };

/** What a clerk needs of the driver: a slice of DriverContext, so a test can fake it. */
export type ClerkContext = Pick<DriverContext<MaelstromNet>, "clock" | "signal"> & {
  record(event: HistoryEvent): unknown;
};

export type ClientCall = ReturnType<MaelstromNet["openClient"]>["call"];

export interface ClerkOptions {
  controllers: readonly string[];
  /** The Jepsen process of its client ops; `client` is it in decimal. */
  process: number;
  /** The process its controller queries are recorded under (queries never overlap its ops). */
  queryProcess: number;
  request_timeout_ms: number;
  op_deadline_ms: number;
  onMalformed(reply: MalformedReply): void;
  /** Marks every op it records `final` (the final phase). */
  final?: boolean;
}

export class Clerk {
  /** The latest config it queried; undefined until the first query answers. */
  config: Config | undefined;
  private process: number;
  private seq = 0;
  /** The server of each group that last answered, tried first (MIT's leader cache). */
  private readonly leaders = new Map<number, number>();
  private nextController = 0;

  constructor(
    private readonly ctx: ClerkContext,
    private readonly call: ClientCall,
    private readonly options: ClerkOptions,
  ) {
    this.process = options.process;
  }

  get currentProcess(): number {
    return this.process;
  }

  /** The `client` of its requests: its process in decimal. */
  get client(): string {
    return String(this.process);
  }

  /**
   * Jepsen's rule after an `info`: the old op may still take effect, so the clerk goes on as a
   * new process and a new client, its seq counting from 1 again.
   */
  renew(process: number): void {
    this.process = process;
    this.seq = 0;
  }

  /** The seq of its next request. */
  nextSeq(): number {
    return ++this.seq;
  }

  /** A get, put or append on the group that owns the key, retried until the deadline. */
  async groupOp(body: Body & { key: string }, deadline_ms: number): Promise<ClerkOutcome> {
    const shard = key2shard(body.key);
    let lastError: [string, string] = ["net-timeout", "no config yet"];
    // After a round without an answer the cached config may be stale: query before the next.
    let stale = this.config === undefined;
    while (this.remaining_ms(deadline_ms) > 0 && !this.ctx.signal.aborted) {
      if (stale) await this.query(-1, deadline_ms);
      stale = true;
      const gid = this.config?.shards[shard] ?? 0;
      const servers = this.config?.groups[String(gid)] ?? [];
      const start = this.leaders.get(gid) ?? 0;
      for (let i = 0; i < servers.length; i++) {
        const index = (start + i) % servers.length;
        const node = servers[index] as string;
        const tried = await this.attempt(node, body, deadline_ms);
        if (tried === "out-of-time") break;
        if ("outcome" in tried) {
          if (tried.outcome.type !== "malformed") this.leaders.set(gid, index);
          return tried.outcome;
        }
        lastError = [node, tried.why];
        if (tried.wrongGroup) break;
      }
      if (!(await sleepUnlessAborted(RETRY_PAUSE_MS, this.ctx.signal))) break;
    }
    return { type: "gave-up", error: gaveUp(this.options.op_deadline_ms, lastError) };
  }

  /**
   * One request to one node within what is left of the op's deadline: its outcome (done, or a
   * malformed reply, which ends the op), or why to try elsewhere.
   */
  private async attempt(
    node: string,
    body: Body,
    deadline_ms: number,
  ): Promise<"out-of-time" | { outcome: ClerkOutcome } | { why: string; wrongGroup: boolean }> {
    const timeout_ms = Math.min(this.options.request_timeout_ms, this.remaining_ms(deadline_ms));
    if (timeout_ms <= 0 || this.ctx.signal.aborted) return "out-of-time";
    const reply = await this.call(node, body, timeout_ms);
    const verdict = judge(reply, body.type);
    if (verdict.kind === "done") return { outcome: { ...verdict.outcome, node } as ClerkOutcome };
    if (verdict.kind === "malformed") {
      this.malformed(node, body.type, verdict.reason, reply);
      return { outcome: { type: "malformed", node, reason: verdict.reason } };
    }
    return { why: verdict.why, wrongGroup: verdict.kind === "wrong-group" };
  }

  /** A join, leave or move on the controller, to its replicas in turn until the deadline. */
  async controllerOp(body: Body, deadline_ms: number): Promise<ClerkOutcome> {
    const controllers = this.options.controllers;
    let lastError: [string, string] = ["net-timeout", "no controller asked"];
    while (this.remaining_ms(deadline_ms) > 0 && !this.ctx.signal.aborted) {
      for (let i = 0; i < controllers.length; i++) {
        const node = this.controllerInTurn();
        const tried = await this.attempt(node, body, deadline_ms);
        if (tried === "out-of-time") break;
        if ("outcome" in tried) return tried.outcome;
        lastError = [node, tried.why];
        this.nextController++;
      }
      if (!(await sleepUnlessAborted(RETRY_PAUSE_MS, this.ctx.signal))) break;
    }
    return { type: "gave-up", error: gaveUp(this.options.op_deadline_ms, lastError) };
  }

  /**
   * Asks the controller replicas in turn for config `num` (−1: the latest) until one answers or
   * each has been asked once; each ask is a `query` op. Keeps a newer config it gets.
   */
  async query(num: number, deadline_ms: number): Promise<Config | undefined> {
    for (let i = 0; i < this.options.controllers.length; i++) {
      const node = this.controllerInTurn();
      const config = await this.queryNode(node, num, deadline_ms);
      if (config) return config;
      this.nextController++;
    }
    return undefined;
  }

  /** One `query` op to one controller replica; the config when it answered with one. */
  async queryNode(node: string, num: number, deadline_ms: number): Promise<Config | undefined> {
    const timeout_ms = Math.min(this.options.request_timeout_ms, this.remaining_ms(deadline_ms));
    if (timeout_ms <= 0 || this.ctx.signal.aborted) return undefined;
    const final = this.options.final ? { final: true } : {};
    const process = this.options.queryProcess;
    this.ctx.record({ process, type: "invoke", f: "query", value: { num }, node, ...final });
    const reply = await this.call(node, { type: "query", num }, timeout_ms);
    const verdict = judge(reply, "query");
    const ok =
      verdict.kind === "done" && verdict.outcome.type === "ok" ? verdict.outcome : undefined;
    const config = ok ? parseConfig(ok.reply.config) : undefined;
    if (config) {
      this.ctx.record({ process, type: "ok", f: "query", value: { num, config }, node, ...final });
      if (config.num > (this.config?.num ?? -1)) this.config = config;
      return config;
    }
    let error: unknown;
    if (verdict.kind === "done" && verdict.outcome.type === "error") error = verdict.outcome.error;
    else if (verdict.kind === "done" || verdict.kind === "malformed") {
      const reason = verdict.kind === "malformed" ? verdict.reason : "query_ok without a config";
      this.malformed(node, "query", reason, reply);
      error = ["malformed-reply", reason];
    } else error = [node, verdict.why];
    // A query changes nothing, so not knowing its answer is a definite `fail`.
    this.ctx.record({ process, type: "fail", f: "query", value: { num }, node, error, ...final });
    return undefined;
  }

  private controllerInTurn(): string {
    const controllers = this.options.controllers;
    return controllers[this.nextController % controllers.length] as string;
  }

  private remaining_ms(deadline_ms: number): number {
    return deadline_ms - this.ctx.clock.now_ns() / 1e6;
  }

  private malformed(node: string, f: string, reason: string, reply: Body | undefined): void {
    this.options.onMalformed({
      node,
      f,
      reason,
      reply: JSON.stringify(reply).slice(0, MAX_QUOTED_REPLY_CHARS),
    });
  }
}

type Verdict =
  | {
      kind: "done";
      outcome:
        | { type: "ok"; reply: Body }
        | { type: "error"; code: number; error: [string, string | null] };
    }
  /** Try the next server (wrong leader, no answer, an indefinite error: the seq makes it safe). */
  | { kind: "next"; why: string }
  | { kind: "wrong-group"; why: string }
  | { kind: "malformed"; reason: string };

/** What a reply means to the clerk (README "Errors"). */
export function judge(reply: Body | undefined, requestType: string): Verdict {
  if (reply === undefined) return { kind: "next", why: "no reply" };
  if (reply.type === "error") {
    const code = reply.code;
    if (!Number.isSafeInteger(code)) {
      return { kind: "malformed", reason: `error reply without an integer "code"` };
    }
    const text = typeof reply.text === "string" ? reply.text : "";
    if (code === 11 && text.startsWith(WRONG_GROUP)) {
      return { kind: "wrong-group", why: text.slice(0, 120) };
    }
    if (code === 11 || !describeErrorCode(code as number).definite) {
      return { kind: "next", why: `error ${code} ${text.slice(0, 120) || WRONG_LEADER}` };
    }
    return {
      kind: "done",
      outcome: {
        type: "error",
        code: code as number,
        error: errorDescription(code as number, reply),
      },
    };
  }
  if (reply.type !== `${requestType}_ok`) {
    return {
      kind: "malformed",
      reason: `answered ${requestType} with "${String(reply.type).slice(0, 64)}", expected ${requestType}_ok or error`,
    };
  }
  return { kind: "done", outcome: { type: "ok", reply } };
}

function gaveUp(deadline_ms: number, last: [string, string]): [string, string] {
  return ["deadline", `no definite answer within ${deadline_ms} ms (last: ${last[0]}: ${last[1]})`];
}
