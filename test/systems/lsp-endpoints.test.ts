// The LSP client and server endpoints over real loopback UDP, in process (systems/lsp/README.md
// "The wire format", "How it works"): echo, delivery through the proxy under
// loss/duplication/reordering/corruption, handshake failure, loss reports, and the blocking and
// non-blocking closes.
import { createSocket } from "node:dgram";
import { afterEach, describe, expect, it } from "vitest";
import { RunClock } from "../../harness/clock.js";
import { LinkTable } from "../../harness/links.js";
import { Random } from "../../harness/random.js";
import { UdpProxy } from "../../harness/udp/proxy.js";
import {
  ackMessage,
  connectMessage,
  dataMessage,
  decodeMessage,
  encodeMessage,
  MsgType,
} from "../../protocols/lsp/message.js";
import type { LspParams } from "../../protocols/lsp/params.js";
import { LspClient } from "../../systems/lsp/client.js";
import { LspServer, type ServerRead } from "../../systems/lsp/server.js";

const FAST: LspParams = {
  epochLimit: 5,
  epochMillis: 50,
  windowSize: 4,
  maxBackOffInterval: 2,
  maxUnackedMessages: 4,
};

const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await Promise.resolve(c()).catch(() => {});
});

async function server(params = FAST): Promise<LspServer> {
  const s = await LspServer.listen(0, params);
  cleanups.push(() => s.close());
  return s;
}

/** Echoes everything; resolves reads that report errors into `errors`. */
function echo(s: LspServer, errors: ServerRead[] = []): ServerRead[] {
  void (async () => {
    for (;;) {
      const item = await s.read().catch(() => undefined);
      if (!item) return;
      if (item.payload === null) errors.push(item);
      else {
        try {
          s.write(item.connId, item.payload);
        } catch {}
      }
    }
  })();
  return errors;
}

async function connect(port: number, isn: number, params = FAST): Promise<LspClient> {
  const c = await LspClient.connect("127.0.0.1", port, isn, params);
  cleanups.push(() => c.close());
  return c;
}

async function until(done: () => boolean, timeout_ms: number): Promise<boolean> {
  const deadline = Date.now() + timeout_ms;
  while (!done()) {
    if (Date.now() > deadline) return false;
    await new Promise((r) => setTimeout(r, 5));
  }
  return true;
}

const bytes = (s: string) => Buffer.from(s);
const str = (b: Uint8Array) => Buffer.from(b).toString();

