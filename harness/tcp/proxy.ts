// The TCP proxy of the `tcp` transport (harness/tcp/README.md). A program `src`
// that must reach `dst` is told the port of a proxy listener instead; every connection it opens
// there gets its own upstream connection to `dst`, and the bytes of each direction pass through
// a queue that applies that direction's link of the shared LinkTable:
//
// - partitioned: a blackhole. Bytes are held (not dropped) and flow again, in order, on heal; a
//   connection holding more than `max_held_bytes` in one direction is reset. A connection opened
//   while either direction is partitioned is accepted, but its upstream connect waits for heal.
// - latency (base + extra): every chunk is delayed; chunks never overtake each other.
// - loss: TCP never loses bytes, so a "lost" chunk is delivered after retransmission-like pauses.
// - duplicate: nothing (TCP discards duplicate segments).
//
// FIN and RST travel the same queue as the bytes before them, so they obey the same faults.
// Every connection, chunk, FIN and RST is journaled to messages.jsonl with send/recv/drop lines
// (the report's message diagram reads those). A connection that opens with the HTTP/2 preface
// (gRPC) is also followed by an Http2Observer, which journals each call's start and end.
import assert from "node:assert/strict";
import { createConnection, createServer, type Server, type Socket } from "node:net";
import type { RunClock } from "../clock.js";
import type { JsonlWriter } from "../jsonl-writer.js";
import type { LinkFaults, LinkTable } from "../links.js";
import type { Logger } from "../logger.js";
import type { Random } from "../random.js";
import { type Http2Event, Http2Observer } from "./http2-observer.js";

/** Default bytes held per connection direction before the connection is reset. */
export const DEFAULT_MAX_HELD_BYTES = 4 * 1024 * 1024;
/** Bytes held by the whole proxy at once; the connection that would exceed it is reset. */
export const MAX_TOTAL_HELD_BYTES = 256 * 1024 * 1024;
/** Connections open at once per listener; Node closes the ones beyond at accept. */
export const MAX_CONNECTIONS_PER_LISTENER = 1024;
/** How often held bytes and waiting connects look at the link table again (it has no events). */
export const LINK_POLL_MS = 10;
/** Default bound on a connect waiting for heal: Linux gives up a SYN after 127 s (6 retries). */
export const DEFAULT_CONNECT_TIMEOUT_MS = 127_000;
/** First retransmission pause of a "lost" chunk: Linux's minimum RTO, which loopback gets. */
export const LOSS_RTO_MS = 200;
/** Retransmissions of one chunk at most (pauses 200, 400, 800 ms: 1.4 s in all). */
export const MAX_LOSS_RETRANSMITS = 3;
/** A chunk's first line is journaled as `text` up to this many characters when printable. */
export const JOURNAL_TEXT_MAX_CHARS = 80;
/** A listener's `on_reply` sees at most this much of each chunk delivered back to the dialler. */
export const REPLY_HEAD_BYTES = 512;
/** close() waits this long for destroyed sockets to report closed. */
const CLOSE_WAIT_MS = 2_000;
const HOST = "127.0.0.1";

export interface TcpProxyOptions {
  links: LinkTable;
  random: Random;
  clock: RunClock;
  /** messages.jsonl of the run; owned (and closed) by the caller, after the proxy. */
  journal?: JsonlWriter;
  log: Logger;
  /** Per connection direction; beyond it the connection is reset. */
  max_held_bytes?: number;
  /** A connect waiting for heal (or for the upstream to answer) is reset after this long. */
  connect_timeout_ms?: number;
}

