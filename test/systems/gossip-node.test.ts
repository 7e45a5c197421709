// Speaks Maelstrom to the compiled gossip node directly (no harness): this test plays the
// clients and the peer nodes, so it can withhold acknowledgements and watch retries.
import { existsSync } from "node:fs";
import { createInterface } from "node:readline";
import { execa } from "execa";
import { afterAll, beforeAll, describe, expect, it, type TestContext, vi } from "vitest";
import { distFile } from "../../harness/paths.js";

const NODE_JS = distFile("systems/gossip/node.js");
/** Upper bound on one node process's life in these tests. */
const PROCESS_LIFETIME_MS = 10_000;
/** Default wait for one expected message. */
const EXPECT_MS = 2_000;

type Body = { type: string; [key: string]: unknown };
interface Message {
  src: string;
  dest: string;
  body: Body;
}

function spawnNode(args: string[]) {
  return execa(process.execPath, [NODE_JS, ...args], {
    detached: true, // its own process group, so cleanup can signal the whole group
    buffer: false,
    reject: false,
    timeout: PROCESS_LIFETIME_MS,
    stdin: "pipe",
    stdout: "pipe",
    stderr: "pipe",
  });
}

/** One node process plus a mailbox of everything it wrote on stdout. */
class NodeProcess {
  readonly mailbox: Message[] = [];
  private waiters: Array<() => void> = [];
  private nextClientMsgId = 1;
  stderr = "";

  private constructor(readonly proc: ReturnType<typeof spawnNode>) {
    const lines = createInterface({ input: proc.stdout as NodeJS.ReadableStream });
    lines.on("line", (line) => {
      this.mailbox.push(JSON.parse(line) as Message); // a non-JSON line fails the test loudly
      for (const wake of this.waiters.splice(0)) wake();
    });
    proc.stderr?.on("data", (chunk: Buffer) => {
      this.stderr += chunk.toString();
    });
  }

  static start(args: string[] = []): NodeProcess {
    const node = new NodeProcess(spawnNode(args));
    running.add(node);
    return node;
  }

  /** Delivers a message to the node, as the network would. */
  deliver(src: string, body: Body, dest = "n0"): void {
    this.proc.stdin?.write(`${JSON.stringify({ id: 1, src, dest, body })}\n`);
  }

  /** A client request with a fresh msg_id; returns that msg_id. */
  request(body: Body, client = "c1"): number {
    const msg_id = this.nextClientMsgId++;
    this.deliver(client, { ...body, msg_id });
    return msg_id;
  }

  /** Sends a client request and waits for its reply. */
  async call(body: Body, client = "c1"): Promise<Body> {
    const msg_id = this.request(body, client);
    const reply = await this.expect((m) => m.dest === client && m.body.in_reply_to === msg_id);
    return reply.body;
  }

  async init(nodeId = "n0", nodeIds = ["n0", "n1", "n2"]): Promise<void> {
    const reply = await this.call({ type: "init", node_id: nodeId, node_ids: nodeIds }, "c0");
    expect(reply).toEqual({ type: "init_ok", in_reply_to: expect.any(Number) });
  }

