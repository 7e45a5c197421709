// A replica group's state machine: the shards it holds, each with its data, its duplicate table
// and where it stands in a hand-off, and the config it has reached. Everything the group agrees
// on goes through the log as one of the GroupCommands below, so every replica applies the same
// commands in the same order and ends in the same state: nothing here may depend on time,
// randomness or the node it runs on.
//
// A shard's life in a group (MIT 6.5840 Lab 5B, pull model):
//
//   config gives it from gid 0 (first assignment)  ->  serving, empty
//   config gives it from another group              ->  pulling   (not served)
//   install (its data + duplicate table)            ->  confirming (served; the old owner has
//                                                      still to be told it may delete its copy)
//   confirmed (the old owner deleted its copy)      ->  serving
//   config gives it away                            ->  giving    (kept, not served, until the
//                                                      new owner has installed it)
//   delete (the new owner installed it)             ->  gone
//
// The next config is taken only when every shard is serving (settled), so each hand-off belongs
// to exactly one config num. Shards whose hand-off is done are served while others are still
// moving (MIT's Challenge 2).

import {
  type Config,
  type Gid,
  initialConfig,
  key2shard,
  NSHARDS,
  parseConfig,
  WRONG_GROUP,
} from "../../protocols/shard-kv.js";
import type { Body } from "../lib/maelstrom-node.js";
import { ErrorCode } from "../lib/maelstrom-node.js";
import type { StateMachine } from "../lib/replicated.js";
import { type BugFlags, NO_BUGS } from "./bugs.js";

export type ShardState = "serving" | "pulling" | "confirming" | "giving";

/** Clients remembered per shard; the least recently active is forgotten first. */
export const MAX_DEDUP_CLIENTS_PER_SHARD = 10_000;

export type ClientOp =
  | { type: "get"; key: string }
  | { type: "put"; key: string; value: string }
  | { type: "append"; key: string; value: string };

export interface DedupRecord {
  seq: number;
  reply: Body;
}

/** A shard's contents as they move between groups: its data and its duplicate table. */
export interface ShardData {
  data: Array<[string, string]>;
  dedup: Array<[string, DedupRecord]>;
}

export type GroupCommand =
  /** A client's request; `client`/`seq` are its identity (a get may come without one). */
  | { type: "op"; op: ClientOp; client?: string; seq?: number }
  /** The controller's next config, proposed by the leader once the group is settled. */
  | { type: "config"; config: Config }
  /** A pulled shard's contents, for the config num it was pulled in. */
  | ({ type: "install"; num: number; shard: number } & ShardData)
  /** At the old owner: the new owner installed the shard it gave away in config `num`. */
  | { type: "delete"; num: number; shard: number }
  /** At the new owner: the old owner deleted its copy of the shard received in config `num`. */
  | { type: "confirmed"; num: number; shard: number };

interface Shard {
  state: ShardState;
  /** The config num in which the shard took its current state. */
  num: number;
  data: Map<string, string>;
  dedup: Map<string, DedupRecord>;
}

interface StoredShard {
  state: ShardState;
  num: number;
  data: Array<[string, string]>;
  dedup: Array<[string, DedupRecord]>;
}

export interface GroupSnapshot {
  config: Config;
  prev: Config;
  shards: Array<[number, StoredShard]>;
  /** BUG no-gc only: the keys and values of shards deleted since they were given away. */
  kept?: Array<[string, string]>;
}

/** What the old owner answers a pull with. */
export type Export =
  /** It has not reached the config yet: ask again later. */
  { kind: "later" } | ({ kind: "shard" } & ShardData);

const SHARD_STATES = new Set<string>(["serving", "pulling", "confirming", "giving"]);

function errorBody(code: number, text: string): Body {
  return { type: "error", code, text };
}

const isString = (v: unknown): v is string => typeof v === "string";
const isShardNum = (v: unknown): v is number =>
  Number.isSafeInteger(v) && (v as number) >= 0 && (v as number) < NSHARDS;
const isNum = (v: unknown): v is number => Number.isSafeInteger(v) && (v as number) >= 0;

/** A client op from a request body, or undefined when it is not one. */
export function parseClientOp(body: Record<string, unknown>): ClientOp | undefined {
  const { type, key, value } = body;
  if (!isString(key)) return undefined;
  if (type === "get") return { type, key };
  if ((type === "put" || type === "append") && isString(value)) return { type, key, value };
  return undefined;
}

function isDedupEntry(v: unknown): v is [string, DedupRecord] {
  if (!Array.isArray(v) || v.length !== 2 || !isString(v[0])) return false;
  const rec = v[1] as Record<string, unknown> | null;
  return (
    typeof rec === "object" &&
    rec !== null &&
    isNum(rec.seq) &&
    typeof rec.reply === "object" &&
    rec.reply !== null &&
    isString((rec.reply as Record<string, unknown>).type)
  );
}

