import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { setTimeout as sleep } from "node:timers/promises";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { RunClock } from "../../harness/clock.js";
import { type Latency, LinkTable } from "../../harness/links.js";
import { type Endpoint, Network, type ParticipantKind } from "../../harness/network.js";
import { Random } from "../../harness/random.js";
import type { Body, Envelope } from "../../workloads/protocol.js";

interface Delivery {
  envelope: Envelope;
  line: string;
  at_ms: number;
}

/** An in-process participant that records what it receives. */
class Recorder implements Endpoint {
  readonly got: Delivery[] = [];
  accepting = true;
  onDeliver: ((envelope: Envelope) => void) | undefined;

  constructor(readonly kind: ParticipantKind) {}

  deliver(envelope: Envelope, line: string): boolean {
    if (!this.accepting) return false;
    this.got.push({ envelope, line, at_ms: performance.now() });
    this.onDeliver?.(envelope);
    return true;
  }

  bodies(): Body[] {
    return this.got.map((d) => d.envelope.body);
  }
}

interface JournalLine {
  time: number;
  event: string;
  id?: number;
  src?: string;
  dest?: string;
  body?: Record<string, unknown>;
  reason?: string;
  [key: string]: unknown;
}

let dir: string;
let networks: Network[] = [];

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "faultline-network-"));
  networks = [];
});

afterEach(() => {
  for (const network of networks) {
    try {
      network.close();
    } catch {}
  }
  rmSync(dir, { recursive: true, force: true });
});

function makeNetwork(base: Latency = { mean_ms: 0, dist: "constant" }, seed = 1) {
  const journalPath = join(dir, `messages-${networks.length}.jsonl`);
  const links = new LinkTable(base);
  const network = new Network(journalPath, links, new Random(seed), new RunClock());
  networks.push(network);
  const add = (id: string, kind: ParticipantKind) => {
    const endpoint = new Recorder(kind);
    network.register(id, endpoint);
    return endpoint;
  };
  const journal = (): JournalLine[] =>
    readFileSync(journalPath, "utf8")
      .split("\n")
      .filter((l) => l !== "")
      .map((l) => JSON.parse(l) as JournalLine);
  return { network, links, add, journal, journalPath };
}

/** Waits until `done()` holds, polling; fails after `limit_ms`. */
async function until(done: () => boolean, limit_ms = 1000): Promise<void> {
  const start = performance.now();
  while (!done()) {
    if (performance.now() - start > limit_ms) throw new Error("condition not reached in time");
    await sleep(2);
  }
}

describe("Network delivery", () => {
  it("delivers node to node at once with zero latency, as a well-formed envelope line", () => {
    const { network, add } = makeNetwork();
    add("n0", "node");
    const n1 = add("n1", "node");
    network.send("n0", "n1", { type: "gossip", msg_id: 3, data: { "9": true } });
    expect(n1.got).toHaveLength(1);
    const [d] = n1.got as [Delivery];
    expect(d.envelope).toEqual({
      id: 0,
      src: "n0",
      dest: "n1",
      body: { type: "gossip", msg_id: 3, data: { "9": true } },
    });
    expect(JSON.parse(d.line)).toEqual(d.envelope);
    expect(d.line).not.toContain("\n");
  });

  it("numbers messages with one global counter from 0", () => {
    const { network, add } = makeNetwork();
    const n0 = add("n0", "node");
    const n1 = add("n1", "node");
    network.send("n0", "n1", { type: "a" });
    network.send("n1", "n0", { type: "b" });
    network.send("n0", "nowhere", { type: "c" }); // dropped, but still numbered
    network.send("n0", "n1", { type: "d" });
    expect(n1.got.map((d) => d.envelope.id)).toEqual([0, 3]);
    expect(n0.got.map((d) => d.envelope.id)).toEqual([1]);
  });

  it("uses the caller's pre-serialised body verbatim in the line", () => {
    const { network, add } = makeNetwork();
    add("n0", "node");
    const n1 = add("n1", "node");
    network.send("n0", "n1", { type: "x", v: 1 }, '{"type":"x","v":1}');
    expect((n1.got[0] as Delivery).line).toBe(
      '{"id":0,"src":"n0","dest":"n1","body":{"type":"x","v":1}}',
    );
  });

  it("refuses to register the same id twice", () => {
    const { add } = makeNetwork();
    add("n0", "node");
    expect(() => add("n0", "node")).toThrow(/already registered/);
  });

  it("has/unregister track participants", () => {
    const { network, add } = makeNetwork();
    add("c1", "client");
    expect(network.has("c1")).toBe(true);
    network.unregister("c1");
    expect(network.has("c1")).toBe(false);
  });
});

