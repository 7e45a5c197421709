// The shard-gc checker over recorded measurements, and the GC phase's pure helpers. The checker
// on real runs: the correct system passes it on both back ends (test/e2e/shard-kv.test.ts) and
// the no-gc bug is caught by it (test/e2e/bug-runs.test.ts).
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import type { Op } from "../../checkers/history.js";
import {
  checkShardGc,
  GC_ALLOWANCE_BYTES,
  GC_MEASURE_F,
  type GcMeasurement,
  gcBound,
} from "../../checkers/shard-gc.js";
import { key2shard, NSHARDS } from "../../protocols/shard-kv.js";
import {
  dirBytes,
  GC_VALUE_BYTES,
  keyInShard,
  largeValue,
  liveBytesByGid,
} from "../../workloads/shard-kv/gc.js";

function measured(bytes: number[], live = 1000): Op[] {
  const value: GcMeasurement = {
    config: 7,
    moved_bytes: 20 * GC_VALUE_BYTES,
    waited_ms: 15_000,
    servers: bytes.map((b, i) => ({ node: `n${3 + i}`, gid: 1, bytes: b, live_bytes: live })),
  };
  return [
    { index: 0, time: 0, process: 9, type: "invoke", f: GC_MEASURE_F, value: null },
    { index: 1, time: 1, process: 9, type: "ok", f: GC_MEASURE_F, value },
  ];
}

describe("checkShardGc", () => {
  it("is valid within the bound, and says what it measured", () => {
    const r = checkShardGc(measured([30_000, gcBound(1000)]), { strict: true });
    expect(r.valid).toBe(true);
    expect(r.summary).toMatch(/^after 1\.25 MiB moved through every group/);
  });

  it("one server over the bound: a warning, or a failure under --strict", () => {
    const history = measured([30_000, gcBound(1000) + 1]);
    const warned = checkShardGc(history);
    expect(warned.valid).toBe(true);
    expect(warned.warnings).toEqual([
      expect.stringMatching(/^shard-gc: 1 of 2 group servers keep/),
    ]);
    const failed = checkShardGc(history, { strict: true });
    expect(failed.valid).toBe(false);
    expect(failed.summary).toContain("n4 (gid 1) holds");
    expect(failed.over).toHaveLength(1);
  });

  it("no measurement is no verdict, with the reason when the phase recorded one", () => {
    expect(checkShardGc([]).summary).toMatch(/^not measured: no GC phase ran/);
    const failed: Op[] = [
      { index: 0, time: 0, process: 9, type: "invoke", f: GC_MEASURE_F, value: null },
      {
        index: 1,
        time: 1,
        process: 9,
        type: "fail",
        f: GC_MEASURE_F,
        value: null,
        error: ["gc-not-measured", "one replica group: no shard can move away"],
      },
    ];
    const r = checkShardGc(failed, { strict: true });
    expect(r.valid).toBe(true);
    expect(r.warnings).toEqual([
      "shard-gc not measured: one replica group: no shard can move away",
    ]);
  });

  it("the bound leaves the old copies of the default phase far outside it", () => {
    // Two groups: each server keeps about half the moved data when nothing is deleted.
    expect((20 * GC_VALUE_BYTES) / 2).toBeGreaterThan(2 * GC_ALLOWANCE_BYTES);
  });
});

describe("the GC phase's helpers", () => {
  it("keyInShard gives a key in every shard, and large values have the set size", () => {
    for (let s = 0; s < NSHARDS; s++) expect(key2shard(keyInShard(s, "gc0"))).toBe(s);
    expect(largeValue(keyInShard(3, "gc1"))).toHaveLength(GC_VALUE_BYTES);
  });

  it("liveBytesByGid sums keys by the group owning their shard", () => {
    const shards = [1, 1, 1, 1, 1, 2, 2, 2, 2, 2];
    const config = { num: 3, shards, groups: {} };
    const bytes = new Map([
      [keyInShard(0, "a"), 10],
      [keyInShard(4, "b"), 5],
      [keyInShard(9, "c"), 7],
    ]);
    expect([...liveBytesByGid(config, bytes)]).toEqual([
      [1, 15],
      [2, 7],
    ]);
  });

  it("dirBytes counts every file below a directory, and a missing one as empty", async () => {
    const dir = mkdtempSync(join(tmpdir(), "faultline-gc-"));
    try {
      mkdirSync(join(dir, "sub"));
      writeFileSync(join(dir, "a"), "x".repeat(100));
      writeFileSync(join(dir, "sub", "b"), "y".repeat(23));
      expect(await dirBytes(dir)).toBe(123);
      expect(await dirBytes(join(dir, "missing"))).toBe(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
