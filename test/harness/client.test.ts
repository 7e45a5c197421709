import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { Client, ClientFactory } from "../../harness/client.js";
import { RunClock } from "../../harness/clock.js";
import { LinkTable } from "../../harness/links.js";
import { Network } from "../../harness/network.js";
import { Random } from "../../harness/random.js";
import type { Body, Envelope } from "../../workloads/protocol.js";

let dir: string;
let network: Network;
/** What the fake node n0 received, and how it answers (undefined: stays silent). */
let received: Envelope[];
let answer: ((env: Envelope) => Body | undefined) | undefined;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "faultline-client-"));
  network = new Network(
    join(dir, "messages.jsonl"),
    new LinkTable({ mean_ms: 0, dist: "constant" }),
    new Random(1),
    new RunClock(),
  );
  received = [];
  answer = (env) => ({ type: `${env.body.type}_ok`, in_reply_to: env.body.msg_id });
  network.register("n0", {
    kind: "node",
    deliver: (env) => {
      received.push(env);
      const reply = answer?.(env);
      // Reply asynchronously, like a real node would.
      if (reply) queueMicrotask(() => network.send("n0", env.src, reply));
      return true;
    },
  });
});

afterEach(() => {
  network.close();
  rmSync(dir, { recursive: true, force: true });
});

describe("Client", () => {
  it("only accepts ids starting with c", () => {
    expect(() => new Client("n5", network)).toThrow(/start with "c"/);
    expect(network.has("n5")).toBe(false);
  });

  it("registers itself as a client endpoint", () => {
    const client = new Client("c3", network);
    expect(network.has("c3")).toBe(true);
    expect(client.kind).toBe("client");
  });

  it("numbers its requests from 1 upward and returns the matching reply", async () => {
    const client = new Client("c0", network);
    const first = await client.call("n0", { type: "echo", echo: "a" }, 1000);
    const second = await client.call("n0", { type: "echo", echo: "b" }, 1000);
    const third = await client.call("n0", { type: "read" }, 1000);
    expect(received.map((e) => e.body.msg_id)).toEqual([1, 2, 3]);
    expect(received.map((e) => e.src)).toEqual(["c0", "c0", "c0"]);
    expect(received[0]?.body).toEqual({ type: "echo", echo: "a", msg_id: 1 });
    expect(first).toEqual({ type: "echo_ok", in_reply_to: 1 });
    expect(second).toEqual({ type: "echo_ok", in_reply_to: 2 });
    expect(third).toEqual({ type: "read_ok", in_reply_to: 3 });
  });

  it("takes the reply by in_reply_to from whichever node answers (a request forwarded to n0)", async () => {
    network.register("n1", {
      kind: "node",
      deliver: (env) => {
        network.send(env.src, "n0", env.body, undefined, "n1");
        return true;
      },
    });
    const client = new Client("c0", network);
    const reply = await client.call("n1", { type: "read" }, 1000);
    expect(received.map((e) => e.src)).toEqual(["c0"]);
    expect(reply).toEqual({ type: "read_ok", in_reply_to: 1 });
  });

  it("does not modify the caller's body", async () => {
    const client = new Client("c0", network);
    const body = { type: "echo", echo: 1 };
    await client.call("n0", body, 1000);
    expect(body).toEqual({ type: "echo", echo: 1 });
  });

  it("treats in_reply_to as present-or-not: a node echoing msg_id without in_reply_to is not a reply", async () => {
    const client = new Client("c0", network);
    answer = (env) => ({ type: "echo_ok", msg_id: env.body.msg_id });
    const reply = await client.call("n0", { type: "echo" }, 30);
    expect(reply).toBeUndefined();
    expect(client.late_replies).toBe(1);
  });

  it("accepts a reply carrying extra keys and its own msg_id", async () => {
    const client = new Client("c0", network);
    answer = (env) => ({ type: "echo_ok", in_reply_to: env.body.msg_id, msg_id: 99, extra: true });
    expect(await client.call("n0", { type: "echo" }, 1000)).toEqual({
      type: "echo_ok",
      in_reply_to: 1,
      msg_id: 99,
      extra: true,
    });
  });

  it("resolves undefined when no reply arrives in time", async () => {
    const client = new Client("c0", network);
    answer = undefined;
    const started = Date.now();
    const reply = await client.call("n0", { type: "echo" }, 40);
    expect(reply).toBeUndefined();
    expect(Date.now() - started).toBeGreaterThanOrEqual(35);
  });

  it("counts and ignores a late reply to an abandoned request", async () => {
    const client = new Client("c0", network);
    answer = undefined;
    expect(await client.call("n0", { type: "echo" }, 20)).toBeUndefined();
    // The reply to request 1 arrives after its timeout, while request 2 is pending.
    answer = (env) => ({ type: "echo_ok", in_reply_to: env.body.msg_id });
    const pending = client.call("n0", { type: "echo" }, 1000);
    network.send("n0", "c0", { type: "echo_ok", in_reply_to: 1 });
    expect(client.late_replies).toBe(1);
    expect(await pending).toEqual({ type: "echo_ok", in_reply_to: 2 });
    // And with nothing pending at all.
    network.send("n0", "c0", { type: "echo_ok", in_reply_to: 1 });
    expect(client.late_replies).toBe(2);
  });

  it("does not resolve a pending request with a reply to another msg_id", async () => {
    const client = new Client("c0", network);
    answer = (env) => ({ type: "echo_ok", in_reply_to: (env.body.msg_id as number) + 100 });
    expect(await client.call("n0", { type: "echo" }, 30)).toBeUndefined();
    expect(client.late_replies).toBe(1);
  });

  it("does not match a string in_reply_to against a numeric msg_id", async () => {
    const client = new Client("c0", network);
    answer = (env) => ({ type: "echo_ok", in_reply_to: String(env.body.msg_id) });
    expect(await client.call("n0", { type: "echo" }, 30)).toBeUndefined();
  });

  it("allows only one request in flight", async () => {
    const client = new Client("c0", network);
    answer = undefined;
    const first = client.call("n0", { type: "echo" }, 50);
    expect(() => client.call("n0", { type: "echo" }, 50)).toThrow(
      /already has a request in flight/,
    );
    expect(received).toHaveLength(1);
    await first;
    // Once the first has timed out, the next may go.
    const next = client.call("n0", { type: "echo" }, 20);
    expect(received.map((e) => e.body.msg_id)).toEqual([1, 2]);
    await next;
  });

  it("a synchronous reply (delivered during send) still resolves the call", async () => {
    network.register("n1", {
      kind: "node",
      deliver: (env) => {
        network.send("n1", env.src, { type: "x_ok", in_reply_to: env.body.msg_id });
        return true;
      },
    });
    const client = new Client("c0", network);
    expect(await client.call("n1", { type: "x" }, 1000)).toEqual({ type: "x_ok", in_reply_to: 1 });
  });

  it("close() resolves a pending call with undefined and unregisters the client", async () => {
    const client = new Client("c0", network);
    answer = undefined;
    const pending = client.call("n0", { type: "echo" }, 10_000);
    client.close();
    expect(await pending).toBeUndefined();
    expect(network.has("c0")).toBe(false);
    // A reply after close goes nowhere: the network drops it as unknown-dest.
    const drops = network.stats.drop_count;
    network.send("n0", "c0", { type: "echo_ok", in_reply_to: 1 });
    expect(network.stats.drop_count).toBe(drops + 1);
  });

  it("close() does not leave its timer running", async () => {
    const client = new Client("c0", network);
    answer = undefined;
    const pending = client.call("n0", { type: "echo" }, 20);
    client.close();
    await pending;
    await sleep(40); // the old timer would have fired here; it must not disturb anything
    expect(client.late_replies).toBe(0);
  });
});

