// The shard-kv clerk against a scripted fake network: same client/seq on every retry, the next
// server after ErrWrongLeader or silence, a re-query after ErrWrongGroup, and the deadline.
import { describe, expect, it } from "vitest";
import type { Config } from "../../protocols/shard-kv.js";
import { key2shard } from "../../protocols/shard-kv.js";
import type { HistoryEvent, RunSettings } from "../../workloads/plugin.js";
import type { Body } from "../../workloads/protocol.js";
import { configObservations } from "../../workloads/shard-kv/checks.js";
import { Clerk } from "../../workloads/shard-kv/clerk.js";
import { completionOf, shardKvKey } from "../../workloads/shard-kv/driver.js";
import { shardKvPlugin } from "../../workloads/shard-kv/index.js";
import { describeChange, planChange, undo } from "../../workloads/shard-kv/reconfigure.js";
import type { Rng } from "../../workloads/workload.js";

const G1 = ["n3", "n4", "n5"];
const G2 = ["n6", "n7", "n8"];
const config = (num: number, gid: number): Config => ({
  num,
  shards: new Array(10).fill(gid),
  groups: { "1": G1, "2": G2 },
});

type Answer = (node: string, body: Body) => Body | undefined;

function fakeClerk(answer: Answer, deadline_ms = 2000) {
  const sent: Array<{ node: string; body: Body }> = [];
  const events: HistoryEvent[] = [];
  const start = performance.now();
  const clerk = new Clerk(
    {
      clock: { now_ns: () => (performance.now() - start) * 1e6 },
      signal: new AbortController().signal,
      record: (e) => events.push(e),
    },
    async (node, body) => {
      sent.push({ node, body });
      return answer(node, body);
    },
    {
      controllers: ["n0", "n1", "n2"],
      process: 7,
      queryProcess: 8,
      request_timeout_ms: 50,
      op_deadline_ms: deadline_ms,
      onMalformed: () => {},
    },
  );
  return { clerk, sent, events, deadline: () => performance.now() - start + deadline_ms };
}

const wrongLeader = { type: "error", code: 11, text: "ErrWrongLeader" };
const wrongGroup = { type: "error", code: 11, text: "ErrWrongGroup: shard 3 is gid 2's" };

describe("shard-kv clerk", () => {
  it("queries the config, then tries the owner's servers in turn with the same client/seq", async () => {
    const { clerk, sent, events, deadline } = fakeClerk((node, body) => {
      if (body.type === "query")
        return node === "n0" ? undefined : { type: "query_ok", config: config(1, 1) };
      return node === "n5" ? { type: "append_ok" } : node === "n3" ? wrongLeader : undefined;
    });
    const body = {
      type: "append",
      key: "k",
      value: "x 7 1 y",
      client: clerk.client,
      seq: clerk.nextSeq(),
    };
    const outcome = await clerk.groupOp(body, deadline());
    expect(outcome).toMatchObject({ type: "ok", node: "n5" });
    expect(sent.map((s) => s.node)).toEqual(["n0", "n1", "n3", "n4", "n5"]);
    for (const s of sent.slice(2)) expect(s.body).toMatchObject({ client: "7", seq: 1 });
    // Each controller asked is a query op of the clerk's query process, with who answered.
    expect(events.map((e) => [e.process, e.type, e.f, e.node])).toEqual([
      [8, "invoke", "query", "n0"],
      [8, "fail", "query", "n0"],
      [8, "invoke", "query", "n1"],
      [8, "ok", "query", "n1"],
    ]);
    expect(events[3]?.value).toEqual({ num: -1, config: config(1, 1) });
  });

  it("re-queries after ErrWrongGroup and follows the new owner", async () => {
    let num = 0;
    const { clerk, sent, deadline } = fakeClerk((node, body) => {
      if (body.type === "query") {
        num++;
        return { type: "query_ok", config: num === 1 ? config(1, 1) : config(2, 2) };
      }
      return G1.includes(node) ? wrongGroup : { type: "get_ok", value: "x 1 1 y" };
    });
    const outcome = await clerk.groupOp({ type: "get", key: "k", client: "7", seq: 1 }, deadline());
    expect(outcome).toMatchObject({ type: "ok", node: "n6" });
    expect(sent.map((s) => s.node)).toEqual(["n0", "n3", "n0", "n6"]);
    expect(clerk.config?.num).toBe(2);
  });

  it("gives up at the deadline when no server answers; a put is then info, a get fails", async () => {
    const { clerk, deadline } = fakeClerk(
      (_node, body) =>
        body.type === "query" ? { type: "query_ok", config: config(1, 1) } : undefined,
      300,
    );
    const outcome = await clerk.groupOp(
      { type: "put", key: "k", value: "v", client: "7", seq: 1 },
      deadline(),
    );
    expect(outcome.type).toBe("gave-up");
    const value = { key: "k", value: "v" };
    expect(completionOf(outcome, value, false).type).toBe("info");
    expect(completionOf(outcome, value, true).type).toBe("fail");
  });

  it("fails on a definite error other than 11, and reports a malformed reply", async () => {
    const definite = fakeClerk((_n, body) =>
      body.type === "query"
        ? { type: "query_ok", config: config(1, 1) }
        : { type: "error", code: 12, text: "bad" },
    );
    const failed = await definite.clerk.groupOp(
      { type: "get", key: "k", client: "7", seq: 1 },
      definite.deadline(),
    );
    expect(completionOf(failed, { key: "k", value: null }, true)).toMatchObject({
      type: "fail",
      error: ["malformed-request", "bad"],
    });
    const malformed = fakeClerk((_n, body) =>
      body.type === "query"
        ? { type: "query_ok", config: config(1, 1) }
        : { type: "get_ok", value: 3 },
    );
    const outcome = await malformed.clerk.groupOp(
      { type: "get", key: "k", client: "7", seq: 1 },
      malformed.deadline(),
    );
    const completion = completionOf(outcome, { key: "k", value: null }, true);
    expect(completion.type).toBe("info");
    expect(completion.malformed?.reason).toBe("get_ok value must be a string, got 3");
  });
});

