// A stray stdout line from a student's bitcoin client (issue 24, item 4): the answer beside it is
// still checked, and the stray line is a warning naming it. Before, every job of such a client
// was "bad output" and none of its answers was checked.
import { join } from "node:path";
import { expect, it } from "vitest";
import { FIXTURES, readResults, runCli, tempStore } from "../helpers.js";

it("a client that prints <nil> before its answer: answers checked, the line a warning", {
  timeout: 90_000,
}, async () => {
  const store = tempStore();
  const r = await runCli([
    "test",
    "--system",
    "bitcoin",
    "-w",
    "mining",
    "--client-bin",
    join(FIXTURES, "bitcoin-client-chatty.mjs"),
    "--node-count",
    "2",
    "--concurrency",
    "2",
    "--time-limit",
    "3",
    "--epoch-millis",
    "200",
    "--epoch-limit",
    "5",
    "--seed",
    "11",
    "-q",
    "--store",
    store,
  ]);
  const results = readResults(store);
  expect(r.exitCode, results.summary).toBe(0);
  expect(results.checkers.mining.valid).toBe(true);
  expect(results.checkers.mining.checked_count).toBeGreaterThan(0);
  expect(results.checkers.mining.stray_output_jobs).toBeGreaterThan(0);
  expect(results.warnings).toContainEqual(
    expect.stringContaining('printed lines besides the answer, e.g. ["<nil>"]'),
  );
});