describe("ClientFactory", () => {
  it("hands out c0, c1, … from one counter, never reusing an id", () => {
    const factory = new ClientFactory(network);
    const a = factory.open();
    const b = factory.open();
    a.close();
    const c = factory.open();
    expect([a.id, b.id, c.id]).toEqual(["c0", "c1", "c2"]);
    expect(network.has("c0")).toBe(false);
    expect(network.has("c1")).toBe(true);
    expect(network.has("c2")).toBe(true);
  });

  it("gives each client its own msg_id sequence", async () => {
    const factory = new ClientFactory(network);
    const a = factory.open();
    const b = factory.open();
    await a.call("n0", { type: "echo" }, 1000);
    await a.call("n0", { type: "echo" }, 1000);
    await b.call("n0", { type: "echo" }, 1000);
    expect(received.map((e) => [e.src, e.body.msg_id])).toEqual([
      ["c0", 1],
      ["c0", 2],
      ["c1", 1],
    ]);
  });
});

describe("ClientFactory.wasOpened", () => {
  it("knows every client id it handed out, closed ones included, and nothing else", () => {
    const dir = mkdtempSync(join(tmpdir(), "faultline-clients-"));
    const network = new Network(
      join(dir, "m.jsonl"),
      new LinkTable({ mean_ms: 0, dist: "constant" }),
      new Random(1),
      new RunClock(),
    );
    const factory = new ClientFactory(network);
    const first = factory.open();
    factory.open();
    first.close();
    expect(factory.wasOpened("c0")).toBe(true);
    expect(factory.wasOpened("c1")).toBe(true);
    expect(factory.wasOpened("c2")).toBe(false);
    expect(factory.wasOpened("n0")).toBe(false);
    expect(factory.wasOpened("c01")).toBe(false);
    network.close();
    rmSync(dir, { recursive: true, force: true });
  });
});
