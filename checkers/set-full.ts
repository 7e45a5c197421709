// The set checker for broadcast and g-set (systems/gossip/README.md "The interface, per workload";
// Jepsen's `set-full`, adapted).
//
// An element is *known* from the earliest of: its add's ok completion, or the completion of the
// first read that returned it (that is how an indeterminate add becomes known). Rules:
//  - lost: a final read (one per client worker, after the heal and the recovery wait) invoked
//    after the element was known does not contain it. A final read concurrent with the moment
//    the element became known may miss it; that is not counted.
//  - unexpected: a read returns a value no client ever tried to add, or one whose every add
//    failed (a `fail` means it definitely did not happen).
//  - duplicated: a read lists the same value twice; a set holds each value once.
// Indeterminate (`info`) adds may or may not appear. Any of these three is a violation; without
// any successful final read the verdict is "unknown".
//
// Jepsen's per-element timeline comes along as information: `stable` elements, which every
// read from some point on saw, the final reads included (so a lost element is never stable);
// `stale` ones, which some read after they became known
// missed first (normal for a gossip system; a violation only with `linearizable: true`);
// `never_read` ones; and the stable latency quantiles of the stable elements (from known until
// every later read saw the element). Cost: one pass over the reads' values plus O(log) per element and final read.
import { canonicalKey, listSome, plural, show } from "./canonical.js";
import { type Op, type Operation, pairOperations } from "./history.js";
import type { CheckResult } from "./result.js";

export interface SetFullOptions {
  /** The history `f` of adds: "broadcast" for broadcast, "add" for g-set. */
  addF: string;
  /** The history `f` of reads (default "read"); an ok read's value is the array of elements. */
  readF?: string;
  /** When true, a stale read (missing an element already known) is a violation too. */
  linearizable?: boolean;
}

/** How many lost/unexpected/duplicated/stale entries the result lists (all are counted). */
export const MAX_LISTED = 48;
/** Bound on the `ops` index list handed to the report. */
export const MAX_OPS = 256;
/**
 * The stable latency quantiles, by name. Named, not "0", "0.5", "1": JS objects (and so JSON)
 * put integer-like keys first, which printed them as 0, 1, 0.5, 0.95, 0.99.
 */
export const LATENCY_QUANTILES = [
  ["min", 0],
  ["p50", 0.5],
  ["p95", 0.95],
  ["p99", 0.99],
  ["max", 1],
] as const;

interface Element {
  value: unknown;
  okCount: number;
  infoCount: number;
  failCount: number;
  /** Index of the first ok add completion, if any. */
  okIndex?: number;
  /** History index and time (ns) from which the element is known to exist. */
  knownIndex?: number;
  knownTime?: number;
  /** Ascending positions (in `reads`) of the ok reads that returned it. */
  seenAt: number[];
  /** A final read invoked after it became known lacks it. */
  lost?: boolean;
}

interface Read {
  op: Operation;
  node: string;
  final: boolean;
  /** Distinct elements returned. */
  size: number;
}

export interface LostElement {
  value: unknown;
  /** True when an add of it was acknowledged (otherwise a read had returned it). */
  acknowledged: boolean;
  /** History index from which the element was known. */
  known_index: number;
  /** The final reads that missed it: node and history index of the read's completion. */
  missing_from: Array<{ node: string; op: number }>;
}

export interface UnexpectedElement {
  value: unknown;
  reason: "never added" | "every add failed";
  /** Completion indexes of the reads that returned it. */
  ops: number[];
}

export interface DuplicatedRead {
  node: string;
  /** Completion index of the read. */
  op: number;
  values: unknown[];
}

const isFinal = (o: Operation) => o.invoke.final === true || o.complete?.final === true;
const nodeOf = (o: Operation) => o.invoke.node ?? "?";
const NS_PER_MS = 1e6;

