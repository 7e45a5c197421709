// The counter checker for g-counter and pn-counter (systems/gossip/README.md
// "The interface, per workload"): every final ok read must equal the sum of the acknowledged adds
// plus the deltas of some subset of the indeterminate (`info`) adds; failed adds certainly did not
// happen. The reachable sums are a set of integer ranges: start with {sum of ok adds}; for each
// info add of delta d, union the set with itself shifted by d, merging ranges that overlap or
// touch.
//
// Bound: n info adds could produce 2^n ranges. Small deltas make ranges touch and merge, but to
// be safe the set is capped at `maxRanges`; above the cap the ranges separated by the smallest
// gaps are merged. That only ever adds sums, so a read outside the coarsened set is still
// certainly wrong; the result says `approximate: true` when it happened.
//
// Non-final reads are checked too, against a bound that holds for any counter, even a stale
// one: a read can only reflect adds invoked before it returned, so it must lie between the sum
// of the negative and the sum of the positive deltas of those (non-failed) adds.
import { plural } from "./canonical.js";
import { type Op, type Operation, pairOperations } from "./history.js";
import type { CheckResult } from "./result.js";

/** An inclusive range of integers [lo, hi]. */
export type Range = [lo: number, hi: number];

export const MAX_RANGES = 1024;
/** How many wrong reads the result lists (all are counted). */
export const MAX_LISTED = 48;

export interface CounterOptions {
  /** Cap on the number of disjoint ranges kept (default MAX_RANGES). */
  maxRanges?: number;
}

export interface ReachableSums {
  /** Sorted, disjoint, non-adjacent ranges. */
  ranges: Range[];
  /** True when ranges were merged to respect the cap (the set may hold unreachable sums). */
  approximate: boolean;
}

/** Sums reachable from `base` plus any subset of `deltas`. */
export function reachableSums(
  base: number,
  deltas: readonly number[],
  maxRanges: number = MAX_RANGES,
): ReachableSums {
  if (!(Number.isSafeInteger(maxRanges) && maxRanges >= 1)) {
    throw new RangeError(`maxRanges must be a positive integer, got ${maxRanges}`);
  }
  let ranges: Range[] = [[base, base]];
  let approximate = false;
  for (const d of deltas) {
    if (d === 0) continue;
    ranges = union(
      ranges,
      ranges.map(([lo, hi]): Range => [lo + d, hi + d]),
    );
    if (ranges.length > maxRanges) {
      ranges = coarsen(ranges, maxRanges);
      approximate = true;
    }
  }
  return { ranges, approximate };
}

/** Union of two sorted disjoint range lists, merging ranges that overlap or touch. */
function union(a: readonly Range[], b: readonly Range[]): Range[] {
  const out: Range[] = [];
  let i = 0;
  let j = 0;
  while (i < a.length || j < b.length) {
    const takeA = j >= b.length || (i < a.length && (a[i] as Range)[0] <= (b[j] as Range)[0]);
    const [lo, hi] = (takeA ? a[i++] : b[j++]) as Range;
    const last = out.at(-1);
    if (last && lo <= last[1] + 1) last[1] = Math.max(last[1], hi);
    else out.push([lo, hi]);
  }
  return out;
}

/** Merges the ranges separated by the smallest gaps until at most `max` remain. */
function coarsen(ranges: readonly Range[], max: number): Range[] {
  const gaps = ranges.slice(1).map((r, i) => ({ i, gap: r[0] - (ranges[i] as Range)[1] }));
  gaps.sort((x, y) => x.gap - y.gap || x.i - y.i);
  const mergeAfter = new Set(gaps.slice(0, ranges.length - max).map((g) => g.i));
  const out: Range[] = [];
  for (let i = 0; i < ranges.length; i++) {
    const [lo, hi] = ranges[i] as Range;
    if (i > 0 && mergeAfter.has(i - 1)) (out.at(-1) as Range)[1] = hi;
    else out.push([lo, hi]);
  }
  return out;
}

/** Whether `value` lies in one of the sorted ranges (binary search). */
export function inRanges(ranges: readonly Range[], value: number): boolean {
  let lo = 0;
  let hi = ranges.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >>> 1;
    const [a, b] = ranges[mid] as Range;
    if (value < a) hi = mid - 1;
    else if (value > b) lo = mid + 1;
    else return true;
  }
  return false;
}

/** "150", "143..158" or "143..150 or 152..158" (at most 4 ranges shown). */
export function describeRanges(ranges: readonly Range[]): string {
  const parts = ranges.slice(0, 4).map(([lo, hi]) => (lo === hi ? `${lo}` : `${lo}..${hi}`));
  const more = ranges.length > 4 ? ` (and ${ranges.length - 4} more ranges)` : "";
  return `${parts.join(" or ")}${more}`;
}

export interface WrongRead {
  /** History indexes of the read's invoke and ok completion. */
  invoke: number;
  complete: number;
  node?: string;
  final: boolean;
  value: unknown;
  /** What the value had to be. */
  expected: string;
}

const isFinal = (o: Operation) => o.invoke.final === true || o.complete?.final === true;
/** No reply in time (harness/completion.ts), or no completion at all. */
const isTimeout = (o: Operation) =>
  !o.complete || (Array.isArray(o.complete.error) && o.complete.error[0] === "net-timeout");

