// The shard controller (README.md "Controller RPCs"): a replicated state machine holding the
// numbered configs, plus the service that answers join / leave / move / query on one replica.
// Every replica applies the same commands in the same order and must end with the same configs,
// so the machine depends on nothing but its commands (rebalance.ts breaks ties by gid order),
// except under the uneven-rebalance bug, which breaks them by an order each process draws at
// random, as Go's map iteration does to a shardctrler that ranges over a map.
import {
  type Config,
  type Gid,
  initialConfig,
  NSHARDS,
  parseConfig,
  WRONG_LEADER,
} from "../../protocols/shard-kv.js";
import { type Body, ErrorCode, RPCError } from "../lib/maelstrom-node.js";
import type { Replicated, StateMachine } from "../lib/replicated.js";
import { byGid, type GidOrder, join, leave, move } from "./rebalance.js";

export type ControllerCommand =
  | { op: "join"; groups: Record<string, string[]>; client: string; seq: number }
  | { op: "leave"; gids: number[]; client: string; seq: number }
  | { op: "move"; shard: number; gid: number; client: string; seq: number }
  | { op: "query"; num: number };

/** Bounds on one request's values, which come from an untrusted client. */
export const MAX_GIDS_PER_REQUEST = 64;
export const MAX_SERVERS_PER_GROUP = 16;
export const MAX_NAME_CHARS = 256;

/**
 * Clients remembered by the duplicate table; the one whose latest request was applied longest
 * ago is forgotten first. Safe because faultline's workload has a handful of controller clients,
 * far below this, so in a test nobody is forgotten; and a forgotten client's retry of a join or
 * leave changes nothing anyway (its gids are joined, or gone), so only a retried move could take
 * effect twice. The bound only stops a client that invents identities from growing the table.
 */
export const MAX_DEDUP_CLIENTS = 10_000;

/** Validates a controller request body; RPCError 12 when it is malformed. */
export function parseControllerRequest(body: Body): ControllerCommand {
  const malformed = (what: string) =>
    new RPCError(ErrorCode.malformedRequest, `${body.type} needs ${what}`);
  if (body.type === "query") {
    if (!Number.isSafeInteger(body.num) || (body.num as number) < -1) {
      throw malformed("an integer num, -1 for the latest");
    }
    return { op: "query", num: body.num as number };
  }
  const { client, seq } = body;
  if (typeof client !== "string" || client.length === 0 || client.length > MAX_NAME_CHARS) {
    throw malformed("a client name");
  }
  if (!Number.isSafeInteger(seq) || (seq as number) < 0) throw malformed("an integer seq ≥ 0");
  const id = { client, seq: seq as number };
  switch (body.type) {
    case "join":
      return { op: "join", groups: parseGroups(body.groups, malformed), ...id };
    case "leave": {
      const { gids } = body;
      if (!Array.isArray(gids) || gids.length === 0 || gids.length > MAX_GIDS_PER_REQUEST) {
        throw malformed(`gids, a list of 1 to ${MAX_GIDS_PER_REQUEST} gids`);
      }
      if (!gids.every(isGid)) throw malformed("gids that are integers ≥ 1");
      return { op: "leave", gids: [...gids], ...id };
    }
    case "move":
      if (!Number.isSafeInteger(body.shard) || !isShard(body.shard as number)) {
        throw malformed(`a shard from 0 to ${NSHARDS - 1}`);
      }
      if (!isGid(body.gid)) throw malformed("a gid ≥ 1");
      return { op: "move", shard: body.shard as number, gid: body.gid as number, ...id };
    default:
      throw new RPCError(ErrorCode.notSupported, `unknown request type "${body.type}"`);
  }
}

const isShard = (shard: number) => shard >= 0 && shard < NSHARDS;

function isGid(value: unknown): value is Gid {
  return Number.isSafeInteger(value) && (value as number) >= 1;
}

