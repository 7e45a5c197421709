// A program that exits by itself is a violation on every transport (issue 24, item 1): the run is
// INVALID, the crash is named in results.json's errors and nodes, and the process-contract
// checker says who died. Before, an LSP server that panicked mid-run was marked "ended by us"
// by the final close (or by a nemesis kill aimed at the corpse) and the run came out valid.
// The maelstrom transport's case is in bad-input.test.ts ("a node crashing mid-run").
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { FIXTURES, readResults, runCli, tempStore } from "../helpers.js";

const LSP_RUN = [
  "-w",
  "lsp",
  "--time-limit",
  "4",
  "--concurrency",
  "2",
  "--rate",
  "20",
  "--recovery-time",
  "1",
  "--epoch-millis",
  "100",
  "--seed",
  "2",
  "-q",
];

describe("an LSP server that panics mid-run (udp transport)", () => {
  it.for([
    ["without faults", []],
    ["with kills, pauses and partitions", ["--nemesis", "kill,pause,partition"]],
  ] as const)("is a crash %s", { timeout: 90_000 }, async ([, faults]) => {
    const store = tempStore();
    const r = await runCli([
      "test",
      "--bin",
      join(FIXTURES, "lsp-server-dies.mjs"),
      ...LSP_RUN,
      ...faults,
      "--store",
      store,
    ]);
    expect(r.exitCode, r.stderr).toBe(1);
    const results = readResults(store);
    expect(results.checkers.programs.valid).toBe(false);
    expect(results.checkers.programs.summary).toMatch(/server \S+ exited on its own \(code 2/);
    expect(results.errors).toContainEqual({
      kind: "node-crashed",
      message: expect.stringMatching(/^server \S+ exited on its own \(code 2, signal null\)/),
    });
    const crashed = Object.values(results.nodes as Record<string, { crashes: unknown[] }>);
    expect(crashed.some((node) => node.crashes.length > 0)).toBe(true);
  });
});

describe("a MapReduce coordinator that panics mid-job (tcp transport)", () => {
  it("is a failed job naming the exit code", { timeout: 90_000 }, async () => {
    const store = tempStore();
    const r = await runCli([
      "test",
      "--bin",
      join(FIXTURES, "mr-coordinator-dies.mjs"),
      "-w",
      "mapreduce",
      "--mr-time-scale",
      "0.2",
      "--node-count",
      "2",
      "--time-limit",
      "20",
      "--seed",
      "2",
      "-q",
      "--store",
      store,
    ]);
    expect(r.exitCode, r.stderr).toBe(1);
    const results = readResults(store);
    expect(results.checkers.completion.valid).toBe(false);
    expect(results.checkers.completion.summary).toMatch(/^the coordinator exited with code 2 /);
  });
});