export function checkCounter(history: readonly Op[], options: CounterOptions = {}): CheckResult {
  const operations = pairOperations(history);
  const adds = operations.filter((o) => o.f === "add");
  const reads = operations.filter((o) => o.f === "read" && o.type === "ok" && o.complete);

  for (const add of adds) {
    if (!Number.isSafeInteger(add.invoke.value)) {
      return {
        valid: "unknown",
        summary: `The add at history index ${add.invoke.index} has a non-integer delta, so sums cannot be checked.`,
        ops: [add.invoke.index],
      };
    }
  }
  const delta = (o: Operation) => o.invoke.value as number;
  const okAdds = adds.filter((o) => o.type === "ok");
  const infoAdds = adds.filter((o) => o.type === "info");
  const okSum = okAdds.reduce((sum, o) => sum + delta(o), 0);
  const { ranges, approximate } = reachableSums(okSum, infoAdds.map(delta), options.maxRanges);
  const expectedFinal = describeRanges(ranges);

  const wrong: WrongRead[] = [];
  const record = (o: Operation, final: boolean, expected: string) => {
    const complete = o.complete as Op;
    wrong.push({
      invoke: o.invoke.index,
      complete: complete.index,
      ...(o.invoke.node !== undefined && { node: o.invoke.node }),
      final,
      value: complete.value,
      expected,
    });
  };

  // Final reads: exact reachable set. The ones without an ok are counted, so a summary never
  // reads "1 of 1 final reads" when two more timed out.
  const finalReads = reads.filter(isFinal);
  const unanswered = operations.filter((o) => o.f === "read" && o.type !== "ok" && isFinal(o));
  const timedOut = unanswered.filter(isTimeout).length;
  const failedFinal = unanswered.length - timedOut;
  for (const r of finalReads) {
    const value = (r.complete as Op).value;
    if (!(typeof value === "number" && Number.isSafeInteger(value) && inRanges(ranges, value))) {
      record(r, true, expectedFinal);
    }
  }
  const wrongFinal = wrong.length;

  // Non-final reads: within [sum of negative, sum of positive] deltas of non-failed adds
  // invoked before the read completed. One sweep in history order.
  const events: Array<{ at: number; add?: number; read?: Operation }> = [];
  for (const a of adds) if (a.type !== "fail") events.push({ at: a.invoke.index, add: delta(a) });
  for (const r of reads) if (!isFinal(r)) events.push({ at: (r.complete as Op).index, read: r });
  events.sort((x, y) => x.at - y.at);
  let low = 0;
  let high = 0;
  for (const e of events) {
    if (e.add !== undefined) {
      if (e.add < 0) low += e.add;
      else high += e.add;
      continue;
    }
    const r = e.read as Operation;
    const value = (r.complete as Op).value;
    if (
      !(typeof value === "number" && Number.isSafeInteger(value) && value >= low && value <= high)
    ) {
      record(r, false, low === high ? `${low}` : `${low}..${high}`);
    }
  }

  const details = {
    ok_add_count: okAdds.length,
    ok_add_sum: okSum,
    info_add_count: infoAdds.length,
    fail_add_count: adds.filter((o) => o.type === "fail").length,
    read_count: reads.length,
    final_read_count: finalReads.length,
    final_read_timed_out_count: timedOut,
    final_read_failed_count: failedFinal,
    possible: ranges,
    approximate,
    wrong_count: wrong.length,
    wrong_final_count: wrongFinal,
    wrong: wrong.slice(0, MAX_LISTED),
  };
  const uncertainty =
    infoAdds.length === 0
      ? ""
      : ` plus any subset of ${plural(infoAdds.length, "indeterminate add")}`;

  const notOk = [
    ...(timedOut > 0 ? [`${timedOut} timed out`] : []),
    ...(failedFinal > 0 ? [`${failedFinal} failed`] : []),
  ].join(" and ");
  if (wrong.length > 0) {
    const first = wrong[0] as WrongRead;
    const tried = finalReads.length + unanswered.length;
    const who = first.node === undefined ? "a" : `${first.node}'s`;
    const value = JSON.stringify(first.value);
    const summary = first.final
      ? `${who} final read returned ${value}, but the acknowledged adds sum to ${okSum}${uncertainty}, ` +
        `so it had to be ${expectedFinal} (${wrongFinal} of ${plural(tried, "final read")} ` +
        `${wrongFinal === 1 ? "is" : "are"} wrong${notOk ? `; ${notOk}` : ""}).`
      : `${who} read at history index ${first.complete} returned ${value}, impossible for any ` +
        `subset of the adds invoked before it (${first.expected}); ${wrong.length} reads are impossible.`;
    return {
      valid: false,
      summary,
      ops: wrong.slice(0, MAX_LISTED).flatMap((w) => [w.invoke, w.complete]),
      ...details,
    };
  }
  if (finalReads.length === 0) {
    return {
      valid: "unknown",
      summary: "No final read succeeded, so the counter's converged value could not be checked.",
      ...details,
    };
  }
  const range = ranges.length === 1 && (ranges[0] as Range)[0] === (ranges[0] as Range)[1];
  const more = plural(unanswered.length, "more final read");
  const alsoNotOk =
    unanswered.length === 0
      ? ""
      : timedOut > 0 && failedFinal > 0
        ? `; ${more}: ${notOk}`
        : `; ${more} ${notOk.replace(/^\d+ /, "")}`;
  const all = finalReads.length === 1 ? "The 1 final read" : `All ${finalReads.length} final reads`;
  return {
    valid: true,
    summary: range
      ? `${all} returned ${okSum}, the sum of the ${okAdds.length} acknowledged adds${alsoNotOk}.`
      : `${all} ${finalReads.length === 1 ? "lies" : "lie"} in ${expectedFinal}, the sums reachable from the ` +
        `${okAdds.length} acknowledged adds (${okSum})${uncertainty}${approximate ? " (ranges coarsened)" : ""}${alsoNotOk}.`,
    ...details,
  };
}
