// paxos-kv and pb-kv end to end through the real harness: each stays valid (and available)
// under the faults its manifest and README claim it survives; every run is bounded to ~15 s of
// workload. Each deliberately buggy variant is caught in test/e2e/bug-runs.test.ts by the run
// its manifest names.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { type Op, parseHistory } from "../../checkers/history.js";
import { ROOT, readResults, runLine, tempStore } from "../helpers.js";

/** Workload + check + teardown of one run, with room for a slow CI machine. */
const RUN_TIMEOUT_MS = 90_000;
const TEST_TIMEOUT_MS = RUN_TIMEOUT_MS + 10_000;

interface Manifest {
  workloads: string[];
  bugs: Record<string, { workloads: string[]; caught_by: string; nemesis?: string[] }>;
}

function manifest(system: string): Manifest {
  return JSON.parse(readFileSync(join(ROOT, "systems", system, "manifest.json"), "utf8"));
}

function history(store: string): Op[] {
  return parseHistory(readFileSync(join(store, "latest", "history.jsonl"), "utf8"));
}

function nemesis(store: string): Array<{ f: string; value: Record<string, unknown> }> {
  return history(store)
    .filter((op) => op.process === "nemesis")
    .map((op) => ({ f: op.f, value: op.value as Record<string, unknown> }));
}

function nodeLogs(store: string, nodes: number): string {
  return Array.from({ length: nodes }, (_, i) =>
    readFileSync(join(store, "latest", "node-logs", `n${i}.log`), "utf8"),
  ).join("\n");
}

const FAULTS = "--nemesis partition,kill,pause --nemesis-interval 2";
/**
 * What pb-kv claims to survive: any single failure, the view service's included. Faults of
 * different kinds overlap unless serial, and two overlapping ones can take both copies of the
 * state (the backup isolated, then the primary killed while it brings up a new backup): the
 * service then stops for good, by design (systems/pb-kv/README.md).
 */
const ONE_AT_A_TIME =
  "--nemesis partition,kill,pause --nemesis-serial --nemesis-interval 1 --kill-targets one --partition-shape isolate-one";

interface ValidCase {
  name: string;
  line: string;
  nodes: number;
  /** The run must not just refuse everything: at least this many ok ops. */
  minOk: number;
  /** Extra checks on the nemesis events (what the system claims to survive). */
  faults?: (events: ReturnType<typeof nemesis>) => void;
}

const oneFaultAtATime = (events: ReturnType<typeof nemesis>) => {
  const kills = events.filter((e) => e.f === "start-kill");
  expect(kills.length).toBeGreaterThan(0);
  // pb-kv claims to survive one failed node at a time (the view service included), so the run
  // must give it that (the harness honours --kill-targets and --nemesis-serial).
  for (const k of kills) expect((k.value.nodes as string[]).length).toBe(1);
  for (const p of events.filter((e) => e.f === "start-partition")) {
    expect(p.value.shape).toBe("isolate-one");
  }
  let on = 0;
  for (const e of events) {
    if (e.f.startsWith("start-")) on++;
    if (e.f.startsWith("stop-")) on--;
    expect(on, "two faults at once").toBeLessThanOrEqual(1);
  }
};

/** Some kill took down all `nodes` at once. */
const killsWholeCluster = (nodes: number) => (events: ReturnType<typeof nemesis>) => {
  const sizes = events
    .filter((e) => e.f === "start-kill")
    .map((e) => (e.value.nodes as string[]).length);
  expect(sizes).toContain(nodes);
};

const VALID: ValidCase[] = [
  {
    name: "paxos-kv, lin-kv, 3 nodes: kills of one node and of the whole cluster",
    // Seed 4 has a whole-cluster kill among partitions that cycle through their shapes (330 ok
    // quietly; seed 3 under that order left 86 in a loaded run).
    line: `test --system paxos-kv -w lin-kv --node-count 3 --time-limit 12 --rate 50 ${FAULTS} --seed 4`,
    nodes: 3,
    minOk: 120,
    // Whole-cluster kills are part of what paxos-kv survives (its state is on disk).
    faults: killsWholeCluster(3),
  },
  {
    // Whole-cluster outages leave dozens of appends indeterminate at once; the checker leaves
    // out those no get saw (checkers/linearizable.ts), without which this ran out of budget.
    name: "paxos-kv, kv, 5 nodes: kills of one node, a minority and the whole cluster",
    line: `test --system paxos-kv -w kv --node-count 5 --time-limit 12 --rate 50 ${FAULTS} --seed 4`,
    nodes: 5,
    // Two whole-cluster kills in 12 s (at 1.1 s and 9.5 s): 193 ok ops on a loaded CI machine.
    minOk: 120,
    faults: killsWholeCluster(5),
  },
  {
    name: "pb-kv, lin-kv, 5 nodes: one node killed, paused or isolated at a time (view service included)",
    line: `test --system pb-kv -w lin-kv --node-count 5 --time-limit 12 --rate 50 ${ONE_AT_A_TIME} --seed 18`,
    nodes: 5,
    minOk: 200,
    faults: oneFaultAtATime,
  },
  {
    name: "pb-kv, kv, 5 nodes: one node killed, paused or isolated at a time (view service included)",
    line: `test --system pb-kv -w kv --node-count 5 --time-limit 12 --rate 50 ${ONE_AT_A_TIME} --seed 11`,
    nodes: 5,
    minOk: 300,
    faults: oneFaultAtATime,
  },
];

describe("reference systems stay valid under the faults they claim to survive", () => {
  it.each(VALID)(
    "$name",
    async ({ line, nodes, minOk, faults }) => {
      const store = tempStore();
      const r = await runLine(line, store, RUN_TIMEOUT_MS);
      expect(r.exitCode, r.stdout).toBe(0);
      expect(r.stdout).toMatch(/^valid: /);
      const results = readResults(store);
      expect(results.valid).toBe(true);
      expect(results.checkers.linearizable.valid).toBe(true);
      expect(results.stats.ok_count).toBeGreaterThanOrEqual(minOk);
      const events = nemesis(store);
      for (const f of ["start-partition", "start-kill", "start-pause", "heal"]) {
        expect(events.map((e) => e.f)).toContain(f);
      }
      expect(
        results.faults.intervals.some((i: { ops_overlapping: number }) => i.ops_overlapping > 0),
      ).toBe(true);
      faults?.(events);
      // No replica ever saw two decisions for one slot or lost a slot (those exit the node,
      // which the crashes checker would also report).
      expect(nodeLogs(store, nodes)).not.toMatch(/INVARIANT BROKEN/);
    },
    TEST_TIMEOUT_MS,
  );
});

describe("the manifests' bugs", () => {
  for (const system of ["paxos-kv", "pb-kv"]) {
    it(`${system}: every bug is caught by the linearizability checker, on every workload`, () => {
      const m = manifest(system);
      for (const bug of Object.values(m.bugs)) {
        expect(bug.caught_by).toBe("linearizable");
        expect(bug.workloads.sort()).toEqual(m.workloads.sort());
      }
    });
  }
});
