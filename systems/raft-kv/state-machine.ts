// The replicated state machine: Maelstrom's lin-kv (read / write / cas, keys and values any
// JSON) and MIT's kv (get / put / append, strings), in separate namespaces, plus the table that
// makes a retried request take effect once. Every replica applies the same commands in the same
// order and must end in the same state, so nothing here may depend on time, randomness or the
// node it runs on.
import type { Body } from "../lib/maelstrom-node.js";
import { ErrorCode, RPCError } from "../lib/maelstrom-node.js";

export type KvOp =
  | { type: "read"; key: unknown }
  | { type: "write"; key: unknown; value: unknown }
  | { type: "cas"; key: unknown; from: unknown; to: unknown }
  | { type: "get"; key: string }
  | { type: "put"; key: string; value: string }
  | { type: "append"; key: string; value: string };

/**
 * A log entry's command: the client's request and its identity. `client` is the Maelstrom
 * client that sent it (`c12`) and `id` that client's msg_id, so a request forwarded, retried or
 * duplicated by the network keeps one identity wherever it ends up in the log.
 */
export interface KvCommand {
  client: string;
  id: number;
  op: KvOp;
}

/** Ops that change state; only these are deduplicated (a read has no effect to repeat). */
export const MUTATING = new Set(["write", "cas", "put", "append"]);
export const READS = new Set(["read", "get"]);

/** Clients remembered by the dedup table; the least recently active is forgotten first. */
export const MAX_DEDUP_CLIENTS = 10_000;

/** Validates a client request body into an op; RPCError 12 (or 10) when it is not one. */
export function parseOp(body: Body): KvOp {
  const malformed = (what: string) =>
    new RPCError(ErrorCode.malformedRequest, `${body.type} needs ${what}`);
  switch (body.type) {
    case "read":
      if (body.key === undefined) throw malformed("a key");
      return { type: "read", key: body.key };
    case "write":
      if (body.key === undefined || body.value === undefined) throw malformed("a key and a value");
      return { type: "write", key: body.key, value: body.value };
    case "cas":
      if (body.key === undefined || body.from === undefined || body.to === undefined) {
        throw malformed("a key, from and to");
      }
      return { type: "cas", key: body.key, from: body.from, to: body.to };
    case "get":
      if (typeof body.key !== "string") throw malformed("a string key");
      return { type: "get", key: body.key };
    case "put":
    case "append":
      if (typeof body.key !== "string" || typeof body.value !== "string") {
        throw malformed("a string key and a string value");
      }
      return { type: body.type, key: body.key, value: body.value };
    default:
      throw new RPCError(ErrorCode.notSupported, `unknown request type "${body.type}"`);
  }
}

export function isKvCommand(cmd: unknown): cmd is KvCommand {
  if (typeof cmd !== "object" || cmd === null) return false;
  const { client, id, op } = cmd as Record<string, unknown>;
  if (typeof client !== "string" || !Number.isSafeInteger(id)) return false;
  if (typeof op !== "object" || op === null) return false;
  try {
    parseOp(op as Body);
    return true;
  } catch {
    return false;
  }
}

function errorBody(code: number, text: string): Body {
  return { type: "error", code, text };
}

/** Equal JSON values are equal keys and values (object key order aside, as in lin-kv). */
const json = (v: unknown) => JSON.stringify(v);

interface DedupRecord {
  id: number;
  reply: Body;
}

export interface KvSnapshot {
  linKv: Array<[string, unknown]>;
  kv: Array<[string, string]>;
  dedup: Array<[string, DedupRecord]>;
}

export class KvStateMachine {
  private linKv = new Map<string, unknown>();
  private kv = new Map<string, string>();
  private dedup = new Map<string, DedupRecord>();

  /** `deduplicate` false is the no-dedup bug. */
  constructor(private readonly deduplicate = true) {}

  /**
   * Applies a committed command and returns the reply for its client. A mutating request whose
   * (client, id) was already applied is not applied again: it gets the first reply. One older
   * than the client's latest applied request can only be a stale retry of a request the client
   * gave up on; it is skipped (taking effect now would be out of order for that client).
   */
  apply(cmd: KvCommand): Body {
    if (!MUTATING.has(cmd.op.type)) return this.query(cmd.op);
    if (this.deduplicate) {
      const last = this.dedup.get(cmd.client);
      if (last !== undefined && cmd.id === last.id) return last.reply;
      if (last !== undefined && cmd.id < last.id) {
        return errorBody(ErrorCode.crash, `request ${cmd.id} superseded by ${last.id}`);
      }
    }
    const reply = this.mutate(cmd.op);
    if (this.deduplicate) this.remember(cmd.client, { id: cmd.id, reply });
    return reply;
  }

  /** The reply a mutating request got, if it is the client's latest applied one. */
  appliedReply(client: string, id: number): Body | undefined {
    const last = this.dedup.get(client);
    return last?.id === id ? last.reply : undefined;
  }

  /** Evaluates a read against the current state. */
  query(op: KvOp): Body {
    switch (op.type) {
      case "read": {
        const k = json(op.key);
        if (!this.linKv.has(k)) return errorBody(ErrorCode.keyDoesNotExist, "key does not exist");
        return { type: "read_ok", value: this.linKv.get(k) };
      }
      case "get":
        return { type: "get_ok", value: this.kv.get(op.key) ?? "" };
      default:
        throw new Error(`${op.type} is not a read`);
    }
  }

  private mutate(op: KvOp): Body {
    switch (op.type) {
      case "write":
        this.linKv.set(json(op.key), op.value);
        return { type: "write_ok" };
      case "cas": {
        const k = json(op.key);
        if (!this.linKv.has(k)) return errorBody(ErrorCode.keyDoesNotExist, "key does not exist");
        const current = this.linKv.get(k);
        if (json(current) !== json(op.from)) {
          return errorBody(
            ErrorCode.preconditionFailed,
            `current value ${json(current)} is not ${json(op.from)}`,
          );
        }
        this.linKv.set(k, op.to);
        return { type: "cas_ok" };
      }
      case "put":
        this.kv.set(op.key, op.value);
        return { type: "put_ok" };
      case "append":
        this.kv.set(op.key, (this.kv.get(op.key) ?? "") + op.value);
        return { type: "append_ok" };
      default:
        throw new Error(`${op.type} does not mutate`);
    }
  }

  private remember(client: string, record: DedupRecord): void {
    // Map order is insertion order: re-inserting keeps the most recently active client last.
    this.dedup.delete(client);
    this.dedup.set(client, record);
    if (this.dedup.size > MAX_DEDUP_CLIENTS) {
      const oldest = this.dedup.keys().next().value as string;
      this.dedup.delete(oldest);
    }
  }

  snapshot(): KvSnapshot {
    return {
      linKv: [...this.linKv],
      kv: [...this.kv],
      dedup: [...this.dedup],
    };
  }

  restore(snapshot: unknown): void {
    const s = snapshot as KvSnapshot;
    if (!Array.isArray(s?.linKv) || !Array.isArray(s.kv) || !Array.isArray(s.dedup)) {
      throw new Error("not a KvSnapshot");
    }
    this.linKv = new Map(s.linKv);
    this.kv = new Map(s.kv);
    this.dedup = new Map(s.dedup);
  }
}
