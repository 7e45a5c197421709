// `faultline test` for the tcp transport (DESIGN.md §2, §4): the same lifecycle and store layout
// as harness/run.ts — run dir, test.json, history.jsonl streamed, messages.jsonl (every TCP
// connection and chunk through the proxy), node-logs/, results.json of the same shape — with the
// TCP proxy between the programs and a runner per workload: `mapreduce` (a coordinator and its
// workers running one job; harness/tcp/mapreduce-run.ts).
import { join } from "node:path";
import { checkFaults } from "../../checkers/faults.js";
import { type CheckResult, mergeValidity, type Validity } from "../../checkers/result.js";
import { checkStats } from "../../checkers/stats.js";
import { TCP_WORKLOADS } from "../../workloads/index.js";
import { RunClock } from "../clock.js";
import { EXIT, exitCodeFor, SetupError } from "../exit-codes.js";
import { HistoryRecorder } from "../history-recorder.js";
import { JsonlWriter } from "../jsonl-writer.js";
import { LinkTable } from "../links.js";
import type { Logger } from "../logger.js";
import { Random } from "../random.js";
import type { Progress, Results, RunOutcome, TestOptions } from "../run.js";
import { createRunDir, STORE_FILES, writeJson } from "../store.js";
import { verdictSummary } from "../verdict.js";
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
  const unsupported = options.nemesis.faults.filter((k) => !TCP_FAULT_KINDS.includes(k));
  if (unsupported.length > 0) {
    throw new SetupError(
      `the mapreduce workload cannot inject ${unsupported.join(", ")} faults; choose from ${TCP_FAULT_KINDS.join(", ")}`,
    );
  }
  if (options.node_count < 1) throw new SetupError("--node-count (the workers) must be at least 1");
  const mr = resolveMapReduceOptions(options.mapreduce);
  const roles = resolveMapReduceRoles(options.target, options.mapreduce);

  const clock = new RunClock();
  const random = new Random(options.seed);
  const dir = createRunDir(options.store, `${options.workload}-${options.target.name}`);
  log.attach(join(dir, STORE_FILES.log));
  log.info(`run ${dir} (seed ${options.seed}, tcp transport)`);
  writeJson(join(dir, STORE_FILES.test), {
    ...options,
    // Timeline rows: process 0 is the job, worker slot k's instances are k+1 mod (W + 1).
    concurrency: options.node_count + 1,
    transport: "tcp",
    mapreduce: { ...mr, roles },
    wall_start_ms: clock.wall_start_ms,
  });
  const history = new HistoryRecorder(join(dir, STORE_FILES.history), clock);
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
  const progressTimer = onProgress
    ? setInterval(
        () =>
          onProgress({
            elapsed_s: clock.now_ns() / 1e9,
            time_limit_s: options.time_limit_s,
            phase: run.phase,
            faults: [...run.nemesis.active.values()],
            ...run.counts,
          }),
        250,
      )
    : undefined;
  const close = async () => {
    if (progressTimer) clearInterval(progressTimer);
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
  const warnings = [...((faultReport.warnings as string[] | undefined) ?? [])];
  for (const check of Object.values(checkers)) {
    for (const w of (check.warnings as string[] | undefined) ?? []) warnings.push(w);
  }
  for (const warning of warnings) log.info(`warning: ${warning}`);
  const valid: Validity = interrupted
    ? "unknown"
    : mergeValidity(Object.values(checkers).map((c) => c.valid));
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
  writeJson(join(dir, STORE_FILES.results), results);
  log.info(`wrote ${join(dir, STORE_FILES.results)}`);
  return { dir, results, exitCode: interrupted ? EXIT.couldNotRun : exitCodeFor(valid) };
}
