// The raft-kv node program as a black box: one real process (a one-node cluster elects itself),
// this test acting as its clients. Checks the exact client interface and that acknowledged
// writes survive SIGKILL and a restart on the same data dir.
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { execa, type ResultPromise } from "execa";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { ROOT } from "../helpers.js";

const NODE_JS = join(ROOT, "dist", "systems", "raft-kv", "node.js");
/** Per reply: a one-node cluster answers in milliseconds once it has elected itself. */
const REPLY_TIMEOUT_MS = 3000;

type Body = { type: string; [key: string]: unknown };

/** One node process; requests go in on stdin, replies are matched by in_reply_to. */
class OneNode {
  private readonly proc: ResultPromise;
  private readonly waiting = new Map<number, (body: Body) => void>();
  private nextMsgId = 1;

  constructor(dataDir: string) {
    this.proc = execa(process.execPath, [NODE_JS], {
      stdin: "pipe",
      stdout: "pipe",
      stderr: "pipe",
      reject: false,
      buffer: false,
      timeout: 20_000, // a process outliving the test is killed even if afterEach never ran
      killSignal: "SIGKILL",
      env: { FAULTLINE_DATA_DIR: dataDir },
    });
    let partial = "";
    this.proc.stdout?.setEncoding("utf8");
    this.proc.stdout?.on("data", (chunk: string) => {
      partial += chunk;
      const lines = partial.split("\n");
      partial = lines.pop() ?? "";
      for (const line of lines) {
        if (line.trim() === "") continue;
        const body = JSON.parse(line).body as Body;
        this.waiting.get(body.in_reply_to as number)?.(body);
      }
    });
    this.proc.stderr?.resume();
  }

  rpc(body: Body): Promise<Body> {
    const msg_id = this.nextMsgId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`no reply to ${JSON.stringify(body)}`)),
        REPLY_TIMEOUT_MS,
      );
      this.waiting.set(msg_id, (reply) => {
        clearTimeout(timer);
        const { in_reply_to: _r, text: _t, ...rest } = reply;
        resolve(rest as Body);
      });
      this.proc.stdin?.write(
        `${JSON.stringify({ src: "c1", dest: "n0", body: { ...body, msg_id } })}\n`,
      );
    });
  }

  /** Sends init, then waits until the node has elected itself (it answers 11 until then). */
  async init(): Promise<void> {
    expect(await this.rpc({ type: "init", node_id: "n0", node_ids: ["n0"] })).toEqual({
      type: "init_ok",
    });
    for (let attempt = 0; attempt < 10; attempt++) {
      const reply = await this.rpc({ type: "get", key: "probe" });
      if (reply.type === "get_ok") return;
      expect(reply).toEqual({ type: "error", code: 11 });
    }
    throw new Error("the node never became leader of its one-node cluster");
  }

  async kill(): Promise<void> {
    this.proc.kill("SIGKILL");
    await this.proc;
  }
}

const dirs: string[] = [];
const procs: OneNode[] = [];
function start(dir: string): OneNode {
  const n = new OneNode(dir);
  procs.push(n);
  return n;
}

beforeAll(() => {
  if (!existsSync(NODE_JS))
    throw new Error(`${NODE_JS} is missing: run "npx tsc -p tsconfig.json" first`);
});
afterEach(async () => {
  for (const p of procs.splice(0)) await p.kill();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function freshDir(): string {
  const dir = mkdtempSync(join(tmpdir(), "raft-kv-node-"));
  dirs.push(dir);
  return dir;
}

describe("raft-kv node, alone", () => {
  it("serves lin-kv and kv with Maelstrom's bodies and error codes", async () => {
    const n = start(freshDir());
    await n.init();
    expect(await n.rpc({ type: "read", key: 1 })).toEqual({ type: "error", code: 20 });
    expect(await n.rpc({ type: "cas", key: 1, from: 0, to: 1 })).toEqual({
      type: "error",
      code: 20,
    });
    expect(await n.rpc({ type: "write", key: 1, value: 3 })).toEqual({ type: "write_ok" });
    expect(await n.rpc({ type: "cas", key: 1, from: 2, to: 4 })).toEqual({
      type: "error",
      code: 22,
    });
    expect(await n.rpc({ type: "cas", key: 1, from: 3, to: 4 })).toEqual({ type: "cas_ok" });
    expect(await n.rpc({ type: "read", key: 1 })).toEqual({ type: "read_ok", value: 4 });
    expect(await n.rpc({ type: "get", key: "k" })).toEqual({ type: "get_ok", value: "" });
    expect(await n.rpc({ type: "append", key: "k", value: "a" })).toEqual({ type: "append_ok" });
    expect(await n.rpc({ type: "append", key: "k", value: "b" })).toEqual({ type: "append_ok" });
    expect(await n.rpc({ type: "get", key: "k" })).toEqual({ type: "get_ok", value: "ab" });
    expect(await n.rpc({ type: "put", key: "k", value: "p" })).toEqual({ type: "put_ok" });
    expect(await n.rpc({ type: "get", key: "k" })).toEqual({ type: "get_ok", value: "p" });
    expect(await n.rpc({ type: "write", key: 1 })).toEqual({ type: "error", code: 12 });
    expect(await n.rpc({ type: "put", key: "k", value: 5 })).toEqual({ type: "error", code: 12 });
    expect(await n.rpc({ type: "frobnicate" })).toEqual({ type: "error", code: 10 });
  });

  it("keeps acknowledged writes through SIGKILL and a restart", async () => {
    const dir = freshDir();
    const first = start(dir);
    await first.init();
    for (const v of ["x", "y", "z"]) {
      expect(await first.rpc({ type: "append", key: "k", value: v })).toEqual({
        type: "append_ok",
      });
    }
    expect(await first.rpc({ type: "write", key: [1, 2], value: { a: 1 } })).toEqual({
      type: "write_ok",
    });
    await first.kill();
    const second = start(dir);
    await second.init();
    expect(await second.rpc({ type: "get", key: "k" })).toEqual({ type: "get_ok", value: "xyz" });
    expect(await second.rpc({ type: "read", key: [1, 2] })).toEqual({
      type: "read_ok",
      value: { a: 1 },
    });
  });

  it("refuses an unknown --bug", async () => {
    const result = await execa(process.execPath, [NODE_JS, "--bug", "no-such-bug"], {
      reject: false,
      timeout: 5000,
      input: "",
    });
    expect(result.exitCode).toBe(2);
    expect(String(result.stderr)).toContain("commit-old-term");
  });
});
