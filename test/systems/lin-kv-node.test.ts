// The lin-kv reference node as a black box: real node processes, with this test acting as the
// network (it routes node-to-node messages itself, and can hold some back) and as the clients.
import { existsSync } from "node:fs";
import { join } from "node:path";
import { execa, type ResultPromise } from "execa";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { ROOT } from "../helpers.js";

const NODE_JS = join(ROOT, "dist", "systems", "lin-kv", "node.js");
/** Per reply; the node answers in milliseconds, or in ~900 ms when its forward times out. */
const REPLY_TIMEOUT_MS = 3000;

type Body = { type: string; [key: string]: unknown };
interface Message {
  src: string;
  dest: string;
  body: Body;
}

/**
 * A tiny Maelstrom network over real node processes. Messages to `n*` are delivered at once
 * unless `hold` matches them (then they wait in `held` until `release`); messages to clients are
 * matched to the pending request by in_reply_to. Every node-to-node message is journalled.
 */
class Net {
  readonly procs = new Map<string, ResultPromise>();
  readonly journal: Message[] = [];
  readonly held: Message[] = [];
  hold: (m: Message) => boolean = () => false;
  private readonly waiting = new Map<string, (body: Body) => void>();
  private nextMsgId = 1;

  start(ids: readonly string[], args: readonly string[] = []): void {
    for (const id of ids) {
      const proc = execa(process.execPath, [NODE_JS, ...args], {
        stdin: "pipe",
        stdout: "pipe",
        stderr: "pipe",
        reject: false,
        buffer: false,
        timeout: 20_000, // a node outliving a test is killed even if afterEach never ran
        killSignal: "SIGKILL",
      });
      let partial = "";
      proc.stdout?.setEncoding("utf8");
      proc.stdout?.on("data", (chunk: string) => {
        partial += chunk;
        const lines = partial.split("\n");
        partial = lines.pop() ?? "";
        for (const line of lines) if (line.trim() !== "") this.route(JSON.parse(line) as Message);
      });
      proc.stderr?.resume();
      this.procs.set(id, proc);
    }
  }

  private route(m: Message): void {
    if (m.dest.startsWith("n")) {
      this.journal.push(m);
      if (this.hold(m)) this.held.push(m);
      else this.deliver(m);
      return;
    }
    const key = `${m.dest} ${String(m.body.in_reply_to)}`;
    const resolve = this.waiting.get(key);
    if (!resolve) throw new Error(`unexpected message to ${m.dest}: ${JSON.stringify(m)}`);
    this.waiting.delete(key);
    resolve(m.body);
  }

  deliver(m: Message): void {
    const proc = this.procs.get(m.dest);
    if (!proc) throw new Error(`no node ${m.dest}`);
    proc.stdin?.write(`${JSON.stringify(m)}\n`);
  }

  release(): void {
    for (const m of this.held.splice(0)) this.deliver(m);
  }

  /** Sends a client request and resolves with the reply body. */
  rpc(client: string, node: string, body: Body): Promise<Body> {
    const msg_id = this.nextMsgId++;
    return new Promise<Body>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiting.delete(`${client} ${msg_id}`);
        reject(
          new Error(
            `no reply from ${node} to ${JSON.stringify(body)} within ${REPLY_TIMEOUT_MS} ms`,
          ),
        );
      }, REPLY_TIMEOUT_MS);
      this.waiting.set(`${client} ${msg_id}`, (reply) => {
        clearTimeout(timer);
        resolve(reply);
      });
      this.deliver({ src: client, dest: node, body: { ...body, msg_id } });
    });
  }

  async init(ids: readonly string[]): Promise<void> {
    for (const [i, id] of ids.entries()) {
      const reply = await this.rpc(`c${i}`, id, { type: "init", node_id: id, node_ids: [...ids] });
      expect(reply.type).toBe("init_ok");
    }
  }

  async kill(): Promise<void> {
    for (const proc of this.procs.values()) proc.kill("SIGKILL");
    await Promise.all(this.procs.values());
    this.procs.clear();
  }
}

