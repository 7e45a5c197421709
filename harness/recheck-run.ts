// `faultline check RUN_DIR`: judge a stored run again with its workload's own checkers, as
// Jepsen's `analyze` does — for a run whose harness died before writing results.json, or to
// re-judge one after a checker fix. The run's test.json names the workload and its options;
// history.jsonl is read as far as it is whole, and every op still pending where it ends is
// closed as `info` (it may or may not have taken effect).
//
// Where the verdict goes: a run without results.json gets one (and its reports are rendered
// from it), since it never had a verdict; a run that has one keeps it untouched and the new
// verdict goes to recheck.json beside it.

import { existsSync, readFileSync, realpathSync } from "node:fs";
import { join } from "node:path";
import { checkFaults } from "../checkers/faults.js";
import { HistoryError, type Op } from "../checkers/history.js";
import type { CheckResult, Validity } from "../checkers/result.js";
import { checkStats } from "../checkers/stats.js";
import { writeRunReports } from "../reports/index.js";
import type { StoredTest } from "../reports/stored.js";
import { PLUGINS } from "../workloads/index.js";
import { Random } from "./random.js";
import { readHistory, STORE_FILES, writeJson } from "./store.js";
import { runVerdict, runWarnings, verdictSummary } from "./verdict.js";

/** Where a re-check that must not overwrite the run's own results.json writes its verdict. */
export const RECHECK_FILE = "recheck.json";

/** The error a pending op is closed with. */
export const PENDING_ERROR = "pending when the history ended";

/** A run that cannot be re-checked: one line saying why, exit 3. */
export class CannotRecheck extends Error {}

export interface Recheck {
  dir: string;
  workload: string;
  results: {
    valid: Validity;
    summary: string;
    checkers: Record<string, CheckResult>;
    stats: CheckResult;
    faults: CheckResult;
    warnings: string[];
    errors: Array<{ kind: string; message: string }>;
    seed: unknown;
    duration_s: number;
    /** Ops still pending where history.jsonl ended, closed as `info`. */
    pending: number;
  };
  /** The file the verdict was written to (results.json or recheck.json). */
  wrote: string;
  /** Set when results.json was written but its reports failed to render. */
  reportError?: string;
}

export async function recheckRun(dirArg: string): Promise<Recheck> {
  const dir = realpathSync(dirArg);
  const test = readTest(dirArg, dir);
  const workload = test.workload;
  if (typeof workload !== "string")
    throw new CannotRecheck(`${dirArg}/test.json names no workload`);
  const plugin = PLUGINS[workload];
  if (!plugin)
    throw new CannotRecheck(`${dirArg}/test.json names an unknown workload "${workload}"`);
  const cannot = () =>
    new CannotRecheck(
      `${dirArg} is a ${workload} run: its checkers need what the live run saw beyond history.jsonl, so it cannot be re-checked`,
    );
  const checkersOf = plugin.rechecker?.(test);
  if (!checkersOf) throw cannot();

  const historyPath = join(dir, STORE_FILES.history);
  if (!existsSync(historyPath)) throw new CannotRecheck(`${dirArg} has no ${STORE_FILES.history}`);
  let recorded: Op[];
  try {
    recorded = readHistory(historyPath);
  } catch (err) {
    if (err instanceof HistoryError) {
      throw new CannotRecheck(
        `${dirArg}/${STORE_FILES.history} ${err.message.replace(/^history /, "")}`,
      );
    }
    throw err;
  }
  const { ops, pending } = closePending(recorded);

  const requested = (test.nemesis as { faults?: unknown } | undefined)?.faults;
  const faultKinds = Array.isArray(requested) ? (requested as string[]) : [];
  const checkers = await checkersOf(ops, new Random(Number(test.seed) || 0));
  const faults = checkFaults(ops, { requested: faultKinds });
  const valid = runVerdict(checkers, false);
  const resultsPath = join(dir, STORE_FILES.results);
  const hadResults = existsSync(resultsPath);
  const results: Recheck["results"] = {
    valid,
    summary: verdictSummary(valid, checkers, false),
    checkers,
    stats: checkStats(ops),
    faults,
    warnings: runWarnings(faults, checkers),
    errors: [
      {
        kind: "rechecked",
        message: `judged again from ${STORE_FILES.history} by faultline check with the ${workload} workload's checkers (${pending} op${pending === 1 ? "" : "s"} ${PENDING_ERROR}, taken as indeterminate); the protocol and crash checks need the live run and are not repeated`,
      },
    ],
    seed: test.seed,
    duration_s: (ops.at(-1)?.time ?? 0) / 1e9,
    pending,
  };
  const wrote = join(dir, hadResults ? RECHECK_FILE : STORE_FILES.results);
  writeJson(wrote, results);
  const recheck: Recheck = { dir, workload, results, wrote };
  if (!hadResults) {
    try {
      await writeRunReports(dir);
    } catch (err) {
      recheck.reportError = (err as Error).message;
    }
  }
  return recheck;
}

function readTest(dirArg: string, dir: string): StoredTest {
  const path = join(dir, STORE_FILES.test);
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch {
    throw new CannotRecheck(
      `${dirArg} has no ${STORE_FILES.test}, so it is not a run directory (store/<test>/<timestamp> or store/latest)`,
    );
  }
  try {
    const test = JSON.parse(text) as unknown;
    if (typeof test !== "object" || test === null || Array.isArray(test))
      throw new Error("not an object");
    return test as StoredTest;
  } catch (err) {
    throw new CannotRecheck(
      `${dirArg}/${STORE_FILES.test} is not a JSON object (${(err as Error).message})`,
    );
  }
}

/**
 * Closes every client op still pending at the end of the history with an `info` completion
 * (Jepsen's reading of a crash: it may or may not have happened), at the last op's time.
 */
export function closePending(history: readonly Op[]): { ops: Op[]; pending: number } {
  const open = new Map<number, Op>();
  for (const op of history) {
    if (op.process === "nemesis") continue;
    if (op.type === "invoke") open.set(op.process, op);
    else open.delete(op.process);
  }
  const end = history.at(-1)?.time ?? 0;
  const ops = [...history];
  for (const invoke of open.values()) {
    ops.push({
      index: ops.length,
      time: end,
      process: invoke.process,
      type: "info",
      f: invoke.f,
      value: invoke.value,
      ...(invoke.node !== undefined && { node: invoke.node }),
      error: PENDING_ERROR,
      ...(invoke.final && { final: true }),
    });
  }
  return { ops, pending: open.size };
}
