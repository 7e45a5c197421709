// The shard-kv node program as real processes on Raft, this test routing their messages and
// playing the client: one replica group of three (n3–n5, gid 1) with the test as its controller
// (it takes the config through its log, serves and deduplicates requests, keeps everything
// through a whole-group SIGKILL and restart); and a whole cluster (controller and two groups)
// whose values survive a join, a leave and a whole-cluster restart.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { execa, type ResultPromise } from "execa";
import { afterEach, describe, expect, it } from "vitest";
import { key2shard, NSHARDS, WRONG_GROUP } from "../../protocols/shard-kv.js";
import { ROOT } from "../helpers.js";

const NODE_JS = join(ROOT, "dist", "systems", "shard-kv", "node.js");
const NODE_IDS = ["n0", "n1", "n2", "n3", "n4", "n5"];
const GROUP = ["n3", "n4", "n5"];
const CLUSTER = ["n0", "n1", "n2", "n3", "n4", "n5", "n6", "n7", "n8"];
const CONTROLLERS = ["n0", "n1", "n2"];
const GROUP_2 = ["n6", "n7", "n8"];
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

/** The processes; their messages to each other are delivered, the rest answered here. */
class Group {
  private readonly procs = new Map<string, ResultPromise>();
  private readonly waiting = new Map<number, (body: Body) => void>();
  private nextMsgId = 1;

  constructor(
    private readonly dirs: Map<string, string>,
    private readonly ids = GROUP,
    private readonly nodeIds = NODE_IDS,
  ) {}

  start(): void {
    for (const id of this.ids) {
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
        body: { type: "init", node_id: id, node_ids: this.nodeIds, msg_id: 0 },
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

  /** Sends `body` to `servers` in turn, as a clerk does, until one answers other than 11. */
  async request(body: Body, servers = GROUP): Promise<Body> {
    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      const reply = await this.call(servers[attempt % servers.length] as string, body);
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

  /** A clerk: asks the owner of the key's shard in the latest config, again after ErrWrongGroup. */
  async clerk(body: Body): Promise<Body> {
    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      const { config } = await this.request({ type: "query", num: -1 }, CONTROLLERS);
      const { shards, groups } = config as { shards: number[]; groups: Record<string, string[]> };
      const servers = groups[String(shards[key2shard(body.key as string)])] ?? [];
      const reply = await this.request(body, servers);
      if (reply.type !== "error" || !String(reply.text).startsWith(WRONG_GROUP)) return reply;
      await new Promise((r) => setTimeout(r, ATTEMPT_MS));
    }
    throw new Error(`no group took ${JSON.stringify(body)}`);
  }
}

function dataDirs(ids: readonly string[]): Map<string, string> {
  return new Map(
    ids.map((id) => {
      const dir = mkdtempSync(join(tmpdir(), `shard-kv-${id}-`));
      dirs.push(dir);
      return [id, dir] as const;
    }),
  );
}

const dirs: string[] = [];
const groups: Group[] = [];
afterEach(async () => {
  for (const g of groups.splice(0)) await g.kill();
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

describe("shard-kv node processes", () => {
  it("a group takes the config, serves once per request, and survives a whole-group kill", async () => {
    const group = new Group(dataDirs(GROUP));
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

  it("a cluster keeps every value through a join, a leave and a whole-cluster restart", async () => {
    const cluster = new Group(dataDirs(CLUSTER), CLUSTER, CLUSTER);
    groups.push(cluster);
    cluster.start();
    const keys = Array.from({ length: NSHARDS }, (_, s) => String.fromCharCode(100 + s));
    let seq = 0;
    const join = (groups: Record<string, string[]>) =>
      cluster.request({ type: "join", groups, client: "admin", seq: ++seq }, CONTROLLERS);
    expect(await join({ 1: GROUP })).toEqual({ type: "join_ok" });
    for (const key of keys) {
      expect(
        await cluster.clerk({ type: "append", key, value: "a", client: "c", seq: ++seq }),
      ).toEqual({ type: "append_ok" });
    }
    expect(await join({ 2: GROUP_2 })).toEqual({ type: "join_ok" });
    for (const key of keys) {
      expect(
        await cluster.clerk({ type: "append", key, value: "b", client: "c", seq: ++seq }),
      ).toEqual({ type: "append_ok" });
    }
    expect(
      await cluster.request({ type: "leave", gids: [1], client: "admin", seq: ++seq }, CONTROLLERS),
    ).toEqual({ type: "leave_ok" });
    for (const key of keys) {
      expect(await cluster.clerk({ type: "get", key })).toEqual({ type: "get_ok", value: "ab" });
    }
    await cluster.kill();
    cluster.start();
    for (const key of keys) {
      expect(await cluster.clerk({ type: "get", key })).toEqual({ type: "get_ok", value: "ab" });
    }
  }, 120_000);
});