export function checkSetFull(history: readonly Op[], options: SetFullOptions): CheckResult {
  const readF = options.readF ?? "read";
  const noun = options.addF === "broadcast" ? "broadcast" : "add";
  const operations = pairOperations(history);

  // 1. Adds, by element.
  const elements = new Map<string | number, Element>();
  for (const o of operations) {
    if (o.f !== options.addF) continue;
    const key = keyOf(o.invoke.value);
    let e = elements.get(key);
    if (!e) {
      e = { value: o.invoke.value, okCount: 0, infoCount: 0, failCount: 0, seenAt: [] };
      elements.set(key, e);
    }
    if (o.type === "ok" && o.complete) {
      e.okCount++;
      if (e.okIndex === undefined || o.complete.index < e.okIndex) {
        e.okIndex = o.complete.index;
        e.knownIndex = o.complete.index;
        e.knownTime = o.complete.time;
      }
    } else if (o.type === "fail") e.failCount++;
    else e.infoCount++;
  }

  // 2. Reads, in invocation order (position i = the i-th ok read). Per element we record the
  //    ascending positions of the reads that returned it: that finds duplicates within a read,
  //    answers "did read i hold it?" by binary search, and drives the timeline below. The
  //    first read returning an element (by completion) makes it known, if its add did not.
  const reads: Read[] = [];
  const malformed: number[] = [];
  const duplicated: DuplicatedRead[] = [];
  let duplicatedCount = 0;
  const unexpected = new Map<string | number, UnexpectedElement>();
  for (const o of operations) {
    if (o.f !== readF || o.type !== "ok" || !o.complete) continue;
    const complete = o.complete;
    if (!Array.isArray(complete.value)) {
      malformed.push(complete.index);
      continue;
    }
    const position = reads.length;
    const twice: unknown[] = [];
    for (const value of complete.value) {
      const key = keyOf(value);
      const e = elements.get(key);
      if (!e || e.okCount + e.infoCount === 0) {
        let u = unexpected.get(key);
        if (!u) {
          u = { value, reason: e ? "every add failed" : "never added", ops: [] };
          unexpected.set(key, u);
        }
        if (u.ops.at(-1) === complete.index) twice.push(value);
        else u.ops.push(complete.index);
        continue;
      }
      if (e.seenAt.at(-1) === position) {
        twice.push(value);
        continue;
      }
      e.seenAt.push(position);
      if (e.knownIndex === undefined || complete.index < e.knownIndex) {
        e.knownIndex = complete.index;
        e.knownTime = complete.time;
      }
    }
    if (twice.length > 0) {
      duplicatedCount++;
      if (duplicated.length < MAX_LISTED) {
        duplicated.push({ node: nodeOf(o), op: complete.index, values: twice });
      }
    }
    reads.push({
      op: o,
      node: nodeOf(o),
      final: isFinal(o),
      size: complete.value.length - twice.length,
    });
  }
  const finalPositions = reads.flatMap((r, i) => (r.final ? [i] : []));
  const finalReads = finalPositions.map((i) => reads[i] as Read);

  // 3. Lost: known elements missing from a final read invoked after they became known.
  const lost: LostElement[] = [];
  for (const e of elements.values()) {
    if (e.knownIndex === undefined) continue;
    const known = e.knownIndex;
    const missing = finalPositions
      .filter((i) => (reads[i] as Read).op.invoke.index > known && !sortedHas(e.seenAt, i))
      .map((i) => {
        const r = reads[i] as Read;
        return { node: r.node, op: (r.op.complete as Op).index };
      });
    if (missing.length > 0) {
      e.lost = true;
      lost.push({
        value: e.value,
        acknowledged: e.okCount > 0,
        known_index: known,
        missing_from: missing,
      });
    }
  }
  lost.sort((a, b) => compareValues(a.value, b.value));

  // 4. Jepsen's timeline, as information.
  const timeline = elementTimeline(elements, reads);

  // Result.
  const acknowledged = [...elements.values()].filter((e) => e.okCount > 0).length;
  const everNodes = new Set(operations.filter((o) => o.invoke.node !== undefined).map(nodeOf));
  const finalNodes = new Set(finalReads.map((r) => r.node));
  const withoutFinal = [...everNodes].filter((n) => !finalNodes.has(n)).sort();
  const unexpectedList = [...unexpected.values()].sort((a, b) => compareValues(a.value, b.value));
  const details = {
    attempt_count: elements.size,
    acknowledged_count: acknowledged,
    read_count: reads.length,
    final_read_count: finalReads.length,
    final_reads: finalReads.map((r) => ({
      node: r.node,
      op: (r.op.complete as Op).index,
      size: r.size,
    })),
    nodes_without_final_read: withoutFinal,
    lost_count: lost.length,
    lost: lost.slice(0, MAX_LISTED),
    unexpected_count: unexpectedList.length,
    unexpected: unexpectedList.slice(0, MAX_LISTED),
    duplicated_count: duplicatedCount,
    duplicated,
    malformed_reads: malformed.slice(0, MAX_LISTED),
    ...timeline,
  };

  const problems: string[] = [];
  if (lost.length > 0) problems.push(describeLost(lost, acknowledged, noun));
  if (unexpectedList.length > 0) problems.push(describeUnexpected(unexpectedList));
  if (duplicatedCount > 0) problems.push(describeDuplicated(duplicated, duplicatedCount));
  if (malformed.length > 0) {
    problems.push(`${plural(malformed.length, "ok read")} returned something other than a list`);
  }
  if (options.linearizable && timeline.stale_count > 0) {
    problems.push(
      `${plural(timeline.stale_count, "element")} ${timeline.stale_count === 1 ? "was" : "were"} missed by a read after becoming known (stale reads)`,
    );
  }
  if (problems.length > 0) {
    const more = problems.length > 1 ? `; also ${problems.slice(1).join("; ")}` : "";
    const ops = [
      ...lost
        .slice(0, MAX_LISTED)
        .flatMap((l) => [l.known_index, ...l.missing_from.map((m) => m.op)]),
      ...unexpectedList.slice(0, MAX_LISTED).flatMap((u) => u.ops),
      ...duplicated.map((d) => d.op),
      ...malformed,
    ];
    return {
      valid: false,
      summary: `${capitalise(problems[0] as string)}${more}.`,
      ops: [...new Set(ops)].slice(0, MAX_OPS),
      ...details,
    };
  }
  if (finalReads.length === 0) {
    const tried = operations.filter((o) => o.f === readF && isFinal(o)).length;
    return {
      valid: "unknown",
      summary:
        tried === 0
          ? `The history has no final reads, so whether every acknowledged ${noun} reached every node is unknown.`
          : `None of the ${plural(tried, "final read")} succeeded, so whether every acknowledged ${noun} reached every node is unknown.`,
      ...details,
    };
  }
  const unchecked =
    withoutFinal.length === 0
      ? ""
      : ` (${listSome(withoutFinal, 5)} gave no successful final read and ${withoutFinal.length === 1 ? "was" : "were"} not checked)`;
  return {
    valid: true,
    summary:
      `${acknowledged === 1 ? `The 1 acknowledged ${noun} is` : `All ${acknowledged} acknowledged ${noun}s are`} in ` +
      `${finalReads.length === 1 ? "the final read" : `every one of the ${finalReads.length} final reads`} ` +
      `on ${listSome([...finalNodes].sort(), 8)}${unchecked}.`,
    ...details,
  };
}

