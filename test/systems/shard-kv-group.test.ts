// shard-kv's replica groups: GroupMachine's rules (wrong group decided at apply time, configs in
// order and only once settled, shard hand-off with its duplicate table, snapshots), each planted
// bug's change of behaviour, and GroupServers of several groups handing shards to each other
// through their real pull / gc protocol against a scripted controller.
import { describe, expect, it } from "vitest";
import { type Config, key2shard, NSHARDS, WRONG_GROUP } from "../../protocols/shard-kv.js";
import type { Body } from "../../systems/lib/maelstrom-node.js";
import { RPCError } from "../../systems/lib/maelstrom-node.js";
import type { Replicated, Submitted } from "../../systems/lib/replicated.js";
import { type BugName, bugFlags } from "../../systems/shard-kv/bugs.js";
import {
  type ClientOp,
  type GroupCommand,
  GroupMachine,
  isGroupCommand,
} from "../../systems/shard-kv/group.js";
import { GroupServer } from "../../systems/shard-kv/group-server.js";

const G1 = ["n3", "n4", "n5"];
const G2 = ["n6", "n7", "n8"];

function config(num: number, shards: number[], groups: Record<string, string[]>): Config {
  return { num, shards, groups };
}
/** Every shard on `gid`. */
const all = (gid: number) => new Array<number>(NSHARDS).fill(gid);
/** Shard 0..4 on `a`, 5..9 on `b`. */
const halves = (a: number, b: number) => [...new Array(5).fill(a), ...new Array(5).fill(b)];

/** A key in `shard`: "d" (code 100) is in shard 0, "e" in shard 1, and so on. */
const keyIn = (shard: number) => String.fromCharCode(100 + shard);

const op = (o: ClientOp, client?: string, seq?: number): GroupCommand =>
  client === undefined ? { type: "op", op: o } : { type: "op", op: o, client, seq };
const put = (key: string, value: string, client = "c1", seq = 1) =>
  op({ type: "put", key, value }, client, seq);
const append = (key: string, value: string, client = "c1", seq = 1) =>
  op({ type: "append", key, value }, client, seq);
const get = (key: string) => op({ type: "get", key });

function machine(gid: number, bug?: BugName): GroupMachine {
  return new GroupMachine(gid, bugFlags(bug));
}

/** Moves `m` to `c` (asserting the machine took it). */
function take(m: GroupMachine, c: Config): void {
  expect(m.apply({ type: "config", config: c })).toEqual({ type: "config_ok", num: c.num });
}

function expectWrongGroup(reply: Body): void {
  expect(reply).toMatchObject({ type: "error", code: 11 });
  expect(String(reply.text).startsWith(WRONG_GROUP)).toBe(true);
}

/** Hands shard `s` from `from` to `to`, both at config `num`, the way the servers do. */
function handOff(from: GroupMachine, to: GroupMachine, num: number, s: number): void {
  const exported = from.exportShard(num, s);
  if (exported.kind !== "shard") throw new Error("not exported");
  expect(
    to.apply({ type: "install", num, shard: s, data: exported.data, dedup: exported.dedup }),
  ).toEqual({ type: "install_ok" });
  expect(from.apply({ type: "delete", num, shard: s })).toEqual({ type: "delete_ok" });
  expect(to.apply({ type: "confirmed", num, shard: s })).toEqual({ type: "confirmed_ok" });
}

describe("keyIn", () => {
  it("gives a key in each shard", () => {
    for (let s = 0; s < NSHARDS; s++) expect(key2shard(keyIn(s))).toBe(s);
  });
});

