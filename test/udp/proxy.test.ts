// The UDP proxy (harness/udp/proxy.ts; harness/udp/README.md "The proxy") on loopback, with a bare
// socket playing the server and bare sockets playing clients: NAT-style upstream sockets, every
// per-direction fault, the shim's Data mutations byte for byte, the middlebox, the sniffer, the
// journal and gating.
import { createSocket, type Socket } from "node:dgram";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { RunClock } from "../../harness/clock.js";
import { LinkTable } from "../../harness/links.js";
import { Random } from "../../harness/random.js";
import { UdpProxy } from "../../harness/udp/proxy.js";
import {
  ackMessage,
  cackMessage,
  connectMessage,
  dataMessage,
  encodeMessage,
  MsgType,
} from "../../protocols/lsp/message.js";

interface Endpoint {
  socket: Socket;
  port: number;
  got: Array<{ data: Buffer; port: number; at: number }>;
}

async function endpoint(): Promise<Endpoint> {
  const socket = createSocket("udp4");
  const got: Endpoint["got"] = [];
  socket.on("message", (data, from) => got.push({ data, port: from.port, at: Date.now() }));
  await new Promise<void>((resolve) => socket.bind(0, "127.0.0.1", resolve));
  return { socket, port: socket.address().port, got };
}

async function until(done: () => boolean, timeout_ms = 2_000): Promise<void> {
  const deadline = Date.now() + timeout_ms;
  while (!done()) {
    if (Date.now() > deadline) throw new Error("timed out waiting");
    await new Promise((r) => setTimeout(r, 5));
  }
}

const settle = (ms = 100) => new Promise((r) => setTimeout(r, ms));

let dir: string;
let proxy: UdpProxy;
let links: LinkTable;
let server: Endpoint;
const sockets: Socket[] = [];

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), "faultline-proxy-"));
  links = new LinkTable({ mean_ms: 0, dist: "constant" });
  proxy = UdpProxy.create({
    clock: new RunClock(),
    random: new Random(3),
    links,
    journalPath: join(dir, "messages.jsonl"),
  });
  server = await endpoint();
  sockets.push(server.socket);
  proxy.setUpstream(server.port);
});

afterEach(() => {
  proxy.close();
  for (const s of sockets.splice(0)) s.close();
  rmSync(dir, { recursive: true, force: true });
});

async function client(peer: string): Promise<Endpoint & { send(data: Buffer): void }> {
  const port = await proxy.addFrontend(peer);
  const e = await endpoint();
  sockets.push(e.socket);
  return { ...e, send: (data: Buffer) => e.socket.send(data, port, "127.0.0.1") };
}

function journal(): Array<Record<string, unknown>> {
  proxy.close(); // flushes the journal
  return readFileSync(join(dir, "messages.jsonl"), "utf8")
    .trim()
    .split("\n")
    .map((line) => JSON.parse(line));
}

const hello = dataMessage(1, 43, Buffer.from("hello"));

describe("NAT-style forwarding", () => {
  it("gives every client source address its own upstream port and routes replies back", async () => {
    const a = await client("c0");
    const b = await client("c0");
    const c = await client("c1");
    for (const e of [a, b, c]) e.send(Buffer.from("ping"));
    await until(() => server.got.length === 3);
    const ports = new Set(server.got.map((g) => g.port));
    expect(ports.size).toBe(3);
    for (const g of server.got)
      server.socket.send(Buffer.from(`pong ${g.port}`), g.port, "127.0.0.1");
    await until(() => a.got.length + b.got.length + c.got.length === 3);
    for (const e of [a, b, c]) expect(e.got).toHaveLength(1);
    // Each reply went back through the mapping it came from.
    const upstreamOf = (e: Endpoint) => (e.got[0] as { data: Buffer }).data.toString();
    expect(new Set([a, b, c].map(upstreamOf)).size).toBe(3);
  });

  it("remap makes the client appear from a new address (a client that moved)", async () => {
    const a = await client("c0");
    a.send(Buffer.from("one"));
    await until(() => server.got.length === 1);
    expect(proxy.remap("c0")).toBe(1);
    a.send(Buffer.from("two"));
    await until(() => server.got.length === 2);
    expect(server.got[0]?.port).not.toBe(server.got[1]?.port);
  });

  it("forwards datagrams that are not LSP untouched and counts them as raw", async () => {
    const a = await client("c0");
    a.send(Buffer.from([0, 1, 2, 255]));
    await until(() => server.got.length === 1);
    expect(server.got[0]?.data).toEqual(Buffer.from([0, 1, 2, 255]));
    expect(proxy.totals.peer("c0")["to-server"].raw).toBe(1);
  });
});

