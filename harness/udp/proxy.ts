// The UDP proxy of the `udp` transport (harness/udp/README.md "The proxy"). Every
// datagram between the target server and its clients passes through it.
//
// Each client-side participant (an LSP client, a miner, a request client) gets its own frontend
// socket, so the proxy knows which participant a datagram belongs to and can apply that
// participant's links of the shared LinkTable: (name → server) and (server → name). Behind each
// frontend, every distinct client source address gets a dedicated upstream socket toward the
// server (NAT-style), so the server sees one host:port per client and its replies route back.
//
// Per datagram, in this order: partition, loss, the middlebox hook (decoded LSP only), mutation
// of LSP Data (shorten / lengthen / corrupt, Size and Checksum unchanged, re-encoded in the exact
// field order), duplication, then delay (base and extra latency from the link table, plus the
// shim-style "hold with probability p for a fixed time"), which reorders. Every datagram and its
// fate is journaled to messages.jsonl, decoded when it parses as an LSP message.
import { createSocket, type Socket } from "node:dgram";
import {
  decodeMessage,
  encodeMessage,
  type LspMessage,
  MAX_DATAGRAM_BYTES,
  MsgType,
} from "../../protocols/lsp/message.js";
import type { RunClock } from "../clock.js";
import { JsonlWriter } from "../jsonl-writer.js";
import type { LinkTable } from "../links.js";
import type { Random } from "../random.js";

/** Datagrams held for delay at once; beyond this new ones are dropped ("overflow"). */
export const MAX_HELD_DATAGRAMS = 100_000;
/** NAT mappings (upstream sockets) kept; the least recently used one is closed beyond this. */
export const MAX_MAPPINGS = 2048;
/** Largest datagram read; bigger ones are truncated by the kernel and forwarded as they came. */
const RECV_BUFFER_BYTES = 4 << 20;
const MAX_JOURNAL_BYTES = 512 * 1024 * 1024;
/** Raw (non-LSP) datagrams are journaled up to this many bytes, base64. */
const MAX_JOURNAL_RAW_BYTES = MAX_DATAGRAM_BYTES;
/** Datagrams held per gated peer; beyond this they are discarded (the sender retransmits). */
const MAX_GATED_DATAGRAMS = 1000;
/** Records one sniffer keeps (counters go on counting beyond). */
export const MAX_SNIFF_RECORDS = 100_000;
/** The staff shim's delay (README.md "The proxy"): a held datagram arrives this much later. */
export const SHIM_HOLD_MS = 500;

export type Direction = "to-server" | "from-server";

/** UDP-only fault parameters of one directed link, on top of the LinkTable's. */
export interface UdpLinkExtras {
  /** Probability a datagram is held for `hold_ms` before delivery (reorders). */
  hold: number;
  hold_ms: number;
  /** Probabilities for LSP Data datagrams: payload cut to its first half. */
  shorten: number;
  /** … three bytes 0x02 0x03 0x04 appended. */
  lengthen: number;
  /** … first payload byte inverted (an empty payload becomes 0xFF); raw datagrams: first byte. */
  corrupt: number;
}

export const NO_EXTRAS: Readonly<UdpLinkExtras> = Object.freeze({
  hold: 0,
  hold_ms: SHIM_HOLD_MS,
  shorten: 0,
  lengthen: 0,
  corrupt: 0,
});

export type Mutation = "shorten" | "lengthen" | "corrupt";

export interface DatagramContext {
  /** The client-side participant (frontend name). */
  peer: string;
  direction: Direction;
  src: string;
  dest: string;
}

/**
 * A middlebox sees every decoded LSP datagram after loss and before mutation. It returns the
 * message to forward (possibly rewritten), or null to drop it.
 */
export type Middlebox = (message: LspMessage, context: DatagramContext) => LspMessage | null;

export type DropReason = "partitioned" | "loss" | "middlebox" | "overflow" | "closed";

/** What happened to one datagram, for observers and sniffers. */
export interface DatagramEvent extends DatagramContext {
  id: number;
  time_ns: number;
  bytes: number;
  /** Decoded as it arrived at the proxy; undefined when it is not LSP JSON. */
  message: LspMessage | undefined;
  fate: "forwarded" | "dropped";
  reason?: DropReason;
  mutation?: Mutation;
  copies: number;
}

export interface TypeCounts {
  connect: number;
  data: number;
  ack: number;
  heartbeat: number;
  cack: number;
  /** Not LSP JSON. */
  raw: number;
}

