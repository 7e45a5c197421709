import { describe, expect, it } from "vitest";
import type { Op } from "../../checkers/history.js";
import { checkShardAvailability } from "../../checkers/shard-availability.js";
import { key2shard } from "../../protocols/shard-kv.js";

/** Ops at given seconds; `ops` entries are [time_s, process, type, f, value]. */
function history(entries: Array<[number, number | "nemesis", Op["type"], string, unknown]>): Op[] {
  return entries.map(([s, process, type, f, value], index) => ({
    index,
    time: s * 1e9,
    process,
    type,
    f,
    value,
  }));
}

const config = (num: number, shards: number[]) => ({
  num,
  shards,
  groups: { "1": ["n3", "n4", "n5"], "2": ["n6", "n7", "n8"] },
});
const C1 = config(1, [1, 1, 1, 1, 1, 2, 2, 2, 2, 2]);
// Config 2 moves shard 9 ("1-…" keys: '1' is 49, shard 9) from gid 2 to gid 1.
const C2 = config(2, [1, 1, 1, 1, 1, 2, 2, 2, 2, 1]);
const k9 = "1-0";
const k3 = "5-0";

describe("shard-availability", () => {
  it("keys land where the test thinks", () => {
    expect([key2shard(k9), key2shard(k3)]).toEqual([9, 3]);
  });

  it("warns when a shard no change touched stalls", () => {
    const ops = history([
      [0, 1, "invoke", "get", { key: k3, value: null }],
      [0.1, 1, "ok", "get", { key: k3, value: "" }],
      [1, 1, "invoke", "append", { key: k3, value: "x 1 1 y" }],
      [6, 1, "info", "append", { key: k3, value: "x 1 1 y" }],
      [7, 2, "invoke", "get", { key: k3, value: null }],
      [8, 2, "ok", "get", { key: k3, value: "" }],
    ]);
    const r = checkShardAvailability(ops);
    expect(r.valid).toBe(true);
    expect(r.warnings).toEqual([
      `shard 3 made no progress for 7.0 s (1.0 s to 8.0 s) although no config change moved it and no other fault was in force: did a reconfiguration elsewhere block it?`,
    ]);
  });

  it("excuses a stall of the shard a new config moved, and one during another fault", () => {
    const ops = history([
      [0, 9, "invoke", "query", { num: -1 }],
      [0.1, 9, "ok", "query", { num: -1, config: C1 }],
      [1, 8, "invoke", "move", { shard: 9, gid: 1 }],
      [1.2, 1, "invoke", "get", { key: k9, value: null }],
      [1.5, 8, "ok", "move", { shard: 9, gid: 1 }],
      [2, 9, "invoke", "query", { num: -1 }],
      [2.1, 9, "ok", "query", { num: -1, config: C2 }],
      [6.2, 1, "fail", "get", { key: k9, value: null }],
      [6.5, 1, "invoke", "get", { key: k9, value: null }],
      [6.6, 1, "ok", "get", { key: k9, value: "" }],
      [10, "nemesis", "info", "start-partition", {}],
      [10.5, 2, "invoke", "get", { key: k3, value: null }],
      [17, 2, "fail", "get", { key: k3, value: null }],
      [18, "nemesis", "info", "stop-partition", {}],
      [18.5, 2, "invoke", "get", { key: k3, value: null }],
      [18.6, 2, "ok", "get", { key: k3, value: "" }],
    ]);
    const r = checkShardAvailability(ops);
    expect(r.warnings).toBeUndefined();
    expect(r.summary).toBe("no shard stalled outside a change that moved it or a fault");
  });
});
