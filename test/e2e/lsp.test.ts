// LSP end to end over the udp transport (issue 7): the reference server stays valid at 0%, 20%
// and 50% loss with duplication, reordering and corruption (and kills, partitions, pauses);
// conformance passes against it and names the deviation of each bug variant (the workload
// catching the bugs that break delivery is in test/e2e/bug-runs.test.ts). Real subprocesses,
// real UDP through the proxy.
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { type Op, parseHistory } from "../../checkers/history.js";
import { Logger } from "../../harness/logger.js";
import type { FaultKind, Targets } from "../../harness/nemesis/nemesis.js";
import type { RunOutcome } from "../../harness/run.js";
import { runTest } from "../../harness/run.js";
import { resolveSystem } from "../../harness/target.js";
import type { LspParams } from "../../protocols/lsp/params.js";
import { runCli, tempStore } from "../helpers.js";

interface RunSpec {
  bug?: string;
  faults?: FaultKind[];
  loss?: number;
  duplicate?: number;
  delay_ms?: number;
  mutate?: number;
  steady?: boolean;
  interval_s?: number;
  targets?: Targets[];
  time_s?: number;
  rate?: number;
  clients?: number;
  seed?: number;
  params?: Partial<LspParams>;
  conformance?: boolean;
}

const FAST: Partial<LspParams> = {
  epochMillis: 100,
  epochLimit: 5,
  windowSize: 8,
  maxUnackedMessages: 8,
  maxBackOffInterval: 2,
};

async function run(spec: RunSpec): Promise<RunOutcome> {
  return runTest(
    {
      workload: "lsp",
      target: resolveSystem("lsp", "lsp", spec.bug),
      node_count: 1,
      time_limit_s: spec.time_s ?? 3,
      rate: spec.rate ?? 60,
      concurrency: spec.clients ?? 4,
      latency: { mean_ms: 0, dist: "constant" },
      topology: "grid",
      recovery_s: 1,
      seed: spec.seed ?? 5,
      store: tempStore(),
      command: "test",
      nemesis: {
        faults: spec.faults ?? [],
        interval_s: spec.interval_s ?? 1,
        packet: {
          loss: spec.loss ?? 0,
          duplicate: spec.duplicate ?? 0.2,
          delay_ms: spec.delay_ms ?? 40,
        },
        ...(spec.targets && { targets: spec.targets }),
      },
      udp: {
        lsp: spec.params ?? FAST,
        mutate: spec.mutate ?? 0.05,
        steady_packet: spec.steady ?? false,
        conformance: spec.conformance === true,
      },
    },
    new Logger(true),
    new AbortController().signal,
  );
}

function history(outcome: RunOutcome): Op[] {
  return parseHistory(readFileSync(join(outcome.dir, "history.jsonl"), "utf8"));
}

const verdicts = (o: RunOutcome) =>
  Object.fromEntries(Object.entries(o.results.checkers).map(([k, c]) => [k, c.valid]));

