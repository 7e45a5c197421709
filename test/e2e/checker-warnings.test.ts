// A checker's warnings reach results.json on every transport (issue 14): the lifecycle builds
// Results once, from every checker's `warnings`. One checker of one workload per transport is
// wrapped here to add a warning, and a real run of each (real subprocesses, real sockets) goes
// through the one lifecycle. Before the redesign the maelstrom transport dropped them.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it, vi } from "vitest";
import { Logger } from "../../harness/logger.js";
import { runTest } from "../../harness/run.js";
import { resolveSystem } from "../../harness/target.js";
import type { TestOptions } from "../../harness/test-options.js";
import { tempStore } from "../helpers.js";

const PLANTED = "a warning planted by the test";

vi.mock(import("../../checkers/echo.js"), async (original) => {
  const real = await original();
  return {
    ...real,
    checkEcho: (history) => ({ ...real.checkEcho(history), warnings: [`echo: ${PLANTED}`] }),
  };
});
vi.mock(import("../../checkers/delivery.js"), async (original) => {
  const real = await original();
  return {
    ...real,
    checkDelivery: (history, options) => ({
      ...real.checkDelivery(history, options),
      warnings: [`delivery: ${PLANTED}`],
    }),
  };
});
vi.mock(import("../../checkers/mapreduce.js"), async (original) => {
  const real = await original();
  return {
    ...real,
    checkCompletion: (options) => ({
      ...real.checkCompletion(options),
      warnings: [`completion: ${PLANTED}`],
    }),
  };
});

function options(system: string, workload: string, extra: Partial<TestOptions> = {}): TestOptions {
  return {
    workload,
    target: resolveSystem(system, workload, undefined),
    node_count: 2,
    time_limit_s: 2,
    rate: 20,
    concurrency: 2,
    latency: { mean_ms: 0, dist: "constant" },
    topology: "grid",
    recovery_s: 0,
    seed: 1,
    store: tempStore(),
    command: "test",
    nemesis: { faults: [], interval_s: 1, packet: { loss: 0, duplicate: 0, delay_ms: 0 } },
    ...extra,
  };
}

describe("a checker's warning is in results.json", () => {
  it.for([
    ["maelstrom", "echo: ", () => options("gossip", "echo")],
    [
      "udp",
      "delivery: ",
      () =>
        options("lsp", "lsp", {
          udp: { lsp: { epochMillis: 100, epochLimit: 5, windowSize: 8, maxUnackedMessages: 8 } },
        }),
    ],
    [
      "tcp",
      "completion: ",
      () =>
        options("mapreduce", "mapreduce", {
          time_limit_s: 60,
          mapreduce: { files: 2, file_kib: 1, n_reduce: 2, time_scale: 0.2 },
        }),
    ],
  ] as const)("on the %s transport", { timeout: 90_000 }, async ([, prefix, run]) => {
    const outcome = await runTest(run(), new Logger(true), new AbortController().signal);
    const stored = JSON.parse(readFileSync(join(outcome.dir, "results.json"), "utf8"));
    expect(stored.warnings, outcome.results.summary).toContain(`${prefix}${PLANTED}`);
    expect(outcome.results.valid, outcome.results.summary).toBe(true);
  });
});