const strip = ({ in_reply_to: _r, msg_id: _m, text: _t, ...rest }: Body) => rest;

let net: Net;

beforeAll(() => {
  if (!existsSync(NODE_JS))
    throw new Error(`${NODE_JS} is missing: run "npx tsc -p tsconfig.json" first`);
});

afterEach(async () => {
  await net?.kill();
});

describe("lin-kv node, alone (n0 serves directly)", () => {
  it("answers init and every lin-kv RPC with Maelstrom's bodies and error codes", async () => {
    net = new Net();
    net.start(["n0"]);
    await net.init(["n0"]);
    const rpc = (body: Body) => net.rpc("c9", "n0", body).then(strip);
    expect(await rpc({ type: "read", key: 1 })).toEqual({ type: "error", code: 20 });
    expect(await rpc({ type: "cas", key: 1, from: 0, to: 1 })).toEqual({ type: "error", code: 20 });
    expect(await rpc({ type: "write", key: 1, value: 3 })).toEqual({ type: "write_ok" });
    expect(await rpc({ type: "read", key: 1 })).toEqual({ type: "read_ok", value: 3 });
    expect(await rpc({ type: "cas", key: 1, from: 2, to: 4 })).toEqual({ type: "error", code: 22 });
    expect(await rpc({ type: "cas", key: 1, from: 3, to: 4 })).toEqual({ type: "cas_ok" });
    expect(await rpc({ type: "read", key: 1 })).toEqual({ type: "read_ok", value: 4 });
    // Keys are independent.
    expect(await rpc({ type: "read", key: 2 })).toEqual({ type: "error", code: 20 });
    expect(await rpc({ type: "write", key: 1 })).toEqual({ type: "error", code: 12 });
    expect(await rpc({ type: "frobnicate", key: 1 })).toEqual({ type: "error", code: 10 });
  });

  it('serves kv: get of a missing key is "", put replaces, append concatenates', async () => {
    net = new Net();
    net.start(["n0"]);
    await net.init(["n0"]);
    const rpc = (body: Body) => net.rpc("c9", "n0", body).then(strip);
    expect(await rpc({ type: "get", key: "k" })).toEqual({ type: "get_ok", value: "" });
    expect(await rpc({ type: "append", key: "k", value: "x 1 0 y" })).toEqual({
      type: "append_ok",
    });
    expect(await rpc({ type: "append", key: "k", value: "x 2 0 y" })).toEqual({
      type: "append_ok",
    });
    expect(await rpc({ type: "get", key: "k" })).toEqual({
      type: "get_ok",
      value: "x 1 0 yx 2 0 y",
    });
    expect(await rpc({ type: "put", key: "k", value: "p" })).toEqual({ type: "put_ok" });
    expect(await rpc({ type: "get", key: "k" })).toEqual({ type: "get_ok", value: "p" });
    expect(await rpc({ type: "put", key: "k", value: 5 })).toEqual({ type: "error", code: 12 });
  });

  it("refuses an unknown --bug", async () => {
    const result = await execa(process.execPath, [NODE_JS, "--bug", "no-such-bug"], {
      reject: false,
      timeout: 5000,
      input: "",
    });
    expect(result.exitCode).toBe(2);
    expect(String(result.stderr)).toContain("stale-read");
  });
});