describe("GroupMachine", () => {
  it("answers ErrWrongGroup for a shard it does not serve, and serves first assignments at once", () => {
    const m = machine(1);
    expectWrongGroup(m.apply(get("k")));
    take(m, config(1, all(1), { 1: G1 }));
    expect(m.settled()).toBe(true);
    expect(m.apply(put("k", "x"))).toEqual({ type: "put_ok" });
    expect(m.apply(append("k", "y", "c1", 2))).toEqual({ type: "append_ok" });
    expect(m.apply(get("k"))).toEqual({ type: "get_ok", value: "xy" });
    expect(m.apply(get("never"))).toEqual({ type: "get_ok", value: "" });
  });

  it("applies a request once per (client, seq) and refuses an older seq", () => {
    const m = machine(1);
    take(m, config(1, all(1), { 1: G1 }));
    expect(m.apply(append("k", "a", "c1", 5))).toEqual({ type: "append_ok" });
    expect(m.apply(append("k", "a", "c1", 5))).toEqual({ type: "append_ok" });
    expect(m.apply(append("k", "b", "c2", 5))).toEqual({ type: "append_ok" });
    expect(m.apply(append("k", "z", "c1", 4))).toMatchObject({ type: "error", code: 13 });
    expect(m.apply(get("k"))).toEqual({ type: "get_ok", value: "ab" });
  });

  it("takes configs only in order: num = current + 1", () => {
    const m = machine(1);
    const c2 = config(2, all(1), { 1: G1 });
    expect(m.apply({ type: "config", config: c2 })).toEqual({ type: "config_ignored", num: 0 });
    take(m, config(1, all(1), { 1: G1 }));
    expect(m.apply({ type: "config", config: config(1, all(0), {}) })).toMatchObject({
      type: "config_ignored",
    });
    take(m, c2);
    expect(m.current.num).toBe(2);
  });

  it("decides the group at apply time: a config ordered before an op wins", () => {
    const m = machine(1);
    take(m, config(1, all(1), { 1: G1 }));
    take(m, config(2, halves(1, 2), { 1: G1, 2: G2 }));
    expectWrongGroup(m.apply(put(keyIn(7), "v")));
    expect(m.apply(put(keyIn(2), "v"))).toEqual({ type: "put_ok" });
  });

  it("moves a shard with its data and dedup table, and takes no config until settled", () => {
    const g1 = machine(1);
    const g2 = machine(2);
    const c1 = config(1, all(1), { 1: G1 });
    const c2 = config(2, halves(1, 2), { 1: G1, 2: G2 });
    const c3 = config(3, halves(1, 2), { 1: G1, 2: G2 });
    for (const m of [g1, g2]) take(m, c1);
    const k = keyIn(7);
    expect(g1.apply(append(k, "once", "c1", 1))).toEqual({ type: "append_ok" });
    for (const m of [g1, g2]) take(m, c2);

    expect(g1.shardsIn("giving").map((s) => s.shard)).toEqual([5, 6, 7, 8, 9]);
    expect(g2.shardsIn("pulling").map((s) => s.shard)).toEqual([5, 6, 7, 8, 9]);
    expectWrongGroup(g1.apply(get(k)));
    expectWrongGroup(g2.apply(get(k)));
    for (const m of [g1, g2]) {
      expect(m.settled()).toBe(false);
      expect(m.apply({ type: "config", config: c3 })).toMatchObject({ type: "config_ignored" });
    }

    handOff(g1, g2, 2, 7);
    expect(g2.apply(get(k))).toEqual({ type: "get_ok", value: "once" });
    // The retry of an append g1 applied, now at g2: its dedup record came along.
    expect(g2.apply(append(k, "once", "c1", 1))).toEqual({ type: "append_ok" });
    expect(g2.apply(get(k))).toEqual({ type: "get_ok", value: "once" });
    // A duplicate install (a re-pull answered after the move) changes nothing.
    expect(g2.apply({ type: "install", num: 2, shard: 7, data: [], dedup: [] })).toEqual({
      type: "install_ignored",
    });
    expect(g2.apply(get(k))).toEqual({ type: "get_ok", value: "once" });

    for (const s of [5, 6, 8, 9]) handOff(g1, g2, 2, s);
    for (const m of [g1, g2]) take(m, c3);
  });

  it("serves the shards already in place while others are still moving (Challenge 2)", () => {
    const g2 = machine(2);
    take(g2, config(1, halves(0, 1), { 1: G1 }));
    // Config 2: shard 0..4 from gid 0 to g2 (no pull), 5..9 from g1 to g2.
    take(g2, config(2, all(2), { 1: G1, 2: G2 }));
    expect(g2.apply(put(keyIn(1), "here"))).toEqual({ type: "put_ok" });
    expectWrongGroup(g2.apply(put(keyIn(6), "not yet", "c1", 2)));
    g2.apply({ type: "install", num: 2, shard: 6, data: [[keyIn(6), "moved"]], dedup: [] });
    expect(g2.apply(get(keyIn(6)))).toEqual({ type: "get_ok", value: "moved" });
    expectWrongGroup(g2.apply(get(keyIn(7))));
  });

  it("ignores an install for another config num", () => {
    const g2 = machine(2);
    take(g2, config(1, all(1), { 1: G1 }));
    take(g2, config(2, halves(1, 2), { 1: G1, 2: G2 }));
    expect(g2.apply({ type: "install", num: 1, shard: 7, data: [], dedup: [] })).toEqual({
      type: "install_ignored",
    });
    expect(g2.shardsIn("pulling").map((s) => s.shard)).toContain(7);
  });

  it("exports a given shard only once at its config; afterwards an empty one, and deleted() says so", () => {
    const g1 = machine(1);
    take(g1, config(1, all(1), { 1: G1 }));
    g1.apply(put(keyIn(7), "v"));
    expect(g1.exportShard(2, 7)).toEqual({ kind: "later" });
    take(g1, config(2, halves(1, 2), { 1: G1, 2: G2 }));
    expect(g1.deleted(2, 7)).toBe(false);
    expect(g1.exportShard(2, 7)).toMatchObject({ kind: "shard", data: [[keyIn(7), "v"]] });
    expect(g1.apply({ type: "delete", num: 3, shard: 7 })).toMatchObject({ code: 11 });
    g1.apply({ type: "delete", num: 2, shard: 7 });
    expect(g1.deleted(2, 7)).toBe(true);
    expect(g1.exportShard(2, 7)).toEqual({ kind: "shard", data: [], dedup: [] });
  });

  it("restores from its snapshot to the same state", () => {
    const g1 = machine(1);
    take(g1, config(1, all(1), { 1: G1 }));
    g1.apply(append(keyIn(7), "a", "c9", 3));
    take(g1, config(2, halves(1, 2), { 1: G1, 2: G2 }));
    const copy = machine(1);
    copy.restore(JSON.parse(JSON.stringify(g1.snapshot())));
    expect(copy.snapshot()).toEqual(g1.snapshot());
    expect(copy.exportShard(2, 7)).toEqual(g1.exportShard(2, 7));
    expect(copy.previous.num).toBe(1);
    expect(() => copy.restore({ config: 1 })).toThrow();
  });

  it("validates log entries", () => {
    expect(isGroupCommand(put("k", "v"))).toBe(true);
    expect(isGroupCommand(get("k"))).toBe(true);
    expect(isGroupCommand({ type: "op", op: { type: "put", key: "k", value: "v" } })).toBe(false);
    expect(isGroupCommand({ type: "op", op: { type: "get", key: 1 } })).toBe(false);
    expect(isGroupCommand({ type: "config", config: config(1, all(1), { 1: G1 }) })).toBe(true);
    expect(isGroupCommand({ type: "config", config: { num: 1 } })).toBe(false);
    expect(isGroupCommand({ type: "install", num: 1, shard: 10, data: [], dedup: [] })).toBe(false);
    expect(isGroupCommand({ type: "install", num: 1, shard: 3, data: [["k", 1]], dedup: [] })).toBe(
      false,
    );
    expect(isGroupCommand({ type: "delete", num: 1, shard: 3 })).toBe(true);
    expect(isGroupCommand({ type: "nonsense" })).toBe(false);
  });
});

