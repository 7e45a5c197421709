// `faultline test` for the udp transport (DESIGN.md §2, §4): the same lifecycle and store layout
// as harness/run.ts — run dir, test.json, history.jsonl streamed, messages.jsonl (every datagram,
// decoded when it is LSP JSON), node-logs/, results.json of the same shape — with the UDP proxy
// in place of the message router and a runner per workload: `lsp` (delivery through an LSP
// server), `mining` (the distributed bitcoin miner), or the LSP conformance checks.
import { join } from "node:path";
import { checkFaults } from "../../checkers/faults.js";
import type { CheckResult } from "../../checkers/result.js";
import { checkStats } from "../../checkers/stats.js";
import { RunClock } from "../clock.js";
import { SetupError } from "../exit-codes.js";
import { LinkTable } from "../links.js";
import type { Logger } from "../logger.js";
import { checkFaultKinds } from "../nemesis/star-nemesis.js";
import { type Progress, reportProgress } from "../progress.js";
import { Random } from "../random.js";
import type { Results, RunOutcome, TestOptions } from "../run.js";
import { finishRun, openRun } from "../run-files.js";
import { STORE_FILES } from "../store.js";
import { runVerdict, runWarnings, verdictSummary } from "../verdict.js";
import { runConformance } from "./conformance.js";
import { type ProgramsReport, RunContext, resolveRoles, type UdpTestOptions } from "./context.js";
import { EXIT_AFTER_CLOSE_MS, LspRun } from "./lsp-run.js";
import { MiningRun } from "./mining-run.js";
import { UDP_FAULT_KINDS } from "./nemesis.js";
import { UdpProxy } from "./proxy.js";

export const UDP_WORKLOADS = ["lsp", "mining"] as const;
export type UdpWorkload = (typeof UDP_WORKLOADS)[number];

export function isUdpWorkload(name: string): name is UdpWorkload {
  return (UDP_WORKLOADS as readonly string[]).includes(name);
}

/** Slack beyond §12.2's 1 s for a program to exit after answering close, on a loaded machine. */
const EXIT_SLACK_MS = 1_000;

