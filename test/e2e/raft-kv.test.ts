// raft-kv end to end: the real `faultline` binary runs the Raft KV store's node processes under
// the nemesis. The correct system must stay linearizable (and keep its acknowledged writes)
// under partitions, kills, pauses and clock faults on 3 and 5 nodes and under whole-cluster
// kill-and-restart; each bug variant must be caught by the fault mix that exposes it.
//
// no-persist-vote and commit-old-term are not here: they need schedules that random faults hit
// only rarely (a voter restarting between two same-term requests; a leader dying within
// milliseconds of its first heartbeat round, Figure 8), so no CI-length run catches them
// reliably (measured rates in systems/raft-kv/README.md). test/e2e/raft-kv-schedules.test.ts
// drives those exact schedules against real processes with nemesis scripts, and
// test/systems/raft-kv-cluster.test.ts in simulation.
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { type Op, parseHistory } from "../../checkers/history.js";
import { readResults, runLine, slots, untilCaught } from "../helpers.js";

/** Every run here is bounded: at most 20 s of workload, then recovery and the check. */
const RUN_TIMEOUT_MS = 120_000;
/** A test may also wait for a free slot (see MAX_PARALLEL_RUNS) before its run starts. */
const TEST_TIMEOUT_MS = 300_000;
/** A bug test may need three runs (see caughtByOneOf). */
const BUG_TEST_TIMEOUT_MS = 3 * RUN_TIMEOUT_MS + 10_000;
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
        "test --system raft-kv -w lin-kv --node-count 3 --time-limit 20 --rate 50 --concurrency 2n --nemesis partition,kill,pause,clock --nemesis-interval 2 --recovery-time 3 --seed 7",
      );
      expect(r.exitCode, r.stdout).toBe(0);
      for (const f of ["start-partition", "start-kill", "start-pause", "start-clock"]) {
        expect(nemesis(r.ops, f).length, f).toBeGreaterThan(0);
      }
      // Faults or not, the cluster kept serving: most operations succeeded.
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

describe("raft-kv, each bug caught", () => {
  /**
   * Every bug here needs a lucky schedule (which node leads when the cut comes, what is in
   * flight at a kill, which forward the network duplicates); seed 1 catches each on a quiet
   * machine, but a loaded CI machine shifts every timing. So a run that misses gets another
   * try with the next seed, up to seed 3, and one must be caught. A miss may pass or end
   * unknown (exit 2: the check ran out of its budget, as an early-ack history did once in CI),
   * nothing else.
   */
  const caughtByOneOf = async (line: (seed: number) => string) => {
    const runs = await untilCaught([1, 2, 3], (seed) => run(line(seed)));
    const invalid = runs.filter((r) => r.exitCode === 1);
    expect(invalid.length, runs.map((r) => r.stdout).join("\n")).toBe(1);
    for (const r of invalid) expect(r.results.checkers.linearizable.valid).toBe(false);
    return { runs, invalid };
  };

  it.concurrent(
    "stale-read: a leader cut off in the minority answers reads from its own state",
    async () => {
      // It needs a partition to cut the leader off long enough for the majority to elect
      // another and write (a matter of which node leads when the cut comes): more than one seed, so one
      // unlucky schedule does not hide it.
      const line = (seed: number) =>
        `test --system raft-kv --bug stale-read -w lin-kv --node-count 5 --time-limit 20 --rate 100 --concurrency 2n --nemesis partition --partition-shape halves --nemesis-interval 1 --recovery-time 2 --seed ${seed}`;
      const { invalid } = await caughtByOneOf(line);
      for (const r of invalid) {
        expect(r.results.checkers.linearizable.summary).toMatch(/op \d+ \(read /);
      }
    },
    BUG_TEST_TIMEOUT_MS,
  );

  it.concurrent(
    "early-ack: appends acknowledged before they commit are lost when the leader is cut off",
    async () => {
      // Like stale-read, it needs the leader on the minority side of a cut: more than one seed.
      const line = (seed: number) =>
        `test --system raft-kv --bug early-ack -w kv --node-count 5 --time-limit 20 --rate 60 --concurrency 2n --nemesis partition --partition-shape halves --nemesis-interval 1 --recovery-time 2 --seed ${seed}`;
      await caughtByOneOf(line);
    },
    BUG_TEST_TIMEOUT_MS,
  );

  it.concurrent(
    "no-dedup: a forward duplicated or retried in the network appends twice",
    async () => {
      const line = (seed: number) =>
        `test --system raft-kv --bug no-dedup -w kv --node-count 3 --time-limit 10 --rate 50 --concurrency 2n --nemesis packet --nemesis-interval 1 --recovery-time 2 --seed ${seed}`;
      const { invalid } = await caughtByOneOf(line);
      for (const r of invalid) expect(r.sent("forward")).toBe(true);
    },
    BUG_TEST_TIMEOUT_MS,
  );

  it.concurrent(
    "no-fsync: a whole-cluster kill loses acknowledged writes",
    async () => {
      // A kill is seen only when, after the restart, a read is answered before any write
      // overwrites the lost value; requests queued during the outage often include a write
      // that lands first. One 15 s run missed that once in CI under load: more than one seed.
      const line = (seed: number) =>
        `test --system raft-kv --bug no-fsync -w lin-kv --node-count 3 --time-limit 15 --rate 50 --concurrency 2n --nemesis kill --kill-targets all --nemesis-interval 1.2 --recovery-time 2 --seed ${seed}`;
      const { runs } = await caughtByOneOf(line);
      for (const r of runs) expect(wholeClusterKills(r.ops, 3)).toBeGreaterThan(0);
    },
    BUG_TEST_TIMEOUT_MS,
  );
});
