// A sweep summarised from real runs: `faultline test` once per seed into runs/<seed>/ of a sweep
// folder, as the orchestrator runs it, then merge's findRunRecords, the summary and its files.
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { describe, expect, it } from "vitest";
import { writeStoreIndex } from "../../reports/store-index.js";
import {
  findRunRecords,
  summarizeSweep,
  sweepExitCode,
  writeSweepFiles,
} from "../../reports/sweep.js";
import { runCli, tempStore } from "../helpers.js";

const TEST = "broadcast-gossip-lose-messages";

describe("a sweep of real runs", () => {
  it("groups two seeds of one planted bug as one failure, beside a seed that could not run", async () => {
    const store = tempStore();
    const dir = join(store, "sweeps", TEST, "2026-01-01T000000");
    const runSeed = (seed: number, ...extra: string[]) =>
      runCli([
        ..."test --system gossip -w broadcast --bug lose-messages --time-limit 3 --seed".split(" "),
        String(seed),
        "--store",
        join(dir, "runs", String(seed)),
        "-q",
        ...extra,
      ]);
    for (const seed of [1, 2]) expect((await runSeed(seed)).exitCode).toBe(1);
    const refused = await runSeed(3, "--workload", "no-such-workload");
    expect(refused.exitCode).toBe(3);
    expect(existsSync(join(dir, "runs", "3", TEST))).toBe(false);

    const found = findRunRecords([dir]);
    expect(found.map((r) => r.seed)).toEqual([1, 2]);
    const note = refused.stderr.trim().split("\n").at(-1);
    const summary = summarizeSweep([...found, { seed: 3, exit_code: 3, note }], {
      command: "faultline sweep --seeds 1..3",
      started_at: "2026-01-01T00:00:00.000Z",
      finished_at: "2026-01-01T00:00:20.000Z",
      planned_runs: 3,
      dir,
    });
    expect(summary.totals).toMatchObject({ runs: 3, completed: 2, invalid: 2, could_not_run: 1 });
    expect(summary.runs[2]).toMatchObject({ status: "could-not-run", note, exit_code: 3 });
    expect(note).toMatch(/no-such-workload/);
    // Different lost values and nodes per seed, one failure.
    expect(summary.runs[0]?.summary).not.toBe(summary.runs[1]?.summary);
    expect(summary.failures).toHaveLength(1);
    expect(summary.failures[0]).toMatchObject({ count: 2, seeds: [1, 2] });
    expect(summary.failures[0]?.signature).toBe("set-full [broadcast read]");
    expect(summary.failures[0]?.command).toMatch(/--seed 1$/);
    // Detected within the 3 s of load, once the history shows the first lost broadcast.
    for (const run of summary.runs.slice(0, 2)) {
      expect(run.detection_s).toBeGreaterThan(0);
      expect(run.detection_s).toBeLessThan(3);
    }
    expect(sweepExitCode(summary)).toBe(1);

    writeSweepFiles(dir, summary);
    expect(readdirSync(dir).sort()).toEqual([
      "junit.xml",
      "runs",
      "sweep.html",
      "sweep.json",
      "sweep.md",
    ]);
    const page = readFileSync(join(dir, "sweep.html"), "utf8");
    const reports = [...page.matchAll(/href="([^"]*report\.html)"/g)].map((m) => m[1] as string);
    expect(reports.length).toBeGreaterThanOrEqual(2);
    for (const href of reports) expect(existsSync(resolve(dir, decodeURI(href)))).toBe(true);
    const index = readFileSync(await writeStoreIndex(store), "utf8");
    expect(index).toContain(`sweeps/${TEST}/2026-01-01T000000/sweep.html`);
  });
});
