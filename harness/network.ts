// The in-harness message router for the `maelstrom` transport (ARCHITECTURE.md "Transports";
// README.md "The network"). Every message between nodes, clients and services passes through
// `send`, is journaled to messages.jsonl, and is delivered, delayed, duplicated or dropped
// according to the link table.
import TinyQueue from "tinyqueue";
import type { Body, Envelope } from "../workloads/protocol.js";
import type { RunClock } from "./clock.js";
import { JsonlWriter } from "./jsonl-writer.js";
import type { LinkTable } from "./links.js";
import type { Random } from "./random.js";

export type ParticipantKind = "node" | "client" | "service";

export interface Endpoint {
  readonly kind: ParticipantKind;
  /** Hands a message over; false when the receiver is gone or not reading (it is dropped). */
  deliver(envelope: Envelope, line: string): boolean;
}

export type DropReason = "partitioned" | "loss" | "unknown-dest" | "receiver-down";

/** Journal bodies above this size keep only their type (targets' values are untrusted). */
const MAX_JOURNAL_BODY_BYTES = 64 * 1024;
const MAX_JOURNAL_BYTES = 512 * 1024 * 1024;
/** At most this many protocol errors are kept in detail; the rest are counted. */
const MAX_PROTOCOL_ERRORS = 100;
/** Messages waiting for their delivery time; beyond this new ones are dropped as loss. */
const MAX_IN_FLIGHT = 1_000_000;

export interface ProtocolError {
  time_ns: number;
  node: string;
  line: number;
  reason: string;
  /** The offending line, cut to 1 KiB. */
  raw: string;
  /** Written before the node answered init, without a src (it did not know its id yet). */
  before_init?: true;
}

/** One node's lines without a src written before it answered init, all counted. */
export interface BeforeInitLines {
  count: number;
  /** How their src looked: `null`, `missing`, `""`. */
  srcs: string[];
  /** The first one. */
  example: ProtocolError;
}

interface InFlight {
  deadline_ns: number;
  seq: number;
  envelope: Envelope;
  line: string;
  /** Who wrote the message; differs from `envelope.src` when a node forwards or relays one. */
  writer: string;
}

export interface NetStats {
  send_count: number;
  recv_count: number;
  drop_count: number;
  /** Messages with a client on either end. */
  clients: { send_count: number; recv_count: number };
  /** Node<->node and node<->service messages. */
  servers: { send_count: number; recv_count: number };
}

export class Network {
  private readonly endpoints = new Map<string, Endpoint>();
  private readonly queue = new TinyQueue<InFlight>([], (a, b) =>
    a.deadline_ns === b.deadline_ns ? a.seq - b.seq : a.deadline_ns - b.deadline_ns,
  );
  private readonly journal: JsonlWriter;
  private readonly observers: Array<(src: string, dest: string, body: Body) => void> = [];
  private readonly taps: { send?: (line: string) => void; recv?: (line: string) => void } = {};
  private timer: NodeJS.Timeout | undefined;
  private timer_deadline_ns = Number.POSITIVE_INFINITY;
  private next_id = 0;
  private seq = 0;
  readonly protocolErrors: ProtocolError[] = [];
  protocol_error_count = 0;
  /** Per node: its protocol errors that were lines written before it answered init. */
  readonly beforeInit = new Map<string, BeforeInitLines>();
  readonly stats: NetStats = {
    send_count: 0,
    recv_count: 0,
    drop_count: 0,
    clients: { send_count: 0, recv_count: 0 },
    servers: { send_count: 0, recv_count: 0 },
  };

  constructor(
    journalPath: string,
    readonly links: LinkTable,
    private readonly random: Random,
    private readonly clock: RunClock,
  ) {
    this.journal = new JsonlWriter(journalPath, {
      flush_bytes: 64 * 1024,
      max_bytes: MAX_JOURNAL_BYTES,
      flush_interval_ms: 200,
    });
  }