export interface DirectionCounts extends TypeCounts {
  /** Datagrams the proxy received. */
  sent: number;
  /** Copies handed on to the receiver (duplicates count twice). */
  delivered: number;
  dropped: number;
  data_dropped: number;
  mutated: number;
  duplicated: number;
  held: number;
}

function emptyCounts(): DirectionCounts {
  return {
    sent: 0,
    delivered: 0,
    dropped: 0,
    data_dropped: 0,
    mutated: 0,
    duplicated: 0,
    held: 0,
    connect: 0,
    data: 0,
    ack: 0,
    heartbeat: 0,
    cack: 0,
    raw: 0,
  };
}

export interface PeerCounts {
  "to-server": DirectionCounts;
  "from-server": DirectionCounts;
}

/**
 * The staff shim's sniffer (README.md "The proxy"): counts per peer and direction between start and stop,
 * and keeps the decoded datagrams (bounded).
 */
export class Sniffer {
  readonly counts = new Map<string, PeerCounts>();
  readonly records: DatagramEvent[] = [];
  dropped_records = 0;
  active = true;

  constructor(
    private readonly filter: (event: DatagramEvent) => boolean = () => true,
    /** Keep the events themselves (a sniff); the proxy's running totals only count. */
    private readonly keep_records = true,
  ) {}

  observe(event: DatagramEvent): void {
    if (!this.active || !this.filter(event)) return;
    countEvent(this.peer(event.peer)[event.direction], event);
    if (!this.keep_records) return;
    if (this.records.length < MAX_SNIFF_RECORDS) this.records.push(event);
    else this.dropped_records++;
  }

  peer(name: string): PeerCounts {
    let counts = this.counts.get(name);
    if (!counts) {
      counts = { "to-server": emptyCounts(), "from-server": emptyCounts() };
      this.counts.set(name, counts);
    }
    return counts;
  }

  /** Totals over every peer in one direction. */
  total(direction: Direction): DirectionCounts {
    const total = emptyCounts();
    for (const counts of this.counts.values()) {
      for (const [key, value] of Object.entries(counts[direction])) {
        total[key as keyof DirectionCounts] += value;
      }
    }
    return total;
  }

  stop(): void {
    this.active = false;
  }
}

function countEvent(counts: DirectionCounts, event: DatagramEvent): void {
  counts.sent++;
  const m = event.message;
  const isData = m?.type === MsgType.Data;
  if (!m) counts.raw++;
  else if (m.type === MsgType.Connect) counts.connect++;
  else if (isData) counts.data++;
  else if (m.type === MsgType.CAck) counts.cack++;
  else if (m.seqNum === 0) counts.heartbeat++;
  else counts.ack++;
  if (event.fate === "dropped") {
    counts.dropped++;
    if (isData) counts.data_dropped++;
  } else {
    counts.delivered += event.copies;
  }
  if (event.mutation) counts.mutated++;
  if (event.copies > 1) counts.duplicated++;
}

interface Frontend {
  name: string;
  socket: Socket;
  port: number;
}

interface Mapping {
  key: string;
  /** For least-recently-used eviction. */
  last_used: number;
  frontend: Frontend;
  client_address: string;
  client_port: number;
  upstream: Socket;
}

export interface ProxyOptions {
  clock: RunClock;
  random: Random;
  links: LinkTable;
  /** messages.jsonl; journaling is off when undefined (benchmarks). */
  journalPath?: string;
  /** The server's participant name in the link table. */
  serverName?: string;
  host?: string;
}

export class UdpProxy {
  readonly server: string;
  readonly host: string;
  private upstream_port = 0;
  private readonly frontends = new Map<string, Frontend>();
  private readonly mappings = new Map<string, Mapping>();
  private use_tick = 0;
  private readonly extras = new Map<string, UdpLinkExtras>();
  private readonly observers = new Set<(event: DatagramEvent) => void>();
  private readonly journal: JsonlWriter | undefined;
  private readonly held = new Set<NodeJS.Timeout>();
  private next_id = 0;
  private closed = false;
  /** Peers whose datagrams to the server wait (in order) until `release`. */
  private readonly gates = new Map<string, Array<{ mapping: Mapping; datagram: Buffer }>>();
  middlebox: Middlebox | undefined;
  /** Totals since the start, per peer and direction. */
  readonly totals = new Sniffer(undefined, false);

  private constructor(private readonly options: ProxyOptions) {
    this.server = options.serverName ?? "server";
    this.host = options.host ?? "127.0.0.1";
    this.journal = options.journalPath
      ? new JsonlWriter(options.journalPath, {
          flush_bytes: 64 * 1024,
          max_bytes: MAX_JOURNAL_BYTES,
          flush_interval_ms: 200,
        })
      : undefined;
  }

