// raft-kv's two schedule-dependent bugs, end to end through the CLI: real node processes,
// faultline's router, the nemesis scripts raft-kv ships (`--nemesis-script double-vote` and
// `figure8`, systems/raft-kv/schedules.ts; the simulation tests drive the same schedules inside
// one process), run with the flags its manifest recommends, and faultline's checkers giving the
// verdict. The correct variant must survive the same script.
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
    "--",
    ...nodeArgs.split(" "),
  ];
  const r = await runCli(args, 120_000);
  const results = readResults(store);
  const nemesis = parseHistory(readFileSync(join(store, "latest", "history.jsonl"), "utf8"))
    .filter((op) => op.process === "nemesis")
    .map((op) => op.f);
  return { exitCode: r.exitCode, stdout: r.stdout, crashes: results.checkers.crashes, nemesis };
}

describe("raft-kv bugs that need an exact schedule, caught end to end by a nemesis script", () => {
  it("the manifest names both scripts with the runs they need", () => {
    expect(Object.keys(scripts).sort()).toEqual(["double-vote", "figure8"]);
    for (const script of Object.values(scripts)) expect(script.flags).toMatch(/ -- /);
  });

  it.concurrent("no-persist-vote: a restarted voter votes twice in one term, and two leaders meet", async ({
    onTestFinished,
  }) => {
    const run = await scripted("double-vote", "no-persist-vote", tempStore(onTestFinished));
    expect(run.exitCode, run.stdout).toBe(1);
    expect(run.crashes?.valid).toBe(false);
    expect(run.crashes?.summary).toMatch(/exit code 70/);
    expect(run.nemesis.filter((f) => f === "crashed")).toHaveLength(1);
    expect(run.nemesis.filter((f) => f === "start-kill")).toHaveLength(1);
    expect(run.nemesis).toContain("script-done");
  }, 60_000);

  it.concurrent("the correct variant survives the same script", async ({ onTestFinished }) => {
    const run = await scripted("double-vote", undefined, tempStore(onTestFinished));
    expect(run.exitCode, run.stdout).toBe(0);
    expect(run.nemesis).toContain("script-done");
  }, 60_000);

  it.concurrent("commit-old-term: the Figure 8 schedule overwrites an entry a follower saw committed", async ({
    onTestFinished,
  }) => {
    const run = await scripted("figure8", "commit-old-term", tempStore(onTestFinished));
    expect(run.exitCode, run.stdout).toBe(1);
    expect(run.crashes?.summary).toMatch(/exit code 70/);
  }, 100_000);

  it.concurrent("the correct variant survives the Figure 8 script", async ({ onTestFinished }) => {
    const run = await scripted("figure8", undefined, tempStore(onTestFinished));
    expect(run.exitCode, run.stdout).toBe(0);
    expect(run.nemesis).toContain("script-done");
  }, 100_000);
});