describe("Network latency", () => {
  it("delivers to and from clients at once, even with a large base latency", () => {
    const { network, add } = makeNetwork({ mean_ms: 500, dist: "constant" });
    const n0 = add("n0", "node");
    const c1 = add("c1", "client");
    network.send("c1", "n0", { type: "echo", msg_id: 1 });
    expect(n0.got).toHaveLength(1); // synchronous: no timer involved
    network.send("n0", "c1", { type: "echo_ok", in_reply_to: 1 });
    expect(c1.got).toHaveLength(1);
  });

  it("delays node-to-node messages by the constant latency", async () => {
    const { network, add } = makeNetwork({ mean_ms: 20, dist: "constant" });
    add("n0", "node");
    const n1 = add("n1", "node");
    const sent = performance.now();
    network.send("n0", "n1", { type: "gossip" });
    expect(n1.got).toHaveLength(0);
    await until(() => n1.got.length === 1);
    const elapsed = (n1.got[0] as Delivery).at_ms - sent;
    expect(elapsed).toBeGreaterThanOrEqual(18.5); // the router allows ≤ 1 ms early
    expect(elapsed).toBeLessThan(250);
  });

  it("delays node-to-service messages too (services are not clients)", async () => {
    const { network, add } = makeNetwork({ mean_ms: 20, dist: "constant" });
    add("n0", "node");
    const kv = add("lin-kv", "service");
    const sent = performance.now();
    network.send("n0", "lin-kv", { type: "read", key: 1, msg_id: 1 });
    expect(kv.got).toHaveLength(0);
    await until(() => kv.got.length === 1);
    expect((kv.got[0] as Delivery).at_ms - sent).toBeGreaterThanOrEqual(18.5);
  });

  it("adds a link's extra latency on that link only", async () => {
    const { network, links, add } = makeNetwork();
    add("n0", "node");
    const n1 = add("n1", "node");
    const n2 = add("n2", "node");
    links.set("n0", "n1", { extra_latency: { mean_ms: 30, dist: "constant" } });
    const sent = performance.now();
    network.send("n0", "n1", { type: "slow" });
    network.send("n0", "n2", { type: "fast" });
    await until(() => n1.got.length === 1 && n2.got.length === 1);
    expect((n2.got[0] as Delivery).at_ms - sent).toBeLessThan(25);
    expect((n1.got[0] as Delivery).at_ms - sent).toBeGreaterThanOrEqual(28.5);
  });

  it("keeps FIFO order between a pair under constant latency", async () => {
    const { network, add } = makeNetwork({ mean_ms: 5, dist: "constant" });
    add("n0", "node");
    const n1 = add("n1", "node");
    for (let i = 0; i < 50; i++) network.send("n0", "n1", { type: "m", i });
    await until(() => n1.got.length === 50);
    expect(n1.bodies().map((b) => b.i)).toEqual([...Array(50).keys()]);
  });

  it("reorders messages between a pair under non-constant latency, losing none", async () => {
    for (const dist of ["uniform", "exponential"] as const) {
      const { network, add } = makeNetwork({ mean_ms: 10, dist }, 7);
      add("n0", "node");
      const n1 = add("n1", "node");
      for (let i = 0; i < 40; i++) network.send("n0", "n1", { type: "m", i });
      await until(() => n1.got.length === 40);
      const order = n1.bodies().map((b) => b.i as number);
      expect(order, dist).not.toEqual([...Array(40).keys()]);
      expect([...order].sort((a, b) => a - b)).toEqual([...Array(40).keys()]);
    }
  });

  it("a zero-latency message sent while others are in flight is still delivered promptly", async () => {
    const { network, links, add } = makeNetwork();
    add("n0", "node");
    const n1 = add("n1", "node");
    const n2 = add("n2", "node");
    links.set("n0", "n1", { extra_latency: { mean_ms: 200, dist: "constant" } });
    network.send("n0", "n1", { type: "slow" });
    const sent = performance.now();
    network.send("n0", "n2", { type: "fast" });
    await until(() => n2.got.length === 1, 150);
    expect((n2.got[0] as Delivery).at_ms - sent).toBeLessThan(100);
    expect(n1.got).toHaveLength(0);
  });

  it("handles a receiver that sends from inside deliver (a service replying)", async () => {
    const { network, add } = makeNetwork({ mean_ms: 3, dist: "uniform" });
    const n0 = add("n0", "node");
    const kv = add("lin-kv", "service");
    kv.onDeliver = (env) =>
      network.send("lin-kv", env.src, { type: "read_ok", in_reply_to: env.body.msg_id });
    for (let i = 1; i <= 20; i++) network.send("n0", "lin-kv", { type: "read", msg_id: i });
    await until(() => n0.got.length === 20);
    expect(new Set(n0.bodies().map((b) => b.in_reply_to))).toEqual(
      new Set([...Array(20).keys()].map((i) => i + 1)),
    );
  });
});