  static create(options: ProxyOptions): UdpProxy {
    return new UdpProxy(options);
  }

  /** Where the server listens; changeable (a restarted server may have a new port). */
  setUpstream(port: number): void {
    this.upstream_port = port;
  }

  get upstreamPort(): number {
    return this.upstream_port;
  }

  /** Opens the frontend socket for one participant; returns the port it must be told. */
  async addFrontend(name: string): Promise<number> {
    if (name === this.server) throw new Error(`"${name}" is the server's name`);
    const existing = this.frontends.get(name);
    if (existing) return existing.port;
    const socket = await bindSocket(this.host);
    const frontend: Frontend = { name, socket, port: socket.address().port };
    socket.on("message", (datagram, from) => this.fromClient(frontend, datagram, from));
    this.frontends.set(name, frontend);
    return frontend.port;
  }

  frontendPort(name: string): number | undefined {
    return this.frontends.get(name)?.port;
  }

  /** UDP-only faults of one directed link (e.g. ("c0", "server")). */
  setExtras(src: string, dest: string, change: Partial<UdpLinkExtras>): void {
    const next = { ...this.getExtras(src, dest), ...change };
    for (const p of [next.hold, next.shorten, next.lengthen, next.corrupt]) {
      if (!(p >= 0 && p <= 1))
        throw new RangeError(`link ${src}->${dest}: probabilities in [0, 1]`);
    }
    const none = next.hold === 0 && next.shorten === 0 && next.lengthen === 0 && next.corrupt === 0;
    if (none) this.extras.delete(`${src}\u0000${dest}`);
    else this.extras.set(`${src}\u0000${dest}`, next);
  }

  getExtras(src: string, dest: string): Readonly<UdpLinkExtras> {
    return this.extras.get(`${src}\u0000${dest}`) ?? NO_EXTRAS;
  }

  /** Every link with UDP extras, for the history. */
  faultyExtras(): Array<{ src: string; dest: string; extras: UdpLinkExtras }> {
    return [...this.extras].map(([key, extras]) => {
      const [src, dest] = key.split("\u0000") as [string, string];
      return { src, dest, extras };
    });
  }

  healExtras(): void {
    this.extras.clear();
  }

  /** Forgets a participant's NAT mappings: its next datagram comes from a new server-side port. */
  remap(name: string): number {
    let closed = 0;
    for (const mapping of [...this.mappings.values()]) {
      if (mapping.frontend.name === name) {
        this.closeMapping(mapping);
        closed++;
      }
    }
    return closed;
  }

  /**
   * Holds a peer's datagrams to the server until `release` (harness choreography, not a fault:
   * e.g. a probe job whose client process starts early but must reach the server later).
   */
  gate(name: string): void {
    if (!this.gates.has(name)) this.gates.set(name, []);
  }

  /** Lets a gated peer's held datagrams go, in order, and stops holding. */
  release(name: string): void {
    const held = this.gates.get(name);
    this.gates.delete(name);
    for (const { mapping, datagram } of held ?? []) this.toServer(mapping, datagram);
  }

  /** Calls `fn` with every datagram event until the returned function is called. */
  observe(fn: (event: DatagramEvent) => void): () => void {
    this.observers.add(fn);
    return () => this.observers.delete(fn);
  }

  /** Starts counting (the staff shim's sniffer, README.md "The proxy"); call `stop()` on the result. */
  sniff(filter?: (event: DatagramEvent) => boolean): Sniffer {
    const sniffer = new Sniffer(filter);
    const unobserve = this.observe((event) => sniffer.observe(event));
    const stop = sniffer.stop.bind(sniffer);
    sniffer.stop = () => {
      stop();
      unobserve();
    };
    return sniffer;
  }

