// An incremental HTTP/2 observer for the TCP proxy (harness/tcp/README.md "gRPC and HTTP/2"):
// fed the bytes of one connection's two directions as they pass, in chunks split anywhere, it
// tells whether the connection speaks HTTP/2 (prior knowledge, as gRPC does on plain TCP) and
// turns its frames into calls: one start per stream (the method from `:path`) and one end (the
// gRPC status from the trailers, the bytes of DATA each way, or the RST_STREAM code). Pure: no
// I/O, no timers; every value from the wire is untrusted and every buffer has a bound below.
// Anything it cannot follow (a frame too large, an HPACK error, a protocol violation) makes it
// give up on the connection once, after which it only counts bytes.
import { createRequire } from "node:module";

/** The client connection preface (RFC 9113 §3.4). */
export const HTTP2_PREFACE = Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", "latin1");
/** Server bytes kept while the client has not yet shown whether it speaks HTTP/2. */
export const MAX_PENDING_SERVER_BYTES = 64 * 1024;
/** A non-DATA frame is buffered whole to be parsed; a larger one makes the observer give up. */
export const MAX_BUFFERED_FRAME_BYTES = 64 * 1024;
/** A header block (HEADERS + CONTINUATION fragments) kept until END_HEADERS. */
export const MAX_HEADER_BLOCK_BYTES = 64 * 1024;
/** Streams followed at once on one connection. */
export const MAX_OPEN_STREAMS = 1024;
/** HPACK dynamic table size the observer follows: the default, which grpc-js and nghttp2 keep. */
export const HPACK_TABLE_MAX_BYTES = 4096;
/** `:path` kept as the method. */
export const METHOD_MAX_CHARS = 256;
/** `grpc-message` kept, percent-decoded (untrusted text). */
export const GRPC_MESSAGE_MAX_CHARS = 256;
/** SETTINGS_MAX_FRAME_SIZE until the receiver says otherwise (RFC 9113 §6.5.2). */
const DEFAULT_MAX_FRAME_BYTES = 16_384;
const FRAME_HEADER_BYTES = 9;

const FRAME = {
  DATA: 0x0,
  HEADERS: 0x1,
  RST_STREAM: 0x3,
  SETTINGS: 0x4,
  PUSH_PROMISE: 0x5,
  GOAWAY: 0x7,
  CONTINUATION: 0x9,
} as const;
const FLAG_END_STREAM = 0x1;
const FLAG_ACK = 0x1;
const FLAG_END_HEADERS = 0x4;
const FLAG_PADDED = 0x8;
const FLAG_PRIORITY = 0x20;
const SETTINGS_MAX_FRAME_SIZE = 0x5;

/** Which program sent the bytes: the dialler (client) or the listener's program (server). */
export type Http2Side = "client" | "server";

export type Http2Event =
  | { kind: "call-start"; stream_id: number; method: string }
  | {
      kind: "call-end";
      stream_id: number;
      method: string;
      /** DATA payload bytes each way (gRPC messages with their 5-byte prefixes, and padding). */
      request_bytes: number;
      response_bytes: number;
      /** From the trailers, or from a trailers-only response; absent when not sent or not a number. */
      grpc_status?: number;
      grpc_message?: string;
      /** `:status` of the response headers, when they came. */
      http_status?: number;
      /** The stream was reset (RST_STREAM) by `by` with this error code. */
      reset?: { code: number; by: Http2Side };
      /** GOAWAY said this stream was never processed (error code of the GOAWAY). */
      refused?: { code: number; by: Http2Side };
      /** The connection ended with the stream still open: the proxy's reason. */
      aborted?: string;
    }
  | { kind: "undecodable"; reason: string };

export type Http2State = "detecting" | "http2" | "not-http2" | "undecodable";

interface Stream {
  id: number;
  method: string;
  request_bytes: number;
  response_bytes: number;
  /** The server sent its response headers: a later header block is the trailers. */
  responded: boolean;
  http_status?: number;
  grpc_status?: number;
  grpc_message?: string;
}

