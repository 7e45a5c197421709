// The TCP proxy (harness/tcp/proxy.ts) on loopback with real sockets: bare node:net servers play
// `dst`, bare sockets play `src`. Bytes both ways, partitions (held, released in order, bounded,
// delayed connects), latency and loss as delay, resets, upstream refusal and close, the journal,
// and that close() leaves nothing open. Timing asserts are lower bounds only.
import { randomBytes } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createConnection, createServer, type Server, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { RunClock } from "../../harness/clock.js";
import { JsonlWriter } from "../../harness/jsonl-writer.js";
import { LinkTable } from "../../harness/links.js";
import { Logger } from "../../harness/logger.js";
import { Random } from "../../harness/random.js";
import {
  LOSS_RTO_MS,
  MAX_LOSS_RETRANSMITS,
  REPLY_HEAD_BYTES,
  TcpProxy,
} from "../../harness/tcp/proxy.js";

const WAIT_MS = 10_000;

interface Peer {
  socket: Socket;
  chunks: Buffer[];
  ended: boolean;
  closed: boolean;
  error: string | undefined;
  bytes(): Buffer;
}

function track(socket: Socket): Peer {
  const peer: Peer = {
    socket,
    chunks: [],
    ended: false,
    closed: false,
    error: undefined,
    bytes: () => Buffer.concat(peer.chunks),
  };
  socket.on("data", (chunk: Buffer) => peer.chunks.push(chunk));
  socket.on("end", () => {
    peer.ended = true;
  });
  socket.on("error", (err: NodeJS.ErrnoException) => {
    peer.error = err.code ?? String(err);
  });
  socket.on("close", () => {
    peer.closed = true;
  });
  return peer;
}