/** Counters of one directed link "src->dst" (see stats()). */
export interface TcpLinkStats {
  /** Connections dialled over this link (counted on the dialler's direction only). */
  connections: number;
  /** … of which still open. */
  open: number;
  /** Upstream connects that failed (refused, timed out, or the client gave up first). */
  refused: number;
  /** Connections reset by the proxy: harness resets, overflow, refusal, close (dialler's link). */
  resets: number;
  /** Resets because held bytes exceeded max_held_bytes (or the proxy-wide bound). */
  overflow_resets: number;
  /** Bytes delivered in this direction. */
  bytes: number;
  /** Chunks (socket reads) received in this direction. */
  chunks: number;
  /** Bytes waiting in this direction right now (delay or partition). */
  held_bytes: number;
  /** The most bytes ever waiting in one connection's queue in this direction. */
  held_bytes_peak: number;
  /** Chunks that arrived while the link was partitioned or the upstream not yet connected. */
  held_chunks: number;
  /** Chunks given a non-zero delay (latency or loss). */
  delayed_chunks: number;
  /** Retransmission-like pauses added by the link's loss probability. */
  loss_pauses: number;
}

type ChunkKind = "data" | "fin" | "rst";

interface Chunk {
  id: number;
  kind: ChunkKind;
  data: Buffer | undefined;
  due_ms: number;
}

/** One direction of one connection. */
interface Pipe {
  conn: Conn;
  src: string;
  dest: string;
  stats: TcpLinkStats;
  from: Socket | undefined;
  /** Undefined until the upstream has connected (up direction only). */
  to: Socket | undefined;
  queue: Chunk[];
  /** Index of the queue's first live chunk (shift() is O(n) on a long held queue). */
  head: number;
  queued_bytes: number;
  /** Chunks leave in order: each is due no earlier than the one before. */
  last_due_ms: number;
  timer: NodeJS.Timeout | undefined;
  /** `to` is gone (reset): nothing more can be delivered. */
  done: boolean;
  delivered_bytes: number;
}

interface Listener {
  src: string;
  dst: string;
  dst_port: number;
  server: Server;
  port: number;
  on_reply: ((head: Buffer) => void) | undefined;
}

interface Conn {
  id: number;
  listener: Listener;
  src: string;
  dst: string;
  /** dst_port at accept time (a later listen() may point new connections elsewhere). */
  dst_port: number;
  client: Socket;
  upstream: Socket | undefined;
  /** Journal id of the connect "message" (send at accept, recv at upstream connect). */
  connect_id: number;
  connect_timer: NodeJS.Timeout | undefined;
  state: "waiting" | "connecting" | "open" | "closing" | "closed";
  /** src → dst and dst → src. */
  up: Pipe;
  down: Pipe;
  client_closed: boolean;
  upstream_closed: boolean;
  opened_ns: number;
  /** Follows the bytes while they may be HTTP/2; dropped once they are not. */
  h2: Http2Observer | undefined;
}

export class TcpProxy {
  private readonly links: LinkTable;
  private readonly max_held_bytes: number;
  private readonly connect_timeout_ms: number;
  private readonly listeners = new Map<string, { listener?: Listener; ready: Promise<number> }>();
  private readonly conns = new Set<Conn>();
  private readonly link_stats = new Map<string, TcpLinkStats>();
  /** Pipes with bytes held by a partition, and connects waiting for heal: polled. */
  private readonly stalled = new Set<Pipe>();
  private readonly awaiting = new Set<Conn>();
  private poll: NodeJS.Timeout | undefined;
  private total_held_bytes = 0;
  private next_id = 0;
  private next_conn = 0;
  private closed = false;
  private journal_failed = false;
  private on_idle: (() => void) | undefined;

  constructor(private readonly options: TcpProxyOptions) {
    this.links = options.links;
    this.max_held_bytes = options.max_held_bytes ?? DEFAULT_MAX_HELD_BYTES;
    this.connect_timeout_ms = options.connect_timeout_ms ?? DEFAULT_CONNECT_TIMEOUT_MS;
    if (!(Number.isSafeInteger(this.max_held_bytes) && this.max_held_bytes > 0)) {
      throw new RangeError(`max_held_bytes must be a positive integer, got ${this.max_held_bytes}`);
    }
    if (!(this.connect_timeout_ms > 0 && this.connect_timeout_ms <= 2 ** 31 - 1)) {
      throw new RangeError(`connect_timeout_ms out of range: ${this.connect_timeout_ms}`);
    }
  }