describe("GroupMachine's planted bugs", () => {
  /** g1 and g2 after config 2 moved shards 5..9 from g1 to g2; g1 wrote keyIn(7) in config 1. */
  function moved(bug?: BugName) {
    const g1 = machine(1, bug);
    const g2 = machine(2, bug);
    for (const m of [g1, g2]) take(m, config(1, all(1), { 1: G1 }));
    g1.apply(append(keyIn(7), "x", "c1", 1));
    for (const m of [g1, g2]) take(m, config(2, halves(1, 2), { 1: G1, 2: G2 }));
    return { g1, g2 };
  }

  it("serve-unowned: a shard being given away is still served", () => {
    expectWrongGroup(moved().g1.apply(get(keyIn(7))));
    const { g1 } = moved("serve-unowned");
    expect(g1.apply(get(keyIn(7)))).toEqual({ type: "get_ok", value: "x" });
    expect(g1.apply(put(keyIn(7), "lost", "c1", 2))).toEqual({ type: "put_ok" });
  });

  it("no-dedup-transfer: a retried append lands twice after the move", () => {
    for (const [bug, value] of [
      [undefined, "x"],
      ["no-dedup-transfer", "xx"],
    ] as const) {
      const { g1, g2 } = moved(bug);
      handOff(g1, g2, 2, 7);
      g2.apply(append(keyIn(7), "x", "c1", 1));
      expect(g2.apply(get(keyIn(7)))).toEqual({ type: "get_ok", value });
    }
  });

  it("no-gc: a deleted shard's keys stay in the snapshot, and survive a restore", () => {
    for (const bug of [undefined, "no-gc"] as const) {
      const { g1, g2 } = moved(bug);
      handOff(g1, g2, 2, 7);
      expect(g1.apply({ type: "delete", num: 2, shard: 7 })).toEqual({ type: "delete_ok" });
      expect(g1.deleted(2, 7)).toBe(true);
      const kept = JSON.stringify(g1.snapshot()).includes(`"${keyIn(7)}"`);
      expect(kept).toBe(bug === "no-gc");
      const restored = machine(1, bug);
      restored.restore(JSON.parse(JSON.stringify(g1.snapshot())));
      expect(restored.snapshot()).toEqual(g1.snapshot());
      expectWrongGroup(restored.apply(get(keyIn(7))));
    }
  });

  it("skip-config: jumps from config 1 to config 3", () => {
    const c3 = config(3, all(1), { 1: G1 });
    const m = machine(1);
    take(m, config(1, all(1), { 1: G1 }));
    expect(m.apply({ type: "config", config: c3 })).toMatchObject({ type: "config_ignored" });
    const buggy = machine(1, "skip-config");
    take(buggy, config(1, all(1), { 1: G1 }));
    take(buggy, c3);
  });
});