describe("LSP endpoints", () => {
  it("echo: three clients, fifty messages each, in order", async () => {
    const s = await server();
    echo(s);
    const clients = await Promise.all([1, 2, 3].map((i) => connect(s.port, i * 40)));
    expect(new Set(clients.map((c) => c.connId)).size).toBe(3);
    await Promise.all(
      clients.map(async (c, i) => {
        for (let k = 0; k < 50; k++) c.write(bytes(`${i}:${k}`));
        for (let k = 0; k < 50; k++) expect(str(await c.read())).toBe(`${i}:${k}`);
      }),
    );
  });

  it("delivers intact and in order through the proxy at 30% loss, duplication, reordering and corruption", async () => {
    const params: LspParams = {
      epochLimit: 60,
      epochMillis: 20,
      windowSize: 8,
      maxBackOffInterval: 0,
      maxUnackedMessages: 8,
    };
    const s = await server(params);
    echo(s);
    const links = new LinkTable({ mean_ms: 0, dist: "constant" });
    const proxy = UdpProxy.create({ clock: new RunClock(), random: new Random(11), links });
    cleanups.push(() => proxy.close());
    proxy.setUpstream(s.port);
    const port = await proxy.addFrontend("c0");
    for (const [src, dest] of [
      ["c0", "server"],
      ["server", "c0"],
    ] as const) {
      links.set(src, dest, {
        loss: 0.3,
        duplicate: 0.2,
        extra_latency: { mean_ms: 10, dist: "uniform" },
      });
      proxy.setExtras(src, dest, { corrupt: 0.1, shorten: 0.1, lengthen: 0.1 });
    }
    const c = await connect(port, 7, params);
    const sent = Array.from({ length: 40 }, (_, k) => `m${k}-${"x".repeat(k * 20)}`);
    for (const m of sent) c.write(bytes(m));
    const got: string[] = [];
    for (const _ of sent) got.push(str(await c.read()));
    expect(got).toEqual(sent);
    const toServer = proxy.totals.peer("c0")["to-server"];
    expect(toServer.dropped).toBeGreaterThan(0);
    expect(toServer.mutated).toBeGreaterThan(0);
  }, 30_000);

  it("NewClient fails after K epochs when nothing answers", async () => {
    const silent = createSocket("udp4");
    await new Promise<void>((r) => silent.bind(0, "127.0.0.1", r));
    cleanups.push(() => silent.close());
    const start = Date.now();
    await expect(
      LspClient.connect("127.0.0.1", silent.address().port, 1, { ...FAST, epochLimit: 3 }),
    ).rejects.toThrow(/no answer to Connect after 3 epochs/);
    expect(Date.now() - start).toBeGreaterThanOrEqual(3 * FAST.epochMillis - 10);
  });

  it("answers a repeated Connect with the same connection, and reports a silent client lost", async () => {
    const s = await server();
    const errors = echo(s);
    const raw = createSocket("udp4");
    const got: ReturnType<typeof decodeMessage>[] = [];
    raw.on("message", (d) => got.push(decodeMessage(d)));
    await new Promise<void>((r) => raw.bind(0, "127.0.0.1", r));
    cleanups.push(() => raw.close());
    raw.send(encodeMessage(connectMessage(9)), s.port, "127.0.0.1");
    raw.send(encodeMessage(connectMessage(9)), s.port, "127.0.0.1");
    expect(await until(() => got.length >= 2, 1000)).toBe(true);
    const ids = got.filter((m) => m?.type === MsgType.Ack).map((m) => m?.connId);
    expect(new Set(ids).size).toBe(1);
    expect(s.connectionCount).toBe(1);
    // Now silent: Read reports the connection lost after K epochs.
    const start = Date.now();
    expect(await until(() => errors.length > 0, 20 * FAST.epochMillis)).toBe(true);
    expect(errors[0]).toMatchObject({ connId: ids[0], error: "connection lost" });
    expect(Date.now() - start).toBeGreaterThanOrEqual((FAST.epochLimit - 1) * FAST.epochMillis);
  });

  it("client Close blocks until its data is acknowledged", async () => {
    const s = await server({ ...FAST, epochLimit: 100 });
    const links = new LinkTable({ mean_ms: 0, dist: "constant" });
    const proxy = UdpProxy.create({ clock: new RunClock(), random: new Random(1), links });
    cleanups.push(() => proxy.close());
    proxy.setUpstream(s.port);
    const port = await proxy.addFrontend("c0");
    const c = await LspClient.connect("127.0.0.1", port, 3, { ...FAST, epochLimit: 100 });
    links.set("c0", "server", { loss: 1 }); // nothing gets through (heartbeats neither)
    c.write(bytes("pending"));
    let closed = false;
    const closing = c.close().then(() => {
      closed = true;
    });
    await new Promise((r) => setTimeout(r, 5 * FAST.epochMillis));
    expect(closed).toBe(false);
    links.set("c0", "server", { loss: 0 });
    await closing;
    const item = await s.read();
    expect(item).toMatchObject({ connId: c.connId });
    expect(str(item.payload as Uint8Array)).toBe("pending");
    expect(() => c.write(bytes("after"))).toThrow(/closed/);
    await expect(c.read()).rejects.toThrow(/closed/);
  });

  it("server CloseConn still delivers what is pending; then the client's Read fails", async () => {
    const s = await server();
    const c = await connect(s.port, 5);
    c.write(bytes("hi"));
    const first = await s.read();
    for (let k = 0; k < 10; k++) s.write(first.connId, bytes(`last ${k}`));
    s.closeConn(first.connId);
    const closedEvent = await s.read();
    expect(closedEvent).toMatchObject({ connId: first.connId, error: "connection closed" });
    for (let k = 0; k < 10; k++) expect(str(await c.read())).toBe(`last ${k}`);
    await expect(c.read()).rejects.toThrow(/lost/);
    expect(() => s.write(first.connId, bytes("x"))).toThrow();
  });

  it("server Close waits for every client's acknowledgements, then Read and Write fail", async () => {
    const s = await LspServer.listen(0, FAST);
    const c = await connect(s.port, 1);
    c.write(bytes("hello"));
    const { connId } = await s.read();
    for (let k = 0; k < 20; k++) s.write(connId, bytes(`bye ${k}`));
    await s.close();
    const got: string[] = [];
    for (let k = 0; k < 20; k++) got.push(str(await c.read()));
    expect(got).toEqual(Array.from({ length: 20 }, (_, k) => `bye ${k}`));
    await expect(s.read()).rejects.toThrow(/closed/);
    expect(() => s.write(connId, bytes("x"))).toThrow(/closed/);
  });

  it("acknowledges a corrupted message never, and delivers the good copy", async () => {
    const s = await server();
    const raw = createSocket("udp4");
    const acks: number[] = [];
    raw.on("message", (d) => {
      const m = decodeMessage(d);
      if (m?.type === MsgType.Ack) acks.push(m.seqNum);
    });
    await new Promise<void>((r) => raw.bind(0, "127.0.0.1", r));
    cleanups.push(() => raw.close());
    raw.send(encodeMessage(connectMessage(20)), s.port, "127.0.0.1");
    expect(await until(() => acks.includes(20), 1000)).toBe(true);
    const good = dataMessage(1, 21, bytes("good"));
    raw.send(encodeMessage({ ...good, payload: bytes("evil") }), s.port, "127.0.0.1");
    await new Promise((r) => setTimeout(r, 2 * FAST.epochMillis));
    expect(acks).not.toContain(21);
    raw.send(encodeMessage(good), s.port, "127.0.0.1");
    const item = await s.read();
    expect(str(item.payload as Uint8Array)).toBe("good");
    raw.send(encodeMessage(ackMessage(1, 0)), s.port, "127.0.0.1");
  });
});