function describeLost(lost: readonly LostElement[], acknowledged: number, noun: string): string {
  // How many of the lost values each node's final read(s) lacked.
  const perNode = new Map<string, number>();
  for (const l of lost) {
    for (const node of new Set(l.missing_from.map((m) => m.node))) {
      perNode.set(node, (perNode.get(node) ?? 0) + 1);
    }
  }
  const nodes = [...perNode.keys()].sort();
  const counts = nodes.map((n) => `${n} lacks ${perNode.get(n)}`);
  const where =
    nodes.length === 1 ? `${nodes[0]}'s final read` : `final reads (${listSome(counts, 5)})`;
  const values = listSome(
    lost.map((l) => show(l.value)),
    10,
  );
  const allAcked = lost.every((l) => l.acknowledged);
  const what = allAcked
    ? `${lost.length} of ${acknowledged} acknowledged ${noun}s ${lost.length === 1 ? "is" : "are"}`
    : `${plural(lost.length, "value")} that ${lost.length === 1 ? "was" : "were"} acknowledged or already read ${lost.length === 1 ? "is" : "are"}`;
  return `${what} missing from ${where}: ${values}`;
}

function describeUnexpected(unexpected: readonly UnexpectedElement[]): string {
  const first = unexpected[0] as UnexpectedElement;
  const why =
    first.reason === "never added" ? "which no client ever added" : "whose every add failed";
  const others = unexpected.length > 1 ? ` (${unexpected.length} such values)` : "";
  return `a read at history index ${first.ops[0]} returned ${show(first.value)}, ${why}${others}`;
}