export async function runUdpTest(
  options: TestOptions & Partial<Pick<UdpTestOptions, "udp">>,
  log: Logger,
  signal: AbortSignal,
  onProgress?: (p: Progress) => void,
): Promise<RunOutcome> {
  if (!isUdpWorkload(options.workload)) {
    throw new SetupError(
      `workload "${options.workload}" does not run on the udp transport; choose one of ${UDP_WORKLOADS.join(", ")}`,
    );
  }
  checkFaultKinds(options.nemesis.faults, UDP_FAULT_KINDS, "the udp transport");
  const conformance = options.udp?.conformance === true;
  if (conformance && options.workload !== "lsp") {
    throw new SetupError("--conformance checks an LSP server: use it with -w lsp");
  }
  if (options.concurrency < 1) throw new SetupError("--concurrency must be at least 1");
  const roles = resolveRoles(options.target, options.workload, options.udp);

  const clock = new RunClock();
  const random = new Random(options.seed);
  const { dir, history } = openRun({
    options,
    name: `${conformance ? "lsp-conformance" : options.workload}-${options.target.name}`,
    transport: "udp",
    extra: { roles },
    clock,
    log,
  });
  const links = new LinkTable(options.latency);
  const proxy = UdpProxy.create({
    clock,
    random: random.fork("network"),
    links,
    journalPath: join(dir, STORE_FILES.messages),
  });
  const ctx = new RunContext(options, dir, clock, random, history, links, proxy, log, signal);
  let activeFaults: () => string[] = () => [];
  const stopProgress = reportProgress(onProgress, clock, options.time_limit_s, () => ({
    phase: ctx.phase,
    faults: activeFaults(),
    ...ctx.counts,
  }));

  let checkers: Record<string, CheckResult> = {};
  const errors: Results["errors"] = [];
  try {
    if (conformance) {
      checkers = await runConformance(ctx, roles);
    } else if (options.workload === "lsp") {
      const run = new LspRun(ctx, roles);
      activeFaults = () => [...run.nemesis.active.values()];
      checkers = await run.run();
    } else {
      const run = new MiningRun(ctx, roles);
      activeFaults = () => [...run.nemesis.active.values()];
      checkers = await run.run();
    }
  } catch (err) {
    stopProgress();
    await ctx.stopAll(true).catch(() => {});
    proxy.close();
    history.close();
    throw err;
  }
  ctx.phase = "stopping";
  stopProgress();
  log.info("stopping programs");
  await ctx.stopAll(ctx.interrupted);
  proxy.close();
  history.close();

  const interrupted = ctx.interrupted;
  if (interrupted) {
    errors.push({
      kind: "interrupted",
      message: "the run was interrupted; the history so far is kept",
    });
    checkers = {};
  }
  const programs = programsReport(ctx);
  for (const crash of programs.crashes) {
    errors.push({
      kind: "node-crashed",
      message: `${crash.role} ${crash.id} exited on its own (code ${crash.code}, signal ${crash.signal}) at ${(crash.time_ns / 1e9).toFixed(1)} s`,
    });
  }
  if (history.truncated) {
    errors.push({ kind: "history-truncated", message: "history.jsonl hit its size limit" });
  }
  if (!interrupted) checkers.programs = programsCheck(programs);

  const faultReport = checkFaults(history.ops, { requested: options.nemesis.faults });
  const warnings = runWarnings(faultReport, checkers);
  for (const warning of warnings) log.info(`warning: ${warning}`);
  const stats = checkStats(history.ops);
  const valid = runVerdict(checkers, interrupted);
  const to = proxy.totals.total("to-server");
  const from = proxy.totals.total("from-server");
  const invokes = history.ops.filter(
    (op) => op.type === "invoke" && op.process !== "nemesis",
  ).length;
  const sent = to.sent + from.sent;
  const net: Results["net"] & { udp: Record<string, unknown> } = {
    send_count: sent,
    recv_count: to.delivered + from.delivered,
    drop_count: to.dropped + from.dropped,
    clients: { send_count: sent, recv_count: to.delivered + from.delivered },
    servers: { send_count: 0, recv_count: 0 },
    msgs_per_op: invokes ? sent / invokes : null,
    servers_msgs_per_op: null,
    udp: {
      "to-server": to,
      "from-server": from,
      peers: Object.fromEntries(proxy.totals.counts),
    },
  };
  const results: Results = {
    valid,
    summary: verdictSummary(valid, checkers, interrupted),
    checkers,
    stats,
    net,
    seed: options.seed,
    errors,
    warnings,
    faults: faultReport,
    nodes: Object.fromEntries(
      ctx.programs.map((r) => [
        r.program.id,
        { crashes: programs.crashes.filter((c) => c.id === r.program.id) },
      ]),
    ),
    duration_s: clock.now_ns() / 1e9,
  };
  return finishRun(dir, results, interrupted, log);
}

function programsReport(ctx: RunContext): ProgramsReport {
  const report: ProgramsReport = { crashes: [], slow_exits: [], problems: [], problem_count: 0 };
  for (const r of ctx.programs) {
    const exit = r.program.exit;
    report.problem_count += r.program.problem_count;
    report.problems.push(...r.program.problems);
    if (r.close_replied_ns !== undefined) {
      const waited_ms = exit ? (exit.time_ns - r.close_replied_ns) / 1e6 : Number.POSITIVE_INFINITY;
      if (waited_ms > EXIT_AFTER_CLOSE_MS + EXIT_SLACK_MS) {
        report.slow_exits.push({
          program: r.program.id,
          role: r.role,
          waited_ms: Math.round(waited_ms),
        });
      }
      continue;
    }
    if (exit && !exit.expected && !r.ended_by_us && !r.may_exit) {
      report.crashes.push({ ...exit, role: r.role });
    }
  }
  return report;
}

/** The process contract: no crashes, no junk on stdout, exit within 1 s of answering close. */
function programsCheck(report: ProgramsReport): CheckResult {
  const problems: string[] = [];
  if (report.crashes.length > 0) {
    problems.push(
      report.crashes
        .map((c) => `${c.role} ${c.id} exited on its own (code ${c.code}, signal ${c.signal})`)
        .join("; "),
    );
  }
  if (report.problem_count > 0) {
    const first = report.problems[0];
    problems.push(
      `${report.problem_count} malformed control-channel line${report.problem_count === 1 ? "" : "s"}, e.g. ${first?.program} line ${first?.line}: ${first?.reason}`,
    );
  }
  if (report.slow_exits.length > 0) {
    problems.push(
      `${report.slow_exits.map((s) => s.program).join(", ")} did not exit within ${EXIT_AFTER_CLOSE_MS / 1000} s of answering close`,
    );
  }
  if (problems.length === 0) {
    return { valid: true, summary: "every program kept the process contract", ...report };
  }
  return { valid: false, summary: problems.join("; "), ...report };
}
