// Fault effectiveness (ARCHITECTURE.md "Faults"): for each fault interval in the history, how many
// client ops overlapped it and how many of those failed or were indeterminate. A fault that touched
// no op proved nothing, and the run says so — informational, never a violation.
import { type Op, pairOperations } from "./history.js";
import type { CheckResult } from "./result.js";

export interface FaultInterval {
  kind: string;
  /** History indexes of the start event and of the stop (or heal) event that ended it. */
  start: number;
  stop: number | undefined;
  start_s: number;
  stop_s: number | undefined;
  value: unknown;
  ops_overlapping: number;
  ops_failed: number;
  ops_info: number;
}

export interface FaultIntervalOptions {
  /** Leave out nemesis events marked `final` (the mining run's deliberate last server kill). */
  skipFinal?: boolean;
}

export function faultIntervals(
  history: readonly Op[],
  options: FaultIntervalOptions = {},
): FaultInterval[] {
  const open = new Map<string, FaultInterval>();
  const intervals: FaultInterval[] = [];
  const close = (interval: FaultInterval, op: Op) => {
    interval.stop = op.index;
    interval.stop_s = op.time / 1e9;
  };
  for (const op of history) {
    if (op.process !== "nemesis") continue;
    if (options.skipFinal && (op.value as { final?: boolean } | null)?.final) continue;
    const [verb, kind] = splitF(op.f);
    if (verb === "start" && kind) {
      const previous = open.get(kind);
      if (previous) close(previous, op);
      const interval: FaultInterval = {
        kind,
        start: op.index,
        stop: undefined,
        start_s: op.time / 1e9,
        stop_s: undefined,
        value: op.value,
        ops_overlapping: 0,
        ops_failed: 0,
        ops_info: 0,
      };
      open.set(kind, interval);
      intervals.push(interval);
    } else if (verb === "stop" && kind) {
      const interval = open.get(kind);
      if (interval) close(interval, op);
      open.delete(kind);
    } else if (op.f === "heal") {
      for (const interval of open.values()) close(interval, op);
      open.clear();
    }
  }
  const end = history.at(-1)?.time ?? 0;
  for (const operation of pairOperations(history)) {
    const from = operation.invoke.time;
    const to = operation.complete?.time ?? end;
    for (const interval of intervals) {
      const stop = interval.stop === undefined ? end : (history[interval.stop] as Op).time;
      if (from <= stop && to >= (history[interval.start] as Op).time) {
        interval.ops_overlapping++;
        if (operation.type === "fail") interval.ops_failed++;
        if (operation.type === "info") interval.ops_info++;
      }
    }
  }
  return intervals;
}

/** Whether any fault interval covers some point of [from_ns, to_ns]; one never stopped lasts on. */
export function faultActivity(
  history: readonly Op[],
  options: FaultIntervalOptions = {},
): (from_ns: number, to_ns: number) => boolean {
  const time = (index: number) => (history[index] as Op).time;
  const spans = faultIntervals(history, options).map((i) => ({
    start: time(i.start),
    stop: i.stop === undefined ? Number.POSITIVE_INFINITY : time(i.stop),
  }));
  return (from, to) => spans.some((s) => from <= s.stop && to >= s.start);
}

export function checkFaults(
  history: readonly Op[],
  options: { requested: readonly string[] },
): CheckResult {
  const intervals = faultIntervals(history);
  const warnings: string[] = [];
  if (options.requested.length > 0 && intervals.length === 0) {
    warnings.push(
      `faults were requested (${options.requested.join(", ")}) but none started: the run was too short for the nemesis interval`,
    );
  }
  for (const interval of intervals) {
    if (interval.ops_overlapping === 0) {
      warnings.push(
        `the ${interval.kind} fault at ${interval.start_s.toFixed(1)} s overlapped no operation: it proved nothing`,
      );
    }
  }
  for (const op of history) {
    const unmoved = (op.value as { unmoved?: unknown } | null)?.unmoved;
    if (op.process === "nemesis" && op.f === "start-clock" && Array.isArray(unmoved)) {
      warnings.push(
        `the clock fault at ${(op.time / 1e9).toFixed(1)} s could not move the clock of ${unmoved.join(", ")}: no process of ${unmoved.length === 1 ? "that node" : "those nodes"} loaded libfaketime (a statically linked binary, or a wrapper that cleared LD_PRELOAD)`,
      );
    }
    if (op.process === "nemesis" && op.f === "script-stopped") {
      const reason = String((op.value as { reason?: unknown } | null)?.reason ?? "no reason given");
      warnings.push(
        `the nemesis script stopped at ${(op.time / 1e9).toFixed(1)} s (${reason}): the schedule it drives did not unfold`,
      );
    }
  }
  const bit = intervals.filter((i) => i.ops_overlapping > 0).length;
  const summary =
    intervals.length === 0
      ? "no fault was injected"
      : `${intervals.length} fault interval${intervals.length === 1 ? "" : "s"}, ${bit} of which overlapped client operations`;
  return { valid: true, summary, intervals, warnings };
}

function splitF(f: string): [string, string | undefined] {
  const dash = f.indexOf("-");
  return dash === -1 ? [f, undefined] : [f.slice(0, dash), f.slice(dash + 1)];
}