function describeDuplicated(duplicated: readonly DuplicatedRead[], count: number): string {
  const first = duplicated[0] as DuplicatedRead;
  const others = count > 1 ? ` (${count} reads list duplicates)` : "";
  return `a read on ${first.node} at history index ${first.op} lists ${show(first.values[0])} more than once${others}`;
}

/**
 * Jepsen's per-element outcome over all ok reads, in invocation order. O(log) per element:
 * `seenAt` is strictly increasing, so seenAt[j] - j never decreases, and the run of reads at
 * the end that all returned the element is found by binary search.
 */
function elementTimeline(elements: ReadonlyMap<string | number, Element>, reads: readonly Read[]) {
  const latencies_ms: number[] = [];
  const stale: Array<{ value: unknown; stale_ms: number; last_missed_by: number }> = [];
  let stable = 0;
  let neverRead = 0;
  const count = reads.length;
  for (const e of elements.values()) {
    if (e.knownIndex === undefined || e.knownTime === undefined) continue;
    const known = e.knownIndex;
    // The first read invoked after the element became known.
    const first = lowerBound(count, (i) => (reads[i] as Read).op.invoke.index > known);
    if (first === count) {
      neverRead++;
      continue;
    }
    if (e.lost) continue; // reported above; a later read seeing it does not make it stable
    const seen = e.seenAt;
    const m = seen.length;
    if (seen[m - 1] !== count - 1) continue; // the latest read missed it: lost (reported above)
    // seen[j..m-1] are exactly the reads count-(m-j) .. count-1 iff seen[j] - j === count - m.
    const j = lowerBound(m, (k) => (seen[k] as number) - k === count - m);
    const lastAbsent = (seen[j] as number) - 1; // the latest read that did not return it
    stable++;
    const missedLate = lastAbsent >= first ? (reads[lastAbsent] as Read) : undefined;
    const stableTime = missedLate ? missedLate.op.invoke.time : e.knownTime;
    const latency = Math.max(0, stableTime - e.knownTime) / NS_PER_MS;
    latencies_ms.push(latency);
    if (missedLate) {
      stale.push({ value: e.value, stale_ms: latency, last_missed_by: missedLate.op.invoke.index });
    }
  }
  latencies_ms.sort((a, b) => a - b);
  stale.sort((a, b) => b.stale_ms - a.stale_ms);
  const quantiles: Record<string, number> = {};
  if (latencies_ms.length > 0) {
    for (const [name, q] of LATENCY_QUANTILES) {
      const index = Math.min(latencies_ms.length - 1, Math.floor(q * latencies_ms.length));
      quantiles[name] = latencies_ms[index] as number;
    }
  }
  return {
    stable_count: stable,
    stale_count: stale.length,
    worst_stale: stale.slice(0, MAX_LISTED),
    never_read_count: neverRead,
    stable_latency_ms: quantiles,
  };
}

/** The smallest i in [0, n) with pred(i) true, or n; pred must be monotone (false…true). */
function lowerBound(n: number, pred: (i: number) => boolean): number {
  let lo = 0;
  let hi = n;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (pred(mid)) hi = mid;
    else lo = mid + 1;
  }
  return lo;
}

/** Whether the ascending array holds `value`. */
function sortedHas(sorted: readonly number[], value: number): boolean {
  const i = lowerBound(sorted.length, (k) => (sorted[k] as number) >= value);
  return sorted[i] === value;
}

/**
 * The map key of an element: numbers (what the workloads add) as themselves, which is several
 * times faster than a string key; anything else as its canonical JSON.
 */
function keyOf(value: unknown): string | number {
  return typeof value === "number" ? value : canonicalKey(value);
}

/** Numbers ascending, then everything else by its JSON text. */
function compareValues(a: unknown, b: unknown): number {
  if (typeof a === "number" && typeof b === "number") return a - b;
  if (typeof a === "number") return -1;
  if (typeof b === "number") return 1;
  const x = canonicalKey(a);
  const y = canonicalKey(b);
  return x < y ? -1 : x > y ? 1 : 0;
}

function capitalise(text: string): string {
  return text.charAt(0).toUpperCase() + text.slice(1);
}
