// A small Maelstrom node library for faultline's own reference systems
// (README.md "The node protocol"). A node reads JSON messages, one per line, on stdin,
// writes messages, one per line, on stdout, and logs on stderr. Reference systems are
// independent programs, so this file imports nothing from harness/, workloads/ or checkers/.
//
//   const node = new MaelstromNode();
//   node.on("echo", (req) => node.reply(req, { type: "echo_ok", echo: req.body.echo }));
//   node.run();
import { createInterface } from "node:readline";
import { parseArgs } from "node:util";

/** A message body: `type` is mandatory; requests carry `msg_id`, replies `in_reply_to`. */
export type Body = {
  type: string;
  msg_id?: unknown;
  in_reply_to?: unknown;
  [key: string]: unknown;
};

export interface Message {
  src: string;
  dest: string;
  body: Body;
}

/**
 * Maelstrom's error codes (README.md "The node protocol"). Codes >= 1000 are free for a system's
 * own use.
 */
export const ErrorCode = {
  timeout: 0,
  nodeNotFound: 1,
  notSupported: 10,
  temporarilyUnavailable: 11,
  malformedRequest: 12,
  crash: 13,
  abort: 14,
  keyDoesNotExist: 20,
  keyAlreadyExists: 21,
  preconditionFailed: 22,
  txnConflict: 30,
} as const;

/** Thrown by a handler to answer with a Maelstrom error; rejected by `rpc` on an error reply. */
export class RPCError extends Error {
  override name = "RPCError";
  constructor(
    readonly code: number,
    text: string,
  ) {
    super(text);
  }

  toBody(): Body {
    return { type: "error", code: this.code, text: this.message };
  }
}

/** Command-line options every reference node understands. */
export interface NodeArgs {
  /** `--bug NAME`: run a deliberately wrong variant. */
  bug: string | undefined;
  /** `--workload NAME`: optional hint for programs that serve several workloads. */
  workload: string | undefined;
  /** Values of the program's own string options (`extra` names), when given. */
  extra: Record<string, string | undefined>;
}

/** Parses the common options plus `extra`, a program's own string options (unknown ones fail). */
export function parseNodeArgs(
  extra: readonly string[] = [],
  argv: readonly string[] = process.argv.slice(2),
): NodeArgs {
  const options: Record<string, { type: "string" }> = {
    bug: { type: "string" },
    workload: { type: "string" },
  };
  for (const name of extra) options[name] = { type: "string" };
  const { values } = parseArgs({ args: [...argv], options, strict: true, allowPositionals: false });
  const strings = values as Record<string, string | undefined>;
  return {
    bug: strings.bug,
    workload: strings.workload,
    extra: Object.fromEntries(extra.map((name) => [name, strings[name]])),
  };
}

/**
 * Where a durable system keeps its files: the harness gives every node its own directory and
 * keeps it across a kill and restart. Undefined when the node runs outside faultline.
 */
export const dataDir: string | undefined = process.env.FAULTLINE_DATA_DIR || undefined;

export type Handler = (req: Message) => void | Promise<void>;

interface PendingRpc {
  dest: string;
  resolve: (body: Body) => void;
  reject: (err: Error) => void;
  timer: NodeJS.Timeout;
}

/** Bounds, so a partitioned peer cannot make the node grow without limit. */
export const MAX_PENDING_RPCS = 10_000;
/** Lines longer than this are not messages any workload sends; dropped with a log line. */
export const MAX_LINE_CHARS = 64 * 1024 * 1024;

export class MaelstromNode {
  /** This node's id (`n3`) and every node's id, in the order init gave them; set by `init`. */
  nodeId = "";
  nodeIds: string[] = [];

  // Never 0: some libraries treat in_reply_to 0 as "not a reply" (README.md "The node protocol").
  private nextMsgId = 1;
  private readonly handlers = new Map<string, Handler>();
  private readonly pending = new Map<number, PendingRpc>();
  private readonly initCallbacks: Array<() => void> = [];

  /** Registers the handler for requests of one body type. */
  on(type: string, handler: Handler): this {
    if (type === "init") throw new Error("init is handled by the library; use onInit()");
    if (this.handlers.has(type)) throw new Error(`handler for "${type}" registered twice`);
    this.handlers.set(type, handler);
    return this;
  }

  /** Runs after init_ok has been sent: start timers here (node ids are known now). */
  onInit(callback: () => void): this {
    this.initCallbacks.push(callback);
    return this;
  }

  /** Runs `task` every `interval_ms` once the node is initialised; a throwing task is logged. */
  every(interval_ms: number, task: () => void): this {
    if (!(interval_ms > 0))
      throw new RangeError(`interval_ms must be positive, got ${interval_ms}`);
    return this.onInit(() => {
      setInterval(() => {
        try {
          task();
        } catch (err) {
          this.log("periodic task failed:", (err as Error).stack ?? err);
        }
      }, interval_ms);
    });
  }

  /** Sends a message; one `write` of one whole line, so lines never interleave. */
  send(dest: string, body: Body): void {
    const line = JSON.stringify({ src: this.nodeId, dest, body });
    process.stdout.write(`${line}\n`);
  }

  /** Answers a request: the reply's `in_reply_to` is the request's `msg_id`. */
  reply(req: Message, body: Body): void {
    if (req.body.msg_id === undefined) {
      throw new Error(`cannot reply to a "${req.body.type}" from ${req.src}: it has no msg_id`);
    }
    this.send(req.src, { ...body, in_reply_to: req.body.msg_id });
  }

