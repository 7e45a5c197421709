// The files every run keeps, whatever its transport (ARCHITECTURE.md "The store"): a fresh run
// directory with faultline.log attached, test.json and history.jsonl at the start, results.json at
// the end.
import { dirname, join } from "node:path";
import type { TransportName } from "../workloads/plugin.js";
import type { RunClock } from "./clock.js";
import { EXIT, exitCodeFor, SetupError } from "./exit-codes.js";
import { HistoryRecorder } from "./history-recorder.js";
import type { Logger } from "./logger.js";
import { createRunDir, STORE_FILES, writeJson } from "./store.js";
import type { Results, RunOutcome, TestOptions } from "./test-options.js";

export interface RunStart {
  options: TestOptions;
  /** The test's name in the store, e.g. "lsp-reference". */
  name: string;
  /** Named in the log line and test.json; the maelstrom transport goes unnamed. */
  transport?: Exclude<TransportName, "maelstrom">;
  /** What test.json holds beyond the options (a field of the options here replaces it). */
  extra: Record<string, unknown>;
  clock: RunClock;
  log: Logger;
  /** A reference run (--against-reference): `store/latest` stays on the user's run. */
  reference?: boolean;
}

/** Creates the run directory, logs into it, writes test.json and opens history.jsonl. */
export function openRun(start: RunStart): { dir: string; history: HistoryRecorder } {
  const { options, transport, clock, log } = start;
  const dir = createRunDir(options.store, start.name, new Date(), !start.reference);
  log.attach(join(dir, STORE_FILES.log));
  log.info(`run ${dir} (seed ${options.seed}${transport ? `, ${transport} transport` : ""})`);
  writeJson(join(dir, STORE_FILES.test), {
    ...options,
    ...(transport && { transport }),
    ...start.extra,
    wall_start_ms: clock.wall_start_ms,
  });
  return { dir, history: new HistoryRecorder(join(dir, STORE_FILES.history), clock) };
}

/** Writes results.json; an interrupted run could not say anything, whatever its checkers. */
export function finishRun(
  dir: string,
  results: Results,
  interrupted: boolean,
  log: Logger,
): RunOutcome {
  writeJson(join(dir, STORE_FILES.results), results);
  log.info(`wrote ${join(dir, STORE_FILES.results)}`);
  return { dir, results, exitCode: interrupted ? EXIT.couldNotRun : exitCodeFor(results.valid) };
}

/**
 * A run that could not be carried out (exit 3) once its directory exists: store/latest already
 * points there, so faultline.log ends with the reason and results.json says the run could not run.
 */
export function recordCouldNotRun(log: Logger, seed: number, err: unknown): void {
  const logFile = log.attachedFile;
  if (logFile === undefined) return; // no run directory yet, and `latest` did not move
  const message = err instanceof Error ? err.message : String(err);
  log.toFile(`could not run: ${message}`);
  writeJson(join(dirname(logFile), STORE_FILES.results), {
    valid: "unknown",
    status: "could-not-run",
    summary: `Could not run: ${message}`,
    checkers: {},
    seed,
    errors: [{ kind: err instanceof SetupError ? "setup" : "internal", message }],
    warnings: [],
  });
}
