// A run that ends with exit 3 after its run directory exists (store/latest already points at it)
// says why in that directory, on every transport: faultline.log ends with the reason, results.json
// is "could not run", and the store index shows the reason.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { listRuns } from "../../reports/store-index.js";
import { FIXTURES, readResults, runCli, tempStore } from "../helpers.js";

/** The silent node waits out the 10 s init timeout; on a CI machine twice as slow, well within. */
const SILENT_RUN_BUDGET_MS = 60_000;

function lastLogLine(store: string): string {
  const lines = readFileSync(join(store, "latest", "faultline.log"), "utf8")
    .trimEnd()
    .split("\n");
  // A reason may carry the node's stderr tail on later lines: find the line it starts on.
  return lines.findLast((line) => / could not run: /.test(line)) ?? lines.at(-1) ?? "";
}

async function expectExplained(store: string, stderr: string, reason: RegExp): Promise<void> {
  expect(stderr).toMatch(reason);
  expect(lastLogLine(store)).toMatch(reason);
  expect(lastLogLine(store)).toContain("could not run: ");
  const results = readResults(store);
  expect(results).toMatchObject({
    valid: "unknown",
    status: "could-not-run",
    errors: [{ kind: "setup", message: expect.stringMatching(reason) }],
  });
  expect(results.summary).toMatch(/^Could not run: /);
  const { runs } = await listRuns(store);
  expect(runs).toHaveLength(1);
  expect(runs[0]?.finished).toBe(true);
  expect(runs[0]?.facts.reason).toMatch(reason);
}

const bin = (fixture: string) => ["--bin", join(FIXTURES, fixture)];
const quick = ["--time-limit", "2", "--node-count", "1", "--recovery-time", "0", "-q"];

describe("a run that could not run explains itself in store/latest", () => {
  it.concurrent("maelstrom transport: a node that exits at start", async ({ onTestFinished }) => {
    const store = tempStore(onTestFinished);
    const r = await runCli([
      "test",
      "-w",
      "echo",
      ...bin("exit-at-start.mjs"),
      "--store",
      store,
      ...quick,
    ]);
    expect(r.exitCode).toBe(3);
    await expectExplained(store, r.stderr, /node n0 exited during init \(code 7/);
  });

  it.concurrent(
    "maelstrom transport: a node that never answers init",
    async ({ onTestFinished }) => {
      const store = tempStore(onTestFinished);
      const r = await runCli(
        ["test", "-w", "echo", ...bin("silent.mjs"), "--store", store, ...quick],
        SILENT_RUN_BUDGET_MS,
      );
      expect(r.exitCode).toBe(3);
      await expectExplained(store, r.stderr, /node n0 did not answer init within 10 s/);
    },
    SILENT_RUN_BUDGET_MS,
  );

  it.concurrent("udp transport: an LSP server that exits at start", async ({ onTestFinished }) => {
    const store = tempStore(onTestFinished);
    const r = await runCli([
      "test",
      "-w",
      "lsp",
      ...bin("exit-at-start.mjs"),
      "--store",
      store,
      ...quick,
    ]);
    expect(r.exitCode).toBe(3);
    await expectExplained(store, r.stderr, /the LSP server exited/);
  });

  it.concurrent("tcp transport: a mapreduce coordinator that exits at start", async ({
    onTestFinished,
  }) => {
    const store = tempStore(onTestFinished);
    const r = await runCli([
      "test",
      "-w",
      "mapreduce",
      ...bin("exit-at-start.mjs"),
      "--store",
      store,
      ...quick,
    ]);
    expect(r.exitCode).toBe(3);
    await expectExplained(store, r.stderr, /the coordinator .* did not start serving/);
  });

  it.concurrent("bad arguments leave no run directory and do not move latest", async ({
    onTestFinished,
  }) => {
    const store = tempStore(onTestFinished);
    const r = await runCli(["test", "-w", "echo", "--store", store, ...quick]);
    expect(r.exitCode).toBe(3);
    expect((await listRuns(store)).runs).toHaveLength(0);
  });
});