/** The minimal surface of hpack.js's decompressor (a readable-stream Duplex, used synchronously). */
interface HpackDecompressor {
  write(block: Buffer): boolean;
  execute(): void;
  read(): { name: string; value: string } | null;
  on(event: "error", listener: (err: Error) => void): void;
}
interface HpackModule {
  decompressor: { create(options: { table: { maxSize: number } }): HpackDecompressor };
}
const hpack = createRequire(import.meta.url)("hpack.js") as HpackModule;

/** One direction: frame reassembly and that sender's HPACK encoder state, mirrored. */
class Direction {
  /** Bytes of the frame header or of a non-DATA frame not yet complete. */
  private partial: Buffer[] = [];
  private partial_bytes = 0;
  /** DATA payload still to skip (never buffered). */
  skip_bytes = 0;
  /** The frame being read: its header, once complete. */
  frame: { type: number; flags: number; stream_id: number; length: number } | undefined;
  /** Header block fragments of a HEADERS/PUSH_PROMISE awaiting CONTINUATION. */
  block:
    | { stream_id: number; flags: number; fragments: Buffer[]; bytes: number; push: boolean }
    | undefined;
  /** SETTINGS_MAX_FRAME_SIZE the receiver advertised: what this sender may legally send. */
  max_frame_bytes = DEFAULT_MAX_FRAME_BYTES;
  private readonly decompressor = hpack.decompressor.create({
    table: { maxSize: HPACK_TABLE_MAX_BYTES },
  });
  private hpack_error: Error | undefined;

  constructor(readonly side: Http2Side) {
    this.decompressor.on("error", (err) => {
      this.hpack_error = err;
    });
  }

  /** Appends to the partial buffer and returns it whole once it holds `need` bytes. */
  take(chunk: Buffer, offset: number, need: number): { used: number; whole?: Buffer } {
    const want = need - this.partial_bytes;
    const used = Math.min(want, chunk.length - offset);
    if (this.partial_bytes === 0 && used === need) {
      return { used, whole: chunk.subarray(offset, offset + used) };
    }
    // Copied: the proxy hands the chunk on, and a frame may span many chunks.
    this.partial.push(Buffer.from(chunk.subarray(offset, offset + used)));
    this.partial_bytes += used;
    if (this.partial_bytes < need) return { used };
    const whole = Buffer.concat(this.partial, need);
    this.partial = [];
    this.partial_bytes = 0;
    return { used, whole };
  }

  decode(block: Buffer): Array<{ name: string; value: string }> {
    this.decompressor.write(block);
    this.decompressor.execute();
    const fields: Array<{ name: string; value: string }> = [];
    for (let field = this.decompressor.read(); field !== null; field = this.decompressor.read()) {
      fields.push(field);
    }
    if (this.hpack_error) throw new Undecodable(`HPACK: ${this.hpack_error.message}`);
    return fields;
  }
}

class Undecodable extends Error {}

/**
 * Follows one TCP connection. `feed` the bytes each side sends, in order per side; it returns
 * the events those bytes complete. `close` ends the calls still open.
 */
export class Http2Observer {
  state: Http2State = "detecting";
  /** Bytes seen after the observer gave up (or decided the connection is not HTTP/2). */
  ignored_bytes = 0;
  private preface_seen = 0;
  private pending_server: Buffer[] = [];
  private pending_server_bytes = 0;
  private readonly client = new Direction("client");
  private readonly server = new Direction("server");
  private readonly streams = new Map<number, Stream>();

  feed(side: Http2Side, chunk: Buffer): Http2Event[] {
    if (this.state === "not-http2" || this.state === "undecodable") {
      this.ignored_bytes += chunk.length;
      return [];
    }
    const events: Http2Event[] = [];
    try {
      if (this.state === "detecting") this.detect(side, chunk, events);
      else this.frames(side === "client" ? this.client : this.server, chunk, 0, events);
    } catch (err) {
      // Whatever the bytes do, the proxy's socket callback must not throw: give up instead.
      this.state = "undecodable";
      this.streams.clear();
      const reason = err instanceof Undecodable ? err.message : `observer error: ${err}`;
      events.push({ kind: "undecodable", reason });
    }
    return events;
  }

