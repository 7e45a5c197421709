// raft-kv's schedule-dependent bugs, end to end through the CLI: real node processes,
// faultline's router, the nemesis scripts raft-kv ships (`--nemesis-script double-vote`,
// `figure8`, `minority-leader` and `cluster-restart`, systems/raft-kv/schedules.ts; the
// simulation tests drive the first two inside one process), run with the flags its manifest
// recommends, and faultline's checkers giving the verdict. The correct variant must survive the
// same script; the buggy ones are caught by it in test/e2e/bug-runs.test.ts (their manifest runs
// name the scripts).
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parseHistory } from "../../checkers/history.js";
import { loadManifest } from "../../harness/target.js";
import { readResults, runCli, tempStore } from "../helpers.js";

const scripts = loadManifest("raft-kv").scripts ?? {};

/** `faultline test` of raft-kv (`bug`, or the correct variant) under a shipped script. */
async function scripted(name: string, bug: string | undefined, store: string) {
  const [flags = "", nodeArgs = ""] = (scripts[name]?.flags ?? "").split(" -- ");
  const args = [
    "test",
    "--system",
    "raft-kv",
    ...(bug ? ["--bug", bug] : []),
    "--nemesis-script",
    name,
    ...flags.split(" "),
    "--recovery-time",
    "2",
    "--seed",
    "1",
    "--store",
    store,
    "-q",
    ...(nodeArgs ? ["--", ...nodeArgs.split(" ")] : []),
  ];
  const r = await runCli(args, 120_000);
  const results = readResults(store);
  const nemesis = parseHistory(readFileSync(join(store, "latest", "history.jsonl"), "utf8"))
    .filter((op) => op.process === "nemesis")
    .map((op) => op.f);
  return { exitCode: r.exitCode, stdout: r.stdout, crashes: results.checkers.crashes, nemesis };
}

describe("raft-kv's nemesis scripts, end to end", () => {
  it("the manifest names every script with the run it needs", () => {
    expect(Object.keys(scripts).sort()).toEqual([
      "cluster-restart",
      "double-vote",
      "figure8",
      "minority-leader",
    ]);
    // Both crash-and-restart schedules need election timeouts longer than a restart.
    for (const name of ["double-vote", "figure8"]) expect(scripts[name]?.flags).toMatch(/ -- /);
  });

  it.concurrent("the correct variant survives the same script", async ({ onTestFinished }) => {
    const run = await scripted("double-vote", undefined, tempStore(onTestFinished));
    expect(run.exitCode, run.stdout).toBe(0);
    expect(run.nemesis).toContain("script-done");
  }, 60_000);

  it.concurrent("the correct variant survives a leader cut off in a minority", async ({
    onTestFinished,
  }) => {
    const run = await scripted("minority-leader", undefined, tempStore(onTestFinished));
    expect(run.exitCode, run.stdout).toBe(0);
    expect(run.nemesis).toContain("script-done");
  }, 100_000);

  it.concurrent("the correct variant survives whole-cluster kills amid writes", async ({
    onTestFinished,
  }) => {
    const run = await scripted("cluster-restart", undefined, tempStore(onTestFinished));
    expect(run.exitCode, run.stdout).toBe(0);
    expect(run.nemesis).toContain("script-done");
    // Three rounds, each killing all three nodes.
    expect(run.nemesis.filter((f) => f === "start-kill")).toHaveLength(9);
  }, 100_000);

  it.concurrent("the correct variant survives the Figure 8 script", async ({ onTestFinished }) => {
    const run = await scripted("figure8", undefined, tempStore(onTestFinished));
    expect(run.exitCode, run.stdout).toBe(0);
    expect(run.nemesis).toContain("script-done");
  }, 100_000);
});
