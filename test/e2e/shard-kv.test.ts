// The correct shard-kv (systems/shard-kv) end to end through the CLI, on both consensus back ends:
// valid while the controller reconfigures and partitions, whole-cluster kills and pauses run,
// and under the retry-across-move script that catches no-dedup-transfer. The planted bugs are
// caught in test/e2e/bug-runs.test.ts (their manifest runs).
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parseHistory } from "../../checkers/history.js";
import { runCli, tempStore } from "../helpers.js";

const RUN_TIMEOUT_MS = 150_000;

async function shardKv(store: string, flags: string[], consensus: string) {
  const r = await runCli(
    ["test", "--system", "shard-kv", "-w", "shard-kv", "--node-count", "9", "--seed", "2"].concat(
      flags,
      ["--store", store, "-q", "--", "--consensus", consensus],
    ),
    RUN_TIMEOUT_MS,
  );
  const dir = join(store, "latest");
  const results = JSON.parse(readFileSync(join(dir, "results.json"), "utf8"));
  const history = parseHistory(readFileSync(join(dir, "history.jsonl"), "utf8"));
  return { exitCode: r.exitCode, stdout: r.stdout, results, history };
}

describe.each(["raft", "paxos"])("shard-kv on %s", (consensus) => {
  it(
    "is valid under reconfiguration, partitions, whole-cluster kills and pauses",
    async ({ onTestFinished }) => {
      const out = await shardKv(
        tempStore(onTestFinished),
        [
          "--time-limit",
          "15",
          "--rate",
          "30",
          "--concurrency",
          "2n",
          "--nemesis-interval",
          "3",
        ].concat(["--nemesis", "reconfigure,partition,kill,pause", "--kill-targets", "all"]),
        consensus,
      );
      expect(out.exitCode, out.stdout).toBe(0);
      for (const name of ["linearizable", "exactly-once", "shard-controller"]) {
        expect(out.results.checkers[name].valid, name).toBe(true);
      }
      const nemesis = out.history.filter((op) => op.process === "nemesis").map((op) => op.f);
      expect(nemesis).toContain("start-reconfigure");
      const kills = out.history.filter((op) => op.f === "start-kill");
      expect(kills.some((op) => JSON.stringify(op.value).includes("n8"))).toBe(true);
      // Ops still succeed after the whole cluster came back: state was recovered, not lost.
      const lastKill = Math.max(...kills.map((op) => op.time));
      const okAfter = out.history.filter((op) => op.type === "ok" && op.time > lastKill);
      expect(okAfter.length).toBeGreaterThan(0);
    },
    RUN_TIMEOUT_MS,
  );
});

describe("shard-kv's retry-across-move script", () => {
  it(
    "the correct variant survives it: the script done, every append once",
    async ({ onTestFinished }) => {
      const out = await shardKv(
        tempStore(onTestFinished),
        ["--nemesis-script", "retry-across-move", "--time-limit", "25", "--rate", "30"].concat([
          "--concurrency",
          "2n",
        ]),
        "raft",
      );
      expect(out.exitCode, out.stdout).toBe(0);
      expect(out.history.filter((op) => op.process === "nemesis").map((op) => op.f)).toContain(
        "script-done",
      );
      expect(out.results.checkers["exactly-once"].valid).toBe(true);
    },
    RUN_TIMEOUT_MS,
  );
});