/** A single replica that applies at once: the log without consensus, for server tests. */
class DirectReplicated implements Replicated<GroupCommand, Body> {
  submitted: GroupCommand[] = [];
  constructor(
    private readonly machine: GroupMachine,
    public leader = true,
  ) {}
  async submit(cmd: GroupCommand): Promise<Submitted<Body>> {
    this.submitted.push(cmd);
    if (!this.leader) return { kind: "not-done", reason: "not the leader" };
    return { kind: "applied", result: this.machine.apply(cmd) };
  }
  leading(): boolean {
    return this.leader;
  }
  receive(): boolean {
    return false;
  }
  start(): void {}
  stop(): void {}
}

/**
 * Groups of one server each (n3 is gid 1, n6 gid 2, n9 gid 3) and a controller whose configs
 * the test appends; RPCs are in-process calls, `down` servers do not answer.
 */
class Cluster {
  readonly configs: Config[] = [config(0, all(0), {})];
  readonly servers = new Map<string, { m: GroupMachine; rsm: DirectReplicated; s: GroupServer }>();
  readonly down = new Set<string>();

  constructor(bug?: BugName) {
    const flags = bugFlags(bug);
    for (const [gid, name] of [
      [1, "n3"],
      [2, "n6"],
      [3, "n9"],
    ] as const) {
      const m = new GroupMachine(gid, flags);
      const rsm = new DirectReplicated(m);
      const s = new GroupServer(
        rsm,
        m,
        ["n0"],
        (dest, body) => this.rpc(dest, body),
        flags,
        () => {},
      );
      this.servers.set(name, { m, rsm, s });
    }
  }

  /** Appends a config with `shards`; its groups are the ones that own a shard. */
  next(shards: number[]): void {
    const groups: Record<string, string[]> = {};
    for (const gid of shards) if (gid !== 0) groups[gid] = [`n${3 * gid}`];
    this.configs.push(config(this.configs.length, shards, groups));
  }

  private async rpc(dest: string, body: Body): Promise<Body> {
    if (this.down.has(dest)) throw new RPCError(0, "down");
    if (body.type === "query") {
      const num = body.num as number;
      const latest = this.configs.length - 1;
      return { type: "query_ok", config: this.configs[num < 0 || num > latest ? latest : num] };
    }
    const server = this.servers.get(dest)?.s;
    if (!server) throw new RPCError(1, `no ${dest}`);
    if (body.type === "shard_pull") return server.handlePull(body);
    if (body.type === "shard_gc") return server.handleGc(body);
    throw new RPCError(10, body.type);
  }

  async ticks(n: number): Promise<void> {
    for (let i = 0; i < n; i++) {
      await Promise.all([...this.servers.values()].map(({ s }) => s.tick()));
    }
  }

