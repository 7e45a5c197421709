// The shard-kv workload end to end on a stand-in system (test/fixtures/nodes/shard-kv-single.mjs:
// the whole state in n0, other nodes forward), so the driver, the reconfigure fault and the
// checkers are tested apart from the reference system: every group joined, reconfigurations as
// nemesis events with their controller ops in the history, and `faultline check` agreeing.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parseHistory } from "../../checkers/history.js";
import { FIXTURES, readResults, runCli, tempStore } from "../helpers.js";

describe("shard-kv workload", () => {
  it("passes a linearizable stand-in under reconfigure and partition faults", async () => {
    const store = tempStore();
    const bin = join(FIXTURES, "shard-kv-single.mjs");
    const r = await runCli(
      [
        "test",
        "-w",
        "shard-kv",
        "--bin",
        bin,
        "--node-count",
        "9",
        "--time-limit",
        "8",
        "--nemesis",
        "reconfigure,partition",
        "--nemesis-interval",
        "1",
        "--recovery-time",
        "1",
        "--seed",
        "3",
        "--store",
        store,
        "-q",
      ],
      120_000,
    );
    expect(r.exitCode, r.stderr).toBe(0);
    const results = readResults(store);
    for (const name of [
      "linearizable",
      "exactly-once",
      "shard-controller",
      "shard-availability",
      "protocol",
    ]) {
      expect(results.checkers[name].valid, name).toBe(true);
    }
    const ops = parseHistory(readFileSync(join(store, "latest", "history.jsonl"), "utf8"));
    expect(ops[0]).toMatchObject({ type: "invoke", f: "join" });
    expect(ops[1]).toMatchObject({ type: "ok", f: "join" });
    const starts = ops.filter((op) => op.f === "start-reconfigure");
    expect(starts.length).toBeGreaterThan(0);
    for (const start of starts) {
      expect((start.value as { change: string }).change).toMatch(
        /^(leave gid \d|move shard \d from gid \d to gid \d): (ok|fail|info)/,
      );
    }
    // The nemesis's changes; the GC phase's own leaves and joins are final-phase ops.
    const changes = ops.filter(
      (op) => ["leave", "move"].includes(op.f) && op.type === "invoke" && !op.final,
    );
    expect(changes.length).toBe(starts.length);
    // Every controller replica was asked for every config at the end.
    const finals = ops.filter((op) => op.f === "query" && op.final && op.type === "ok");
    expect(new Set(finals.map((op) => op.node))).toEqual(new Set(["n0", "n1", "n2"]));
    const again = await runCli(["check", join(store, "latest")]);
    expect(again.exitCode, again.stderr).toBe(0);
  }, 120_000);
});