function parseGroups(
  value: unknown,
  malformed: (what: string) => RPCError,
): Record<string, string[]> {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw malformed("groups, an object from gid to servers");
  }
  const entries = Object.entries(value);
  if (entries.length === 0 || entries.length > MAX_GIDS_PER_REQUEST) {
    throw malformed(`1 to ${MAX_GIDS_PER_REQUEST} groups`);
  }
  const groups: Record<string, string[]> = {};
  for (const [gid, servers] of entries) {
    if (!/^[1-9]\d{0,14}$/.test(gid)) throw malformed(`gids ≥ 1 as keys, not "${gid}"`);
    const ok =
      Array.isArray(servers) &&
      servers.length >= 1 &&
      servers.length <= MAX_SERVERS_PER_GROUP &&
      servers.every((s) => typeof s === "string" && s.length > 0 && s.length <= MAX_NAME_CHARS);
    if (!ok) throw malformed(`1 to ${MAX_SERVERS_PER_GROUP} server names for gid ${gid}`);
    groups[gid] = [...(servers as string[])];
  }
  return groups;
}

interface DedupRecord {
  seq: number;
  reply: Body;
}

export interface ControllerSnapshot {
  configs: Config[];
  /** Least recently applied client first. */
  dedup: Array<[string, DedupRecord]>;
}

export interface ControllerMachineOptions {
  /** The uneven-rebalance bug: ties among groups broken by a per-process random order. */
  unevenRebalance?: boolean;
  /** Where the bug's order comes from (a test passes a seeded one); Math.random by default. */
  random?: () => number;
}

/**
 * The uneven-rebalance bug's tie-break: gids ranked by a hash salted once per process, so each
 * replica ranks equally loaded groups its own way.
 */
export function randomGidOrder(random: () => number): GidOrder {
  const salt = Math.floor(random() * 2 ** 32);
  const rank = (gid: Gid) => {
    // A 32-bit mixing function (murmur3's finaliser), enough to scramble small gids.
    let h = (gid ^ salt) >>> 0;
    h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
    h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
    return (h ^ (h >>> 16)) >>> 0;
  };
  return (a, b) => rank(a) - rank(b) || a - b;
}

const errorBody = (code: number, text: string): Body => ({ type: "error", code, text });

export class ControllerMachine implements StateMachine<ControllerCommand> {
  /**
   * configs[n] is config n. Never trimmed: any config may be queried by number, and there are
   * only as many as the join/leave/move requests that changed something.
   */
  private configs: Config[] = [freeze(initialConfig())];
  private dedup = new Map<string, DedupRecord>();
  private readonly order: GidOrder;

  constructor(options: ControllerMachineOptions = {}) {
    this.order = options.unevenRebalance ? randomGidOrder(options.random ?? Math.random) : byGid;
  }

  /** The latest config's number. */
  get latest(): number {
    return this.configs.length - 1;
  }

  /** Config `num` when this replica has it (configs never change, so any replica may answer). */
  config(num: number): Config | undefined {
    return Number.isSafeInteger(num) && num >= 0 ? this.configs[num] : undefined;
  }

  /**
   * Applies a committed command and returns its reply body. A request whose (client, seq) is
   * the client's latest applied one gets the first reply again; an older one can only be a
   * stale copy of a request the client has moved on from, and is not applied.
   */
  apply(cmd: ControllerCommand, _index?: number): Body {
    if (cmd.op === "query") {
      const num = cmd.num < 0 || cmd.num > this.latest ? this.latest : cmd.num;
      return { type: "query_ok", config: this.configs[num] };
    }
    const last = this.dedup.get(cmd.client);
    if (last !== undefined && cmd.seq === last.seq) return last.reply;
    if (last !== undefined && cmd.seq < last.seq) {
      return errorBody(ErrorCode.crash, `request ${cmd.seq} superseded by ${last.seq}`);
    }
    const reply = this.change(cmd);
    this.remember(cmd.client, { seq: cmd.seq, reply });
    return reply;
  }

