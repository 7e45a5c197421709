// The HTTP/2 observer (harness/tcp/http2-observer.ts) on byte streams captured from a real
// grpc-js client and server through a recording tap: the calls it sees, the same events however
// the chunks are split (fast-check), and giving up (not HTTP/2, oversized frames, bad HPACK).
import { createConnection, createServer, type Server } from "node:net";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  HTTP2_PREFACE,
  type Http2Event,
  Http2Observer,
  type Http2Side,
  MAX_BUFFERED_FRAME_BYTES,
  MAX_PENDING_SERVER_BYTES,
} from "../../harness/tcp/http2-observer.js";
import { echoClient, grpc, say, startEchoServer, stopServer } from "./grpc-echo.js";

interface Captured {
  side: Http2Side;
  bytes: Buffer;
}

/** Forwards one connection to `port`, recording each chunk with its side in arrival order. */
async function tap(port: number): Promise<{ server: Server; port: number; chunks: Captured[] }> {
  const chunks: Captured[] = [];
  const server = createServer((client) => {
    const upstream = createConnection({ host: "127.0.0.1", port });
    client.on("data", (bytes: Buffer) => {
      chunks.push({ side: "client", bytes: Buffer.from(bytes) });
      upstream.write(bytes);
    });
    upstream.on("data", (bytes: Buffer) => {
      chunks.push({ side: "server", bytes: Buffer.from(bytes) });
      client.write(bytes);
    });
    client.on("close", () => upstream.destroy());
    upstream.on("close", () => client.destroy());
    client.on("error", () => undefined);
    upstream.on("error", () => undefined);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  if (address === null || typeof address === "string") throw new Error("no port");
  return { server, port: address.port, chunks };
}

function feedAll(chunks: Captured[], observer = new Http2Observer()): Http2Event[] {
  return chunks.flatMap(({ side, bytes }) => observer.feed(side, bytes));
}

let captured: Captured[] = [];

beforeAll(async () => {
  const { server, port } = await startEchoServer();
  const recorder = await tap(port);
  const client = echoClient(recorder.port);
  try {
    expect(await say(client, "hello", 5_000)).toEqual({ code: 0, details: "hello" });
    expect((await say(client, "missing", 5_000)).code).toBe(grpc.status.NOT_FOUND);
    const items: string[] = [];
    await new Promise<void>((resolve, reject) => {
      const stream = client.Count({ n: 3 });
      stream.on("data", (reply: { text: string }) => items.push(reply.text));
      stream.on("end", resolve);
      stream.on("error", reject);
    });
    expect(items).toHaveLength(3);
    // A call the client cancels: the server never answers "hang".
    await new Promise<void>((resolve) => {
      const call = client.Say({ text: "hang" }, {}, () => resolve());
      setTimeout(() => call.cancel(), 100);
    });
  } finally {
    client.close();
    stopServer(server);
    await new Promise<void>((resolve) => recorder.server.close(() => resolve()));
  }
  captured = recorder.chunks;
});

afterAll(() => {
  captured = [];
});

describe("a captured grpc-js connection", () => {
  it("gives one start and one end per call, with method and status", () => {
    const events = feedAll(captured);
    const method = "/faultline.test.Echo/";
    expect(events.filter((e) => e.kind === "call-start")).toEqual([
      { kind: "call-start", stream_id: 1, method: `${method}Say` },
      { kind: "call-start", stream_id: 3, method: `${method}Say` },
      { kind: "call-start", stream_id: 5, method: `${method}Count` },
      { kind: "call-start", stream_id: 7, method: `${method}Say` },
    ]);
    const ends = events.filter((e) => e.kind === "call-end");
    expect(ends).toHaveLength(4);
    expect(ends[0]).toMatchObject({ stream_id: 1, grpc_status: 0, http_status: 200 });
    expect(ends[0]).toMatchObject({ request_bytes: 12, response_bytes: 12 }); // 5 + "\n\x05hello"
    expect(ends[1]).toMatchObject({
      stream_id: 3,
      grpc_status: grpc.status.NOT_FOUND,
      grpc_message: "no such thing: missing",
      response_bytes: 0, // trailers-only
    });
    expect(ends[2]).toMatchObject({ stream_id: 5, method: `${method}Count`, grpc_status: 0 });
    expect((ends[2] as { response_bytes: number }).response_bytes).toBe(3 * (5 + 8));
    // grpc-js cancels with RST_STREAM CANCEL (8).
    expect(ends[3]).toMatchObject({ stream_id: 7, reset: { code: 8, by: "client" } });
    expect(events.some((e) => e.kind === "undecodable")).toBe(false);
  });

  it("gives the same events however the chunks are split", () => {
    const whole = feedAll(captured);
    const total = captured.reduce((n, c) => n + c.bytes.length, 0);
    fc.assert(
      fc.property(
        fc.uniqueArray(fc.integer({ min: 1, max: total - 1 }), { maxLength: 200 }),
        (cuts) => {
          const at = new Set(cuts);
          const pieces: Captured[] = [];
          let offset = 0;
          for (const { side, bytes } of captured) {
            let start = 0;
            for (let i = 1; i < bytes.length; i++) {
              if (at.has(offset + i)) {
                pieces.push({ side, bytes: bytes.subarray(start, i) });
                start = i;
              }
            }
            pieces.push({ side, bytes: bytes.subarray(start) });
            offset += bytes.length;
          }
          expect(feedAll(pieces)).toEqual(whole);
        },
      ),
      { numRuns: 200 },
    );
  });

  it("with bytes corrupted, never throws and gives up at most once", () => {
    const total = captured.reduce((n, c) => n + c.bytes.length, 0);
    fc.assert(
      fc.property(
        fc.array(fc.record({ at: fc.integer({ min: 0, max: total - 1 }), byte: fc.nat(255) }), {
          minLength: 1,
          maxLength: 8,
        }),
        (flips) => {
          const copy = captured.map(({ side, bytes }) => ({ side, bytes }));
          // The flips address the concatenation of all chunks; overwrite through a view of it.
          const all = Buffer.concat(copy.map((c) => c.bytes));
          for (const { at, byte } of flips) all[at] = byte;
          let offset = 0;
          for (const c of copy) {
            c.bytes = all.subarray(offset, offset + c.bytes.length);
            offset += c.bytes.length;
          }
          const observer = new Http2Observer();
          const events = [...feedAll(copy, observer), ...observer.close("closed")];
          const gave_up = events.filter((e) => e.kind === "undecodable");
          expect(gave_up.length).toBeLessThanOrEqual(1);
          expect(gave_up.filter((e) => e.reason.startsWith("observer error"))).toEqual([]);
        },
      ),
      { numRuns: 500 },
    );
  });

  it("fed one byte at a time gives the same events", () => {
    const bytewise = captured.flatMap(({ side, bytes }) =>
      [...bytes].map((b) => ({ side, bytes: Buffer.of(b) })),
    );
    expect(feedAll(bytewise)).toEqual(feedAll(captured));
  });

  it("ends calls still open when the connection goes", () => {
    // Cut the capture right after the first call's request headers went out.
    const observer = new Http2Observer();
    const events: Http2Event[] = [];
    for (const { side, bytes } of captured) {
      events.push(...observer.feed(side, bytes));
      if (events.some((e) => e.kind === "call-start")) break;
    }
    expect(observer.close("reset")).toEqual([
      expect.objectContaining({ kind: "call-end", stream_id: 1, aborted: "reset" }),
    ]);
    expect(observer.close("reset")).toEqual([]);
  });
});

/** One frame: 9-byte header and payload. */
function frame(type: number, flags: number, stream_id: number, payload: Buffer): Buffer {
  const header = Buffer.alloc(9);
  header.writeUIntBE(payload.length, 0, 3);
  header[3] = type;
  header[4] = flags;
  header.writeUInt32BE(stream_id, 5);
  return Buffer.concat([header, payload]);
}

describe("giving up", () => {
  it("random bytes after the preface never throw and give up at most once", () => {
    fc.assert(
      fc.property(
        fc.array(fc.record({ client: fc.boolean(), bytes: fc.uint8Array({ maxLength: 300 }) }), {
          maxLength: 20,
        }),
        (chunks) => {
          const observer = new Http2Observer();
          const events = [
            ...observer.feed("client", HTTP2_PREFACE),
            ...chunks.flatMap(({ client, bytes }) =>
              observer.feed(client ? "client" : "server", Buffer.from(bytes)),
            ),
            ...observer.close("closed"),
          ];
          expect(events.filter((e) => e.kind === "undecodable").length).toBeLessThanOrEqual(1);
          expect(
            events.filter((e) => e.kind === "undecodable" && /^observer error/.test(e.reason)),
          ).toEqual([]);
        },
      ),
      { numRuns: 500 },
    );
  });

  it("gives up on a padded HEADERS frame too short for its padding", () => {
    const observer = new Http2Observer();
    observer.feed("client", HTTP2_PREFACE);
    expect(observer.feed("client", frame(1, 0x4 | 0x8, 1, Buffer.alloc(0)))).toEqual([
      { kind: "undecodable", reason: "client sent padding beyond its frame" },
    ]);
  });

  it("leaves a connection alone that does not start with the preface", () => {
    const observer = new Http2Observer();
    expect(observer.feed("client", Buffer.from("PRI * HTTP/1.1\r\n"))).toEqual([]);
    expect(observer.state).toBe("not-http2");
    expect(observer.feed("server", Buffer.from("HTTP/1.1 400 Bad Request\r\n"))).toEqual([]);
    expect(observer.ignored_bytes).toBe(16 + 26);
  });

  it("recognises a preface split across chunks, and a server speaking first", () => {
    const observer = new Http2Observer();
    observer.feed("server", frame(4, 0, 0, Buffer.alloc(0)));
    observer.feed("client", HTTP2_PREFACE.subarray(0, 5));
    expect(observer.state).toBe("detecting");
    observer.feed("client", HTTP2_PREFACE.subarray(5));
    expect(observer.state).toBe("http2");
  });

  it("bounds what a server sends before the client speaks", () => {
    const observer = new Http2Observer();
    observer.feed("server", Buffer.alloc(MAX_PENDING_SERVER_BYTES));
    expect(observer.state).toBe("detecting");
    observer.feed("server", Buffer.alloc(1));
    expect(observer.state).toBe("not-http2");
    expect(observer.ignored_bytes).toBe(MAX_PENDING_SERVER_BYTES + 1);
  });

  it("gives up once on a frame larger than the receiver allows, then counts bytes", () => {
    const observer = new Http2Observer();
    observer.feed("client", HTTP2_PREFACE);
    // Default SETTINGS_MAX_FRAME_SIZE is 16384: a 16385-byte DATA frame header is enough.
    const header = frame(0, 0, 1, Buffer.alloc(0));
    header.writeUIntBE(16_385, 0, 3);
    expect(observer.feed("client", header)).toEqual([
      {
        kind: "undecodable",
        reason: "client sent a frame of 16385 bytes > SETTINGS_MAX_FRAME_SIZE 16384",
      },
    ]);
    expect(observer.state).toBe("undecodable");
    expect(observer.feed("client", Buffer.alloc(100))).toEqual([]);
    expect(observer.ignored_bytes).toBe(100);
    expect(observer.close("closed")).toEqual([]);
  });

  it("bounds a non-DATA frame even when the receiver allows large frames", () => {
    const observer = new Http2Observer();
    const settings = Buffer.alloc(6);
    settings.writeUInt16BE(5, 0); // SETTINGS_MAX_FRAME_SIZE
    settings.writeUInt32BE(1 << 20, 2);
    observer.feed("server", frame(4, 0, 0, settings));
    observer.feed("client", HTTP2_PREFACE);
    const header = frame(1, 4, 1, Buffer.alloc(0));
    header.writeUIntBE(MAX_BUFFERED_FRAME_BYTES + 1, 0, 3);
    const events = observer.feed("client", header);
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({ kind: "undecodable" });
    expect((events[0] as { reason: string }).reason).toContain("MAX_BUFFERED_FRAME_BYTES");
  });

  it("gives up on a header block HPACK cannot decode", () => {
    const observer = new Http2Observer();
    observer.feed("client", HTTP2_PREFACE);
    // Index 0x7f+ (a multi-byte integer) far beyond both tables.
    const events = observer.feed("client", frame(1, 4, 1, Buffer.from([0xff, 0xff, 0x7f])));
    expect(events).toHaveLength(1);
    expect((events[0] as { reason: string }).reason).toMatch(/^HPACK: /);
  });

  it("gives up when a header block is interrupted", () => {
    const observer = new Http2Observer();
    observer.feed("client", HTTP2_PREFACE);
    observer.feed("client", frame(1, 0, 1, Buffer.from([0x82]))); // no END_HEADERS
    const events = observer.feed("client", frame(6, 0, 0, Buffer.alloc(8))); // PING
    expect(events).toEqual([
      { kind: "undecodable", reason: "client interrupted a header block with a type 6 frame" },
    ]);
  });
});