  /** The connection is gone (`reason`: the proxy's, e.g. "reset", "closed"): open calls end. */
  close(reason: string): Http2Event[] {
    if (this.state !== "http2") return [];
    const events: Http2Event[] = [];
    for (const stream of [...this.streams.values()]) this.end(stream, events, { aborted: reason });
    return events;
  }

  private detect(side: Http2Side, chunk: Buffer, events: Http2Event[]): void {
    if (side === "server") {
      // A server speaks as soon as the connection opens (its SETTINGS); keep it for later.
      this.pending_server_bytes += chunk.length;
      if (this.pending_server_bytes > MAX_PENDING_SERVER_BYTES) {
        this.giveUpDetecting();
        return;
      }
      this.pending_server.push(Buffer.from(chunk));
      return;
    }
    const n = Math.min(chunk.length, HTTP2_PREFACE.length - this.preface_seen);
    if (
      !chunk.subarray(0, n).equals(HTTP2_PREFACE.subarray(this.preface_seen, this.preface_seen + n))
    ) {
      this.giveUpDetecting();
      this.ignored_bytes += chunk.length;
      return;
    }
    this.preface_seen += n;
    if (this.preface_seen < HTTP2_PREFACE.length) return;
    this.state = "http2";
    const pending = this.pending_server;
    this.pending_server = [];
    this.pending_server_bytes = 0;
    for (const bytes of pending) this.frames(this.server, bytes, 0, events);
    this.frames(this.client, chunk, n, events);
  }

  private giveUpDetecting(): void {
    this.state = "not-http2";
    this.ignored_bytes += this.pending_server_bytes;
    this.pending_server = [];
    this.pending_server_bytes = 0;
  }

  private frames(dir: Direction, chunk: Buffer, start: number, events: Http2Event[]): void {
    let offset = start;
    while (offset < chunk.length) {
      if (dir.skip_bytes > 0) {
        const n = Math.min(dir.skip_bytes, chunk.length - offset);
        dir.skip_bytes -= n;
        offset += n;
        continue;
      }
      if (!dir.frame) {
        const { used, whole } = dir.take(chunk, offset, FRAME_HEADER_BYTES);
        offset += used;
        if (!whole) continue;
        const frame = {
          length: whole.readUIntBE(0, 3),
          type: whole[3] as number,
          flags: whole[4] as number,
          stream_id: whole.readUInt32BE(5) & 0x7fff_ffff,
        };
        this.checkFrame(dir, frame);
        if (frame.type === FRAME.DATA) {
          // DATA is only counted: its payload is skipped, never buffered.
          this.data(dir, frame.stream_id, frame.flags, frame.length, events);
          dir.skip_bytes = frame.length;
          continue;
        }
        dir.frame = frame;
        if (frame.length > 0) continue;
      }
      const frame = dir.frame;
      if (!frame) continue;
      const { used, whole } =
        frame.length === 0
          ? { used: 0, whole: Buffer.alloc(0) }
          : dir.take(chunk, offset, frame.length);
      offset += used;
      if (!whole) continue;
      dir.frame = undefined;
      this.frame(dir, frame.type, frame.flags, frame.stream_id, whole, events);
    }
  }

