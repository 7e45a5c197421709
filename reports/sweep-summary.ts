// A sweep's summary (sweep.json): the same test run once per seed, each run judged from its own
// stored files (ARCHITECTURE.md "The store"), then counted: how often the test catches the bug,
// how soon, and which distinct failures it found. Reads bounded files; never imports the engine.
import { readFileSync, statSync } from "node:fs";
import { isAbsolute, join, relative, sep } from "node:path";
import { truncate } from "./escape.js";
import { RUN_FILES } from "./load-run.js";
import { num, record, type StoredResults, str, validity } from "./stored.js";
import { invalidRunEvidence } from "./sweep-evidence.js";
import { type Proportion, quantile, wilsonInterval } from "./sweep-stats.js";

/** results.json / test.json above this size are not parsed (the run counts as unknown). */
export const MAX_RUN_JSON_BYTES = 32 * 1024 * 1024;
/** Distinct failures listed at most (the most frequent); the rest are counted. */
export const MAX_FAILURES = 100;
/** Seeds a distinct failure lists at most (the smallest). */
export const MAX_FAILURE_SEEDS = 20;
/** Cuts for text copied from the runs and the records. */
export const MAX_COMMAND_CHARS = 4_000;
export const MAX_RUN_SUMMARY_CHARS = 300;
export const MAX_NOTE_CHARS = 500;
export const SWEEP_FORMAT = "faultline-sweep/1";

/** One run of the sweep, as the orchestrator (or merge) knows it. */
export interface SweepRunRecord {
  seed: number;
  /** The run's directory (<store>/<test>/<stamp>), absolute, when the run made one. */
  run_dir?: string;
  /** The child's exit code; absent for runs gathered by merge (they have only their dir). */
  exit_code?: number;
  /** One line on why a run made no directory or could not run (e.g. faultline's last stderr line). */
  note?: string;
  wall_ms?: number;
}

export interface SweepMeta {
  command: string;
  started_at: string;
  finished_at: string;
  planned_runs: number;
  parallel?: number;
  interrupted?: boolean;
  /** The sweep's folder (where writeSweepFiles writes): run dirs inside it are kept relative. */
  dir?: string;
}

export type SweepStatus = "valid" | "invalid" | "unknown" | "could-not-run" | "interrupted";

export interface SweepRun {
  seed: number;
  status: SweepStatus;
  /** Relative to the sweep's folder when inside it, else absolute. */
  run_dir?: string;
  /** The command that repeats this run (test.json). */
  command?: string;
  /** The run's one-sentence verdict. */
  summary?: string;
  /** Invalid runs: seconds from the run's start to the earliest op or crash the failure names. */
  detection_s?: number;
  /** Invalid runs: the failure without its values (reports/sweep-evidence.ts). */
  signature?: string;
  duration_s?: number;
  exit_code?: number;
  wall_ms?: number;
  note?: string;
}

export interface SweepFailure {
  signature: string;
  count: number;
  /** count / invalid runs */
  share: number;
  /** The smallest seeds that hit it, at most MAX_FAILURE_SEEDS. */
  seeds: number[];
  /** Repeats the failure: the command of its smallest seed. */
  command?: string;
  run_dir?: string;
}

export interface SweepTotals {
  runs: number;
  /** valid + invalid + unknown: the runs that were judged. */
  completed: number;
  valid: number;
  invalid: number;
  unknown: number;
  could_not_run: number;
  interrupted: number;
}

export interface SweepSummary extends Omit<SweepMeta, "dir"> {
  format: typeof SWEEP_FORMAT;
  totals: SweepTotals;
  /** invalid / completed with its 95% Wilson interval; absent when no run completed. */
  catch_rate?: Proportion;
  /** Over the invalid runs whose detection time is known. */
  detection_s: { median?: number; p90?: number; known: number; unknown: number };
  failures: SweepFailure[];
  failures_not_listed: number;
  /** Ordered by seed. */
  runs: SweepRun[];
}

export function summarizeSweep(records: readonly SweepRunRecord[], meta: SweepMeta): SweepSummary {
  const runs = records
    .map((r) => summarizeRun(r, meta.dir))
    .sort((a, b) => a.seed - b.seed || (a.run_dir ?? "").localeCompare(b.run_dir ?? ""));
  const count = (status: SweepStatus) => runs.filter((r) => r.status === status).length;
  const totals: SweepTotals = {
    runs: runs.length,
    completed: count("valid") + count("invalid") + count("unknown"),
    valid: count("valid"),
    invalid: count("invalid"),
    unknown: count("unknown"),
    could_not_run: count("could-not-run"),
    interrupted: count("interrupted"),
  };
  const detections = runs
    .flatMap((r) => (r.status === "invalid" && r.detection_s !== undefined ? [r.detection_s] : []))
    .sort((a, b) => a - b);
  const failures = distinctFailures(runs, totals.invalid);
  const { dir: _dir, ...shown } = meta;
  return {
    format: SWEEP_FORMAT,
    ...shown,
    totals,
    catch_rate: wilsonInterval(totals.invalid, totals.completed),
    detection_s: {
      median: quantile(detections, 0.5),
      p90: quantile(detections, 0.9),
      known: detections.length,
      unknown: totals.invalid - detections.length,
    },
    failures: failures.slice(0, MAX_FAILURES),
    failures_not_listed: Math.max(0, failures.length - MAX_FAILURES),
    runs,
  };
}

