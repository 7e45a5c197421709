// `faultline test` for the tcp transport (DESIGN.md §2, §4): the same lifecycle and store layout
// as harness/run.ts — run dir, test.json, history.jsonl streamed, messages.jsonl (every TCP
// connection and chunk through the proxy), node-logs/, results.json of the same shape — with the
// TCP proxy between the programs and a runner per workload: `mapreduce` (a coordinator and its
// workers running one job; harness/tcp/mapreduce-run.ts).
import { join } from "node:path";
import { checkFaults } from "../../checkers/faults.js";
import type { CheckResult } from "../../checkers/result.js";
import { checkStats } from "../../checkers/stats.js";
import { TCP_WORKLOADS } from "../../workloads/index.js";
import { RunClock } from "../clock.js";
import { SetupError } from "../exit-codes.js";
import { JsonlWriter } from "../jsonl-writer.js";
import { LinkTable } from "../links.js";
import type { Logger } from "../logger.js";
import { checkFaultKinds } from "../nemesis/star-nemesis.js";
import { type Progress, reportProgress } from "../progress.js";
import { Random } from "../random.js";
import type { Results, RunOutcome, TestOptions } from "../run.js";
import { finishRun, openRun } from "../run-files.js";
import { STORE_FILES } from "../store.js";
import { runVerdict, runWarnings, verdictSummary } from "../verdict.js";
import { MapReduceRun, TCP_FAULT_KINDS } from "./mapreduce-run.js";
import {
  type MapReduceOptions,
  resolveMapReduceOptions,
  resolveMapReduceRoles,
} from "./options.js";
import { TcpProxy } from "./proxy.js";

export { TCP_WORKLOADS };
export type TcpWorkload = (typeof TCP_WORKLOADS)[number];

export function isTcpWorkload(name: string): name is TcpWorkload {
  return (TCP_WORKLOADS as readonly string[]).includes(name);
}

const MAX_JOURNAL_BYTES = 512 * 1024 * 1024;

export type TcpTestOptions = TestOptions & { mapreduce?: MapReduceOptions };

export async function runTcpTest(
  options: TcpTestOptions,
  log: Logger,
  signal: AbortSignal,
  onProgress?: (p: Progress) => void,
): Promise<RunOutcome> {
  if (!isTcpWorkload(options.workload)) {
    throw new SetupError(
      `workload "${options.workload}" does not run on the tcp transport; choose one of ${TCP_WORKLOADS.join(", ")}`,
    );
  }
  checkFaultKinds(options.nemesis.faults, TCP_FAULT_KINDS, "the mapreduce workload");
  if (options.node_count < 1) throw new SetupError("--node-count (the workers) must be at least 1");
  const mr = resolveMapReduceOptions(options.mapreduce);
  const roles = resolveMapReduceRoles(options.target, options.mapreduce);

  const clock = new RunClock();
  const random = new Random(options.seed);
  const { dir, history } = openRun({
    options,
    name: `${options.workload}-${options.target.name}`,
    transport: "tcp",
    extra: {
      // Timeline rows: process 0 is the job, worker slot k's instances are k+1 mod (W + 1).
      concurrency: options.node_count + 1,
      mapreduce: { ...mr, roles },
    },
    clock,
    log,
  });
  const journal = new JsonlWriter(join(dir, STORE_FILES.messages), {
    flush_bytes: 64 * 1024,
    max_bytes: MAX_JOURNAL_BYTES,
    flush_interval_ms: 200,
  });
  const links = new LinkTable(options.latency);
  const proxy = new TcpProxy({ links, random: random.fork("network"), clock, journal, log });
  const run = new MapReduceRun({
    options,
    mr,
    roles,
    dir,
    clock,
    random,
    history,
    links,
    proxy,
    log,
    signal,
  });
  const stopProgress = reportProgress(onProgress, clock, options.time_limit_s, () => ({
    phase: run.phase,
    faults: [...run.nemesis.active.values()],
    ...run.counts,
  }));
  const close = async () => {
    stopProgress();
    await proxy.close();
    journal.close();
    history.close();
  };

  let outcome: Awaited<ReturnType<MapReduceRun["run"]>>;
  try {
    outcome = await run.run();
  } catch (err) {
    await run.stopAll(true).catch(() => {});
    await close();
    throw err;
  }
  await close();

  const interrupted = signal.aborted;
  const errors: Results["errors"] = [];
  let checkers: Record<string, CheckResult> = outcome.checkers;
  if (interrupted) {
    errors.push({
      kind: "interrupted",
      message: "the run was interrupted; the history so far is kept",
    });
    checkers = {};
  }
  if (history.truncated) {
    errors.push({ kind: "history-truncated", message: "history.jsonl hit its size limit" });
  }
  const faultReport = checkFaults(history.ops, { requested: options.nemesis.faults });
  const warnings = runWarnings(faultReport, checkers);
  for (const warning of warnings) log.info(`warning: ${warning}`);
  const valid = runVerdict(checkers, interrupted);
  const tcp = proxy.stats();
  let chunks = 0;
  let resets = 0;
  for (const link of Object.values(tcp)) {
    chunks += link.chunks ?? 0;
    resets += link.resets ?? 0;
  }
  const invokes = history.ops.filter((op) => op.type === "invoke").length;
  const net: Results["net"] & { tcp: Record<string, Record<string, number>> } = {
    send_count: chunks,
    recv_count: chunks,
    drop_count: resets,
    clients: { send_count: chunks, recv_count: chunks },
    servers: { send_count: 0, recv_count: 0 },
    msgs_per_op: invokes ? chunks / invokes : null,
    servers_msgs_per_op: null,
    tcp,
  };
  const results: Results = {
    valid,
    summary: verdictSummary(valid, checkers, interrupted),
    checkers,
    stats: checkStats(history.ops),
    net,
    seed: options.seed,
    errors,
    warnings,
    faults: faultReport,
    nodes: Object.fromEntries(
      outcome.instances.map((i) => [
        i.id,
        {
          crashes:
            i.exit && !i.ended_by_us && i.exit.code !== 0 ? [{ ...i.exit, role: i.role }] : [],
        },
      ]),
    ),
    duration_s: clock.now_ns() / 1e9,
  };
  return finishRun(dir, results, interrupted, log);
}
