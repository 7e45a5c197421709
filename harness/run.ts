// The one lifecycle of `faultline test` (ARCHITECTURE.md "The lifecycle"), for every workload on
// every transport: open the run (store dir, test.json, history) → bring up the transport → the
// driver starts its programs → the driver's load with the nemesis beside it until the time
// limit → heal → recovery wait → final phase → stop → check → Results, built once → reports.
// Interrupts, setup errors and cleanup are handled here and nowhere else.
import { setMaxListeners } from "node:events";
import { symlinkSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { checkAvailability } from "../checkers/availability.js";
import { checkFaults } from "../checkers/faults.js";
import type { Op } from "../checkers/history.js";
import type { CheckResult } from "../checkers/result.js";
import { checkStats } from "../checkers/stats.js";
import { writeRunReports } from "../reports/index.js";
import { DRIVER_FAULT_KINDS, type FaultKind, transportFaultKinds } from "../workloads/faults.js";
import { PLUGINS, workloadPlugin } from "../workloads/index.js";
import {
  type Driver,
  type DriverContext,
  SetupError,
  type WorkloadPlugin,
} from "../workloads/plugin.js";
import { RunClock, sleepUnlessAborted } from "./clock.js";
import { EXIT } from "./exit-codes.js";
import type { HistoryRecorder } from "./history-recorder.js";
import { LinkTable } from "./links.js";
import type { Logger } from "./logger.js";
import { checkFaultKinds } from "./nemesis/star-nemesis.js";
import { Program } from "./program.js";
import { stopPrograms } from "./program-process.js";
import { type Progress, reportProgress } from "./progress.js";
import { Random } from "./random.js";
import { referenceWarnings } from "./reference.js";
import { finishRun, openRun, recordCouldNotRun } from "./run-files.js";
import { RateScheduler } from "./scheduler.js";
import { STORE_FILES, writeJson } from "./store.js";
import { verdictWord } from "./summary.js";
import { roleCommand } from "./target.js";
import type { ReferenceVerdict, Results, RunOutcome, TestOptions } from "./test-options.js";
import { maelstromTransport } from "./transports/maelstrom.js";
import { tcpTransport } from "./transports/tcp.js";
import type { OpenTransport, RunNemesis, Transport } from "./transports/transport.js";
import { udpTransport } from "./transports/udp.js";
import { runVerdict, runWarnings, verdictSummary } from "./verdict.js";

export type { Progress } from "./progress.js";
export type { Results, RunOutcome, TestOptions } from "./test-options.js";

const TRANSPORTS: Readonly<Record<WorkloadPlugin["transport"], Transport>> = {
  maelstrom: maelstromTransport as Transport,
  udp: udpTransport as Transport,
  tcp: tcpTransport as Transport,
};

/** The reference system's run beside the user's (--against-reference, harness/reference.ts). */
export interface ReferenceRun {
  options: TestOptions;
  /** Its own logger: it attaches to the reference run's faultline.log. */
  log: Logger;
}

/**
 * Runs one test, then renders its reports; a run that could not run says so in its store. With
 * `reference` (which makes the reference run from this run's options), the reference system's
 * run follows, unless this one was interrupted.
 */
export async function runTest(
  options: TestOptions,
  log: Logger,
  signal: AbortSignal,
  onProgress?: (progress: Progress) => void,
  reference?: (options: TestOptions) => ReferenceRun,
): Promise<RunOutcome> {
  const outcome = await runAndReport(options, log, signal, onProgress, false);
  if (!reference || signal.aborted) return outcome;
  return besideReference(outcome, reference(options), log, signal, onProgress);
}

async function runAndReport(
  options: TestOptions,
  log: Logger,
  signal: AbortSignal,
  onProgress: ((progress: Progress) => void) | undefined,
  isReference: boolean,
): Promise<RunOutcome> {
  let outcome: RunOutcome;
  try {
    outcome = await lifecycle(options, log, signal, onProgress, isReference);
  } catch (err) {
    recordCouldNotRun(log, options.seed, err);
    throw err;
  }
  await writeReports(outcome.dir, log);
  return outcome;
}

async function writeReports(dir: string, log: Logger): Promise<void> {
  try {
    await writeRunReports(dir);
  } catch (err) {
    // results.json is written; a report that failed to render must not lose the verdict.
    log.info(`warning: reports not written: ${(err as Error).message}`);
  }
}

/**
 * The reference run after the user's, never beside it: two runs sharing the cores would each be
 * slower than alone, and the reference would not face the schedule the user's program faced.
 * The user's run is complete on disk first; then its results.json and reports gain the
 * reference's verdict, and `<run>/reference` links to the reference's run directory. The user's
 * verdict and exit code stand, but for an interrupt (exit 3).
 */
async function besideReference(
  outcome: RunOutcome,
  reference: ReferenceRun,
  log: Logger,
  signal: AbortSignal,
  onProgress: ((progress: Progress) => void) | undefined,
): Promise<RunOutcome> {
  const system = reference.options.target.name;
  const seed = reference.options.seed;
  log.info(`running the reference system ${system} with the same options and seed ${seed}`);
  const progress =
    onProgress && ((p: Progress) => onProgress({ ...p, phase: `reference ${p.phase}` }));
  // Its test.json and report name the run it was made for.
  const reference_for = relative(resolve(reference.options.store), outcome.dir);
  const options = { ...reference.options, reference_for };
  const verdict = await referenceVerdict({ ...reference, options }, outcome.dir, signal, progress);
  if (verdict.dir !== undefined) symlinkSync(verdict.dir, join(outcome.dir, STORE_FILES.reference));
  log.info(`reference ${system}: ${verdictWord(verdict.valid)}: ${verdict.summary}`);
  const warnings = referenceWarnings(verdict, seed);
  for (const warning of warnings) log.info(`warning: ${warning}`);
  const results: Results = {
    ...outcome.results,
    reference: verdict,
    warnings: [...outcome.results.warnings, ...warnings],
  };
  writeJson(join(outcome.dir, STORE_FILES.results), results);
  await writeReports(outcome.dir, log);
  return { ...outcome, results, exitCode: signal.aborted ? EXIT.couldNotRun : outcome.exitCode };
}

/** Runs the reference; its verdict, with its run directory relative to the user's. */
async function referenceVerdict(
  reference: ReferenceRun,
  runDir: string,
  signal: AbortSignal,
  onProgress: ((progress: Progress) => void) | undefined,
): Promise<ReferenceVerdict> {
  const system = reference.options.target.name;
  try {
    const ran = await runAndReport(reference.options, reference.log, signal, onProgress, true);
    return {
      system,
      valid: ran.results.valid,
      summary: ran.results.summary,
      dir: relative(runDir, ran.dir),
      ...(signal.aborted && { status: "interrupted" as const }),
    };
  } catch (err) {
    // Its faultline.log and could-not-run results.json are there when its directory was made.
    const log = reference.log.attachedFile;
    return {
      system,
      valid: "unknown",
      summary: `Could not run: ${(err as Error).message}`,
      ...(log !== undefined && { dir: relative(runDir, dirname(log)) }),
      status: "could-not-run",
    };
  }
}

/** What the lifecycle tracks for the progress line while the run goes. */
interface Live {
  phase: string;
  counts: { ok: number; fail: number; info: number };
  nemesis: RunNemesis | undefined;
}

async function lifecycle(
  options: TestOptions,
  log: Logger,
  signal: AbortSignal,
  onProgress: ((progress: Progress) => void) | undefined,
  isReference: boolean,
): Promise<RunOutcome> {
  const { plugin, transport, workloadOptions, prepared, role } = prepareRun(options);
  const clock = new RunClock();
  const random = new Random(options.seed);
  const { dir, history } = openRun({
    options,
    name: `${prepared.name ?? options.workload}-${options.target.name}`,
    ...(transport.name !== "maelstrom" && { transport: transport.name }),
    extra: prepared.extra ?? {},
    clock,
    log,
    reference: isReference,
  });
  const links = new LinkTable(options.latency);
  const open = await transport
    .open({ options, dir, clock, random, history, links, log })
    .catch((err) => {
      history.close();
      throw err;
    });
  const live: Live = { phase: "starting", counts: { ok: 0, fail: 0, info: 0 }, nemesis: undefined };
  const ctx = driverContext({
    options,
    dir,
    open,
    clock,
    random,
    history,
    log,
    signal,
    live,
    role,
  });
  const stopProgress = reportProgress(onProgress, clock, options.time_limit_s, () => ({
    phase: live.phase,
    faults: [...(live.nemesis?.active.values() ?? [])],
    ...live.counts,
  }));
  let driver: Driver | undefined;
  try {
    driver = plugin.create(ctx, workloadOptions);
    live.nemesis = open.nemesis(driver);
    await driver.start();
    live.phase = "running";
    await timedPhase(driver, live.nemesis, options.time_limit_s, signal);
    await finalPhase(driver, options.recovery_s, signal, live, log);
  } catch (err) {
    stopProgress();
    await driver?.stop(true).catch(() => {});
    await open.close();
    history.close();
    throw err;
  }
  live.phase = "stopping";
  stopProgress();
  log.info(`stopping ${transport.name === "maelstrom" ? "nodes" : "programs"}`);
  await driver.stop(signal.aborted);
  await open.close();
  history.close();
  const found = await results(options, driver, open, history, clock, signal, log);
  return finishRun(dir, found, signal.aborted, log);
}

/**
 * Everything decided before the run directory exists, so a bad option or a missing program is
 * a setup error that leaves no run behind: the plugin, its transport, the fault kinds they can
 * inject, the workload's own options and what it adds to test.json.
 */
function prepareRun(options: TestOptions) {
  const plugin = workloadPlugin(options.workload);
  const transport = TRANSPORTS[plugin.transport];
  checkDriverFaultKinds(options.nemesis.faults, plugin);
  checkFaultKinds(
    options.nemesis.faults,
    plugin.faults ?? transportFaultKinds(transport.fault_kinds),
    plugin.faults ? `the ${plugin.name} workload` : `the ${transport.name} transport`,
    plugin.faults_note,
  );
  const workloadOptions = plugin.options_key
    ? (options as unknown as Record<string, unknown>)[plugin.options_key]
    : undefined;
  const role: DriverContext["role"] = (name, fallback) =>
    roleCommand(options.target, name, fallback);
  const prepared = plugin.prepare?.(options, workloadOptions, role) ?? {};
  return { plugin, transport, workloadOptions, prepared, role };
}

/**
 * Refuses a kind only a workload's driver can carry out (`reconfigure`) for a workload whose
 * plugin does not list it, naming the workloads that do: the transport's list would otherwise
 * blame the transport, which is not the reason.
 */
function checkDriverFaultKinds(requested: readonly FaultKind[], plugin: WorkloadPlugin): void {
  for (const kind of requested) {
    if (!DRIVER_FAULT_KINDS.includes(kind) || plugin.faults?.includes(kind)) continue;
    const able = Object.values(PLUGINS).filter((p) => p.faults?.includes(kind));
    throw new SetupError(
      `the ${plugin.name} workload cannot take ${kind} faults: only a workload that changes the system's configuration can (${able.map((p) => p.name).join(", ") || "none"})`,
    );
  }
}

/**
 * The driver's load with the nemesis beside it, until the time limit, Ctrl-C, or the load
 * returning by itself (a finished MapReduce job). Then every fault is healed, unless
 * interrupted: after the load has wound down, or before when the driver's last replies need
 * the heal (a paused program answers only after SIGCONT).
 */
async function timedPhase(
  driver: Driver,
  nemesis: RunNemesis,
  time_limit_s: number,
  signal: AbortSignal,
): Promise<void> {
  // An explicit controller and timer: AbortSignal.any over AbortSignal.timeout can be
  // garbage-collected before it fires, and then the nemesis would never stop.
  const generating = new AbortController();
  setMaxListeners(MAX_STOP_LISTENERS, generating.signal);
  const timer = setTimeout(() => generating.abort(), time_limit_s * 1000);
  const onInterrupt = () => generating.abort();
  signal.addEventListener("abort", onInterrupt);
  try {
    const faults = nemesis.run(generating.signal);
    const loading = driver.load(generating.signal).finally(() => generating.abort());
    loading.catch(() => {}); // awaited below; marked handled in case the nemesis throws first
    if (!driver.heal_before_drain) await loading;
    await faults;
    if (!signal.aborted) await nemesis.heal();
    await loading;
  } finally {
    generating.abort(); // on an error too: no loop goes on starting programs
    clearTimeout(timer);
    signal.removeEventListener("abort", onInterrupt);
  }
}

/** Listeners on the time-limit signal: one per worker loop and fault loop, with room to spare. */
const MAX_STOP_LISTENERS = 10_000;

async function finalPhase(
  driver: Driver,
  recovery_s: number,
  signal: AbortSignal,
  live: Live,
  log: Logger,
): Promise<void> {
  if (!driver.final || signal.aborted) return;
  if (driver.recovers_before_final) {
    live.phase = "recovering";
    log.info(`waiting ${recovery_s} s for recovery`);
    await sleepUnlessAborted(recovery_s * 1000, signal);
    if (signal.aborted) return;
  }
  await driver.final();
}

/** The run's Results, built here once for every transport. */
async function results(
  options: TestOptions,
  driver: Driver,
  open: OpenTransport<unknown>,
  history: HistoryRecorder,
  clock: RunClock,
  signal: AbortSignal,
  log: Logger,
): Promise<Results> {
  const interrupted = signal.aborted;
  const report = driver.report();
  const errors: Results["errors"] = [
    ...(interrupted
      ? [{ kind: "interrupted", message: "the run was interrupted; the history so far is kept" }]
      : []),
    ...report.errors,
    ...(history.truncated
      ? [{ kind: "history-truncated", message: "history.jsonl hit its size limit" }]
      : []),
  ];
  const checkers: Record<string, CheckResult> = interrupted ? {} : await driver.check(history.ops);
  if (options.availability !== undefined && !interrupted) {
    checkers.availability = checkAvailability(history.ops, options.availability);
  }
  Object.assign(checkers, report.checkers);
  const faults = checkFaults(history.ops, { requested: options.nemesis.faults });
  const warnings = [...runWarnings(faults, checkers), ...open.warnings(history.ops)];
  for (const warning of warnings) log.info(`warning: ${warning}`);
  const valid = runVerdict(checkers, interrupted);
  return {
    valid,
    summary: verdictSummary(valid, checkers, interrupted),
    checkers,
    stats: checkStats(history.ops),
    net: open.stats(clientInvokes(history.ops)),
    seed: options.seed,
    errors,
    warnings,
    faults,
    nodes: report.nodes,
    duration_s: clock.now_ns() / 1e9,
  };
}

function clientInvokes(ops: readonly Op[]): number {
  return ops.filter((op) => op.type === "invoke" && op.process !== "nemesis").length;
}

/** The engine as a driver sees it (workloads/plugin.ts). */
function driverContext(parts: {
  options: TestOptions;
  dir: string;
  open: OpenTransport<unknown>;
  clock: RunClock;
  random: Random;
  history: HistoryRecorder;
  log: Logger;
  signal: AbortSignal;
  live: Live;
  role: DriverContext["role"];
}): DriverContext<unknown> {
  const { options, dir, open, clock, random, history, log, signal, live, role } = parts;
  let next_process = 0;
  return {
    settings: options,
    dir,
    net: open.net,
    clock,
    random,
    log,
    signal,
    get interrupted() {
      return signal.aborted;
    },
    history: {
      get ops() {
        return history.ops;
      },
      record: (event) => {
        const op = history.record(event);
        if (event.type !== "invoke" && event.process !== "nemesis") live.counts[event.type]++;
        return op;
      },
    },
    invoke: (process, f, value, node) =>
      history.invoke(process, f, value, node, (type) => live.counts[type]++),
    nextProcess: () => next_process++,
    setPhase: (phase) => {
      live.phase = phase;
    },
    scheduler: () => new RateScheduler(options.rate, clock, random.fork("scheduler")),
    spawn: (spec) =>
      new Program({
        id: spec.id,
        command: spec.command,
        runDir: dir,
        clock,
        mode: spec.stdout,
        ...(spec.cwd !== undefined && { cwd: spec.cwd }),
        ...(spec.env && { env: spec.env }),
        ...(spec.onEvent && { onEvent: spec.onEvent }),
        ...(spec.onExit && { onExit: spec.onExit }),
      }),
    stopPrograms,
    role,
  };
}
