// The correct shard-kv (systems/shard-kv) end to end through the CLI: valid on both consensus
// back ends while the controller reconfigures and partitions, whole-cluster kills and pauses run
// (old shards deleted afterwards, under --strict), and valid under every nemesis script it ships (each of which catches a planted bug: those
// catches are in test/e2e/bug-runs.test.ts, through the bugs' manifest runs).
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parseHistory } from "../../checkers/history.js";
import { loadManifest } from "../../harness/target.js";
import { runCli, tempStore } from "../helpers.js";

const RUN_TIMEOUT_MS = 150_000;

async function shardKv(store: string, flags: string[], consensus: string) {
  const r = await runCli(
    ["test", "--system", "shard-kv", "-w", "shard-kv", "--seed", "2"].concat(flags, [
      "--store",
      store,
      "-q",
      "--",
      "--consensus",
      consensus,
    ]),
    RUN_TIMEOUT_MS,
  );
  const dir = join(store, "latest");
  const results = JSON.parse(readFileSync(join(dir, "results.json"), "utf8"));
  const history = parseHistory(readFileSync(join(dir, "history.jsonl"), "utf8"));
  const test = JSON.parse(readFileSync(join(dir, "test.json"), "utf8"));
  return { exitCode: r.exitCode, stdout: r.stdout, results, history, test };
}

describe.each(["raft", "paxos"])("shard-kv on %s", (consensus) => {
  it(
    "is valid under reconfiguration, partitions, whole-cluster kills and pauses",
    async ({ onTestFinished }) => {
      const out = await shardKv(
        tempStore(onTestFinished),
        // No --node-count: the workload's default, 9 (the controller and two groups), not 5.
        ["--time-limit", "15", "--rate", "30", "--concurrency", "2n"].concat([
          "--nemesis-interval",
          "3",
          "--nemesis",
          "reconfigure,partition,kill,pause",
          "--kill-targets",
          "all",
          // Old shards deleted is a failure, not a warning: our system claims MIT's Challenge 1.
          // On Paxos the GC phase's 128 KiB install entries can stall a group for a minute on a
          // loaded machine (proposals retried at 100 ms duel; systems/shard-kv/README.md "Known limits"), so it is left out.
          ...(consensus === "raft" ? ["--strict"] : ["--skip-gc"]),
        ]),
        consensus,
      );
      expect(out.exitCode, out.stdout).toBe(0);
      expect(out.test.node_count).toBe(9);
      for (const name of ["linearizable", "exactly-once", "shard-controller", "shard-gc"]) {
        expect(out.results.checkers[name].valid, name).toBe(true);
      }
      if (consensus === "raft") {
        // Measured, not skipped: 1.25 MiB went through both groups and was deleted behind them.
        expect(out.results.checkers["shard-gc"].summary).toMatch(/^after 1\.25 MiB moved/);
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

const scripts = loadManifest("shard-kv").scripts ?? {};

describe.each(Object.keys(scripts))("shard-kv's %s script", (script) => {
  it(
    "the correct variant survives it: the script done, every checker valid",
    async ({ onTestFinished }) => {
      const flags = (scripts[script]?.flags ?? "").split(" ");
      const out = await shardKv(
        tempStore(onTestFinished),
        // The GC phase is the back-end runs' (above): here it would only lengthen the suite.
        ["--nemesis-script", script, ...flags, "--skip-gc"],
        "raft",
      );
      expect(out.exitCode, out.stdout).toBe(0);
      expect(out.history.filter((op) => op.process === "nemesis").map((op) => op.f)).toContain(
        "script-done",
      );
    },
    RUN_TIMEOUT_MS,
  );
});