describe("Network faults", () => {
  it("drops messages on a partitioned link, in that direction only", () => {
    const { network, links, add, journal } = makeNetwork();
    const n0 = add("n0", "node");
    const n1 = add("n1", "node");
    links.set("n0", "n1", { partitioned: true });
    network.send("n0", "n1", { type: "x" });
    network.send("n1", "n0", { type: "y" });
    expect(n1.got).toHaveLength(0);
    expect(n0.got).toHaveLength(1);
    network.close();
    expect(journal().filter((l) => l.event === "drop")).toEqual([
      expect.objectContaining({ id: 0, src: "n0", dest: "n1", reason: "partitioned" }),
    ]);
  });

  it("drops at delivery time: a message in flight when the partition starts is lost", async () => {
    const { network, links, add } = makeNetwork({ mean_ms: 30, dist: "constant" });
    add("n0", "node");
    const n1 = add("n1", "node");
    network.send("n0", "n1", { type: "doomed" });
    links.set("n0", "n1", { partitioned: true });
    await sleep(70);
    expect(n1.got).toHaveLength(0);
    expect(network.stats.drop_count).toBe(1);
  });

  it("delivers a message sent during a partition if the partition heals before it arrives", async () => {
    const { network, links, add } = makeNetwork({ mean_ms: 30, dist: "constant" });
    add("n0", "node");
    const n1 = add("n1", "node");
    links.set("n0", "n1", { partitioned: true });
    network.send("n0", "n1", { type: "lucky" });
    links.heal();
    await until(() => n1.got.length === 1);
    expect(network.stats.drop_count).toBe(0);
  });

  it("never partitions clients from their node when nodes are partitioned", () => {
    const { network, links, add } = makeNetwork();
    const n0 = add("n0", "node");
    const c1 = add("c1", "client");
    add("n1", "node");
    links.set("n0", "n1", { partitioned: true });
    links.set("n1", "n0", { partitioned: true });
    network.send("c1", "n0", { type: "read", msg_id: 1 });
    network.send("n0", "c1", { type: "read_ok", in_reply_to: 1 });
    expect(n0.got).toHaveLength(1);
    expect(c1.got).toHaveLength(1);
  });

  it("loss = 1 drops everything on the link and nothing elsewhere", () => {
    const { network, links, add, journal } = makeNetwork();
    add("n0", "node");
    const n1 = add("n1", "node");
    const n2 = add("n2", "node");
    links.set("n0", "n1", { loss: 1 });
    for (let i = 0; i < 100; i++) {
      network.send("n0", "n1", { type: "m" });
      network.send("n0", "n2", { type: "m" });
    }
    expect(n1.got).toHaveLength(0);
    expect(n2.got).toHaveLength(100);
    network.close();
    const drops = journal().filter((l) => l.event === "drop");
    expect(drops).toHaveLength(100);
    expect(drops.every((d) => d.reason === "loss" && d.dest === "n1")).toBe(true);
  });

  it("loss = 0.5 drops about half", () => {
    const { network, links, add } = makeNetwork({ mean_ms: 0, dist: "constant" }, 5);
    add("n0", "node");
    const n1 = add("n1", "node");
    links.set("n0", "n1", { loss: 0.5 });
    for (let i = 0; i < 2000; i++) network.send("n0", "n1", { type: "m" });
    expect(n1.got.length).toBeGreaterThan(900);
    expect(n1.got.length).toBeLessThan(1100);
    expect(network.stats.drop_count).toBe(2000 - n1.got.length);
  });

  it("duplicate = 1 delivers every message twice with the same id", () => {
    const { network, links, add, journal } = makeNetwork();
    add("n0", "node");
    const n1 = add("n1", "node");
    links.set("n0", "n1", { duplicate: 1 });
    network.send("n0", "n1", { type: "a" });
    network.send("n0", "n1", { type: "b" });
    return until(() => n1.got.length === 4).then(() => {
      expect(n1.got.map((d) => [d.envelope.id, d.envelope.body.type])).toEqual([
        [0, "a"],
        [0, "a"],
        [1, "b"],
        [1, "b"],
      ]);
      expect(network.stats.send_count).toBe(2);
      expect(network.stats.recv_count).toBe(4);
      network.close();
      const lines = journal();
      expect(lines.filter((l) => l.event === "send")).toHaveLength(2);
      expect(lines.filter((l) => l.event === "recv").map((l) => l.id)).toEqual([0, 0, 1, 1]);
    });
  });

  it("drops a message to an unknown destination", () => {
    const { network, add, journal } = makeNetwork();
    add("n0", "node");
    network.send("n0", "n7", { type: "x" });
    expect(network.stats).toMatchObject({ send_count: 1, recv_count: 0, drop_count: 1 });
    network.close();
    expect(journal().find((l) => l.event === "drop")).toMatchObject({
      src: "n0",
      dest: "n7",
      reason: "unknown-dest",
    });
  });

  it("drops a message whose receiver unregistered while it was in flight", async () => {
    const { network, add, journal } = makeNetwork({ mean_ms: 10, dist: "constant" });
    add("n0", "node");
    const n1 = add("n1", "node");
    network.send("n0", "n1", { type: "x" });
    network.unregister("n1");
    await sleep(40);
    expect(n1.got).toHaveLength(0);
    network.close();
    expect(journal().find((l) => l.event === "drop")).toMatchObject({
      dest: "n1",
      reason: "unknown-dest",
    });
  });

  it("drops as receiver-down when the endpoint refuses the message", () => {
    const { network, add, journal } = makeNetwork();
    add("n0", "node");
    const n1 = add("n1", "node");
    n1.accepting = false;
    network.send("n0", "n1", { type: "x" });
    expect(network.stats).toMatchObject({ send_count: 1, recv_count: 0, drop_count: 1 });
    expect(network.stats.servers.recv_count).toBe(0);
    network.close();
    const lines = journal();
    expect(lines.find((l) => l.event === "drop")).toMatchObject({ id: 0, reason: "receiver-down" });
    expect(lines.some((l) => l.event === "recv")).toBe(false);
  });
});