  private checkFrame(
    dir: Direction,
    frame: { type: number; stream_id: number; length: number },
  ): void {
    if (frame.length > dir.max_frame_bytes) {
      throw new Undecodable(
        `${dir.side} sent a frame of ${frame.length} bytes > SETTINGS_MAX_FRAME_SIZE ${dir.max_frame_bytes}`,
      );
    }
    if (frame.type !== FRAME.DATA && frame.length > MAX_BUFFERED_FRAME_BYTES) {
      throw new Undecodable(
        `${dir.side} sent a type ${frame.type} frame of ${frame.length} bytes > MAX_BUFFERED_FRAME_BYTES ${MAX_BUFFERED_FRAME_BYTES}`,
      );
    }
    if (
      dir.block &&
      (frame.type !== FRAME.CONTINUATION || frame.stream_id !== dir.block.stream_id)
    ) {
      throw new Undecodable(
        `${dir.side} interrupted a header block with a type ${frame.type} frame`,
      );
    }
  }

  private frame(
    dir: Direction,
    type: number,
    flags: number,
    stream_id: number,
    payload: Buffer,
    events: Http2Event[],
  ): void {
    switch (type) {
      case FRAME.HEADERS: {
        const pad = flags & FLAG_PADDED ? 1 + (payload[0] ?? 0) : 0;
        const skip = (flags & FLAG_PADDED ? 1 : 0) + (flags & FLAG_PRIORITY ? 5 : 0);
        this.fragment(dir, stream_id, flags, payload, skip, pad, false, events);
        return;
      }
      case FRAME.PUSH_PROMISE: {
        // Decoded only to keep the HPACK table in step; gRPC never pushes.
        const pad = flags & FLAG_PADDED ? 1 + (payload[0] ?? 0) : 0;
        const skip = (flags & FLAG_PADDED ? 1 : 0) + 4;
        this.fragment(dir, stream_id, flags, payload, skip, pad, true, events);
        return;
      }
      case FRAME.CONTINUATION:
        if (!dir.block) throw new Undecodable(`${dir.side} sent CONTINUATION without HEADERS`);
        this.fragment(dir, stream_id, flags, payload, 0, 0, dir.block.push, events);
        return;
      case FRAME.RST_STREAM: {
        const stream = this.streams.get(stream_id);
        if (payload.length !== 4) throw new Undecodable(`RST_STREAM of ${payload.length} bytes`);
        if (stream)
          this.end(stream, events, { reset: { code: payload.readUInt32BE(0), by: dir.side } });
        return;
      }
      case FRAME.SETTINGS:
        if (flags & FLAG_ACK) return;
        this.settings(dir, payload);
        return;
      case FRAME.GOAWAY: {
        if (payload.length < 8) throw new Undecodable(`GOAWAY of ${payload.length} bytes`);
        const last_id = payload.readUInt32BE(0) & 0x7fff_ffff;
        const code = payload.readUInt32BE(4);
        // Streams the other side opened above last_id were never processed.
        for (const stream of [...this.streams.values()]) {
          const opened_by_peer = dir.side === "server" ? stream.id % 2 === 1 : stream.id % 2 === 0;
          if (opened_by_peer && stream.id > last_id)
            this.end(stream, events, { refused: { code, by: dir.side } });
        }
        return;
      }
      default:
        // PRIORITY, PING, WINDOW_UPDATE and unknown types carry nothing about calls.
        return;
    }
  }

  /** A receiver's SETTINGS bound what the other side may send. */
  private settings(dir: Direction, payload: Buffer): void {
    if (payload.length % 6 !== 0) throw new Undecodable(`SETTINGS of ${payload.length} bytes`);
    const sender = dir === this.client ? this.server : this.client;
    for (let at = 0; at < payload.length; at += 6) {
      const id = payload.readUInt16BE(at);
      const value = payload.readUInt32BE(at + 2);
      if (id === SETTINGS_MAX_FRAME_SIZE) sender.max_frame_bytes = value;
      // SETTINGS_HEADER_TABLE_SIZE above HPACK_TABLE_MAX_BYTES needs nothing here: the encoder
      // must announce a larger table in a header block, which the decompressor refuses.
    }
  }