  /**
   * Listens on 127.0.0.1:<ephemeral port> for connections from `src` to `dst` (listening on
   * 127.0.0.1:dst_port); resolves to the port `src` must dial. Listening again for the same pair
   * returns the same port and points new connections at the new `dst_port` (a restarted `dst`).
   * `on_reply` sees the head (REPLY_HEAD_BYTES) of each chunk delivered from dst back to src.
   */
  listen(
    src: string,
    dst: string,
    dst_port: number,
    on_reply?: (head: Buffer) => void,
  ): Promise<number> {
    if (this.closed) return Promise.reject(new Error("the TCP proxy is closed"));
    if (!(Number.isInteger(dst_port) && dst_port > 0 && dst_port < 65536)) {
      return Promise.reject(new RangeError(`bad port for ${dst}: ${dst_port}`));
    }
    if (src === dst) return Promise.reject(new Error(`a link needs two ends, got ${src}->${dst}`));
    const key = linkKey(src, dst);
    const existing = this.listeners.get(key);
    if (existing) {
      return existing.ready.then((port) => {
        if (existing.listener) {
          existing.listener.dst_port = dst_port;
          existing.listener.on_reply = on_reply;
        }
        return port;
      });
    }
    this.statsFor(src, dst);
    this.statsFor(dst, src);
    const entry: { listener?: Listener; ready: Promise<number> } = { ready: Promise.resolve(0) };
    entry.ready = new Promise<number>((resolve, reject) => {
      const server = createServer({ allowHalfOpen: true, noDelay: true });
      server.maxConnections = MAX_CONNECTIONS_PER_LISTENER;
      const failed = (err: Error) => {
        this.listeners.delete(key);
        reject(err);
      };
      server.once("error", failed);
      server.listen(0, HOST, () => {
        server.off("error", failed);
        const address = server.address();
        assert(address !== null && typeof address !== "string", "a TCP server has a port");
        const listener: Listener = { src, dst, dst_port, server, port: address.port, on_reply };
        entry.listener = listener;
        server.on("connection", (socket) => this.accept(listener, socket));
        server.on("drop", (data) => {
          this.note("tcp-refused", { src, dest: dst, reason: "max-connections", from: data });
        });
        server.on("error", (err) => this.options.log.info(`tcp proxy ${src}->${dst}: ${err}`));
        this.note("tcp-listen", { src, dest: dst, port: listener.port, dst_port });
        this.options.log.info(
          `tcp proxy ${src}->${dst}: ${HOST}:${listener.port} -> ${HOST}:${dst_port}`,
        );
        resolve(listener.port);
      });
    });
    this.listeners.set(key, entry);
    return entry.ready;
  }

  /** Destroys (RST) every open connection with `node` at either end; returns how many. */
  resetConnections(node: string): number {
    let count = 0;
    for (const conn of [...this.conns]) {
      if (conn.state === "closing" || conn.state === "closed") continue;
      if (conn.src !== node && conn.dst !== node) continue;
      this.teardown(conn, "harness");
      count++;
    }
    return count;
  }

  /** Counters per directed link "src->dst" (every link a listener serves, both directions). */
  stats(): Record<string, Record<string, number>> {
    const out: Record<string, Record<string, number>> = {};
    for (const [key, stats] of this.link_stats) out[key] = { ...stats };
    return out;
  }