/**
 * The sweep's exit code, in the order of what matters most: 1 when some run found a violation,
 * else 2 when some run could not decide, else 3 when some run could not run or was interrupted
 * (or the sweep was, or it has no run at all), else 0.
 */
export function sweepExitCode(summary: SweepSummary): number {
  const t = summary.totals;
  if (t.invalid > 0) return 1;
  if (t.unknown > 0) return 2;
  if (t.could_not_run > 0 || t.interrupted > 0 || summary.interrupted === true || t.runs === 0) {
    return 3;
  }
  return 0;
}

function summarizeRun(r: SweepRunRecord, sweepDir: string | undefined): SweepRun {
  const base: SweepRun = {
    seed: r.seed,
    status: "could-not-run",
    ...(r.run_dir !== undefined && { run_dir: shownDir(r.run_dir, sweepDir) }),
    ...(r.exit_code !== undefined && { exit_code: r.exit_code }),
    ...(r.wall_ms !== undefined && { wall_ms: r.wall_ms }),
    ...(r.note !== undefined && { note: truncate(r.note, MAX_NOTE_CHARS) }),
  };
  if (r.run_dir === undefined) {
    return { ...base, note: base.note ?? "the run made no directory" };
  }
  const test = readRunJson(r.run_dir, RUN_FILES.test);
  const command = str(test.value?.command);
  if (command !== undefined) base.command = truncate(command, MAX_COMMAND_CHARS);
  const results = readRunJson(r.run_dir, RUN_FILES.results);
  if (results.value === undefined) {
    // Without results.json the run was not judged: it stopped before the end, or its results
    // cannot be read (then it is unknown, as faultline test would have no verdict either).
    return results.problem === undefined
      ? { ...base, note: base.note ?? noResultsNote(r.exit_code) }
      : { ...base, status: "unknown", note: results.problem };
  }
  const stored = results.value as StoredResults;
  const run: SweepRun = { ...base, status: storedStatus(stored) };
  const summary = str(stored.summary);
  if (summary !== undefined) run.summary = truncate(summary, MAX_RUN_SUMMARY_CHARS);
  const duration_s = num(stored.duration_s);
  if (duration_s !== undefined) run.duration_s = duration_s;
  if (run.status === "invalid") {
    const evidence = invalidRunEvidence(stored, r.run_dir);
    run.signature = evidence.signature;
    if (evidence.detection_s !== undefined) run.detection_s = evidence.detection_s;
  }
  return run;
}

function storedStatus(results: StoredResults): SweepStatus {
  const status = results.status;
  if (status === "could-not-run" || status === "interrupted") return status;
  // A run stopped by Ctrl-C says so among its errors (harness/run.ts), its verdict unknown.
  const errors = Array.isArray(results.errors) ? (results.errors as unknown[]) : [];
  if (errors.some((e) => (e as { kind?: unknown } | null)?.kind === "interrupted")) {
    return "interrupted";
  }
  const valid = validity(results.valid);
  return valid === true ? "valid" : valid === false ? "invalid" : "unknown";
}

function noResultsNote(exit_code: number | undefined): string {
  return exit_code === undefined
    ? "no results.json: the run did not finish"
    : `no results.json: faultline exited with ${exit_code} before the run finished`;
}

/** A run dir as sweep.json keeps it: relative to the sweep's folder when inside it. */
function shownDir(runDir: string, sweepDir: string | undefined): string {
  if (sweepDir === undefined) return runDir;
  const rel = relative(sweepDir, runDir);
  if (rel === "" || rel.startsWith("..") || isAbsolute(rel)) return runDir;
  return rel.split(sep).join("/");
}

/** A JSON object file of a run, bounded; a missing file is neither a value nor a problem. */
function readRunJson(
  dir: string,
  file: string,
): { value?: Record<string, unknown>; problem?: string } {
  const path = join(dir, file);
  let size: number;
  try {
    size = statSync(path).size;
  } catch {
    return {};
  }
  if (size > MAX_RUN_JSON_BYTES) {
    return {
      problem: `${file} is ${(size / 2 ** 20).toFixed(0)} MiB, above the sweep's ${MAX_RUN_JSON_BYTES / 2 ** 20} MiB limit: not read`,
    };
  }
  try {
    const value = record(JSON.parse(readFileSync(path, "utf8")));
    return value ? { value } : { problem: `${file} is not a JSON object` };
  } catch (err) {
    return {
      problem: truncate(`${file} could not be read: ${(err as Error).message}`, MAX_NOTE_CHARS),
    };
  }
}

/** Invalid runs grouped by signature, most frequent first, then by smallest seed. */
function distinctFailures(runs: readonly SweepRun[], invalid: number): SweepFailure[] {
  const groups = new Map<string, SweepRun[]>();
  for (const r of runs) {
    if (r.status !== "invalid" || r.signature === undefined) continue;
    const group = groups.get(r.signature);
    if (group) group.push(r);
    else groups.set(r.signature, [r]);
  }
  return [...groups.entries()]
    .map(([signature, group]) => {
      const first = group[0] as SweepRun; // runs are in seed order
      return {
        signature,
        count: group.length,
        share: group.length / invalid,
        seeds: group.slice(0, MAX_FAILURE_SEEDS).map((r) => r.seed),
        ...(first.command !== undefined && { command: first.command }),
        ...(first.run_dir !== undefined && { run_dir: first.run_dir }),
      };
    })
    .sort((a, b) => b.count - a.count || (a.seeds[0] as number) - (b.seeds[0] as number));
}