  /** Removes and returns the first message matching `match`, waiting up to `timeout_ms`. */
  async expect(match: (m: Message) => boolean, timeout_ms = EXPECT_MS): Promise<Message> {
    const deadline = Date.now() + timeout_ms;
    for (;;) {
      const i = this.mailbox.findIndex(match);
      if (i >= 0) return this.mailbox.splice(i, 1)[0] as Message;
      const left = deadline - Date.now();
      if (left <= 0) {
        const seen = this.mailbox.map((m) => JSON.stringify(m)).join("\n");
        throw new Error(
          `no matching message within ${timeout_ms} ms; mailbox:\n${seen}\nstderr:\n${this.stderr}`,
        );
      }
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  /** Everything matching `match` that arrives within `ms` (and was already there). */
  async collect(match: (m: Message) => boolean, ms: number): Promise<Message[]> {
    await sleep(ms);
    const out = this.mailbox.filter(match);
    this.mailbox.splice(0, this.mailbox.length, ...this.mailbox.filter((m) => !match(m)));
    return out;
  }

  kill(): void {
    const pid = this.proc.pid;
    if (pid === undefined) return;
    try {
      process.kill(-pid, "SIGKILL"); // the node's process group: nothing it started survives
    } catch {
      // already gone
    }
  }
}

const running = new Set<NodeProcess>();
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const gossipTo = (peer: string) => (m: Message) => m.dest === peer && m.body.type === "gossip";
const has = (m: Message, key: string, value: unknown) =>
  (m.body[key] as unknown[]).some((v) => JSON.stringify(v) === JSON.stringify(value));

beforeAll(() => {
  if (!existsSync(NODE_JS))
    throw new Error(`${NODE_JS} is missing: run "npx tsc -p tsconfig.json" first`);
});

/** Starts a node that is killed (with its process group) when the calling test finishes. */
function start(ctx: TestContext, args: string[] = []): NodeProcess {
  const node = NodeProcess.start(args);
  ctx.onTestFinished(async () => {
    node.kill();
    await node.proc;
    running.delete(node);
  });
  return node;
}

// Safety net: a test that never got to its onTestFinished still leaves nothing behind.
afterAll(async () => {
  for (const node of running) {
    node.kill();
    await node.proc;
  }
});

describe.concurrent("the Maelstrom library", () => {
  it("answers init, refuses work before it, and reports unknown types with code 10", async (ctx) => {
    const node = start(ctx);
    expect(await node.call({ type: "echo", echo: "early" })).toMatchObject({
      type: "error",
      code: 11,
    });
    await node.init();
    expect(await node.call({ type: "frobnicate" })).toMatchObject({ type: "error", code: 10 });
  });

  it("treats any message carrying in_reply_to as a reply, even in_reply_to 0", async (ctx) => {
    const node = start(ctx);
    await node.init();
    node.deliver("n1", { type: "echo", echo: "x", msg_id: 9, in_reply_to: 0 });
    expect(await node.collect((m) => m.dest === "n1", 300)).toEqual([]);
  });

  it("skips malformed lines and keeps serving", async (ctx) => {
    const node = start(ctx);
    await node.init();
    node.proc.stdin?.write("this is not json\n");
    node.proc.stdin?.write(`${JSON.stringify({ src: "c1", dest: "n0", body: [1] })}\n`);
    expect(await node.call({ type: "echo", echo: "still here" })).toMatchObject({
      echo: "still here",
    });
    // stderr is its own pipe: the log line may arrive after the echo reply.
    await vi.waitFor(() => expect(node.stderr).toContain("malformed line"), { timeout: 2_000 });
  });

  it("exits when stdin closes", async (ctx) => {
    const node = start(ctx);
    await node.init();
    node.proc.stdin?.end();
    const result = await node.proc;
    expect(result.exitCode).toBe(0);
  });

  it("refuses an unknown --bug at startup, naming the known ones", async (ctx) => {
    const node = start(ctx, ["--bug", "no-such-bug"]);
    const result = await node.proc;
    expect(result.exitCode).toBe(2);
    expect(node.stderr).toContain("bad-echo");
  });
});

describe.concurrent("echo and unique-ids", () => {
  it("echoes any JSON value unchanged", async (ctx) => {
    const node = start(ctx);
    await node.init();
    for (const echo of ["Please echo 101", { deep: [1, "x", null] }, 42]) {
      expect(await node.call({ type: "echo", echo })).toEqual({
        type: "echo_ok",
        echo,
        in_reply_to: expect.any(Number),
      });
    }
  });

  it("--bug bad-echo truncates long strings and stringifies non-strings", async (ctx) => {
    const node = start(ctx, ["--bug", "bad-echo"]);
    await node.init();
    expect((await node.call({ type: "echo", echo: "Please echo 7" })).echo).toBe("Please echo 7");
    expect((await node.call({ type: "echo", echo: "Please echo 101" })).echo).toBe(
      "Please echo 10",
    );
    expect((await node.call({ type: "echo", echo: 42 })).echo).toBe("42");
  });

  it("generates distinct ids that name the node", async (ctx) => {
    const node = start(ctx);
    await node.init("n2", ["n0", "n1", "n2"]);
    const ids = await Promise.all(
      Array.from({ length: 20 }, (_, i) => node.call({ type: "generate" }, `c${i + 1}`)),
    );
    const values = ids.map((reply) => reply.id);
    expect(new Set(values).size).toBe(20);
    for (const id of values) expect(id).toMatch(/^n2-[0-9a-f]{8}-\d+$/);
  });

  it("--bug duplicate-ids hands out a bare counter", async (ctx) => {
    const node = start(ctx, ["--bug", "duplicate-ids"]);
    await node.init();
    expect((await node.call({ type: "generate" })).id).toBe(0);
    expect((await node.call({ type: "generate" })).id).toBe(1);
  });
});

describe.concurrent("broadcast", () => {
  async function broadcastNode(ctx: TestContext, args: string[] = []): Promise<NodeProcess> {
    const node = start(ctx, args);
    await node.init("n0", ["n0", "n1", "n2", "n3"]);
    const topology = { n0: ["n1", "n2"], n1: ["n0"], n2: ["n0", "n3"], n3: ["n2"] };
    expect((await node.call({ type: "topology", topology })).type).toBe("topology_ok");
    return node;
  }

  it("gossips a new value to every neighbour and resends until acknowledged", async (ctx) => {
    const node = await broadcastNode(ctx);
    expect((await node.call({ type: "broadcast", message: 7 })).type).toBe("broadcast_ok");
    const toN1 = await node.expect(gossipTo("n1"));
    const toN2 = await node.expect(gossipTo("n2"));
    expect(toN1.body.messages).toEqual([7]);
    expect(toN2.body.messages).toEqual([7]);
    // Only n2 acknowledges; n1's copy is presumed lost and must come again.
    node.deliver("n2", { type: "gossip_ok", in_reply_to: toN2.body.msg_id });
    const again = await node.expect(gossipTo("n1"), 1_500);
    expect(again.body.messages).toEqual([7]);
    expect(again.body.msg_id).not.toBe(toN1.body.msg_id);
    node.deliver("n1", { type: "gossip_ok", in_reply_to: again.body.msg_id });
    // Acknowledged everywhere: no more gossip, not to n3 (not a neighbour) either.
    expect(await node.collect((m) => m.body.type === "gossip", 800)).toEqual([]);
    expect((await node.call({ type: "read" })).messages).toEqual([7]);
  });

  it("batches values and acknowledges and relays a peer's gossip, except back to the sender", async (ctx) => {
    const node = await broadcastNode(ctx);
    node.deliver("n1", { type: "gossip", msg_id: 5, messages: [8, 9] });
    const ack = await node.expect((m) => m.dest === "n1" && m.body.type === "gossip_ok");
    expect(ack.body.in_reply_to).toBe(5);
    const relay = await node.expect(gossipTo("n2"));
    expect([...(relay.body.messages as number[])].sort()).toEqual([8, 9]);
    node.deliver("n2", { type: "gossip_ok", in_reply_to: relay.body.msg_id });
    expect(await node.collect(gossipTo("n1"), 700)).toEqual([]);
    const read = await node.call({ type: "read" });
    expect([...(read.messages as number[])].sort()).toEqual([8, 9]);
  });

  it("survives a partition: a neighbour unreachable for a while still gets the value", async (ctx) => {
    const node = await broadcastNode(ctx);
    await node.call({ type: "broadcast", message: 11 });
    // Drop everything to n1 for ~1.2 s (two or more ack timeouts), then start answering.
    const dropped = await node.collect(gossipTo("n1"), 1_200);
    expect(dropped.length).toBeGreaterThanOrEqual(2);
    const late = await node.expect((m) => gossipTo("n1")(m) && has(m, "messages", 11), 1_500);
    node.deliver("n1", { type: "gossip_ok", in_reply_to: late.body.msg_id });
  });

  it("--bug lose-messages keeps but never relays values from peers", async (ctx) => {
    const node = await broadcastNode(ctx, ["--bug", "lose-messages"]);
    node.deliver("n1", { type: "gossip", msg_id: 5, messages: [8] });
    await node.expect((m) => m.dest === "n1" && m.body.type === "gossip_ok");
    expect(await node.collect(gossipTo("n2"), 500)).toEqual([]);
    expect((await node.call({ type: "read" })).messages).toEqual([8]);
    // A client's own broadcast still goes to the neighbours.
    await node.call({ type: "broadcast", message: 9 });
    expect((await node.expect(gossipTo("n2"))).body.messages).toEqual([9]);
  });

  it("--bug no-retry sends each value once and never again", async (ctx) => {
    const node = await broadcastNode(ctx, ["--bug", "no-retry"]);
    await node.call({ type: "broadcast", message: 7 });
    const sent = await node.collect(gossipTo("n1"), 900);
    expect(sent).toHaveLength(1);
    expect(sent[0]?.body).toEqual({ type: "gossip", messages: [7] });
  });
});

describe.concurrent("g-set", () => {
  const ring = ["n0", "n1", "n2", "n3", "n4"];
  const stateTo = (peer: string) => (m: Message) => m.dest === peer && m.body.type === "gset_state";

  it("adds, merges a peer's state by union and gossips the whole state to its ring neighbours", async (ctx) => {
    const node = start(ctx);
    await node.init("n1", ring);
    expect((await node.call({ type: "add", element: 3 })).type).toBe("add_ok");
    expect((await node.call({ type: "add", element: 3 })).type).toBe("add_ok");
    node.deliver("n3", { type: "gset_state", elements: [4, 3] }, "n1");
    const read = await node.call({ type: "read" });
    expect([...(read.value as number[])].sort()).toEqual([3, 4]);
    // Periodic, unacknowledged state gossip to n0 and n2 (previous and next), never to n3.
    const toN0 = await node.collect(stateTo("n0"), 700);
    expect(toN0.length).toBeGreaterThanOrEqual(2);
    const latest = toN0.at(-1) as Message;
    expect([...(latest.body.elements as number[])].sort()).toEqual([3, 4]);
    await node.expect(stateTo("n2"));
    expect(await node.collect(stateTo("n3"), 0)).toEqual([]);
  });

  it("--bug lose-messages gossips only its own clients' elements", async (ctx) => {
    const node = start(ctx, ["--bug", "lose-messages"]);
    await node.init("n1", ring);
    node.deliver("n0", { type: "gset_state", elements: [4] }, "n1");
    await node.call({ type: "add", element: 3 });
    await node.collect(stateTo("n2"), 0); // whatever was sent before the add
    const state = await node.expect((m) => stateTo("n2")(m) && has(m, "elements", 3));
    expect(state.body.elements).toEqual([3]);
  });

  it("a read waits for the workload to become known, then answers as a g-set", async (ctx) => {
    const node = start(ctx);
    await node.init("n0", ring);
    const readId = node.request({ type: "read" });
    await sleep(200);
    node.deliver("n1", { type: "gset_state", elements: ["a"] });
    const reply = await node.expect((m) => m.body.in_reply_to === readId);
    expect(reply.body).toMatchObject({ type: "read_ok", value: ["a"] });
  });

  it("--workload pins the workload, so a read is answered at once", async (ctx) => {
    const node = start(ctx, ["--workload", "g-set"]);
    await node.init();
    expect(await node.call({ type: "read" })).toMatchObject({ type: "read_ok", value: [] });
  });
});

describe.concurrent("g-counter and pn-counter", () => {
  const stateTo = (peer: string) => (m: Message) =>
    m.dest === peer && m.body.type === "counter_state";

  it("sums its own adds and merges peers' vectors by max (duplicates are harmless)", async (ctx) => {
    const node = start(ctx);
    await node.init();
    await node.call({ type: "add", delta: 5 });
    await node.call({ type: "add", delta: -2 });
    expect((await node.call({ type: "read" })).value).toBe(3);
    const state = { type: "counter_state", inc: { n1: 10 }, dec: { n1: 1 } };
    node.deliver("n1", state);
    node.deliver("n1", state);
    // A peer cannot raise our own entry: only our own adds change it.
    node.deliver("n2", { type: "counter_state", inc: { n0: 100, n1: 4 }, dec: {} });
    expect((await node.call({ type: "read" })).value).toBe(12);
    // It gossips its vectors to every other node.
    for (const peer of ["n1", "n2"]) {
      const sent = await node.expect(stateTo(peer));
      expect(sent.body).toEqual({
        type: "counter_state",
        inc: { n0: 5, n1: 10 },
        dec: { n0: 2, n1: 1 },
      });
    }
  });

  it("refuses a non-integer delta with code 12", async (ctx) => {
    const node = start(ctx);
    await node.init();
    expect(await node.call({ type: "add", delta: 1.5 })).toMatchObject({ type: "error", code: 12 });
  });

  it("--bug double-count adds a peer's total on every gossip round", async (ctx) => {
    const node = start(ctx, ["--bug", "double-count"]);
    await node.init();
    await node.call({ type: "add", delta: 3 });
    const state = { type: "counter_state", inc: { n1: 10 }, dec: { n1: 1 } };
    node.deliver("n1", state);
    node.deliver("n1", state);
    expect((await node.call({ type: "read" })).value).toBe(3 + 2 * 9);
  });
});