function isShardData(v: Record<string, unknown>): boolean {
  return (
    Array.isArray(v.data) &&
    v.data.every((e) => Array.isArray(e) && e.length === 2 && isString(e[0]) && isString(e[1])) &&
    Array.isArray(v.dedup) &&
    v.dedup.every(isDedupEntry)
  );
}

/** Validates a log entry's command (entries arrive from peers). */
export function isGroupCommand(cmd: unknown): cmd is GroupCommand {
  if (typeof cmd !== "object" || cmd === null) return false;
  const c = cmd as Record<string, unknown>;
  switch (c.type) {
    case "op": {
      if (typeof c.op !== "object" || c.op === null) return false;
      const op = parseClientOp(c.op as Record<string, unknown>);
      if (!op) return false;
      const identified = isString(c.client) && isNum(c.seq);
      return identified || (op.type === "get" && c.client === undefined && c.seq === undefined);
    }
    case "config":
      return parseConfig(c.config) !== undefined;
    case "install":
      return isNum(c.num) && isShardNum(c.shard) && isShardData(c);
    case "delete":
    case "confirmed":
      return isNum(c.num) && isShardNum(c.shard);
    default:
      return false;
  }
}

export class GroupMachine implements StateMachine<GroupCommand> {
  private config: Config = initialConfig();
  /** The config before `config`: who held each shard we are pulling. */
  private prev: Config = initialConfig();
  private shards = new Map<number, Shard>();
  /** BUG no-gc: a given-away shard's keys and values, kept after its delete. */
  private kept = new Map<string, string>();

  constructor(
    readonly gid: Gid,
    private readonly bugs: BugFlags = NO_BUGS,
  ) {}

  get current(): Config {
    return this.config;
  }

  get previous(): Config {
    return this.prev;
  }

  /** Shard numbers in `state`, in shard order, with the config num they took it in. */
  shardsIn(state: ShardState): Array<{ shard: number; num: number }> {
    const found: Array<{ shard: number; num: number }> = [];
    for (let s = 0; s < NSHARDS; s++) {
      const shard = this.shards.get(s);
      if (shard?.state === state) found.push({ shard: s, num: shard.num });
    }
    return found;
  }

  /** Whether every shard we hold is done moving, so the next config may be taken. */
  settled(): boolean {
    for (const shard of this.shards.values()) if (shard.state !== "serving") return false;
    return true;
  }

  apply(cmd: GroupCommand): Body {
    switch (cmd.type) {
      case "op":
        return this.applyOp(cmd.op, cmd.client, cmd.seq);
      case "config":
        return this.applyConfig(cmd.config);
      case "install":
        return this.install(cmd);
      case "delete":
        return this.deleteGiven(cmd.num, cmd.shard);
      case "confirmed":
        return this.confirm(cmd.num, cmd.shard);
    }
  }

  /**
   * What a pull for `shard` as of config `num` gets: the shard while we keep it as given away
   * in `num`. Once we are at or past `num` without it, the new owner already installed it (we
   * delete a given shard only after that), so the empty answer is a duplicate it ignores.
   */
  exportShard(num: number, shard: number): Export {
    if (this.config.num < num) return { kind: "later" };
    const held = this.shards.get(shard);
    if (held?.state !== "giving" || held.num !== num) return { kind: "shard", data: [], dedup: [] };
    return {
      kind: "shard",
      data: [...held.data],
      // BUG no-dedup-transfer: the data moves, the record of what was already applied stays.
      dedup: this.bugs.noDedupTransfer ? [] : [...held.dedup],
    };
  }

  /** Whether the shard given away in `num` is gone (or was never ours to give then). */
  deleted(num: number, shard: number): boolean {
    const held = this.shards.get(shard);
    return this.config.num >= num && !(held?.state === "giving" && held.num === num);
  }

  private serves(shard: Shard | undefined): shard is Shard {
    if (shard === undefined) return false;
    // BUG serve-unowned: "do we have the data?" instead of "is it ours in this config?".
    if (this.bugs.serveUnowned && shard.state === "giving") return true;
    return shard.state === "serving" || shard.state === "confirming";
  }

  private applyOp(op: ClientOp, client: string | undefined, seq: number | undefined): Body {
    const s = key2shard(op.key);
    const shard = this.shards.get(s);
    if (!this.serves(shard)) {
      return errorBody(
        ErrorCode.temporarilyUnavailable,
        `${WRONG_GROUP}: gid ${this.gid} does not serve shard ${s} in config ${this.config.num}`,
      );
    }
    if (op.type === "get") return { type: "get_ok", value: shard.data.get(op.key) ?? "" };
    if (client !== undefined && seq !== undefined) {
      const last = shard.dedup.get(client);
      if (last !== undefined && seq === last.seq) return last.reply;
      if (last !== undefined && seq < last.seq) {
        return errorBody(ErrorCode.crash, `request ${seq} superseded by ${last.seq}`);
      }
    }
    const old = shard.data.get(op.key) ?? "";
    shard.data.set(op.key, op.type === "put" ? op.value : old + op.value);
    const reply: Body = { type: `${op.type}_ok` };
    if (client !== undefined && seq !== undefined) remember(shard.dedup, client, { seq, reply });
    return reply;
  }