  /**
   * Calls `observer` with every node-to-node message as it leaves its sender, after it is routed
   * (the crash-point nemesis kills a node right after it sends a given message). `src` is the
   * node that wrote it, even when it forwards a message with another `src`.
   */
  onNodeMessage(observer: (src: string, dest: string, body: Body) => void): void {
    this.observers.push(observer);
  }

  /** Calls `send`/`recv` with each message's line as it is sent / delivered (--log-net-send/recv). */
  tap(taps: { send?: (line: string) => void; recv?: (line: string) => void }): void {
    Object.assign(this.taps, taps);
  }

  register(id: string, endpoint: Endpoint): void {
    if (this.endpoints.has(id)) throw new Error(`participant ${id} is already registered`);
    this.endpoints.set(id, endpoint);
  }

  unregister(id: string): void {
    this.endpoints.delete(id);
  }

  has(id: string): boolean {
    return this.endpoints.has(id);
  }

  /**
   * Routes one message. `bodyJson` is the body already serialised, when the caller has it.
   * `writer` is the participant that actually sent it: a node may forward a client's request
   * unchanged (`src` still the client), as Maelstrom allows. Faults, latency and partitions are
   * those of the link writer → dest, so forwarding cannot slip through a partition.
   */
  send(
    src: string,
    dest: string,
    body: Body,
    bodyJson: string = JSON.stringify(body),
    writer: string = src,
  ): void {
    const id = this.next_id++;
    const now = this.clock.now_ns();
    const envelope: Envelope = { id, src, dest, body };
    const line = `{"id":${id},"src":${JSON.stringify(src)},"dest":${JSON.stringify(dest)},"body":${bodyJson}}`;
    // Checking length first keeps the byte count off the hot path for small bodies.
    const body_bytes =
      bodyJson.length > MAX_JOURNAL_BODY_BYTES / 3 ? Buffer.byteLength(bodyJson) : bodyJson.length;
    const journalBody =
      body_bytes > MAX_JOURNAL_BODY_BYTES
        ? JSON.stringify({ type: String(body.type).slice(0, 64), truncated_bytes: body_bytes })
        : bodyJson;
    const via = writer === src ? "" : `,"via":${JSON.stringify(writer)}`;
    this.journal.write(
      `{"time":${now},"event":"send","id":${id},"src":${JSON.stringify(src)},"dest":${JSON.stringify(dest)}${via},"body":${journalBody}}`,
    );
    this.taps.send?.(line);
    const involvesClient = this.isClient(writer) || this.isClient(dest);
    this.stats.send_count++;
    (involvesClient ? this.stats.clients : this.stats.servers).send_count++;

    const receiver = this.endpoints.get(dest);
    if (!receiver) {
      this.drop(envelope, now, "unknown-dest");
      return;
    }
    if (involvesClient) {
      // Clients are co-located with their node: no latency, never partitioned (README.md
      // "The network").
      this.deliver(envelope, line, writer, now);
      return;
    }
    this.route(envelope, line, writer, now);
    for (const observer of this.observers) observer(writer, dest, body);
  }

  /** Node-to-node delivery under the faults of the link writer → dest. */
  private route(envelope: Envelope, line: string, writer: string, now: number): void {
    const dest = envelope.dest;
    const link = this.links.get(writer, dest);
    if (link.loss > 0 && this.random.chance(link.loss)) {
      this.drop(envelope, now, "loss");
      return;
    }
    const copies = link.duplicate > 0 && this.random.chance(link.duplicate) ? 2 : 1;
    for (let copy = 0; copy < copies; copy++) {
      const delay_ms = this.links.latency_ms(writer, dest, this.random);
      if (delay_ms <= 0 && this.queue.length === 0) {
        this.deliver(envelope, line, writer, now);
      } else if (this.queue.length >= MAX_IN_FLIGHT) {
        this.drop(envelope, now, "loss");
      } else {
        this.enqueue({
          deadline_ns: now + delay_ms * 1e6,
          seq: this.seq++,
          envelope,
          line,
          writer,
        });
      }
    }
  }