describe("Network forwarding (the writer is not the src)", () => {
  /** n1 forwards client c6's request to n0 unchanged, as Maelstrom's raft.py demo does. */
  const forward = (network: Network) =>
    network.send("c6", "n0", { type: "read", msg_id: 1 }, undefined, "n1");

  it("delivers the line with the client's src over the link writer -> dest, with its latency", async () => {
    const { network, add } = makeNetwork({ mean_ms: 30, dist: "constant" });
    add("n1", "node");
    add("c6", "client");
    const n0 = add("n0", "node");
    const sent_ms = performance.now();
    forward(network);
    expect(n0.got).toHaveLength(0); // not a client link: it waits its node-to-node latency
    await until(() => n0.got.length === 1);
    const [d] = n0.got as [Delivery];
    expect(d.at_ms - sent_ms).toBeGreaterThanOrEqual(25);
    expect(JSON.parse(d.line)).toEqual({
      id: 0,
      src: "c6",
      dest: "n0",
      body: { type: "read", msg_id: 1 },
    });
  });

  it("drops it when the writer is cut from dest, though clients are never partitioned", () => {
    const { network, links, add, journal } = makeNetwork();
    add("n1", "node");
    add("c6", "client");
    const n0 = add("n0", "node");
    links.set("n1", "n0", { partitioned: true });
    forward(network);
    expect(n0.got).toHaveLength(0);
    links.heal();
    links.set("n1", "n0", { loss: 1 });
    forward(network);
    expect(n0.got).toHaveLength(0);
    network.close();
    expect(journal().map((l) => l.reason ?? l.event)).toEqual([
      "send",
      "partitioned",
      "send",
      "loss",
    ]);
  });

  it("delivers a node's reply relayed by another node to the client at once, even when the nodes are cut", () => {
    const { network, links, add } = makeNetwork({ mean_ms: 1000, dist: "constant" });
    add("n0", "node");
    add("n1", "node");
    const c6 = add("c6", "client");
    links.set("n0", "n1", { partitioned: true });
    links.set("n1", "n0", { partitioned: true });
    network.send("n0", "c6", { type: "read_ok", in_reply_to: 1 }, undefined, "n1");
    expect(c6.got.map((d) => d.envelope.src)).toEqual(["n0"]);
  });

  it("journals the writer as via, counts by the link taken, and tells observers the writer", () => {
    const { network, add, journal } = makeNetwork();
    add("n1", "node");
    add("c6", "client");
    add("n0", "node");
    const observed: string[][] = [];
    network.onNodeMessage((src, dest) => observed.push([src, dest]));
    forward(network);
    network.send("n0", "n1", { type: "gossip" });
    expect(observed).toEqual([
      ["n1", "n0"],
      ["n0", "n1"],
    ]);
    expect(network.stats.servers).toEqual({ send_count: 2, recv_count: 2 });
    network.close();
    const sends = journal().filter((l) => l.event === "send");
    expect(sends[0]).toMatchObject({ src: "c6", dest: "n0", via: "n1" });
    expect(sends[1]).not.toHaveProperty("via");
  });
});

