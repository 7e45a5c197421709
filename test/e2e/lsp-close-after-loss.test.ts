// An LSP client whose Close returns ok after its connection was lost (issue 24, item 2): the
// course's Close returns once the connection is lost, discarding what is pending, and no grader
// checks its result, so such a client keeps the course's contract. Before, every message it had
// written and the partition swallowed was a missing-after-close violation; now the run is valid
// and the stricter rule is a warning, a failure only under --strict. A Close that returns ok at
// once on a healthy connection, dropping what is pending, is still caught.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { type Op, parseHistory } from "../../checkers/history.js";
import { FIXTURES, readResults, runCli, tempStore } from "../helpers.js";

/** Partitions of 0–2 s on 2 clients, K·δ = 500 ms: a long one loses a connection mid-stream. */
const PARTITIONED_RUN = [
  "--system",
  "lsp",
  "-w",
  "lsp",
  "--nemesis",
  "partition",
  "--nemesis-interval",
  "1",
  "--time-limit",
  "6",
  "--concurrency",
  "2",
  "--rate",
  "20",
  "--recovery-time",
  "1",
  "--epoch-millis",
  "100",
  "--seed",
  "4",
  "-q",
];

const closeOkClient = ["--client-bin", join(FIXTURES, "lsp-client-close-ok.mjs")];

describe("a client whose Close returns ok after the connection was lost", () => {
  it("is valid, with the stricter rule as a warning", { timeout: 90_000 }, async () => {
    const store = tempStore();
    const r = await runCli(["test", ...PARTITIONED_RUN, ...closeOkClient, "--store", store]);
    const results = readResults(store);
    expect(r.exitCode, results.summary).toBe(0);
    const delivery = results.checkers.delivery;
    expect(delivery.valid, delivery.summary).toBe(true);
    expect(delivery.violation_counts).toEqual({});
    // The case arose: Closes returned ok with messages the partition swallowed.
    expect(delivery.closed_ok_after_loss_count).toBeGreaterThan(0);
    expect(delivery.closed_ok_after_loss[0]).toEqual({
      client: expect.any(String),
      loss: expect.stringMatching(/^its Read reported the connection lost at /),
      messages: expect.any(Number),
    });
    expect(results.warnings).toContainEqual(
      expect.stringMatching(
        /client Closes? returned ok after the connection was lost .* fails the run only under --strict\.$/,
      ),
    );
  });

  it("fails under --strict, naming the rule", { timeout: 90_000 }, async () => {
    const store = tempStore();
    const r = await runCli([
      "test",
      ...PARTITIONED_RUN,
      ...closeOkClient,
      "--strict",
      "--store",
      store,
    ]);
    const results = readResults(store);
    expect(r.exitCode, results.summary).toBe(1);
    const delivery = results.checkers.delivery;
    expect(Object.keys(delivery.violation_counts)).toEqual(["missing-after-close"]);
    expect(delivery.summary).toMatch(/--strict holds an ok Close to delivering everything/);
    // Judged again from the stored run, --strict still holds (test.json keeps it).
    const again = await runCli(["check", join(store, "latest")]);
    expect(again.exitCode, again.stdout).toBe(1);
    expect(again.stdout).toMatch(/--strict holds an ok Close/);
  });
});

it("a client whose Close returns ok at once on a healthy connection is INVALID", {
  timeout: 90_000,
}, async () => {
  const store = tempStore();
  const r = await runCli([
    "test",
    "--system",
    "lsp",
    "-w",
    "lsp",
    "--client-bin",
    join(FIXTURES, "lsp-client-close-early.mjs"),
    "--time-limit",
    "2",
    "--concurrency",
    "2",
    "--rate",
    "20",
    "--recovery-time",
    "1",
    "--epoch-millis",
    "100",
    "--seed",
    "4",
    "-q",
    "--store",
    store,
  ]);
  const results = readResults(store);
  expect(r.exitCode, results.summary).toBe(1);
  const delivery = results.checkers.delivery;
  expect(delivery.violation_counts).toEqual({ "missing-after-close": expect.any(Number) });
  expect(delivery.summary).toMatch(/Close returned ok, but the server never read /);
  expect(delivery.closed_ok_after_loss_count).toBeUndefined();
  // Its Read failed while its Close ran (the Close's own teardown), and that excused nothing.
  const history = parseHistory(readFileSync(join(store, "latest", "history.jsonl"), "utf8"));
  expect(history.some((close) => readFailedDuring(history, close))).toBe(true);
});

/** `close` is an ok Close, and its client's Read failed after it began and before it returned. */
function readFailedDuring(history: readonly Op[], close: Op): boolean {
  if (close.f !== "close" || close.type !== "ok") return false;
  const client = (close.value as { client: string }).client;
  const began = history.findLast(
    (op) => op.index < close.index && op.f === "close" && op.process === close.process,
  );
  return history.some(
    (op) =>
      op.f === "read" &&
      op.type === "fail" &&
      (op.value as { client: string }).client === client &&
      op.index > (began?.index ?? close.index) &&
      op.index < close.index,
  );
}