  /** A line of the journal written by the runner (e.g. the server's port changed). */
  note(event: string, detail: Record<string, unknown>): void {
    this.journal?.write(JSON.stringify({ time: this.options.clock.now_ns(), event, ...detail }));
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const timer of this.held) clearTimeout(timer);
    this.held.clear();
    for (const mapping of [...this.mappings.values()]) this.closeMapping(mapping);
    for (const frontend of this.frontends.values()) frontend.socket.close();
    this.frontends.clear();
    this.journal?.close();
  }

  private fromClient(
    frontend: Frontend,
    datagram: Buffer,
    from: { address: string; port: number },
  ): void {
    if (this.closed) return;
    const key = `${frontend.name}|${from.address}:${from.port}`;
    const mapping =
      this.mappings.get(key) ?? this.openMapping(key, frontend, from.address, from.port);
    mapping.last_used = ++this.use_tick;
    const held = this.gates.get(frontend.name);
    if (held) {
      if (held.length < MAX_GATED_DATAGRAMS) held.push({ mapping, datagram });
      return;
    }
    this.toServer(mapping, datagram);
  }

  private toServer(mapping: Mapping, datagram: Buffer): void {
    const upstream = mapping.upstream;
    this.forward(datagram, mapping.frontend.name, "to-server", (out) => {
      if (this.upstream_port > 0 && this.mappings.has(mapping.key)) {
        upstream.send(out, this.upstream_port, this.host);
      }
    });
  }

  private openMapping(key: string, frontend: Frontend, address: string, port: number): Mapping {
    while (this.mappings.size >= MAX_MAPPINGS) {
      let oldest: Mapping | undefined;
      for (const m of this.mappings.values()) {
        if (!oldest || m.last_used < oldest.last_used) oldest = m;
      }
      this.closeMapping(oldest as Mapping);
    }
    // Bound synchronously (bind with port 0 on loopback does not fail in practice) so the first
    // datagram is not held up; until the bind completes Node queues the send.
    const upstream = createSocket({ type: "udp4", recvBufferSize: RECV_BUFFER_BYTES });
    upstream.on("error", () => {}); // ICMP unreachable while the server restarts: keep going
    upstream.bind(0, this.host);
    const mapping: Mapping = {
      key,
      last_used: 0,
      frontend,
      client_address: address,
      client_port: port,
      upstream,
    };
    upstream.on("message", (datagram) => {
      if (this.closed || !this.mappings.has(key)) return;
      this.forward(datagram, frontend.name, "from-server", (out) =>
        frontend.socket.send(out, port, address),
      );
    });
    this.mappings.set(key, mapping);
    this.note("nat-open", { peer: frontend.name, client: `${address}:${port}` });
    return mapping;
  }

  private closeMapping(mapping: Mapping): void {
    this.mappings.delete(mapping.key);
    try {
      mapping.upstream.close();
    } catch {
      // already closed
    }
  }

  private forward(
    datagram: Buffer,
    peer: string,
    direction: Direction,
    send: (out: Buffer) => void,
  ): void {
    const id = this.next_id++;
    const now = this.options.clock.now_ns();
    const toServer = direction === "to-server";
    const src = toServer ? peer : this.server;
    const dest = toServer ? this.server : peer;
    let message = decodeMessage(datagram);
    const event: DatagramEvent = {
      peer,
      direction,
      src,
      dest,
      id,
      time_ns: now,
      bytes: datagram.length,
      message,
      fate: "forwarded",
      copies: 1,
    };
    this.journalSend(event, datagram);

    const link = this.options.links.get(src, dest);
    const random = this.options.random;
    let reason: DropReason | undefined;
    if (link.partitioned) reason = "partitioned";
    else if (link.loss > 0 && random.chance(link.loss)) reason = "loss";
    if (!reason && message && this.middlebox) {
      const rewritten = this.middlebox(message, { peer, direction, src, dest });
      if (rewritten === null) reason = "middlebox";
      else if (rewritten !== message) {
        message = rewritten;
        datagram = encodeMessage(rewritten);
        this.journalLine(id, "rewrite", { lsp: wireObject(rewritten) });
      }
    }
    if (reason) {
      this.finish(event, "dropped", reason);
      return;
    }

    const extras = this.getExtras(src, dest);
    const mutation = pickMutation(extras, message, random);
    if (mutation) {
      datagram = mutate(datagram, message, mutation);
      event.mutation = mutation;
      this.journalLine(id, "mutate", {
        how: mutation,
        ...(message ? { lsp: wireObject(decodeMessage(datagram) as LspMessage) } : {}),
      });
    }
    const copies = link.duplicate > 0 && random.chance(link.duplicate) ? 2 : 1;
    event.copies = copies;
    this.finish(event, "forwarded");
    for (let copy = 1; copy <= copies; copy++) {
      let delay_ms = this.options.links.latency_ms(src, dest, random);
      if (extras.hold > 0 && random.chance(extras.hold)) delay_ms += extras.hold_ms;
      const out = datagram;
      const deliver = () => {
        // Partitions are checked again at delivery: datagrams in flight when one starts are lost.
        if (this.closed) return;
        if (this.options.links.get(src, dest).partitioned) {
          this.journalLine(id, "drop", { reason: "partitioned", copy });
          return;
        }
        send(out);
        this.journalLine(id, "recv", copy > 1 ? { copy } : {});
      };
      if (delay_ms <= 0) {
        deliver();
        continue;
      }
      if (this.held.size >= MAX_HELD_DATAGRAMS) {
        this.journalLine(id, "drop", { reason: "overflow", copy });
        continue;
      }
      this.totals.peer(peer)[direction].held++;
      const timer = setTimeout(() => {
        this.held.delete(timer);
        deliver();
      }, delay_ms);
      this.held.add(timer);
    }
  }

  private finish(event: DatagramEvent, fate: "forwarded" | "dropped", reason?: DropReason): void {
    event.fate = fate;
    if (reason) {
      event.reason = reason;
      this.journalLine(event.id, "drop", { reason });
    }
    this.totals.observe(event);
    for (const observer of this.observers) observer(event);
  }

  private journalSend(event: DatagramEvent, datagram: Buffer): void {
    if (!this.journal) return;
    const body = event.message
      ? { lsp: wireObject(event.message), ...printable(event.message) }
      : { raw: datagram.subarray(0, MAX_JOURNAL_RAW_BYTES).toString("base64") };
    this.journal.write(
      JSON.stringify({
        time: event.time_ns,
        event: "send",
        id: event.id,
        src: event.src,
        dest: event.dest,
        bytes: event.bytes,
        ...body,
      }),
    );
  }

  private journalLine(id: number, event: string, detail: Record<string, unknown>): void {
    if (!this.journal) return;
    this.journal.write(JSON.stringify({ time: this.options.clock.now_ns(), event, id, ...detail }));
  }
}

