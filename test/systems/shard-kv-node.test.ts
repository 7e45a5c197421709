// The shard-kv node program as real processes: one replica group of three (n3–n5, gid 1) on Raft,
// this test routing their messages and playing the controller (n0) and a client. Checks that the
// group takes the controller's config through its log, serves and deduplicates requests, and
// keeps everything through a whole-group SIGKILL and restart on the same data dirs.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { execa, type ResultPromise } from "execa";
import { afterEach, describe, expect, it } from "vitest";
import { NSHARDS } from "../../protocols/shard-kv.js";
import { ROOT } from "../helpers.js";

const NODE_JS = join(ROOT, "dist", "systems", "shard-kv", "node.js");
const NODE_IDS = ["n0", "n1", "n2", "n3", "n4", "n5"];
const GROUP = ["n3", "n4", "n5"];
/** How long the group gets to elect a leader and take the config, as attempts of ATTEMPT_MS. */
const MAX_ATTEMPTS = 100;
const ATTEMPT_MS = 100;

type Body = { type: string; [key: string]: unknown };
interface Msg {
  src: string;
  dest: string;
  body: Body;
}

const CONFIG_1 = { num: 1, shards: new Array(NSHARDS).fill(1), groups: { 1: GROUP } };

/** The group's processes; their messages to each other are delivered, the rest answered here. */
class Group {
  private readonly procs = new Map<string, ResultPromise>();
  private readonly waiting = new Map<number, (body: Body) => void>();
  private nextMsgId = 1;

  constructor(private readonly dirs: Map<string, string>) {}

  start(): void {
    for (const id of GROUP) {
      const proc = execa(process.execPath, [NODE_JS], {
        stdin: "pipe",
        stdout: "pipe",
        stderr: "pipe",
        reject: false,
        buffer: false,
        timeout: 60_000, // a process outliving the test is killed even if afterEach never ran
        killSignal: "SIGKILL",
        env: { FAULTLINE_DATA_DIR: this.dirs.get(id) },
      });
      let partial = "";
      proc.stdout?.setEncoding("utf8");
      proc.stdout?.on("data", (chunk: string) => {
        partial += chunk;
        const lines = partial.split("\n");
        partial = lines.pop() ?? "";
        for (const line of lines) if (line.trim() !== "") this.route(JSON.parse(line) as Msg);
      });
      proc.stderr?.resume();
      this.procs.set(id, proc);
      this.deliver({
        src: "c0",
        dest: id,
        body: { type: "init", node_id: id, node_ids: NODE_IDS, msg_id: 0 },
      });
    }
  }

  private deliver(msg: Msg): void {
    this.procs.get(msg.dest)?.stdin?.write(`${JSON.stringify(msg)}\n`);
  }

  private route(msg: Msg): void {
    if (this.procs.has(msg.dest)) {
      this.deliver(msg);
    } else if (msg.dest === "c1") {
      this.waiting.get(msg.body.in_reply_to as number)?.(msg.body);
    } else if (msg.body.type === "query") {
      // The controller: config 1 gives every shard to gid 1, and there is no later one.
      const config =
        msg.body.num === 0 ? { num: 0, shards: new Array(NSHARDS).fill(0), groups: {} } : CONFIG_1;
      this.deliver({
        src: msg.dest,
        dest: msg.src,
        body: { type: "query_ok", config, in_reply_to: msg.body.msg_id },
      });
    }
  }

  private call(dest: string, body: Body): Promise<Body | undefined> {
    const msg_id = this.nextMsgId++;
    return new Promise((resolve) => {
      const timer = setTimeout(() => resolve(undefined), ATTEMPT_MS * 10);
      this.waiting.set(msg_id, (reply) => {
        clearTimeout(timer);
        resolve(reply);
      });
      this.deliver({ src: "c1", dest, body: { ...body, msg_id } });
    });
  }

  /** Sends `body` to the servers in turn, as a clerk does, until one answers other than 11. */
  async request(body: Body): Promise<Body> {
    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      const reply = await this.call(GROUP[attempt % GROUP.length] as string, body);
      if (reply !== undefined && !(reply.type === "error" && reply.code === 11)) {
        const { in_reply_to: _r, ...rest } = reply;
        return rest;
      }
      await new Promise((r) => setTimeout(r, ATTEMPT_MS));
    }
    throw new Error(`no server took ${JSON.stringify(body)}`);
  }

  async kill(): Promise<void> {
    for (const proc of this.procs.values()) proc.kill("SIGKILL");
    await Promise.all(this.procs.values());
    this.procs.clear();
  }
}

const dirs: string[] = [];
const groups: Group[] = [];
afterEach(async () => {
  for (const g of groups.splice(0)) await g.kill();
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

describe("shard-kv node processes", () => {
  it("a group takes the config, serves once per request, and survives a whole-group kill", async () => {
    const dataDirs = new Map(
      GROUP.map((id) => {
        const dir = mkdtempSync(join(tmpdir(), `shard-kv-${id}-`));
        dirs.push(dir);
        return [id, dir] as const;
      }),
    );
    const group = new Group(dataDirs);
    groups.push(group);
    group.start();
    const append = { type: "append", key: "k", value: "x", client: "c1", seq: 1 };
    expect(await group.request(append)).toEqual({ type: "append_ok" });
    expect(await group.request(append)).toEqual({ type: "append_ok" });
    expect(
      await group.request({ type: "put", key: "j", value: "v", client: "c1", seq: 2 }),
    ).toEqual({
      type: "put_ok",
    });
    expect(await group.request({ type: "get", key: "k" })).toEqual({ type: "get_ok", value: "x" });

    await group.kill();
    group.start();
    expect(await group.request({ type: "get", key: "k" })).toEqual({ type: "get_ok", value: "x" });
    expect(await group.request({ type: "get", key: "j" })).toEqual({ type: "get_ok", value: "v" });
    expect(await group.request(append)).toEqual({ type: "append_ok" });
    expect(await group.request({ type: "get", key: "k" })).toEqual({ type: "get_ok", value: "x" });
  }, 60_000);
});