  private fragment(
    dir: Direction,
    stream_id: number,
    flags: number,
    payload: Buffer,
    skip: number,
    pad: number,
    push: boolean,
    events: Http2Event[],
  ): void {
    if (skip + pad > payload.length)
      throw new Undecodable(`${dir.side} sent padding beyond its frame`);
    const piece = payload.subarray(skip, payload.length - pad);
    const block = dir.block ?? { stream_id, flags, fragments: [], bytes: 0, push };
    block.bytes += piece.length;
    if (block.bytes > MAX_HEADER_BLOCK_BYTES) {
      throw new Undecodable(`a header block over MAX_HEADER_BLOCK_BYTES ${MAX_HEADER_BLOCK_BYTES}`);
    }
    // The payload may be a view of the proxy's chunk: keep a copy while waiting for CONTINUATION.
    block.fragments.push(flags & FLAG_END_HEADERS && !dir.block ? piece : Buffer.from(piece));
    if (!(flags & FLAG_END_HEADERS)) {
      dir.block = block;
      return;
    }
    dir.block = undefined;
    const fields = dir.decode(Buffer.concat(block.fragments, block.bytes));
    if (!block.push) this.headers(dir.side, block.stream_id, block.flags, fields, events);
  }

  private headers(
    side: Http2Side,
    stream_id: number,
    flags: number,
    fields: Array<{ name: string; value: string }>,
    events: Http2Event[],
  ): void {
    let stream = this.streams.get(stream_id);
    if (side === "client") {
      if (stream || stream_id % 2 === 0) return; // client trailers: nothing to learn
      if (this.streams.size >= MAX_OPEN_STREAMS) {
        throw new Undecodable(`more than MAX_OPEN_STREAMS ${MAX_OPEN_STREAMS} open streams`);
      }
      const path = fields.find((f) => f.name === ":path")?.value ?? "";
      stream = {
        id: stream_id,
        method: path.slice(0, METHOD_MAX_CHARS),
        request_bytes: 0,
        response_bytes: 0,
        responded: false,
      };
      this.streams.set(stream_id, stream);
      events.push({ kind: "call-start", stream_id, method: stream.method });
      return;
    }
    if (!stream) return;
    for (const { name, value } of fields) {
      if (name === ":status" && !stream.responded) stream.http_status = toInt(value);
      else if (name === "grpc-status") stream.grpc_status = toInt(value);
      else if (name === "grpc-message")
        stream.grpc_message = percentDecoded(value).slice(0, GRPC_MESSAGE_MAX_CHARS);
    }
    stream.responded = true;
    if (flags & FLAG_END_STREAM) this.end(stream, events, {});
  }

  private data(
    dir: Direction,
    stream_id: number,
    flags: number,
    length: number,
    events: Http2Event[],
  ): void {
    const stream = this.streams.get(stream_id);
    if (!stream) return;
    if (dir.side === "client") stream.request_bytes += length;
    else {
      stream.response_bytes += length;
      if (flags & FLAG_END_STREAM) this.end(stream, events, {});
    }
  }

  private end(
    stream: Stream,
    events: Http2Event[],
    how: {
      reset?: { code: number; by: Http2Side };
      refused?: { code: number; by: Http2Side };
      aborted?: string;
    },
  ): void {
    this.streams.delete(stream.id);
    events.push({
      kind: "call-end",
      stream_id: stream.id,
      method: stream.method,
      request_bytes: stream.request_bytes,
      response_bytes: stream.response_bytes,
      ...(stream.grpc_status !== undefined ? { grpc_status: stream.grpc_status } : {}),
      ...(stream.grpc_message !== undefined ? { grpc_message: stream.grpc_message } : {}),
      ...(stream.http_status !== undefined ? { http_status: stream.http_status } : {}),
      ...how,
    });
  }
}

/** gRPC percent-encodes grpc-message; a malformed one is kept as sent. */
function percentDecoded(value: string): string {
  try {
    return decodeURIComponent(value);
  } catch {
    return value;
  }
}

function toInt(value: string): number | undefined {
  return /^\d{1,9}$/.test(value) ? Number(value) : undefined;
}