describe("per-direction faults", () => {
  it("partitions and loss drop one direction only, and say why in the journal", async () => {
    const a = await client("c0");
    links.set("c0", "server", { partitioned: true });
    a.send(encodeMessage(hello));
    await settle();
    expect(server.got).toHaveLength(0);
    links.set("c0", "server", { partitioned: false, loss: 1 });
    a.send(encodeMessage(hello));
    await settle();
    expect(server.got).toHaveLength(0);
    links.set("c0", "server", { loss: 0 });
    a.send(encodeMessage(connectMessage(5)));
    await until(() => server.got.length === 1);
    // The other direction was never cut.
    server.socket.send(Buffer.from("back"), server.got[0]?.port as number, "127.0.0.1");
    await until(() => a.got.length === 1);
    const counts = proxy.totals.peer("c0")["to-server"];
    expect(counts).toMatchObject({ sent: 3, dropped: 2, data: 2, data_dropped: 2, connect: 1 });
    const drops = journal().filter((l) => l.event === "drop");
    expect(drops.map((d) => d.reason)).toEqual(["partitioned", "loss"]);
  });

  it("duplicates", async () => {
    const a = await client("c0");
    links.set("c0", "server", { duplicate: 1 });
    a.send(encodeMessage(hello));
    await until(() => server.got.length === 2);
    expect(server.got[0]?.data).toEqual(server.got[1]?.data);
    expect(proxy.totals.peer("c0")["to-server"]).toMatchObject({ duplicated: 1, delivered: 2 });
  });

  it("holds datagrams (the shim's 500 ms delay), so later ones overtake them", async () => {
    const a = await client("c0");
    // Long enough that a loaded machine's event-loop stall cannot release the first before the
    // second goes out (at 150 ms a CI-like run delivered them in order).
    const hold_ms = 1000;
    proxy.setExtras("c0", "server", { hold: 1, hold_ms });
    const start = Date.now();
    a.send(encodeMessage(dataMessage(1, 1, Buffer.from("first"))));
    await settle(30);
    proxy.setExtras("c0", "server", { hold: 0 });
    a.send(encodeMessage(dataMessage(1, 2, Buffer.from("second"))));
    await until(() => server.got.length === 2);
    const texts = server.got.map((g) => JSON.parse(g.data.toString()).SeqNum);
    expect(texts).toEqual([2, 1]);
    expect((server.got[1]?.at ?? 0) - start).toBeGreaterThanOrEqual(hold_ms - 10);
  });
});