describe("Network bookkeeping", () => {
  it("counts sends and receives, split into client and server traffic", () => {
    const { network, links, add } = makeNetwork();
    add("n0", "node");
    add("n1", "node");
    add("c0", "client");
    add("lin-kv", "service");
    network.send("c0", "n0", { type: "req", msg_id: 1 }); // client
    network.send("n0", "c0", { type: "req_ok", in_reply_to: 1 }); // client
    network.send("n0", "n1", { type: "gossip" }); // server
    network.send("n0", "lin-kv", { type: "read", msg_id: 1 }); // server
    links.set("n1", "n0", { partitioned: true });
    network.send("n1", "n0", { type: "gossip" }); // server, dropped
    network.send("c0", "c9", { type: "x" }); // client, unknown dest
    expect(network.stats).toEqual({
      send_count: 6,
      recv_count: 4,
      drop_count: 2,
      clients: { send_count: 3, recv_count: 2 },
      servers: { send_count: 3, recv_count: 2 },
    });
  });

  it("keeps the first 100 protocol errors in detail and counts them all", () => {
    const { network, journal } = makeNetwork();
    for (let i = 1; i <= 150; i++) network.protocolError("n2", i, `bad line ${i}`, `garbage ${i}`);
    expect(network.protocol_error_count).toBe(150);
    expect(network.protocolErrors).toHaveLength(100);
    expect(network.protocolErrors[0]).toMatchObject({
      node: "n2",
      line: 1,
      reason: "bad line 1",
      raw: "garbage 1",
    });
    expect(network.protocolErrors[99]).toMatchObject({ line: 100 });
    expect(typeof network.protocolErrors[0]?.time_ns).toBe("number");
    network.close();
    const recorded = journal().filter((l) => l.event === "protocol-error");
    expect(recorded).toHaveLength(150); // the journal has every one
    expect(recorded[149]).toMatchObject({
      node: "n2",
      line: 150,
      reason: "bad line 150",
      raw: "garbage 150",
    });
  });

  it("counts each node's lines written before init, with how their src looked and the first", () => {
    const { network } = makeNetwork();
    network.protocolError("n2", 1, "before init", '{"src":null}', "null");
    network.protocolError("n2", 2, "not JSON", "oops");
    network.protocolError("n2", 3, "before init", "{}", "missing");
    network.protocolError("n2", 4, "before init", '{"src":null}', "null");
    network.protocolError("n0", 1, "before init", '{"src":""}', '""');
    expect(network.protocol_error_count).toBe(5);
    expect([...network.beforeInit]).toEqual([
      ["n2", { count: 3, srcs: ["null", "missing"], example: network.protocolErrors[0] }],
      ["n0", { count: 1, srcs: ['""'], example: network.protocolErrors[4] }],
    ]);
    expect(network.protocolErrors.map((e) => e.before_init ?? false)).toEqual([
      true,
      false,
      true,
      true,
      true,
    ]);
  });

  it("cuts the raw line of a protocol error to 1 KiB", () => {
    const { network } = makeNetwork();
    network.protocolError("n0", 1, "not JSON", "y".repeat(5000));
    const raw = network.protocolErrors[0]?.raw as string;
    expect(raw.startsWith("y".repeat(1024))).toBe(true);
    expect(raw.length).toBeLessThanOrEqual(1025);
  });

  it("journals send, recv and drop lines as JSON with time, id, src and dest", async () => {
    const { network, links, add, journal } = makeNetwork({ mean_ms: 5, dist: "constant" });
    add("n0", "node");
    add("n1", "node");
    add("c0", "client");
    network.send("c0", "n0", { type: "echo", msg_id: 1, echo: "hi" });
    network.send("n0", "n1", { type: "gossip", v: [1, 2] });
    links.set("n1", "n0", { loss: 1 });
    network.send("n1", "n0", { type: "lost" });
    await sleep(30);
    network.close();
    const lines = journal();
    for (const line of lines) {
      expect(typeof line.time).toBe("number");
      expect(line.time).toBeGreaterThanOrEqual(0);
      expect(Number.isInteger(line.id)).toBe(true);
      expect(typeof line.src).toBe("string");
      expect(typeof line.dest).toBe("string");
    }
    expect(lines.map((l) => [l.event, l.id])).toEqual([
      ["send", 0],
      ["recv", 0],
      ["send", 1],
      ["send", 2],
      ["drop", 2],
      ["recv", 1],
    ]);
    expect(lines[0]).toEqual({
      time: expect.any(Number),
      event: "send",
      id: 0,
      src: "c0",
      dest: "n0",
      body: { type: "echo", msg_id: 1, echo: "hi" },
    });
    expect(lines[2]?.body).toEqual({ type: "gossip", v: [1, 2] });
    expect(lines[4]).toMatchObject({ src: "n1", dest: "n0", reason: "loss" });
    // A delayed message is received at least its latency after it was sent.
    const sentAt = lines[2]?.time as number;
    const recvAt = lines[5]?.time as number;
    expect(recvAt - sentAt).toBeGreaterThanOrEqual(4e6);
  });

  it("journals a body over 64 KiB as its type and size only, but delivers it whole", () => {
    const { network, add, journal } = makeNetwork();
    add("n0", "node");
    const n1 = add("n1", "node");
    const big = "v".repeat(70 * 1024);
    network.send("n0", "n1", { type: "huge", big });
    expect((n1.got[0] as Delivery).envelope.body.big).toBe(big);
    network.close();
    const send = journal().find((l) => l.event === "send") as JournalLine;
    expect(send.body?.type).toBe("huge");
    expect(send.body).not.toHaveProperty("big");
    expect(send.body?.truncated_bytes).toBeGreaterThan(70 * 1024);
  });

  it("keeps a body just under 64 KiB in the journal", () => {
    const { network, add, journal } = makeNetwork();
    add("n0", "node");
    add("n1", "node");
    const text = "w".repeat(60 * 1024);
    network.send("n0", "n1", { type: "big", text });
    network.close();
    expect(journal().find((l) => l.event === "send")?.body?.text).toBe(text);
  });

  it("measures the 64 KiB journal limit in bytes, not UTF-16 units", () => {
    const { network, add, journal } = makeNetwork();
    add("n0", "node");
    add("n1", "node");
    // 30 000 three-byte characters: 90 000 bytes of UTF-8, but only 30 000 string units.
    network.send("n0", "n1", { type: "wide", text: "€".repeat(30_000) });
    network.close();
    const send = journal().find((l) => l.event === "send") as JournalLine;
    expect(send.body).not.toHaveProperty("text");
  });

  it("close() drops messages in flight, delivers nothing afterwards, and flushes the journal", async () => {
    const { network, add, journal } = makeNetwork({ mean_ms: 20, dist: "constant" });
    add("n0", "node");
    const n1 = add("n1", "node");
    network.send("n0", "n1", { type: "a" });
    network.send("n0", "n1", { type: "b" });
    network.close();
    // Readable at once: close() wrote everything out synchronously.
    const lines = journal();
    expect(lines.filter((l) => l.event === "send")).toHaveLength(2);
    expect(lines.filter((l) => l.event === "drop").map((l) => [l.id, l.reason])).toEqual([
      [0, "receiver-down"],
      [1, "receiver-down"],
    ]);
    await sleep(50);
    expect(n1.got).toHaveLength(0);
    expect(network.stats.drop_count).toBe(2);
  });

  it("writes the journal out within its flush interval while running", async () => {
    const { network, add, journalPath } = makeNetwork();
    add("n0", "node");
    add("n1", "node");
    network.send("n0", "n1", { type: "x" });
    await until(() => readFileSync(journalPath, "utf8").includes('"event":"recv"'), 1500);
  });
});