/**
 * The message as it appears on the wire (field names of systems/lsp/README.md "The wire format"),
 * for the journal.
 */
export function wireObject(m: LspMessage): Record<string, unknown> {
  return {
    Type: m.type,
    ConnID: m.connId,
    SeqNum: m.seqNum,
    Size: m.size,
    Checksum: m.checksum,
    Payload: m.payload === null ? null : Buffer.from(m.payload).toString("base64"),
  };
}

/** A Data payload that is short printable text (bitcoin JSON, our test payloads) shown as text. */
function printable(m: LspMessage): { text?: string } {
  if (m.type !== MsgType.Data || !m.payload || m.payload.length > 256) return {};
  for (const byte of m.payload) if (byte < 0x20 || byte > 0x7e) return {};
  return { text: Buffer.from(m.payload).toString("latin1") };
}

function pickMutation(
  extras: UdpLinkExtras,
  message: LspMessage | undefined,
  random: Random,
): Mutation | undefined {
  if (extras.corrupt > 0 && random.chance(extras.corrupt)) {
    // Non-LSP datagrams can be corrupted too; shortening/lengthening is defined for LSP Data.
    if (!message || message.type === MsgType.Data) return "corrupt";
  }
  if (message?.type !== MsgType.Data) return undefined;
  if (extras.shorten > 0 && random.chance(extras.shorten)) return "shorten";
  if (extras.lengthen > 0 && random.chance(extras.lengthen)) return "lengthen";
  return undefined;
}

/** Applies one of the shim's mutations (README.md "The proxy"); Size and Checksum are left unchanged. */
export function mutate(datagram: Buffer, message: LspMessage | undefined, how: Mutation): Buffer {
  if (!message) {
    const out = Buffer.from(datagram);
    if (out.length > 0) out[0] = ~(out[0] as number) & 0xff;
    return out;
  }
  const payload = message.payload ?? new Uint8Array(0);
  let next: Uint8Array;
  switch (how) {
    case "shorten":
      next = payload.subarray(0, Math.floor(payload.length / 2));
      break;
    case "lengthen":
      next = Buffer.concat([payload, Buffer.from([0x02, 0x03, 0x04])]);
      break;
    case "corrupt":
      next =
        payload.length === 0
          ? Buffer.from([0xff])
          : Buffer.concat([Buffer.from([~(payload[0] as number) & 0xff]), payload.subarray(1)]);
      break;
  }
  return encodeMessage({ ...message, payload: next });
}

async function bindSocket(host: string): Promise<Socket> {
  const socket = createSocket({ type: "udp4", recvBufferSize: RECV_BUFFER_BYTES });
  await new Promise<void>((resolve, reject) => {
    socket.once("error", reject);
    socket.bind(0, host, () => {
      socket.off("error", reject);
      resolve();
    });
  });
  socket.on("error", () => {}); // a send to a vanished client port: nothing to do
  return socket;
}