describe("shard-kv keys and reconfiguration", () => {
  it("spreads keys over all 10 shards", () => {
    const shards = new Set(Array.from({ length: 10 }, (_, i) => key2shard(shardKvKey(i))));
    expect(shards.size).toBe(10);
  });

  const pickFirst: Rng = {
    float: () => 0,
    int: (from) => from,
    chance: () => false,
    pick: (items) => items[0] as never,
    shuffle: (items) => [...items],
    fork: () => pickFirst,
  };

  it("leaves or moves only with a group to spare, and undoes what it did", () => {
    expect(planChange([1], config(1, 1), pickFirst)).toBeUndefined();
    const move = planChange([1, 2], config(1, 1), pickFirst);
    expect(move).toEqual({ f: "move", shard: 0, gid: 2, from: 1 });
    expect(describeChange(move as never)).toBe("move shard 0 from gid 1 to gid 2");
    expect(undo(move as never)).toEqual({ f: "move", shard: 0, gid: 1, from: 2 });
    const leave = planChange([1, 2], undefined, pickFirst);
    expect(leave).toEqual({ f: "leave", gid: 1 });
    expect(describeChange(undo(leave as never))).toBe("join gid 1");
  });

  it("refuses a node count that is not 3 + 3G, naming the fix", () => {
    const settings = { node_count: 7 } as RunSettings;
    expect(() => shardKvPlugin.prepare?.(settings, undefined, () => undefined)).toThrow(
      "shard-kv needs 3 controller nodes plus groups of 3, got 7 nodes; use --node-count 6 (1 group)",
    );
  });
});

describe("shard-kv config observations", () => {
  it("takes each ok query's config under the num it answers for", () => {
    const at = (index: number, num: number, c: Config, node: string) => [
      { index, time: index, process: 8, type: "invoke" as const, f: "query", value: { num }, node },
      {
        index: index + 1,
        time: index + 1,
        process: 8,
        type: "ok" as const,
        f: "query",
        value: { num, config: c },
        node,
      },
    ];
    const ops = [
      ...at(0, -1, config(2, 1), "n0"),
      ...at(2, 1, config(1, 1), "n1"),
      ...at(4, 9, config(2, 2), "n2"),
    ];
    expect(configObservations(ops).map((o) => [o.num, o.config.num, o.node, o.op_index])).toEqual([
      [2, 2, "n0", 1],
      [1, 1, "n1", 3],
      [2, 2, "n2", 5],
    ]);
  });
});