  private change(cmd: Exclude<ControllerCommand, { op: "query" }>): Body {
    const prev = this.configs[this.latest] as Config;
    switch (cmd.op) {
      case "join":
        this.push(join(prev, cmd.groups, this.order));
        return { type: "join_ok" };
      case "leave":
        this.push(leave(prev, cmd.gids, this.order));
        return { type: "leave_ok" };
      case "move": {
        const next = move(prev, cmd.shard, cmd.gid);
        if (next === undefined) {
          return errorBody(ErrorCode.malformedRequest, `gid ${cmd.gid} has not joined`);
        }
        this.push(next);
        return { type: "move_ok" };
      }
    }
  }

  private push(next: Config | undefined): void {
    if (next !== undefined) this.configs.push(freeze(next));
  }

  private remember(client: string, record: DedupRecord): void {
    // Map order is insertion order: re-inserting keeps the most recently applied client last.
    this.dedup.delete(client);
    this.dedup.set(client, record);
    if (this.dedup.size > MAX_DEDUP_CLIENTS) {
      this.dedup.delete(this.dedup.keys().next().value as string);
    }
  }

  snapshot(): ControllerSnapshot {
    return { configs: [...this.configs], dedup: [...this.dedup] };
  }

  restore(state: unknown): void {
    const s = state as ControllerSnapshot;
    if (!Array.isArray(s?.configs) || !Array.isArray(s.dedup) || s.configs.length === 0) {
      throw new Error("not a ControllerSnapshot");
    }
    const configs = s.configs.map((c, i) => {
      const config = parseConfig(c);
      if (config?.num !== i) throw new Error(`snapshot config ${i} is not config ${i}`);
      return freeze(structuredClone(config));
    });
    const dedup = new Map<string, DedupRecord>();
    for (const entry of s.dedup) {
      const [client, record] = entry as [unknown, DedupRecord | undefined];
      if (typeof client !== "string" || !Number.isSafeInteger(record?.seq)) {
        throw new Error("snapshot duplicate table is malformed");
      }
      dedup.set(client, structuredClone(record as DedupRecord));
    }
    this.configs = configs;
    this.dedup = dedup;
  }
}

/** A config frozen all the way down: configs never change once made. */
function freeze(config: Config): Config {
  Object.freeze(config.shards);
  for (const servers of Object.values(config.groups)) Object.freeze(servers);
  Object.freeze(config.groups);
  return Object.freeze(config);
}

export interface ControllerServiceOptions {
  /** How long a submitted command may take to be applied before the answer is "unknown". */
  submit_timeout_ms: number;
}

/** One controller replica's request handling. */
export class ControllerService {
  constructor(
    private readonly rsm: Replicated<ControllerCommand, Body>,
    private readonly machine: ControllerMachine,
    private readonly options: ControllerServiceOptions,
  ) {}

  /** The reply body for a controller request, or an error body. */
  async handle(body: Body): Promise<Body> {
    let cmd: ControllerCommand;
    try {
      cmd = parseControllerRequest(body);
    } catch (error) {
      if (error instanceof RPCError) return error.toBody();
      throw error;
    }
    // A config this replica has is final: answering from the local copy is linearizable.
    if (cmd.op === "query" && cmd.num >= 0 && cmd.num <= this.machine.latest) {
      return { type: "query_ok", config: this.machine.config(cmd.num) };
    }
    const outcome = await this.rsm.submit(cmd, this.options.submit_timeout_ms);
    switch (outcome.kind) {
      case "applied":
        return outcome.result;
      case "not-done":
        return errorBody(ErrorCode.temporarilyUnavailable, WRONG_LEADER);
      case "unknown":
        return errorBody(ErrorCode.crash, `outcome unknown: ${outcome.reason}`);
    }
  }
}
