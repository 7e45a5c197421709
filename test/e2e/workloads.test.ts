// End to end: every workload against the gossip reference system is valid, and every one of
// its deliberately buggy variants is caught by the checker named in its manifest (exit 1).
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parseHistory } from "../../checkers/history.js";
import { ROOT, readResults, runCli, tempStore } from "../helpers.js";

const manifest = JSON.parse(
  readFileSync(join(ROOT, "systems", "gossip", "manifest.json"), "utf8"),
) as {
  workloads: string[];
  bugs: Record<string, { workloads: string[]; caught_by: string; nemesis?: string[] }>;
};
const run = [
  "test",
  "--system",
  "gossip",
  "--node-count",
  "5",
  "--time-limit",
  "3",
  "--rate",
  "50",
  "--recovery-time",
  "1",
  "-q",
];

describe("gossip reference system", () => {
  it.concurrent.for(manifest.workloads)("%s is valid", async (workload, { onTestFinished }) => {
    const store = tempStore(onTestFinished);
    const r = await runCli([...run, "-w", workload, "--store", store, "--seed", "11"]);
    expect(r.stderr).toBe("");
    expect(r.exitCode, r.stdout).toBe(0);
    expect(r.stdout).toMatch(/^valid: /);
    const results = readResults(store);
    expect(results.valid).toBe(true);
    expect(results.seed).toBe(11);
    const history = parseHistory(readFileSync(join(store, "latest", "history.jsonl"), "utf8"));
    expect(history.filter((op) => op.type === "ok").length).toBeGreaterThan(50);
    expect(results.stats.ok_count ?? results.stats.by_f).toBeDefined();
  });

  const bugs = Object.entries(manifest.bugs)
    .filter(([, bug]) => !bug.nemesis)
    .flatMap(([name, bug]) =>
      bug.workloads.map((workload) => [name, workload, bug.caught_by] as const),
    );

  it.concurrent.for(bugs)(
    "--bug %s is caught on %s by %s",
    async ([bug, workload, checker], { onTestFinished }) => {
      const store = tempStore(onTestFinished);
      const r = await runCli([...run, "-w", workload, "--bug", bug, "--store", store]);
      expect(r.exitCode, r.stdout).toBe(1);
      expect(r.stdout).toMatch(new RegExp(`^INVALID: ${checker}: `));
      expect(readResults(store).checkers[checker].valid).toBe(false);
    },
  );
});

describe("the run directory", () => {
  it("holds every artifact, and test.json repeats the run", async () => {
    const store = tempStore();
    const r = await runCli([
      ...run,
      "-w",
      "broadcast",
      "--store",
      store,
      "--seed",
      "5",
      "--latency",
      "5",
      "--latency-dist",
      "exponential",
    ]);
    expect(r.exitCode).toBe(0);
    const dir = join(store, "latest");
    const test = JSON.parse(readFileSync(join(dir, "test.json"), "utf8"));
    expect(test.seed).toBe(5);
    expect(test.command).toMatch(/faultline test .*--seed 5/);
    expect(test.latency).toEqual({ mean_ms: 5, dist: "exponential" });
    const journal = readFileSync(join(dir, "messages.jsonl"), "utf8")
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l));
    const sends = journal.filter((e) => e.event === "send");
    expect(sends.some((e) => e.body.type === "topology")).toBe(true);
    expect(sends.some((e) => e.src.startsWith("n") && e.dest.startsWith("n"))).toBe(true);
    expect(journal.filter((e) => e.event === "recv").length).toBeGreaterThan(0);
    for (const node of ["n0", "n1", "n2", "n3", "n4"]) {
      expect(readFileSync(join(dir, "node-logs", `${node}.log`), "utf8")).toMatch(
        /started n\d pid/,
      );
    }
    const results = readResults(store);
    expect(results.net.servers.send_count).toBeGreaterThan(0);
    expect(results.net.msgs_per_op).toBeGreaterThan(0);
  });
});