  client(key: string): GroupServer {
    const latest = this.configs.at(-1) as Config;
    return (
      this.servers.get(`n${3 * (latest.shards[key2shard(key)] as number)}`) as {
        s: GroupServer;
      }
    ).s;
  }

  async send(body: Body): Promise<Body> {
    return this.client(body.key as string).handleClient(body);
  }
}

describe("GroupServers handing shards over", () => {
  const keys = Array.from({ length: NSHARDS }, (_, s) => keyIn(s));

  it("keeps every value through joins, a move and a leave", async () => {
    const c = new Cluster();
    c.next(all(1));
    await c.ticks(3);
    let seq = 0;
    for (const k of keys) {
      await expect(
        c.send({ type: "append", key: k, value: "a", client: "c", seq: ++seq }),
      ).resolves.toEqual({ type: "append_ok" });
    }
    c.next(halves(1, 2));
    c.next([1, 1, 1, 2, 2, 2, 3, 3, 3, 3]);
    c.next([1, 2, 1, 2, 2, 2, 3, 3, 3, 3]);
    c.next([2, 2, 2, 2, 2, 3, 3, 3, 3, 3]);
    await c.ticks(20);
    for (const { m } of c.servers.values()) expect(m.current.num).toBe(4 + 1);
    for (const { m } of c.servers.values()) expect(m.settled()).toBe(true);
    for (const k of keys) {
      await expect(
        c.send({ type: "append", key: k, value: "b", client: "c", seq: ++seq }),
      ).resolves.toEqual({ type: "append_ok" });
      await expect(c.send({ type: "get", key: k })).resolves.toEqual({
        type: "get_ok",
        value: "ab",
      });
    }
    // gid 1 left: it holds nothing any more.
    expect(c.servers.get("n3")?.m.snapshot().shards).toEqual([]);
  });

  it("waits for an unreachable previous owner, then finishes the move", async () => {
    const c = new Cluster();
    c.next(all(1));
    await c.ticks(2);
    await c.send({ type: "put", key: keyIn(7), value: "v", client: "c", seq: 1 });
    c.next(halves(1, 2));
    c.down.add("n3");
    await c.ticks(5);
    const g2 = c.servers.get("n6")?.m as GroupMachine;
    expect(g2.shardsIn("pulling")).toHaveLength(5);
    expectWrongGroup(await c.send({ type: "get", key: keyIn(7) }));
    c.down.delete("n3");
    await c.ticks(5);
    await expect(c.send({ type: "get", key: keyIn(7) })).resolves.toEqual({
      type: "get_ok",
      value: "v",
    });
  });

  it("a follower answers ErrWrongLeader and does no background work", async () => {
    const c = new Cluster();
    const g1 = c.servers.get("n3");
    if (!g1) throw new Error("no n3");
    g1.rsm.leader = false;
    c.next(all(1));
    await c.ticks(3);
    expect(g1.m.current.num).toBe(0);
    await expect(
      g1.s.handleClient({ type: "put", key: "k", value: "v", client: "c", seq: 1 }),
    ).rejects.toMatchObject({ code: 11, message: "ErrWrongLeader" });
  });

  it("early-gc: the old owner deletes the shard when it answers the pull", async () => {
    for (const [bug, deletes] of [
      [undefined, 0],
      ["early-gc", 1],
    ] as const) {
      const c = new Cluster(bug);
      c.next(all(1));
      await c.ticks(2);
      c.next(halves(1, 2));
      await c.servers.get("n3")?.s.tick();
      const g1 = c.servers.get("n3") as { s: GroupServer; rsm: DirectReplicated; m: GroupMachine };
      g1.s.handlePull({ type: "shard_pull", num: 2, shard: 7 });
      expect(g1.rsm.submitted.filter((cmd) => cmd.type === "delete")).toHaveLength(deletes);
      expect(g1.m.deleted(2, 7)).toBe(deletes === 1);
    }
  });

  it("config-outside-log: a replica that does not lead switches config without the log", async () => {
    for (const [bug, num] of [
      [undefined, 0],
      ["config-outside-log", 1],
    ] as const) {
      const c = new Cluster(bug);
      const g1 = c.servers.get("n3") as { s: GroupServer; rsm: DirectReplicated; m: GroupMachine };
      g1.rsm.leader = false;
      c.next(all(1));
      await g1.s.tick();
      expect(g1.m.current.num).toBe(num);
      expect(g1.rsm.submitted).toEqual([]);
    }
  });
});
