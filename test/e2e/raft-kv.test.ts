// raft-kv end to end: the real `faultline` binary runs the Raft KV store's node processes under
// the nemesis. The correct system must stay linearizable (and keep its acknowledged writes)
// under partitions, kills, pauses and clock faults on 3 and 5 nodes and under whole-cluster
// kill-and-restart. Its bug variants are caught in test/e2e/bug-runs.test.ts, each by its
// manifest's run (no-persist-vote and commit-old-term by the nemesis scripts raft-kv ships).
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { type Op, parseHistory } from "../../checkers/history.js";
import { readResults, runLine, slots } from "../helpers.js";

/** Every run here is bounded: at most 20 s of workload, then recovery and the check. */
const RUN_TIMEOUT_MS = 120_000;
/** A test may also wait for a free slot (see MAX_PARALLEL_RUNS) before its run starts. */
const TEST_TIMEOUT_MS = 300_000;
/** Runs in flight at once: CI has two cores, and each run is a cluster plus the harness. */
const MAX_PARALLEL_RUNS = 2;

const inSlot = slots(MAX_PARALLEL_RUNS);

interface Run {
  exitCode: number | undefined;
  stdout: string;
  // biome-ignore lint/suspicious/noExplicitAny: tests poke at results.json freely
  results: Record<string, any>;
  ops: Op[];
  /** Whether node-to-node traffic included a message of this type. */
  sent: (type: string) => boolean;
}

/**
 * Runs `faultline <line>` in its own store, never more than MAX_PARALLEL_RUNS at a time (the
 * tests here are concurrent), and returns what the checks need; the store is removed after
 * (not in afterEach, which would run while concurrent tests still use theirs).
 */
async function run(line: string): Promise<Run> {
  return inSlot(async () => {
    const store = mkdtempSync(join(tmpdir(), "faultline-raft-kv-"));
    try {
      const r = await runLine(line, store, RUN_TIMEOUT_MS);
      const journal = readFileSync(join(store, "latest", "messages.jsonl"), "utf8");
      return {
        exitCode: r.exitCode,
        stdout: r.stdout,
        results: readResults(store),
        ops: parseHistory(readFileSync(join(store, "latest", "history.jsonl"), "utf8")),
        sent: (type) => journal.includes(`"type":"${type}"`),
      };
    } finally {
      rmSync(store, { recursive: true, force: true });
    }
  });
}

const nemesis = (ops: Op[], f: string) =>
  ops.filter((op) => op.process === "nemesis" && op.f === f);

/** Kill events that took down every node at once. */
function wholeClusterKills(ops: Op[], nodeCount: number): number {
  return nemesis(ops, "start-kill").filter(
    (op) => (op.value as { nodes: string[] }).nodes.length === nodeCount,
  ).length;
}

describe("raft-kv, correct", () => {
  it.concurrent(
    "lin-kv on 3 nodes stays linearizable under partition, kill, pause and clock faults",
    async () => {
      const r = await run(
        "test --system raft-kv -w lin-kv --node-count 3 --time-limit 20 --rate 50 --concurrency 2n --nemesis partition,kill,pause,clock --nemesis-interval 2 --recovery-time 3 --seed 2",
      );
      expect(r.exitCode, r.stdout).toBe(0);
      for (const f of ["start-partition", "start-kill", "start-pause", "start-clock"]) {
        expect(nemesis(r.ops, f).length, f).toBeGreaterThan(0);
      }
      // Faults or not, the cluster kept serving: most operations succeeded. How many depends on
      // how the seed's faults overlap (partitions cycling through their shapes, seeds 1, 3 and 7
      // made 287–419 ok); seed 2 made 552.
      expect(r.results.stats.ok_count).toBeGreaterThan(300);
      expect(r.results.checkers.crashes.valid).toBe(true);
    },
    TEST_TIMEOUT_MS,
  );

  it.concurrent(
    "lin-kv on 5 nodes stays linearizable under partition, kill, pause and clock faults",
    async () => {
      const r = await run(
        "test --system raft-kv -w lin-kv --node-count 5 --time-limit 20 --rate 50 --concurrency 2n --nemesis partition,kill,pause,clock --nemesis-interval 2 --recovery-time 3 --seed 8",
      );
      expect(r.exitCode, r.stdout).toBe(0);
      expect(r.results.stats.ok_count).toBeGreaterThan(100);
    },
    TEST_TIMEOUT_MS,
  );

  it.concurrent(
    "kv (appends, exactly once) on 3 nodes stays linearizable under partitions, packet and clock faults",
    async () => {
      const r = await run(
        "test --system raft-kv -w kv --node-count 3 --time-limit 20 --rate 50 --concurrency 2n --nemesis partition,packet,clock --nemesis-interval 2 --recovery-time 3 --seed 11",
      );
      expect(r.exitCode, r.stdout).toBe(0);
      expect(r.sent("forward")).toBe(true); // followers did forward requests to the leader
      expect(r.results.stats.ok_count).toBeGreaterThan(500);
    },
    TEST_TIMEOUT_MS,
  );

  it.concurrent(
    "keeps every acknowledged write through whole-cluster kill and restart",
    async () => {
      const r = await run(
        "test --system raft-kv -w lin-kv --node-count 3 --time-limit 15 --rate 50 --concurrency 2n --nemesis kill --kill-targets all --nemesis-interval 1.2 --recovery-time 2 --seed 1",
      );
      expect(r.exitCode, r.stdout).toBe(0);
      expect(wholeClusterKills(r.ops, 3)).toBeGreaterThan(2);
      expect(r.results.stats.ok_count).toBeGreaterThan(100);
    },
    TEST_TIMEOUT_MS,
  );
});
