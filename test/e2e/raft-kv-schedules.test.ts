// raft-kv's two schedule-dependent bugs, end to end: real node processes, faultline's router,
// a nemesis script that drives the exact interleaving (systems/raft-kv/schedules.ts; the
// simulation tests drive the same schedules inside one process), and faultline's checkers giving
// the verdict. The correct variant must survive the same script.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parseHistory } from "../../checkers/history.js";
import type { RunOutcome } from "../../harness/run.js";
import { runSchedule, SCHEDULES } from "../../systems/raft-kv/schedules.js";

/** What the assertions need from a run, read before its store is removed. */
function summary(outcome: RunOutcome) {
  const nemesis = parseHistory(readFileSync(join(outcome.dir, "history.jsonl"), "utf8"))
    .filter((op) => op.process === "nemesis")
    .map((op) => op.f);
  return {
    exitCode: outcome.exitCode,
    verdict: outcome.results.summary,
    crashes: outcome.results.checkers.crashes,
    nemesis,
  };
}

describe("raft-kv bugs that need an exact schedule, caught end to end by a nemesis script", () => {
  it.concurrent("no-persist-vote: a restarted voter votes twice in one term, and two leaders meet", async () => {
    const run = await runSchedule(SCHEDULES["no-persist-vote"], "no-persist-vote", summary);
    expect(run.exitCode, run.verdict).toBe(1);
    expect(run.crashes?.valid).toBe(false);
    expect(run.crashes?.summary).toMatch(/exit code 70/);
    expect(run.nemesis.filter((f) => f === "crashed")).toHaveLength(1);
    expect(run.nemesis.filter((f) => f === "start-kill")).toHaveLength(1);
    expect(run.nemesis).toContain("script-done");
  }, 60_000);

  it.concurrent("the correct variant survives the same script", async () => {
    const run = await runSchedule(SCHEDULES["no-persist-vote"], undefined, summary);
    expect(run.exitCode, run.verdict).toBe(0);
    expect(run.nemesis).toContain("script-done");
  }, 60_000);

  it.concurrent("commit-old-term: the Figure 8 schedule overwrites an entry a follower saw committed", async () => {
    const run = await runSchedule(SCHEDULES["commit-old-term"], "commit-old-term", summary);
    expect(run.exitCode, run.verdict).toBe(1);
    expect(run.crashes?.summary).toMatch(/exit code 70/);
  }, 100_000);

  it.concurrent("the correct variant survives the Figure 8 script", async () => {
    const run = await runSchedule(SCHEDULES["commit-old-term"], undefined, summary);
    expect(run.exitCode, run.verdict).toBe(0);
    expect(run.nemesis).toContain("script-done");
  }, 100_000);
});
