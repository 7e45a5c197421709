// The distributed bitcoin miner end to end over the udp transport (issue 7): the reference stays
// valid (true minima, fairness, load balance) and survives miner and client kills (each bug
// variant is caught in test/e2e/bug-runs.test.ts). Real server, miner and client processes.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { type Op, parseHistory } from "../../checkers/history.js";
import { Logger } from "../../harness/logger.js";
import type { FaultKind, Targets } from "../../harness/nemesis/nemesis.js";
import type { RunOutcome } from "../../harness/run.js";
import { runTest } from "../../harness/run.js";
import { resolveSystem } from "../../harness/target.js";
import { tempStore } from "../helpers.js";

interface RunSpec {
  bug?: string;
  faults?: FaultKind[];
  targets?: Targets[];
  interval_s?: number;
  time_s?: number;
  seed?: number;
}

async function run(spec: RunSpec): Promise<RunOutcome> {
  return runTest(
    {
      workload: "mining",
      target: resolveSystem("bitcoin", "mining", spec.bug),
      node_count: 3,
      time_limit_s: spec.time_s ?? 3,
      rate: 0,
      concurrency: 3,
      latency: { mean_ms: 0, dist: "constant" },
      topology: "grid",
      recovery_s: 1,
      seed: spec.seed ?? 11,
      store: tempStore(),
      command: "test",
      nemesis: {
        faults: spec.faults ?? [],
        interval_s: spec.interval_s ?? 1,
        packet: { loss: 0.2, duplicate: 0.2, delay_ms: 30 },
        ...(spec.targets && { targets: spec.targets }),
      },
      udp: { lsp: { epochMillis: 200, epochLimit: 5 } },
    },
    new Logger(true),
    new AbortController().signal,
  );
}

const history = (o: RunOutcome): Op[] =>
  parseHistory(readFileSync(join(o.dir, "history.jsonl"), "utf8"));
const verdicts = (o: RunOutcome) =>
  Object.fromEntries(Object.entries(o.results.checkers).map(([k, c]) => [k, c.valid]));

describe("the reference bitcoin miner", () => {
  it("answers every job with the true minimum, fairly and evenly, and notices a dead server", async () => {
    const outcome = await run({});
    expect(verdicts(outcome), outcome.results.summary).toEqual({
      mining: true,
      fairness: true,
      "load-balance": true,
      programs: true,
    });
    const { fairness, mining } = outcome.results.checkers;
    // Only probes whose small job overlapped the large one are judged (a loaded machine can
    // finish the large job first); at least one must have been, and none failed.
    const judged = (fairness?.judged ?? []) as string[];
    expect(judged.length).toBeGreaterThan(0);
    for (const probe of judged) expect(probe).toMatch(/^(probe|burst) \d$/);
    expect(outcome.results.checkers["load-balance"]?.summary).toMatch(/^balanced/);
    expect(mining?.checked_count).toBeGreaterThanOrEqual(4);
    const ops = history(outcome);
    // Boundary jobs (minimum at maxNonce) were among those checked.
    expect(
      ops.some((op) => op.type === "ok" && (op.value as { kind: string }).kind === "boundary"),
    ).toBe(true);
    // The final deliberate server kill: every miner exited, the running client printed Disconnected.
    expect(ops.filter((op) => op.f === "miner-shutdown" && op.type === "ok")).toHaveLength(3);
    expect(
      ops.some(
        (op) => op.f === "mine" && (op.value as { error?: string }).error === "Disconnected",
      ),
    ).toBe(true);
  }, 90_000);

  it("stays valid while miners and clients are killed", async () => {
    const outcome = await run({
      faults: ["kill"],
      targets: ["one", "minority"],
      interval_s: 0.6,
      time_s: 5,
      seed: 4,
    });
    expect(verdicts(outcome), outcome.results.summary).toMatchObject({
      mining: true,
      programs: true,
    });
    expect(outcome.exitCode).toBe(0);
    const killed = history(outcome)
      .filter((op) => op.f === "start-kill")
      .flatMap((op) => (op.value as { instances?: string[] }).instances ?? []);
    expect(killed.some((i) => i.startsWith("m"))).toBe(true);
    expect(killed.some((i) => i.startsWith("c"))).toBe(true);
  }, 90_000);
});