describe("lin-kv node, three nodes (others forward to n0)", () => {
  const ids = ["n0", "n1", "n2"];

  it("forwards every request to n0, so all nodes see one state", async () => {
    net = new Net();
    net.start(ids);
    await net.init(ids);
    expect(strip(await net.rpc("c5", "n1", { type: "write", key: 7, value: 1 }))).toEqual({
      type: "write_ok",
    });
    expect(strip(await net.rpc("c6", "n2", { type: "read", key: 7 }))).toEqual({
      type: "read_ok",
      value: 1,
    });
    expect(strip(await net.rpc("c6", "n2", { type: "cas", key: 7, from: 0, to: 2 }))).toEqual({
      type: "error",
      code: 22,
    });
    expect(strip(await net.rpc("c5", "n1", { type: "cas", key: 7, from: 1, to: 2 }))).toEqual({
      type: "cas_ok",
    });
    expect(strip(await net.rpc("c4", "n0", { type: "read", key: 7 }))).toEqual({
      type: "read_ok",
      value: 2,
    });
    expect(strip(await net.rpc("c5", "n1", { type: "append", key: "a", value: "x" }))).toEqual({
      type: "append_ok",
    });
    expect(strip(await net.rpc("c6", "n2", { type: "get", key: "a" }))).toEqual({
      type: "get_ok",
      value: "x",
    });
    // Node-to-node traffic is exactly the forwards and n0's answers; no replication.
    const fromPeers = net.journal.filter((m) => m.dest === "n0");
    expect(fromPeers.length).toBe(6);
    expect(fromPeers.map((m) => m.src).sort()).toEqual(["n1", "n1", "n1", "n2", "n2", "n2"]);
    expect(net.journal.every((m) => m.dest === "n0" || m.src === "n0")).toBe(true);
    expect(net.journal.some((m) => m.body.type === "replicate")).toBe(false);
  });

  it("answers a timeout (code 0, indefinite) when n0 is unreachable, never a definite error", async () => {
    net = new Net();
    net.start(ids);
    await net.init(ids);
    net.hold = (m) => m.dest === "n0";
    const reply = await net.rpc("c5", "n1", { type: "write", key: 1, value: 1 });
    expect(strip(reply)).toEqual({ type: "error", code: 0 });
    expect(net.held.length).toBe(1);
  });
});

describe("lin-kv node --bug stale-read", () => {
  const ids = ["n0", "n1", "n2"];

  it("serves reads from a lagging replica on nodes other than n0", async () => {
    net = new Net();
    net.start(ids, ["--bug", "stale-read"]);
    await net.init(ids);
    // Hold the replication so the test does not race the node's 50-300 ms delay.
    net.hold = (m) => m.body.type === "replicate";
    expect(strip(await net.rpc("c4", "n0", { type: "write", key: 3, value: 4 }))).toEqual({
      type: "write_ok",
    });
    expect(strip(await net.rpc("c4", "n0", { type: "append", key: "k", value: "x" }))).toEqual({
      type: "append_ok",
    });
    // The write completed, yet n1 says the key does not exist: a stale read.
    expect(strip(await net.rpc("c5", "n1", { type: "read", key: 3 }))).toEqual({
      type: "error",
      code: 20,
    });
    expect(strip(await net.rpc("c5", "n1", { type: "get", key: "k" }))).toEqual({
      type: "get_ok",
      value: "",
    });
    // n0 itself is never stale.
    expect(strip(await net.rpc("c4", "n0", { type: "read", key: 3 }))).toEqual({
      type: "read_ok",
      value: 4,
    });
    // Writes through a replica still go to n0.
    expect(strip(await net.rpc("c6", "n2", { type: "cas", key: 3, from: 4, to: 1 }))).toEqual({
      type: "cas_ok",
    });

    // Once n0's delayed updates are delivered (in any order), the replicas catch up to n0.
    const deadline = Date.now() + 2000;
    net.hold = () => false;
    while (Date.now() < deadline) {
      net.release();
      const r1 = strip(await net.rpc("c5", "n1", { type: "read", key: 3 }));
      const r2 = strip(await net.rpc("c6", "n2", { type: "get", key: "k" }));
      const replicates = net.journal.filter((m) => m.body.type === "replicate").length;
      if (r1.type === "read_ok" && r1.value === 1 && r2.value === "x" && replicates === 6) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(strip(await net.rpc("c5", "n1", { type: "read", key: 3 }))).toEqual({
      type: "read_ok",
      value: 1,
    });
    expect(strip(await net.rpc("c6", "n2", { type: "get", key: "k" }))).toEqual({
      type: "get_ok",
      value: "x",
    });
    const replicated = net.journal.filter((m) => m.body.type === "replicate");
    // 3 writes (write, append, cas) × 2 peers, all from n0.
    expect(replicated.length).toBe(6);
    expect(replicated.every((m) => m.src === "n0")).toBe(true);
  });
});