  /**
   * Records a line a node wrote that breaks the protocol. It is not delivered anywhere.
   * `before_init_src` (how its src looked) marks a line written before the node answered init.
   */
  protocolError(
    node: string,
    line_number: number,
    reason: string,
    raw: string,
    before_init_src?: string,
  ): void {
    this.protocol_error_count++;
    const error: ProtocolError = {
      time_ns: this.clock.now_ns(),
      node,
      line: line_number,
      reason,
      raw: raw.length > 1024 ? `${raw.slice(0, 1024)}…` : raw,
      ...(before_init_src !== undefined && { before_init: true as const }),
    };
    if (before_init_src !== undefined) {
      const tally = this.beforeInit.get(node);
      if (!tally) this.beforeInit.set(node, { count: 1, srcs: [before_init_src], example: error });
      else {
        tally.count++;
        if (!tally.srcs.includes(before_init_src)) tally.srcs.push(before_init_src);
      }
    }
    if (this.protocolErrors.length < MAX_PROTOCOL_ERRORS) this.protocolErrors.push(error);
    this.journal.write(JSON.stringify({ time: error.time_ns, event: "protocol-error", ...error }));
  }

  /** Writes out the journal and stops delivering; messages still in flight are dropped. */
  close(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    const now = this.clock.now_ns();
    while (this.queue.length > 0)
      this.drop((this.queue.pop() as InFlight).envelope, now, "receiver-down");
    this.journal.close();
  }

  private isClient(id: string): boolean {
    return id.startsWith("c");
  }

  private enqueue(item: InFlight): void {
    this.queue.push(item);
    if (item.deadline_ns < this.timer_deadline_ns) this.arm(item.deadline_ns);
  }

  private arm(deadline_ns: number): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer_deadline_ns = deadline_ns;
    const wait_ms = Math.max(0, (deadline_ns - this.clock.now_ns()) / 1e6);
    this.timer = setTimeout(() => this.flushDue(), wait_ms);
  }

  private flushDue(): void {
    this.timer = undefined;
    this.timer_deadline_ns = Number.POSITIVE_INFINITY;
    // Timers fire up to a millisecond early or late; deliver everything due within 1 ms.
    const horizon = this.clock.now_ns() + 1e6;
    while (this.queue.length > 0 && (this.queue.peek() as InFlight).deadline_ns <= horizon) {
      const item = this.queue.pop() as InFlight;
      this.deliver(item.envelope, item.line, item.writer, this.clock.now_ns());
    }
    const next = this.queue.peek();
    if (next) this.arm(next.deadline_ns);
  }

  private deliver(envelope: Envelope, line: string, writer: string, now: number): void {
    // Partitions are checked at delivery, so messages in flight when a partition starts are lost.
    if (
      this.links.get(writer, envelope.dest).partitioned &&
      !this.isClient(writer) &&
      !this.isClient(envelope.dest)
    ) {
      this.drop(envelope, now, "partitioned");
      return;
    }
    const receiver = this.endpoints.get(envelope.dest);
    if (!receiver?.deliver(envelope, line)) {
      this.drop(envelope, now, receiver ? "receiver-down" : "unknown-dest");
      return;
    }
    this.stats.recv_count++;
    this.taps.recv?.(line);
    const involvesClient = this.isClient(writer) || this.isClient(envelope.dest);
    (involvesClient ? this.stats.clients : this.stats.servers).recv_count++;
    this.journal.write(
      `{"time":${now},"event":"recv","id":${envelope.id},"src":${JSON.stringify(envelope.src)},"dest":${JSON.stringify(envelope.dest)}}`,
    );
  }

  private drop(envelope: Envelope, now: number, reason: DropReason): void {
    this.stats.drop_count++;
    this.journal.write(
      `{"time":${now},"event":"drop","id":${envelope.id},"src":${JSON.stringify(envelope.src)},"dest":${JSON.stringify(envelope.dest)},"reason":"${reason}"}`,
    );
  }
}