  private applyConfig(next: Config): Body {
    // BUG skip-config: any newer config will do, so configs in between are never handled.
    const inOrder = this.bugs.skipConfig
      ? next.num > this.config.num
      : next.num === this.config.num + 1;
    if (!inOrder || !this.settled()) {
      return { type: "config_ignored", num: this.config.num };
    }
    for (let s = 0; s < NSHARDS; s++) {
      const was = this.config.shards[s];
      const now = next.shards[s];
      if (now === this.gid && was !== this.gid) {
        // From gid 0 there is nothing to pull: the shard starts empty.
        const state: ShardState = was === 0 ? "serving" : "pulling";
        this.shards.set(s, { state, num: next.num, data: new Map(), dedup: new Map() });
      } else if (was === this.gid && now !== this.gid) {
        const shard = this.shards.get(s) as Shard;
        // To gid 0 (every group left) there is nobody to hand it to.
        if (now === 0) this.shards.delete(s);
        else Object.assign(shard, { state: "giving", num: next.num });
      }
    }
    this.prev = this.config;
    this.config = next;
    return { type: "config_ok", num: next.num };
  }

  private install(cmd: { num: number; shard: number } & ShardData): Body {
    const shard = this.shards.get(cmd.shard);
    if (cmd.num !== this.config.num || shard?.state !== "pulling") {
      return { type: "install_ignored" }; // a duplicate, or for a config we have left
    }
    Object.assign(shard, {
      state: "confirming",
      data: new Map(cmd.data),
      dedup: new Map(cmd.dedup),
    });
    return { type: "install_ok" };
  }

  private deleteGiven(num: number, s: number): Body {
    if (this.config.num < num) {
      return errorBody(ErrorCode.temporarilyUnavailable, `not at config ${num} yet`);
    }
    const shard = this.shards.get(s);
    if (shard?.state === "giving" && shard.num === num) {
      this.shards.delete(s);
      // BUG no-gc: the shard is no longer ours, but its keys stay in one flat map, as in a
      // server that keeps every shard's keys together and never removes a moved shard's.
      if (this.bugs.noGc) for (const [k, v] of shard.data) this.kept.set(k, v);
    }
    return { type: "delete_ok" };
  }

  private confirm(num: number, s: number): Body {
    const shard = this.shards.get(s);
    if (shard?.state === "confirming" && shard.num === num) shard.state = "serving";
    return { type: "confirmed_ok" };
  }

  snapshot(): GroupSnapshot {
    return {
      config: this.config,
      prev: this.prev,
      shards: [...this.shards].map(([s, shard]) => [
        s,
        { state: shard.state, num: shard.num, data: [...shard.data], dedup: [...shard.dedup] },
      ]),
      ...(this.kept.size > 0 && { kept: [...this.kept] }),
    };
  }

  restore(state: unknown): void {
    const snap = state as GroupSnapshot;
    const config = parseConfig(snap?.config);
    const prev = parseConfig(snap?.prev);
    if (!config || !prev || !Array.isArray(snap.shards)) throw new Error("not a GroupSnapshot");
    const shards = new Map<number, Shard>();
    for (const [s, stored] of snap.shards) {
      if (
        !isShardNum(s) ||
        !SHARD_STATES.has(stored?.state) ||
        !isNum(stored.num) ||
        !isShardData({ ...stored })
      ) {
        throw new Error(`not a GroupSnapshot: shard ${s}`);
      }
      shards.set(s, {
        state: stored.state,
        num: stored.num,
        data: new Map(stored.data),
        dedup: new Map(stored.dedup),
      });
    }
    const kept = Array.isArray(snap.kept) ? snap.kept : [];
    if (!isShardData({ data: kept, dedup: [] })) throw new Error("not a GroupSnapshot: kept");
    this.config = config;
    this.prev = prev;
    this.shards = shards;
    this.kept = new Map(kept);
  }
}

function remember(dedup: Map<string, DedupRecord>, client: string, record: DedupRecord): void {
  // Map order is insertion order: re-inserting keeps the most recently active client last.
  dedup.delete(client);
  dedup.set(client, record);
  if (dedup.size > MAX_DEDUP_CLIENTS_PER_SHARD) {
    dedup.delete(dedup.keys().next().value as string);
  }
}