async function until(done: () => boolean, what: string, timeout_ms = WAIT_MS): Promise<void> {
  const deadline = Date.now() + timeout_ms;
  while (!done()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting: ${what}`);
    await sleep(5);
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Upstream {
  server: Server;
  port: number;
  /** Server-side sockets, in accept order. */
  peers: Peer[];
}

let dir: string;
let links: LinkTable;
let proxy: TcpProxy;
let journal: JsonlWriter;
const servers: Server[] = [];
const sockets: Socket[] = [];

function makeProxy(extra: { max_held_bytes?: number; connect_timeout_ms?: number } = {}): TcpProxy {
  return new TcpProxy({
    links,
    random: new Random(7),
    clock: new RunClock(),
    journal,
    log: new Logger(true),
    ...extra,
  });
}

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "faultline-tcp-proxy-"));
  links = new LinkTable({ mean_ms: 0, dist: "constant" });
  journal = new JsonlWriter(join(dir, "messages.jsonl"), { flush_bytes: 0, max_bytes: 64 << 20 });
  proxy = makeProxy();
});

afterEach(async () => {
  await proxy.close();
  for (const s of sockets.splice(0)) s.destroy();
  await Promise.all(
    servers.splice(0).map((s) => new Promise<void>((resolve) => s.close(() => resolve()))),
  );
  journal.close();
  rmSync(dir, { recursive: true, force: true });
});

/** A server on 127.0.0.1; `echo` writes back what it reads and ends when the client ends. */
async function upstream(mode: "echo" | "sink"): Promise<Upstream> {
  const peers: Peer[] = [];
  const server = createServer({ allowHalfOpen: true }, (socket) => {
    sockets.push(socket);
    const peer = track(socket);
    peers.push(peer);
    if (mode === "echo") {
      socket.on("data", (chunk: Buffer) => {
        if (!socket.write(chunk)) socket.pause();
      });
      socket.on("drain", () => socket.resume());
      socket.on("end", () => socket.end());
    }
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  if (address === null || typeof address === "string") throw new Error("no port");
  return { server, port: address.port, peers };
}

async function dial(port: number, allowHalfOpen = false): Promise<Peer> {
  const socket = createConnection({ host: "127.0.0.1", port, allowHalfOpen });
  sockets.push(socket);
  const peer = track(socket);
  await new Promise<void>((resolve, reject) => {
    socket.once("connect", resolve);
    socket.once("error", reject);
  });
  return peer;
}

function records(): Array<Record<string, unknown>> {
  journal.flush();
  return readFileSync(journal.path, "utf8")
    .split("\n")
    .filter((line) => line.length > 0)
    .map((line) => JSON.parse(line));
}

/** Bytes 0..n-1 of a recognisable pattern, so reordering or loss shows as a mismatch. */
function pattern(n: number, seed = 0): Buffer {
  const out = Buffer.alloc(n);
  for (let i = 0; i < n; i++) out[i] = (i * 31 + seed + (i >> 8)) & 0xff;
  return out;
}

describe("bytes", () => {
  it("pass both ways unchanged, 8 MiB each way", async () => {
    const server = await upstream("echo");
    const port = await proxy.listen("w1", "coord", server.port);
    const client = await dial(port);
    const data = randomBytes(8 << 20);
    client.socket.end(data);
    await until(() => client.ended, "the echo to end");
    expect(client.bytes().equals(data)).toBe(true);
    const stats = proxy.stats();
    expect(stats["w1->coord"]).toMatchObject({ bytes: data.length, connections: 1 });
    expect(stats["coord->w1"]).toMatchObject({ bytes: data.length });
    await until(() => client.closed && proxy.stats()["w1->coord"]?.open === 0, "close");
    expect(client.error).toBeUndefined();
  });

  it("many concurrent connections each get their own bytes back", async () => {
    const server = await upstream("echo");
    const port = await proxy.listen("w1", "coord", server.port);
    const count = 40;
    const clients = await Promise.all(Array.from({ length: count }, () => dial(port)));
    const sent = clients.map((client, i) => {
      const data = pattern(100_000 + i * 1000, i);
      client.socket.end(data);
      return data;
    });
    await until(() => clients.every((c) => c.ended), "every echo to end");
    clients.forEach((client, i) => {
      expect(client.bytes().equals(sent[i] as Buffer), `connection ${i}`).toBe(true);
    });
    expect(proxy.stats()["w1->coord"]?.connections).toBe(count);
  });

  it("the upstream refusing the connect resets the client", async () => {
    const gone = await upstream("sink");
    const port = await proxy.listen("w1", "coord", gone.port);
    await new Promise<void>((resolve) => gone.server.close(() => resolve()));
    const client = await dial(port);
    await until(() => client.closed, "the client to be closed");
    expect(client.error).toBe("ECONNRESET");
    expect(proxy.stats()["w1->coord"]).toMatchObject({ refused: 1, resets: 1, open: 0 });
    expect(records()).toContainEqual(
      expect.objectContaining({ event: "drop", reason: "ECONNREFUSED" }),
    );
  });

  it("the upstream closing (FIN) reaches the client after its bytes", async () => {
    const server = await upstream("sink");
    const port = await proxy.listen("w1", "coord", server.port);
    const client = await dial(port, true);
    await until(() => server.peers.length === 1, "the upstream connection");
    server.peers[0]?.socket.end("bye\n");
    await until(() => client.ended, "the client to see FIN");
    expect(client.bytes().toString()).toBe("bye\n");
    // Half-close: the client can still send, and the server still reads.
    client.socket.end("last\n");
    await until(() => server.peers[0]?.ended === true, "the server to see FIN");
    expect(server.peers[0]?.bytes().toString()).toBe("last\n");
    await until(() => client.closed, "close");
    expect(client.error).toBeUndefined();
  });

  it("the upstream resetting (RST) resets the client", async () => {
    const server = await upstream("sink");
    const port = await proxy.listen("w1", "coord", server.port);
    const client = await dial(port);
    await until(() => server.peers.length === 1, "the upstream connection");
    server.peers[0]?.socket.resetAndDestroy();
    await until(() => client.closed, "the client to be closed");
    expect(client.error).toBe("ECONNRESET");
  });

  it("a reader that stops reading pauses the sender instead of buffering without bound", async () => {
    const server = await upstream("sink");
    const port = await proxy.listen("w1", "coord", server.port);
    const client = await dial(port);
    client.socket.write("x");
    await until(() => server.peers[0]?.bytes().length === 1, "the connection");
    const up = server.peers[0] as Peer;
    up.socket.pause();
    const data = pattern(24 << 20, 5);
    client.socket.end(data);
    // The proxy stops reading: the client's own buffer backs up.
    await until(() => client.socket.writableLength > 0, "the client to back up");
    await sleep(100);
    const stats = proxy.stats()["w1->coord"];
    expect(stats?.held_bytes_peak).toBeLessThan(1 << 20);
    expect(stats?.resets).toBe(0);
    up.socket.resume();
    await until(() => up.ended, "every byte");
    expect(up.bytes().equals(Buffer.concat([Buffer.from("x"), data]))).toBe(true);
  });

  it("a client's RST follows its link: held by a partition until heal", async () => {
    const server = await upstream("sink");
    const port = await proxy.listen("w1", "coord", server.port);
    const client = await dial(port);
    client.socket.write("x");
    await until(() => server.peers[0]?.bytes().length === 1, "the connection");
    const up = server.peers[0] as Peer;
    links.set("w1", "coord", { partitioned: true });
    client.socket.resetAndDestroy();
    await sleep(100);
    expect(up.closed).toBe(false);
    links.heal();
    await until(() => up.closed, "the reset after heal");
    expect(up.error).toBe("ECONNRESET");
    await until(() => proxy.stats()["w1->coord"]?.open === 0, "the proxy to close it");
  });

  it("on_reply sees the head of each chunk delivered back to the dialler, and nothing it sent", async () => {
    const server = await upstream("sink");
    const heads: string[] = [];
    const port = await proxy.listen("w1", "coord", server.port, (head) =>
      heads.push(head.toString("latin1")),
    );
    const client = await dial(port);
    const request = "POST /task HTTP/1.1\r\n\r\n";
    client.socket.write(request);
    await until(() => server.peers[0]?.bytes().length === request.length, "the request upstream");
    server.peers[0]?.socket.write(
      `HTTP/1.1 400 Bad Request\r\n\r\n${"x".repeat(2 * REPLY_HEAD_BYTES)}`,
    );
    await until(() => client.bytes().length >= 2 * REPLY_HEAD_BYTES, "the reply");
    expect(heads.length).toBeGreaterThan(0);
    expect(heads[0]?.startsWith("HTTP/1.1 400 Bad Request")).toBe(true);
    expect(heads.every((head) => head.length <= REPLY_HEAD_BYTES)).toBe(true);
    expect(heads.join("")).not.toContain("POST");
  });

  it("listening again for the same pair keeps the port and points at the new dst_port", async () => {
    const first = await upstream("sink");
    const second = await upstream("sink");
    const port = await proxy.listen("w1", "coord", first.port);
    expect(await proxy.listen("w1", "coord", second.port)).toBe(port);
    const client = await dial(port);
    client.socket.write("x");
    await until(() => second.peers[0]?.bytes().toString() === "x", "the new upstream");
    expect(first.peers).toHaveLength(0);
  });
});

describe("partition", () => {
  it("holds bytes both ways and releases them in order on heal", async () => {
    const server = await upstream("sink");
    const port = await proxy.listen("w1", "coord", server.port);
    const client = await dial(port);
    client.socket.write("before ");
    await until(() => server.peers[0]?.bytes().toString() === "before ", "the first bytes");
    const up = server.peers[0] as Peer;
    const heldBefore = proxy.stats()["w1->coord"]?.held_chunks as number;

    links.set("w1", "coord", { partitioned: true });
    links.set("coord", "w1", { partitioned: true });
    for (const word of ["one ", "two ", "three"]) {
      client.socket.write(word);
      await sleep(10);
    }
    up.socket.write("reply");
    await sleep(150);
    expect(up.bytes().toString()).toBe("before ");
    expect(client.bytes().length).toBe(0);
    expect(proxy.stats()["w1->coord"]?.held_bytes).toBe("one two three".length);

    links.heal();
    await until(() => up.bytes().toString() === "before one two three", "held bytes upstream");
    await until(() => client.bytes().toString() === "reply", "held bytes downstream");
    expect(proxy.stats()["w1->coord"]).toMatchObject({
      held_bytes: 0,
      held_chunks: heldBefore + 3,
      resets: 0,
    });
  });

  it("a one-way partition holds only the cut direction", async () => {
    const server = await upstream("sink");
    const port = await proxy.listen("w1", "coord", server.port);
    const client = await dial(port);
    client.socket.write("a");
    await until(() => server.peers[0]?.bytes().length === 1, "the first byte");
    const up = server.peers[0] as Peer;
    links.set("w1", "coord", { partitioned: true });
    client.socket.write("b");
    up.socket.write("down");
    await until(() => client.bytes().toString() === "down", "the open direction");
    await sleep(50);
    expect(up.bytes().toString()).toBe("a");
    links.heal();
    await until(() => up.bytes().toString() === "ab", "the cut direction after heal");
  });

  it("a connection opened during a partition reaches the upstream only after heal", async () => {
    const server = await upstream("sink");
    const port = await proxy.listen("w1", "coord", server.port);
    links.set("coord", "w1", { partitioned: true }); // either direction blocks the handshake
    const client = await dial(port); // the proxy accepts at once
    client.socket.write("early");
    await sleep(150);
    expect(server.peers).toHaveLength(0);
    links.heal();
    await until(() => server.peers[0]?.bytes().toString() === "early", "the held connect");
    const connect = records().find((r) => r.event === "send" && isBody(r, "connect"));
    expect(connect).toBeDefined();
    expect(records()).toContainEqual({
      time: expect.any(Number),
      event: "recv",
      id: connect?.id,
      conn: 1,
    });
  });

  it("a connect waiting longer than connect_timeout_ms is reset", async () => {
    await proxy.close();
    proxy = makeProxy({ connect_timeout_ms: 100 });
    const server = await upstream("sink");
    const port = await proxy.listen("w1", "coord", server.port);
    links.set("w1", "coord", { partitioned: true });
    const client = await dial(port);
    await until(() => client.closed, "the connect timeout");
    expect(client.error).toBe("ECONNRESET");
    expect(proxy.stats()["w1->coord"]).toMatchObject({ refused: 1 });
    expect(records()).toContainEqual(
      expect.objectContaining({ event: "drop", reason: "connect-timeout" }),
    );
    links.heal();
    await sleep(50);
    expect(server.peers).toHaveLength(0);
  });

  it("more than max_held_bytes held resets the connection on both sides", async () => {
    await proxy.close();
    proxy = makeProxy({ max_held_bytes: 64 * 1024 });
    const server = await upstream("sink");
    const port = await proxy.listen("w1", "coord", server.port);
    const client = await dial(port);
    client.socket.write("x");
    await until(() => server.peers[0]?.bytes().length === 1, "the connection");
    const up = server.peers[0] as Peer;
    links.set("w1", "coord", { partitioned: true });
    client.socket.write(pattern(256 * 1024));
    await until(() => client.closed && up.closed, "both sides to be reset");
    expect(client.error).toBe("ECONNRESET");
    expect(up.error).toBe("ECONNRESET");
    expect(up.bytes().length).toBe(1);
    expect(proxy.stats()["w1->coord"]).toMatchObject({ overflow_resets: 1, held_bytes: 0 });
    const journaled = records();
    expect(journaled).toContainEqual(
      expect.objectContaining({ event: "tcp-reset", reason: "overflow" }),
    );
    expect(journaled).toContainEqual(expect.objectContaining({ event: "drop", reason: "reset" }));
  });
});

describe("packet faults", () => {
  it("extra latency delays each direction (lower bound only)", async () => {
    const server = await upstream("echo");
    const port = await proxy.listen("w1", "coord", server.port);
    const client = await dial(port);
    links.set("w1", "coord", { extra_latency: { mean_ms: 60, dist: "constant" } });
    links.set("coord", "w1", { extra_latency: { mean_ms: 60, dist: "constant" } });
    const start = performance.now();
    client.socket.write("ping");
    await until(() => client.bytes().toString() === "ping", "the echo");
    // Timers never fire early; allow 1 ms of clock rounding per hop.
    expect(performance.now() - start).toBeGreaterThanOrEqual(118);
    expect(proxy.stats()["w1->coord"]?.delayed_chunks).toBeGreaterThanOrEqual(1);
  });

  it("random latency never reorders bytes", async () => {
    const server = await upstream("echo");
    const port = await proxy.listen("w1", "coord", server.port);
    links.set("w1", "coord", { extra_latency: { mean_ms: 5, dist: "exponential" } });
    links.set("coord", "w1", { extra_latency: { mean_ms: 5, dist: "uniform" } });
    const client = await dial(port);
    const data = pattern(200 * 997, 3);
    for (let i = 0; i < 200; i++) {
      client.socket.write(data.subarray(i * 997, (i + 1) * 997));
      await new Promise((r) => setImmediate(r));
    }
    client.socket.end();
    await until(() => client.ended, "the echo to end");
    expect(client.bytes().equals(data)).toBe(true);
  });

  it("loss delays a chunk by retransmission pauses and never loses or duplicates bytes", async () => {
    const server = await upstream("sink");
    const port = await proxy.listen("w1", "coord", server.port);
    const client = await dial(port);
    links.set("w1", "coord", { loss: 1, duplicate: 1 });
    const start = performance.now();
    client.socket.write("lost?");
    await until(() => server.peers[0]?.bytes().toString() === "lost?", "the bytes");
    const pauses_ms = LOSS_RTO_MS * (2 ** MAX_LOSS_RETRANSMITS - 1);
    expect(performance.now() - start).toBeGreaterThanOrEqual(pauses_ms - 2);
    expect(proxy.stats()["w1->coord"]?.loss_pauses).toBe(MAX_LOSS_RETRANSMITS);
    await sleep(20);
    expect(server.peers[0]?.bytes().toString()).toBe("lost?"); // duplicate is a no-op
  });
});

describe("resets and close", () => {
  it("resetConnections(node) resets its connections at either end, both sides", async () => {
    const coord = await upstream("sink");
    const w1 = await upstream("sink");
    const toCoordW1 = await proxy.listen("w1", "coord", coord.port);
    const toCoordW2 = await proxy.listen("w2", "coord", coord.port);
    const toW1 = await proxy.listen("coord", "w1", w1.port);
    const a = await dial(toCoordW1);
    const b = await dial(toW1);
    const other = await dial(toCoordW2);
    for (const peer of [a, b, other]) peer.socket.write("hi");
    await until(() => coord.peers.length === 2 && w1.peers.length === 1, "three upstreams");
    await until(() => [...coord.peers, ...w1.peers].every((p) => p.bytes().length === 2), "bytes");

    expect(proxy.resetConnections("w1")).toBe(2);
    const up = w1.peers[0] as Peer;
    await until(() => a.closed && b.closed && up.closed, "w1's connections");
    await until(() => coord.peers.some((p) => p.closed), "coord's side of w1's connection");
    const reset = coord.peers.filter((p) => p.closed);
    expect(reset).toHaveLength(1);
    for (const peer of [a, b, up, ...reset]) expect(peer.error).toBe("ECONNRESET");

    // w2's connection is untouched.
    other.socket.write("!");
    await until(() => coord.peers.some((p) => p.bytes().toString() === "hi!"), "w2 still up");
    expect(other.closed).toBe(false);
    expect(proxy.stats()["w1->coord"]).toMatchObject({ resets: 1, open: 0 });
    expect(proxy.resetConnections("w1")).toBe(0);
  });

  it("journals connections, chunks, FIN and close in the messages.jsonl style", async () => {
    const server = await upstream("echo");
    const port = await proxy.listen("w1", "coord", server.port);
    const client = await dial(port);
    client.socket.end("GET /task HTTP/1.1\r\n\r\n");
    await until(() => client.closed, "the exchange");
    await until(() => proxy.stats()["w1->coord"]?.open === 0, "the proxy to see it closed");
    const journaled = records();
    const sends = journaled.filter((r) => r.event === "send");
    expect(sends.map((r) => [r.src, r.dest, (r.body as { type: string }).type])).toEqual([
      ["w1", "coord", "connect"],
      ["w1", "coord", "data"],
      ["w1", "coord", "fin"],
      ["coord", "w1", "data"],
      ["coord", "w1", "fin"],
    ]);
    expect(sends[1]).toMatchObject({
      conn: 1,
      bytes: 22,
      body: { type: "data", text: "GET /task HTTP/1.1", bytes: 22, conn: 1 },
    });
    // Every send is received exactly once, after it was sent.
    for (const send of sends) {
      const recvs = journaled.filter((r) => r.event === "recv" && r.id === send.id);
      expect(recvs).toHaveLength(1);
      expect(recvs[0]?.time as number).toBeGreaterThanOrEqual(send.time as number);
    }
    expect(journaled[0]).toMatchObject({ event: "tcp-listen", src: "w1", dest: "coord", port });
    expect(journaled.at(-1)).toMatchObject({
      event: "tcp-close",
      conn: 1,
      src: "w1",
      dest: "coord",
      bytes_up: 22,
      bytes_down: 22,
    });
  });

  it("close() resets open connections and leaves no listener or socket behind", async () => {
    const tcpHandles = () =>
      process.getActiveResourcesInfo().filter((r) => r === "TCPSocketWrap" || r === "TCPServerWrap")
        .length;
    const baseline = tcpHandles();
    const server = await upstream("sink");
    const port = await proxy.listen("w1", "coord", server.port);
    const clients = await Promise.all([dial(port), dial(port), dial(port)]);
    await until(() => server.peers.length === 3, "three upstreams");
    links.set("w1", "coord", { partitioned: true });
    clients[0]?.socket.write("held");
    await proxy.close();
    await until(() => clients.every((c) => c.closed), "the clients to be reset");
    for (const client of clients) expect(client.error).toBe("ECONNRESET");
    await expect(dial(port)).rejects.toThrow(/ECONNREFUSED/);
    await expect(proxy.listen("w2", "coord", server.port)).rejects.toThrow(/closed/);
    await until(() => server.peers.every((p) => p.closed), "the upstreams to be reset");
    await new Promise<void>((resolve) => server.server.close(() => resolve()));
    servers.splice(servers.indexOf(server.server), 1);
    await until(() => tcpHandles() === baseline, "every TCP handle to be gone", 2_000);
  });
});

function isBody(record: Record<string, unknown>, type: string): boolean {
  return (record.body as { type?: unknown } | undefined)?.type === type;
}