describe("the reference LSP survives a hostile network", () => {
  it.each([
    [0, 5],
    [0.2, 5],
    [0.5, 20],
  ])(
    "valid at %s loss with duplication, reordering and corruption (K = %i)",
    async (loss, epochLimit) => {
      const outcome = await run({
        faults: ["packet"],
        steady: true,
        loss,
        duplicate: 0.2,
        delay_ms: 40,
        mutate: 0.05,
        rate: loss >= 0.5 ? 30 : 60,
        params: { ...FAST, epochLimit },
      });
      expect(verdicts(outcome), outcome.results.summary).toEqual({
        delivery: true,
        programs: true,
      });
      expect(outcome.exitCode).toBe(0);
      const udp = (
        outcome.results.net as unknown as { udp: Record<string, Record<string, number>> }
      ).udp;
      const both = (k: string) => (udp["to-server"]?.[k] ?? 0) + (udp["from-server"]?.[k] ?? 0);
      expect(both("duplicated")).toBeGreaterThan(0);
      expect(both("held")).toBeGreaterThan(0); // delayed, so reordered
      expect(both("mutated")).toBeGreaterThan(0);
      if (loss > 0) expect(both("dropped") / both("sent")).toBeGreaterThan(loss / 3);
      // Every message of the run was checked: both directions, every connection.
      expect(outcome.results.checkers.delivery?.delivered_count).toBeGreaterThan(60);
      const journal = readFileSync(join(outcome.dir, "messages.jsonl"), "utf8");
      expect(journal).toMatch(
        /"lsp":\{"Type":1,"ConnID":\d+,"SeqNum":\d+,"Size":\d+,"Checksum":\d+,"Payload":"/,
      );
    },
    60_000,
  );

  it("valid under client and server kills, partitions and pauses at 20% loss; losses are reported", async () => {
    // Client kills and server kills in two runs side by side: one run's seeded choice of
    // targets could otherwise pick only one kind.
    const spec = (targets: Targets[]) =>
      run({
        faults: ["packet", "kill", "partition", "pause"],
        loss: 0.2,
        interval_s: 0.7,
        time_s: 5,
        seed: 8,
        targets,
      });
    const [clients, server] = await Promise.all([spec(["one", "minority"]), spec(["all"])]);
    for (const outcome of [clients, server]) {
      expect(verdicts(outcome), outcome.results.summary).toEqual({
        delivery: true,
        programs: true,
      });
    }
    const kills = (outcome: RunOutcome) => history(outcome).filter((op) => op.f === "start-kill");
    const clientKills = JSON.stringify(kills(clients).map((k) => k.value));
    expect(
      kills(clients).some((k) => (k.value as { instances: string[] }).instances.length > 0),
      clientKills,
    ).toBe(true);
    expect(
      kills(server).some((k) => (k.value as { nodes: string[] }).nodes.includes("server")),
    ).toBe(true);
    // The server's Read reported lost connections; clients' Reads did too.
    const ops = [...history(clients), ...history(server)];
    expect(ops.some((op) => op.f === "server-read" && op.type === "fail")).toBe(true);
    expect(ops.some((op) => op.f === "read" && op.type === "fail")).toBe(true);
    expect(existsSync(join(server.dir, "node-logs", "server.log"))).toBe(true);
  }, 60_000);
});

describe("LSP conformance", () => {
  const params: Partial<LspParams> = {
    epochMillis: 100,
    epochLimit: 5,
    windowSize: 4,
    maxUnackedMessages: 3,
    maxBackOffInterval: 2,
  };

  it("the reference server passes every check", async () => {
    const outcome = await run({ conformance: true, params });
    expect(outcome.results.checkers.conformance?.summary).toMatch(/passed all 13/);
    expect(outcome.exitCode).toBe(0);
    // Every check's last datagram left before its socket closed, so the server's Close, which
    // waits for every acknowledgement, succeeds.
    const closes = history(outcome).filter((op) => op.f === "server-close" && op.type !== "invoke");
    expect(closes.map((op) => op.type)).toEqual(["ok"]);
  }, 30_000);

  it.each([
    ["no-retransmit", "retransmission"],
    ["ignore-window", "window-limit"],
    ["no-checksum", "checksum-verification"],
    ["reorder-deliver", "in-order-delivery"],
  ])(
    "bug %s is named as deviation %s",
    async (bug, deviation) => {
      const outcome = await run({ conformance: true, params, bug });
      expect(outcome.exitCode).toBe(1);
      const conformance = outcome.results.checkers.conformance;
      expect(conformance?.valid).toBe(false);
      expect(conformance?.deviation_names).toEqual([deviation]);
    },
    30_000,
  );
});

// The same through the real CLI, with the LSP flags the lsp plugin declares.
describe("through the CLI", () => {
  it("faultline test --system lsp -w lsp runs and passes", async () => {
    const r = await runCli(
      [
        "test",
        "--system",
        "lsp",
        "-w",
        "lsp",
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
        "3",
        "--store",
        tempStore(),
        "-q",
      ],
      60_000,
    );
    expect(r.exitCode, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toMatch(/delivery/);
  }, 60_000);
});
