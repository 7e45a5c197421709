// `faultline test` for the udp transport (DESIGN.md §2, §4): the same lifecycle and store layout
// as harness/run.ts — run dir, test.json, history.jsonl streamed, messages.jsonl (every datagram,
// decoded when it is LSP JSON), node-logs/, results.json of the same shape — with the UDP proxy
// in place of the message router and a workload plugin's driver: `lsp` (delivery through an LSP
// server, or the LSP conformance checks), `mining` (the distributed bitcoin miner).
import { join } from "node:path";
import { checkFaults } from "../../checkers/faults.js";
import { checkStats } from "../../checkers/stats.js";
import { packetOptions } from "../../workloads/lsp/common.js";
import { lspPlugin } from "../../workloads/lsp/index.js";
import { miningPlugin } from "../../workloads/mining/index.js";
import type { Driver } from "../../workloads/plugin.js";
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
import { RunContext, type UdpTestOptions } from "./context.js";
import { UDP_FAULT_KINDS, type UdpNemesis } from "./nemesis.js";
import { UdpProxy } from "./proxy.js";

export const UDP_WORKLOADS = ["lsp", "mining"] as const;
export type UdpWorkload = (typeof UDP_WORKLOADS)[number];

export function isUdpWorkload(name: string): name is UdpWorkload {
  return (UDP_WORKLOADS as readonly string[]).includes(name);
}

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
  const plugin = options.workload === "lsp" ? lspPlugin : miningPlugin;
  const prepared = plugin.prepare?.(options, options.udp) ?? {};

  const clock = new RunClock();
  const random = new Random(options.seed);
  const { dir, history } = openRun({
    options,
    name: `${prepared.name ?? options.workload}-${options.target.name}`,
    transport: "udp",
    extra: prepared.extra ?? {},
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

  const errors: Results["errors"] = [];
  let driver: Driver | undefined;
  try {
    driver = plugin.create(ctx.driverContext(), options.udp);
    const nemesis =
      driver.hooks && ctx.createNemesis(driver.hooks, driver.packet_options ?? packetOptions({}));
    if (nemesis) activeFaults = () => [...nemesis.active.values()];
    await drive(ctx, driver, nemesis);
  } catch (err) {
    stopProgress();
    await driver?.stop(true).catch(() => {});
    proxy.close();
    history.close();
    throw err;
  }
  ctx.phase = "stopping";
  stopProgress();
  log.info("stopping programs");
  await driver.stop(ctx.interrupted);
  proxy.close();
  history.close();

  const interrupted = ctx.interrupted;
  if (interrupted) {
    errors.push({
      kind: "interrupted",
      message: "the run was interrupted; the history so far is kept",
    });
  }
  const checkers = interrupted ? {} : await driver.check(history.ops);
  const report = driver.report();
  errors.push(...report.errors);
  if (history.truncated) {
    errors.push({ kind: "history-truncated", message: "history.jsonl hit its size limit" });
  }

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
    nodes: report.nodes as Results["nodes"],
    duration_s: clock.now_ns() / 1e9,
  };
  return finishRun(dir, results, interrupted, log);
}

/**
 * A driver's start, its load beside the nemesis until the time limit (a driver without process
 * hooks, the conformance checks, runs without faults), then its final phase.
 */
async function drive(
  ctx: RunContext,
  driver: Driver,
  nemesis: UdpNemesis | undefined,
): Promise<void> {
  await driver.start();
  if (nemesis) await ctx.runTimed(nemesis, (stop) => driver.load(stop));
  else await driver.load(ctx.signal);
  if (!ctx.interrupted) await driver.final?.();
}