describe("Data mutations (Size and Checksum unchanged, exact field order)", () => {
  it.each([
    ["shorten", "aGU="], // "he": the first half of "hello"
    ["lengthen", Buffer.from("hello\u0002\u0003\u0004").toString("base64")],
    ["corrupt", Buffer.from([~0x68 & 0xff, ...Buffer.from("ello")]).toString("base64")],
  ] as const)("%s", async (how, payload) => {
    const a = await client("c0");
    proxy.setExtras("c0", "server", { [how]: 1 });
    a.send(encodeMessage(hello));
    a.send(encodeMessage(ackMessage(1, 43))); // only Data is mutated
    await until(() => server.got.length === 2);
    expect(server.got[0]?.data.toString()).toBe(
      `{"Type":1,"ConnID":1,"SeqNum":43,"Size":5,"Checksum":11659,"Payload":"${payload}"}`,
    );
    expect(server.got[1]?.data).toEqual(encodeMessage(ackMessage(1, 43)));
    expect(proxy.totals.peer("c0")["to-server"].mutated).toBe(1);
    expect(journal().find((l) => l.event === "mutate")).toMatchObject({ how });
  });

  it("corrupts an empty payload into the single byte 0xFF", async () => {
    const a = await client("c0");
    proxy.setExtras("c0", "server", { corrupt: 1 });
    a.send(encodeMessage(dataMessage(2, 9, Buffer.alloc(0))));
    await until(() => server.got.length === 1);
    expect(JSON.parse(server.got[0]?.data.toString() as string).Payload).toBe("/w==");
  });
});

describe("middlebox, sniffer, journal, gate", () => {
  it("a middlebox drops Acks below x and turns the Ack for x into a CAck", async () => {
    const a = await client("c0");
    proxy.middlebox = (m) => {
      if (m.type !== MsgType.Ack || m.seqNum === 0) return m;
      if (m.seqNum < 13) return null;
      return m.seqNum === 13 ? cackMessage(m.connId, 13) : m;
    };
    for (const seq of [11, 12, 13, 0]) a.send(encodeMessage(ackMessage(4, seq)));
    await until(() => server.got.length === 2);
    expect(server.got.map((g) => g.data.toString())).toEqual([
      encodeMessage(cackMessage(4, 13)).toString(),
      encodeMessage(ackMessage(4, 0)).toString(),
    ]);
  });

  it("the sniffer counts each kind per peer and direction between start and stop", async () => {
    const a = await client("c0");
    a.send(Buffer.from("before"));
    await until(() => server.got.length === 1);
    const sniffer = proxy.sniff();
    for (const m of [
      connectMessage(1),
      hello,
      ackMessage(1, 3),
      ackMessage(1, 0),
      cackMessage(1, 4),
    ]) {
      a.send(encodeMessage(m));
    }
    await until(() => server.got.length === 6);
    server.socket.send(encodeMessage(ackMessage(1, 0)), server.got[0]?.port as number, "127.0.0.1");
    await until(() => a.got.length === 1);
    sniffer.stop();
    a.send(encodeMessage(hello));
    await until(() => server.got.length === 7);
    expect(sniffer.peer("c0")["to-server"]).toMatchObject({
      sent: 5,
      connect: 1,
      data: 1,
      ack: 1,
      heartbeat: 1,
      cack: 1,
      raw: 0,
    });
    expect(sniffer.peer("c0")["from-server"]).toMatchObject({ sent: 1, heartbeat: 1 });
    expect(sniffer.records).toHaveLength(6);
  });

  it("journals every datagram, decoded when it is LSP JSON", async () => {
    const a = await client("c0");
    a.send(encodeMessage(hello));
    a.send(Buffer.from("not json"));
    await until(() => server.got.length === 2);
    const lines = journal();
    const sends = lines.filter((l) => l.event === "send");
    expect(sends[0]).toMatchObject({
      src: "c0",
      dest: "server",
      lsp: { Type: 1, ConnID: 1, SeqNum: 43, Size: 5, Checksum: 11659, Payload: "aGVsbG8=" },
      text: "hello",
    });
    expect(sends[1]).toMatchObject({ raw: Buffer.from("not json").toString("base64") });
    expect(lines.filter((l) => l.event === "recv")).toHaveLength(2);
  });

  it("a gate holds a peer's datagrams until release, in order", async () => {
    const a = await client("c0");
    proxy.gate("c0");
    a.send(Buffer.from("1"));
    a.send(Buffer.from("2"));
    await settle();
    expect(server.got).toHaveLength(0);
    proxy.release("c0");
    await until(() => server.got.length === 2);
    expect(server.got.map((g) => g.data.toString())).toEqual(["1", "2"]);
  });
});
