// The replicated state machine both paxos-kv and pb-kv run: Maelstrom's lin-kv ops (read /
// write / cas) and the MIT-style kv ops (get / put / append), with at-most-once execution by
// client and request id. It is deterministic: replicas that apply the same ops in the same
// order hold the same state and compute the same replies, so a replica can answer its own
// clients from its own copy. Imports nothing but the node library's types.
import { type Body, ErrorCode, RPCError } from "../lib/maelstrom-node.js";

/** One client operation as the workloads send it (the request body minus envelope fields). */
export type KvOp =
  | { f: "read"; key: unknown }
  | { f: "write"; key: unknown; value: unknown }
  | { f: "cas"; key: unknown; from: unknown; to: unknown }
  | { f: "get"; key: string }
  | { f: "put"; key: string; value: string }
  | { f: "append"; key: string; value: string };

/** An op with its identity: `client` is the requester (`c7`), `req` its increasing msg_id. */
export interface ClientOp {
  client: string;
  req: number;
  op: KvOp;
}

/** What the op answered: a reply body, or a Maelstrom error. Stored for duplicate requests. */
export type OpResult = { body: Body } | { code: number; text: string };

/**
 * fresh: applied now. repeat: this exact request was applied before (its stored result is
 * returned, the state is unchanged). stale: the client has since had a later request applied,
 * so this one is not applied and whether it ever was is unknown.
 */
export type ApplyStatus = "fresh" | "repeat" | "stale";

export interface MachineSnapshot {
  /** [space-qualified key, value] pairs. */
  data: Array<[string, unknown]>;
  /** [client, last applied req, its result]. */
  clients: Array<[string, number, OpResult]>;
}

export const CLIENT_OP_TYPES = ["read", "write", "cas", "get", "put", "append"] as const;
/** Equal JSON values share one slot; lin-kv and kv keys live in separate namespaces. */
function slot(space: "lin-kv" | "kv", key: unknown): string {
  return `${space} ${JSON.stringify(key)}`;
}

function requireString(body: Body, field: "key" | "value"): string {
  const v = body[field];
  if (typeof v !== "string") {
    throw new RPCError(ErrorCode.malformedRequest, `${body.type} needs a string ${field}`);
  }
  return v;
}

/** Validates a client request body; throws RPCError 12 (definite) when it is malformed. */
export function parseKvOp(body: Body): KvOp {
  const need = (field: string): unknown => {
    if (body[field] === undefined) {
      throw new RPCError(ErrorCode.malformedRequest, `${body.type} needs ${field}`);
    }
    return body[field];
  };
  switch (body.type) {
    case "read":
      return { f: "read", key: need("key") };
    case "write":
      return { f: "write", key: need("key"), value: need("value") };
    case "cas":
      return { f: "cas", key: need("key"), from: need("from"), to: need("to") };
    case "get":
      return { f: "get", key: requireString(body, "key") };
    case "put":
      return { f: "put", key: requireString(body, "key"), value: requireString(body, "value") };
    case "append":
      return { f: "append", key: requireString(body, "key"), value: requireString(body, "value") };
    default:
      throw new RPCError(ErrorCode.notSupported, `unknown request type "${body.type}"`);
  }
}

/** The Maelstrom reply body for a result: `{type: "read_ok", value}` or an `error`. */
export function resultBody(result: OpResult): Body {
  return "body" in result ? result.body : { type: "error", code: result.code, text: result.text };
}

export class KvMachine {
  private readonly data = new Map<string, unknown>();
  private readonly clients = new Map<string, { req: number; result: OpResult }>();

  /** Applies `cop` unless its client already had this or a later request applied. */
  apply(cop: ClientOp): { status: ApplyStatus; result: OpResult | undefined } {
    const last = this.clients.get(cop.client);
    if (last !== undefined && last.req === cop.req)
      return { status: "repeat", result: last.result };
    if (last !== undefined && last.req > cop.req) return { status: "stale", result: undefined };
    const result = this.execute(cop.op);
    this.clients.set(cop.client, { req: cop.req, result });
    return { status: "fresh", result };
  }

  /** Whether this exact request was the client's last applied one, and its result. */
  lastResult(client: string, req: number): OpResult | undefined {
    const last = this.clients.get(client);
    return last?.req === req ? last.result : undefined;
  }

  get keyCount(): number {
    return this.data.size;
  }

  snapshot(): MachineSnapshot {
    return {
      data: [...this.data],
      clients: [...this.clients].map(([c, { req, result }]) => [c, req, result]),
    };
  }

  static restore(s: MachineSnapshot): KvMachine {
    const m = new KvMachine();
    for (const [k, v] of s.data) m.data.set(k, v);
    for (const [c, req, result] of s.clients) m.clients.set(c, { req, result });
    return m;
  }

  private execute(op: KvOp): OpResult {
    switch (op.f) {
      case "read": {
        const value = this.data.get(slot("lin-kv", op.key));
        if (value === undefined) {
          return { code: ErrorCode.keyDoesNotExist, text: "key does not exist" };
        }
        return { body: { type: "read_ok", value } };
      }
      case "write":
        this.data.set(slot("lin-kv", op.key), op.value);
        return { body: { type: "write_ok" } };
      case "cas": {
        const s = slot("lin-kv", op.key);
        const current = this.data.get(s);
        if (current === undefined) {
          return { code: ErrorCode.keyDoesNotExist, text: "key does not exist" };
        }
        if (JSON.stringify(current) !== JSON.stringify(op.from)) {
          const text = `current value ${JSON.stringify(current)} is not ${JSON.stringify(op.from)}`;
          return { code: ErrorCode.preconditionFailed, text };
        }
        this.data.set(s, op.to);
        return { body: { type: "cas_ok" } };
      }
      case "get":
        return {
          body: { type: "get_ok", value: (this.data.get(slot("kv", op.key)) as string) ?? "" },
        };
      case "put":
        this.data.set(slot("kv", op.key), op.value);
        return { body: { type: "put_ok" } };
      case "append": {
        const s = slot("kv", op.key);
        this.data.set(s, `${(this.data.get(s) as string | undefined) ?? ""}${op.value}`);
        return { body: { type: "append_ok" } };
      }
    }
  }
}