  /**
   * Sends a request and resolves with the reply body. Rejects with RPCError: the peer's own
   * error reply, code 0 (timeout) when no reply came within `timeout_ms` (the request may
   * still have taken effect), or code 11 when too many requests are already outstanding.
   */
  rpc(dest: string, body: Body, timeout_ms: number): Promise<Body> {
    if (!(timeout_ms > 0)) throw new RangeError(`timeout_ms must be positive, got ${timeout_ms}`);
    if (this.pending.size >= MAX_PENDING_RPCS) {
      const text = `${MAX_PENDING_RPCS} requests already awaiting replies`;
      return Promise.reject(new RPCError(ErrorCode.temporarilyUnavailable, text));
    }
    const msgId = this.nextMsgId++;
    return new Promise<Body>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(msgId);
        reject(new RPCError(ErrorCode.timeout, `no reply from ${dest} within ${timeout_ms} ms`));
      }, timeout_ms);
      this.pending.set(msgId, { dest, resolve, reject, timer });
      this.send(dest, { ...body, msg_id: msgId });
    });
  }

  /** Logs to stderr: stdout carries messages only. */
  log(...parts: unknown[]): void {
    const text = parts.map((p) => (typeof p === "string" ? p : JSON.stringify(p))).join(" ");
    process.stderr.write(`[${this.nodeId || "uninitialised"}] ${text}\n`);
  }

  /** Starts reading stdin; the process exits when stdin closes (the harness is done with us). */
  run(): void {
    const lines = createInterface({ input: process.stdin, crlfDelay: Number.POSITIVE_INFINITY });
    lines.on("line", (line) => this.handleLine(line));
    lines.on("close", () => process.exit(0));
  }

  private handleLine(line: string): void {
    if (line.trim() === "") return;
    if (line.length > MAX_LINE_CHARS) {
      this.log(`dropped a ${line.length}-character line (limit ${MAX_LINE_CHARS})`);
      return;
    }
    let msg: Message;
    try {
      msg = parseMessage(line);
    } catch (err) {
      this.log(`dropped a malformed line (${(err as Error).message}):`, line.slice(0, 200));
      return;
    }
    // A reply is recognised by the presence of in_reply_to, not its truthiness (README.md
    // "The node protocol").
    if ("in_reply_to" in msg.body) {
      this.handleReply(msg);
      return;
    }
    void this.handleRequest(msg);
  }

  private handleReply(msg: Message): void {
    const id = msg.body.in_reply_to;
    const call = typeof id === "number" ? this.pending.get(id) : undefined;
    if (!call || call.dest !== msg.src) {
      // Late (after our timeout) or duplicated by the network: nothing is waiting for it.
      return;
    }
    this.pending.delete(id as number);
    clearTimeout(call.timer);
    if (msg.body.type === "error") {
      const code = typeof msg.body.code === "number" ? msg.body.code : ErrorCode.crash;
      call.reject(new RPCError(code, String(msg.body.text ?? `error ${code} from ${msg.src}`)));
    } else {
      call.resolve(msg.body);
    }
  }

  private async handleRequest(req: Message): Promise<void> {
    try {
      if (req.body.type === "init") {
        this.handleInit(req);
        return;
      }
      if (this.nodeId === "") {
        throw new RPCError(ErrorCode.temporarilyUnavailable, "node has not received init yet");
      }
      const handler = this.handlers.get(req.body.type);
      if (!handler) {
        throw new RPCError(ErrorCode.notSupported, `unknown message type "${req.body.type}"`);
      }
      await handler(req);
    } catch (err) {
      const error =
        err instanceof RPCError
          ? err
          : new RPCError(ErrorCode.crash, `internal error: ${(err as Error).message ?? err}`);
      if (!(err instanceof RPCError)) this.log("handler failed:", (err as Error).stack ?? err);
      if (req.body.msg_id !== undefined) this.reply(req, error.toBody());
      else this.log(`"${req.body.type}" from ${req.src} failed: ${error.message}`);
    }
  }

  private handleInit(req: Message): void {
    const { node_id, node_ids } = req.body;
    if (typeof node_id !== "string" || !Array.isArray(node_ids)) {
      throw new RPCError(ErrorCode.malformedRequest, "init needs node_id and node_ids");
    }
    if (!node_ids.every((n) => typeof n === "string") || !node_ids.includes(node_id)) {
      throw new RPCError(ErrorCode.malformedRequest, "node_ids must be strings including node_id");
    }
    const first = this.nodeId === "";
    this.nodeId = node_id;
    this.nodeIds = node_ids as string[];
    this.reply(req, { type: "init_ok" });
    this.log(`initialised; cluster ${this.nodeIds.join(" ")}`);
    // A repeated init (a confused harness) must not start every timer twice.
    if (first) for (const callback of this.initCallbacks) callback();
  }
}

/** Parses one stdin line; throws on anything that is not a Maelstrom message. */
export function parseMessage(line: string): Message {
  const raw: unknown = JSON.parse(line);
  if (typeof raw !== "object" || raw === null || Array.isArray(raw))
    throw new Error("not an object");
  const { src, dest, body } = raw as Record<string, unknown>;
  if (typeof src !== "string" || typeof dest !== "string") throw new Error("src/dest not strings");
  if (typeof body !== "object" || body === null || Array.isArray(body)) {
    throw new Error("body is not an object");
  }
  if (typeof (body as Body).type !== "string") throw new Error("body has no type");
  return { src, dest, body: body as Body };
}