  /**
   * Stops listening and resets every connection (both sides see RST); resolves once every
   * socket has closed (bounded by CLOSE_WAIT_MS). Does not close the journal (the caller's).
   */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.stopPoll();
    for (const conn of [...this.conns]) this.teardown(conn, "closed");
    const servers = [...this.listeners.values()].map(async (entry) => {
      await entry.ready.catch(() => undefined);
      const server = entry.listener?.server;
      if (server?.listening) await new Promise<void>((resolve) => server.close(() => resolve()));
    });
    await Promise.all(servers);
    if (this.conns.size > 0) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, CLOSE_WAIT_MS);
        this.on_idle = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
    this.on_idle = undefined;
  }

  // ---- connections ----

  private accept(listener: Listener, client: Socket): void {
    if (this.closed) {
      client.destroy();
      return;
    }
    const { src, dst } = listener;
    const conn: Conn = {
      id: ++this.next_conn,
      listener,
      src,
      dst,
      dst_port: listener.dst_port,
      client,
      upstream: undefined,
      connect_id: this.next_id++,
      connect_timer: undefined,
      state: "waiting",
      up: undefined as unknown as Pipe,
      down: undefined as unknown as Pipe,
      client_closed: false,
      upstream_closed: false,
      opened_ns: this.options.clock.now_ns(),
      h2: new Http2Observer(),
    };
    conn.up = this.pipe(conn, src, dst, client, undefined);
    conn.down = this.pipe(conn, dst, src, undefined, client);
    this.conns.add(conn);
    const stats = conn.up.stats;
    stats.connections++;
    stats.open++;
    this.journalSend(conn.connect_id, conn.up, 0, {
      type: "connect",
      conn: conn.id,
      client: `${client.remoteAddress}:${client.remotePort}`,
    });

    client.on("data", (data: Buffer) => this.onData(conn.up, data));
    client.on("end", () => this.onEnd(conn.up));
    client.on("drain", () => this.pump(conn.down));
    client.on("error", (err) => this.sideFailed(conn, "src", errorCode(err)));
    client.on("close", () => {
      conn.client_closed = true;
      this.maybeFinish(conn);
    });
    conn.connect_timer = setTimeout(
      () => this.refuse(conn, "connect-timeout"),
      this.connect_timeout_ms,
    );
    this.tryConnect(conn);
  }

  private pipe(
    conn: Conn,
    src: string,
    dest: string,
    from: Socket | undefined,
    to: Socket | undefined,
  ): Pipe {
    return {
      conn,
      src,
      dest,
      stats: this.statsFor(src, dest),
      from,
      to,
      queue: [],
      head: 0,
      queued_bytes: 0,
      last_due_ms: 0,
      timer: undefined,
      done: false,
      delivered_bytes: 0,
    };
  }

  /** The handshake needs both directions: a connect waits while either is partitioned. */
  private tryConnect(conn: Conn): void {
    if (conn.state !== "waiting") return;
    if (this.partitioned(conn.src, conn.dst) || this.partitioned(conn.dst, conn.src)) {
      this.awaiting.add(conn);
      this.startPoll();
      return;
    }
    this.awaiting.delete(conn);
    conn.state = "connecting";
    const upstream = createConnection({
      host: HOST,
      port: conn.dst_port,
      allowHalfOpen: true,
      noDelay: true,
    });
    conn.upstream = upstream;
    conn.down.from = upstream;
    upstream.on("connect", () => {
      if (conn.state !== "connecting") return;
      conn.state = "open";
      clearTimeout(conn.connect_timer);
      conn.connect_timer = undefined;
      this.journalLine(conn.connect_id, "recv", { conn: conn.id });
      conn.up.to = upstream;
      this.pump(conn.up);
    });
    upstream.on("data", (data: Buffer) => this.onData(conn.down, data));
    upstream.on("end", () => this.onEnd(conn.down));
    upstream.on("drain", () => this.pump(conn.up));
    upstream.on("error", (err) => {
      if (conn.state === "connecting") this.refuse(conn, errorCode(err));
      else this.sideFailed(conn, "dst", errorCode(err));
    });
    upstream.on("close", () => {
      conn.upstream_closed = true;
      this.maybeFinish(conn);
    });
  }

  /** The upstream connect failed: the client sees a reset (it was already accepted). */
  private refuse(conn: Conn, reason: string): void {
    if (conn.state !== "waiting" && conn.state !== "connecting") return;
    this.journalLine(conn.connect_id, "drop", { reason });
    conn.up.stats.refused++;
    this.teardown(conn, reason);
  }

  /**
   * One side's socket failed (RST from its program, or an error writing to it). Nothing more
   * can reach it; its RST follows the bytes it sent, over the same link, to the other side.
   */
  private sideFailed(conn: Conn, side: "src" | "dst", reason: string): void {
    if (conn.state === "closing" || conn.state === "closed") return;
    if (conn.state !== "open") {
      // The client gave up before the upstream connected: there is no one to tell.
      this.journalLine(conn.connect_id, "drop", { reason });
      conn.up.stats.refused++;
      this.teardown(conn, reason);
      return;
    }
    const pipe = side === "src" ? conn.up : conn.down;
    const back = side === "src" ? conn.down : conn.up;
    if (back.done || pipe.done) {
      // Both ends are gone now.
      this.teardown(conn, reason);
      return;
    }
    this.discard(back, "reset");
    back.done = true;
    this.observeEnd(conn, reason);
    this.enqueue(pipe, "rst", undefined, { reason });
    this.pump(pipe);
  }

  /** Resets both sides now, dropping whatever is held (harness reset, overflow, refusal, close). */
  private teardown(conn: Conn, reason: string): void {
    if (conn.state === "closing" || conn.state === "closed") return;
    conn.state = "closing";
    clearTimeout(conn.connect_timer);
    conn.connect_timer = undefined;
    this.awaiting.delete(conn);
    const drop = reason === "closed" ? "closed" : "reset";
    this.discard(conn.up, drop);
    this.discard(conn.down, drop);
    conn.up.done = true;
    conn.down.done = true;
    resetSocket(conn.client);
    if (conn.upstream) resetSocket(conn.upstream);
    this.observeEnd(conn, reason);
    conn.up.stats.resets++;
    this.note("tcp-reset", { conn: conn.id, src: conn.src, dest: conn.dst, reason });
    this.maybeFinish(conn);
  }

  private maybeFinish(conn: Conn): void {
    if (conn.state === "closed") return;
    if (!conn.client_closed || (conn.upstream && !conn.upstream_closed)) return;
    if (conn.state !== "closing" && conn.state !== "open") {
      // The client closed before any upstream existed (only after an error: allowHalfOpen).
      this.journalLine(conn.connect_id, "drop", { reason: "closed" });
    }
    conn.state = "closed";
    clearTimeout(conn.connect_timer);
    this.awaiting.delete(conn);
    for (const pipe of [conn.up, conn.down]) {
      this.discard(pipe, "closed");
      pipe.done = true;
    }
    this.conns.delete(conn);
    conn.up.stats.open--;
    this.observeEnd(conn, "closed");
    const undecoded_bytes = conn.h2?.state === "undecodable" ? conn.h2.ignored_bytes : 0;
    this.note("tcp-close", {
      conn: conn.id,
      src: conn.src,
      dest: conn.dst,
      bytes_up: conn.up.delivered_bytes,
      bytes_down: conn.down.delivered_bytes,
      ...(undecoded_bytes > 0 ? { h2_undecoded_bytes: undecoded_bytes } : {}),
      duration_ms: Math.round((this.options.clock.now_ns() - conn.opened_ns) / 1e6),
    });
    if (this.conns.size === 0) this.on_idle?.();
  }

  // ---- the two queues of a connection ----

  private onData(pipe: Pipe, data: Buffer): void {
    pipe.stats.chunks++;
    if (pipe.done || pipe.conn.state === "closing" || pipe.conn.state === "closed") {
      // Sent toward a side that is gone: it would answer with RST, which is already on its way.
      const id = this.next_id++;
      this.journalSend(id, pipe, data.length, dataBody(pipe.conn.id, data));
      this.journalLine(id, "drop", { reason: "reset" });
      return;
    }
    const holding = this.holding(pipe);
    if (holding) pipe.stats.held_chunks++;
    const id = this.enqueue(pipe, "data", data, dataBody(pipe.conn.id, data));
    if (pipe.conn.h2) this.observe(pipe, data, id);
    if (holding && pipe.queued_bytes > this.max_held_bytes) {
      this.overflow(
        pipe,
        `${pipe.queued_bytes} bytes held > max_held_bytes ${this.max_held_bytes}`,
      );
      return;
    }
    if (this.total_held_bytes > MAX_TOTAL_HELD_BYTES) {
      this.overflow(
        pipe,
        `the proxy holds ${this.total_held_bytes} bytes > ${MAX_TOTAL_HELD_BYTES}`,
      );
      return;
    }
    this.pump(pipe);
  }

  private onEnd(pipe: Pipe): void {
    if (pipe.done || pipe.conn.state === "closing" || pipe.conn.state === "closed") return;
    this.enqueue(pipe, "fin", undefined, {});
    this.pump(pipe);
  }

  private overflow(pipe: Pipe, why: string): void {
    const conn = pipe.conn;
    pipe.conn.up.stats.overflow_resets++;
    this.options.log.info(
      `tcp proxy: reset connection ${conn.id} ${conn.src}->${conn.dst} (${pipe.src}->${pipe.dest}: ${why})`,
    );
    this.teardown(conn, "overflow");
  }

  private enqueue(
    pipe: Pipe,
    kind: ChunkKind,
    data: Buffer | undefined,
    body: Record<string, unknown>,
  ): number {
    const id = this.next_id++;
    const bytes = data?.length ?? 0;
    this.journalSend(
      id,
      pipe,
      bytes,
      kind === "data" ? body : { type: kind, conn: pipe.conn.id, ...body },
    );
    const link = this.links.get(pipe.src, pipe.dest);
    const delay_ms =
      this.links.latency_ms(pipe.src, pipe.dest, this.options.random) +
      this.lossPause_ms(pipe, link);
    if (delay_ms > 0) pipe.stats.delayed_chunks++;
    const now_ms = this.now_ms();
    // TCP delivers in order: a chunk never leaves before the one ahead of it.
    const due_ms = Math.max(now_ms + delay_ms, pipe.last_due_ms);
    pipe.last_due_ms = due_ms;
    pipe.queue.push({ id, kind, data, due_ms });
    pipe.queued_bytes += bytes;
    pipe.stats.held_bytes += bytes;
    this.total_held_bytes += bytes;
    if (pipe.queued_bytes > pipe.stats.held_bytes_peak)
      pipe.stats.held_bytes_peak = pipe.queued_bytes;
    return id;
  }

  // ---- HTTP/2 calls (the observer sees each chunk as it arrives; it never holds one back) ----

  /** `chunk` is the journal id of the chunk whose bytes completed the events. */
  private observe(pipe: Pipe, data: Buffer, chunk: number): void {
    const conn = pipe.conn;
    const observer = conn.h2 as Http2Observer;
    const events = observer.feed(pipe === conn.up ? "client" : "server", data);
    if (observer.state === "not-http2") conn.h2 = undefined;
    for (const event of events) this.journalCall(conn, event, chunk);
  }

  /** The connection is reset or closed: calls still open end, `aborted` with the reason. */
  private observeEnd(conn: Conn, reason: string): void {
    if (!conn.h2) return;
    for (const event of conn.h2.close(reason)) this.journalCall(conn, event, undefined);
  }

  private journalCall(conn: Conn, event: Http2Event, chunk: number | undefined): void {
    const { kind, ...detail } = event;
    this.note(`h2-${kind}`, {
      src: conn.src,
      dest: conn.dst,
      conn: conn.id,
      ...detail,
      ...(chunk !== undefined ? { chunk } : {}),
    });
  }

  /**
   * TCP never loses bytes: a lost segment is sent again after the retransmission timeout, which
   * doubles on each further loss. A chunk is "lost" on each attempt with the link's probability.
   */
  private lossPause_ms(pipe: Pipe, link: Readonly<LinkFaults>): number {
    let pause_ms = 0;
    for (let attempt = 0; attempt < MAX_LOSS_RETRANSMITS; attempt++) {
      if (!this.options.random.chance(link.loss)) break;
      pause_ms += LOSS_RTO_MS * 2 ** attempt;
      pipe.stats.loss_pauses++;
    }
    return pause_ms;
  }

  /** Hands every due chunk to the far side, in order, as far as the link and its reader allow. */
  private pump(pipe: Pipe): void {
    if (pipe.timer) {
      clearTimeout(pipe.timer);
      pipe.timer = undefined;
    }
    if (pipe.done) return;
    const to = pipe.to;
    if (!to || this.partitioned(pipe.src, pipe.dest)) {
      if (to && pipe.head < pipe.queue.length) {
        this.stalled.add(pipe);
        this.startPoll();
      }
      this.updateFlow(pipe);
      return;
    }
    this.stalled.delete(pipe);
    const now_ms = this.now_ms();
    while (pipe.head < pipe.queue.length && !pipe.done) {
      // The reader is behind: wait for "drain" rather than buffer without bound inside `to`.
      if (to.writableNeedDrain) break;
      const chunk = pipe.queue[pipe.head] as Chunk;
      if (chunk.due_ms > now_ms) {
        pipe.timer = setTimeout(() => {
          pipe.timer = undefined;
          this.pump(pipe);
        }, chunk.due_ms - now_ms);
        break;
      }
      this.dequeue(pipe);
      this.deliver(pipe, to, chunk);
    }
    this.updateFlow(pipe);
  }

  private deliver(pipe: Pipe, to: Socket, chunk: Chunk): void {
    if (to.destroyed) {
      this.journalLine(chunk.id, "drop", { reason: "reset" });
      return;
    }
    switch (chunk.kind) {
      case "data": {
        const data = chunk.data as Buffer;
        to.write(data);
        pipe.delivered_bytes += data.length;
        pipe.stats.bytes += data.length;
        if (pipe === pipe.conn.down)
          pipe.conn.listener.on_reply?.(data.subarray(0, REPLY_HEAD_BYTES));
        break;
      }
      case "fin":
        to.end();
        break;
      case "rst":
        pipe.done = true;
        resetSocket(to);
        break;
    }
    this.journalLine(chunk.id, "recv", {});
  }

  private dequeue(pipe: Pipe): void {
    const chunk = pipe.queue[pipe.head] as Chunk;
    pipe.queue[pipe.head] = undefined as unknown as Chunk; // let the buffer go
    pipe.head++;
    const bytes = chunk.data?.length ?? 0;
    pipe.queued_bytes -= bytes;
    pipe.stats.held_bytes -= bytes;
    this.total_held_bytes -= bytes;
    if (pipe.head === pipe.queue.length) {
      pipe.queue = [];
      pipe.head = 0;
    } else if (pipe.head >= 1024 && pipe.head * 2 >= pipe.queue.length) {
      pipe.queue = pipe.queue.slice(pipe.head);
      pipe.head = 0;
    }
    assert(pipe.queued_bytes >= 0 && this.total_held_bytes >= 0, "held bytes never go negative");
  }

  /** Drops everything queued (the connection is being reset or closed), journaling each. */
  private discard(pipe: Pipe, reason: string): void {
    if (pipe.timer) {
      clearTimeout(pipe.timer);
      pipe.timer = undefined;
    }
    this.stalled.delete(pipe);
    while (pipe.head < pipe.queue.length) {
      const chunk = pipe.queue[pipe.head] as Chunk;
      this.dequeue(pipe);
      this.journalLine(chunk.id, "drop", { reason });
    }
  }

  /**
   * Reads from the sender while the link is up only as fast as the far side takes bytes and
   * while fewer than max_held_bytes are delayed (like a TCP window). While the link holds bytes
   * (partition, or no upstream yet) reading goes on, as a sender's writes go on filling its
   * kernel buffer; onData resets the connection once more than max_held_bytes are held.
   */
  private updateFlow(pipe: Pipe): void {
    const from = pipe.from;
    if (!from || from.destroyed) return;
    const pause =
      !pipe.done &&
      !this.holding(pipe) &&
      ((pipe.to?.writableNeedDrain ?? false) || pipe.queued_bytes >= this.max_held_bytes);
    if (pause) from.pause();
    else if (from.isPaused()) from.resume();
  }

  private holding(pipe: Pipe): boolean {
    return !pipe.to || this.partitioned(pipe.src, pipe.dest);
  }

  private partitioned(src: string, dest: string): boolean {
    return this.links.get(src, dest).partitioned;
  }

  // ---- polling the link table (it has no change events) ----

  private startPoll(): void {
    if (this.poll || this.closed) return;
    this.poll = setInterval(() => this.tick(), LINK_POLL_MS);
    this.poll.unref();
  }

  private stopPoll(): void {
    if (this.poll) clearInterval(this.poll);
    this.poll = undefined;
  }

  private tick(): void {
    for (const conn of [...this.awaiting]) this.tryConnect(conn);
    for (const pipe of [...this.stalled]) this.pump(pipe);
    if (this.awaiting.size === 0 && this.stalled.size === 0) this.stopPoll();
  }

  // ---- stats and journal ----

  private statsFor(src: string, dest: string): TcpLinkStats {
    const key = `${src}->${dest}`;
    let stats = this.link_stats.get(key);
    if (!stats) {
      stats = {
        connections: 0,
        open: 0,
        refused: 0,
        resets: 0,
        overflow_resets: 0,
        bytes: 0,
        chunks: 0,
        held_bytes: 0,
        held_bytes_peak: 0,
        held_chunks: 0,
        delayed_chunks: 0,
        loss_pauses: 0,
      };
      this.link_stats.set(key, stats);
    }
    return stats;
  }

  private now_ms(): number {
    return this.options.clock.now_ns() / 1e6;
  }

  private journalSend(id: number, pipe: Pipe, bytes: number, body: Record<string, unknown>): void {
    this.write({
      time: this.options.clock.now_ns(),
      event: "send",
      id,
      src: pipe.src,
      dest: pipe.dest,
      conn: pipe.conn.id,
      bytes,
      body,
    });
  }

  private journalLine(id: number, event: string, detail: Record<string, unknown>): void {
    this.write({ time: this.options.clock.now_ns(), event, id, ...detail });
  }

  private note(event: string, detail: Record<string, unknown>): void {
    this.write({ time: this.options.clock.now_ns(), event, ...detail });
  }

  private write(record: Record<string, unknown>): void {
    if (!this.options.journal || this.journal_failed) return;
    try {
      this.options.journal.write(JSON.stringify(record));
    } catch (err) {
      // Closed by its owner before us: a socket callback must not throw into the event loop.
      this.journal_failed = true;
      this.options.log.info(`tcp proxy: journal stopped: ${err}`);
    }
  }
}

function linkKey(src: string, dst: string): string {
  return `${src}\u0000${dst}`;
}

/** The journal body of a data chunk; `text` is its first line when that is printable ASCII. */
function dataBody(conn: number, data: Buffer): Record<string, unknown> {
  const text = firstLine(data);
  return { type: "data", ...(text ? { text } : {}), bytes: data.length, conn };
}

function firstLine(data: Buffer): string | undefined {
  const limit = Math.min(data.length, JOURNAL_TEXT_MAX_CHARS);
  let end = 0;
  for (; end < limit; end++) {
    const byte = data[end] as number;
    if (byte === 0x0d || byte === 0x0a) break;
    if (byte < 0x20 || byte > 0x7e) return undefined;
  }
  return end > 0 ? data.toString("latin1", 0, end) : undefined;
}

/** RST when the socket is connected; a plain destroy when it never got that far. */
function resetSocket(socket: Socket): void {
  if (socket.destroyed) return;
  if (socket.connecting || socket.pending) socket.destroy();
  else socket.resetAndDestroy();
}

function errorCode(err: unknown): string {
  const code = (err as { code?: unknown }).code;
  return typeof code === "string" ? code : String(err);
}
