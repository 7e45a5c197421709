// The history as the report's canvas code draws it: one compact column per field, so 100,000
// ops cost a few MB of JSON instead of 100,000 DOM nodes or objects. Times are integers in
// TIME_UNIT_NS; invoke times and indexes are delta-encoded (ops are in invocation order).
import { type Op, type Operation, pairOperations } from "../checkers/history.js";
import { printable, showValue } from "./escape.js";
import { compareNodeNames } from "./load-run.js";

/** Timeline resolution: 10 µs (finer than any latency a local run shows, and compact). */
export const TIME_UNIT_NS = 10_000;
/** Hover text of one value (the full value is in history.jsonl). */
export const VALUE_MAX_CHARS = 160;
/** Budget for all distinct value texts together; past it, values are left out (and counted). */
export const VALUE_TABLE_MAX_CHARS = 1_500_000;
/** Rows drawn at most; more processes than this share rows (and the report says so). */
export const MAX_TIMELINE_ROWS = 512;
/** Ops marked as involved in a violation, at most. */
export const MAX_MARKS = 2_000;

export const TYPE_CODES = { ok: 0, fail: 1, info: 2, pending: 3 } as const;
/** In the value columns: no value, or a value left out for the size budget. */
export const NO_VALUE = -1;
export const OMITTED_VALUE = -2;

export interface TimelinePayload {
  unit_ns: number;
  /** The last history event, in units: where pending ops end. */
  end: number;
  rows: string[];
  fs: string[];
  nodes: string[];
  strings: string[];
  /** Per op, in invocation order. */
  start: number[];
  dur: number[];
  row: number[];
  /** The op's Jepsen process minus its row's first process (0 for most ops). */
  proc: number[];
  /** Row's first process, to rebuild `proc`. */
  row_proc: number[];
  type: number[];
  f: number[];
  node: number[];
  /** Invoke history index, delta-encoded. */
  inv: number[];
  /** Completion index minus invoke index; -1 when the op never completed. */
  cmp: number[];
  v: number[];
  r: number[];
  values_omitted: number;
  rows_folded: boolean;
  /** Op positions a failing checker named, and which checker (index into `mark_names`). */
  marks: number[];
  mark_names: string[];
  marks_omitted: number;
}

export interface TimelineOptions {
  /** Client workers (test.json `concurrency`): process p is worker p mod concurrency. */
  concurrency?: number;
  /** History indexes each failing checker named. */
  marked?: Array<{ checker: string; ops: readonly number[] }>;
}

export function timelinePayload(
  history: readonly Op[],
  options: TimelineOptions = {},
): TimelinePayload {
  const operations = pairOperations(history);
  const end_ns = history.at(-1)?.time ?? 0;
  const unit = (ns: number) => Math.round(ns / TIME_UNIT_NS);
  const { rowOf, labels, firstProc, folded } = assignRows(operations, end_ns, options.concurrency);

  const fs = new Interner();
  const nodes = new Interner();
  const values = new ValueTable();
  const p: TimelinePayload = {
    unit_ns: TIME_UNIT_NS,
    end: unit(end_ns),
    rows: labels,
    fs: [],
    nodes: [],
    strings: [],
    start: [],
    dur: [],
    row: [],
    proc: [],
    row_proc: firstProc,
    type: [],
    f: [],
    node: [],
    inv: [],
    cmp: [],
    v: [],
    r: [],
    values_omitted: 0,
    rows_folded: folded,
    marks: [],
    mark_names: [],
    marks_omitted: 0,
  };
  let lastStart = 0;
  let lastInv = 0;
  const positionOf = new Map<number, number>();
  operations.forEach((o, position) => {
    const start = unit(o.invoke.time);
    p.start.push(start - lastStart);
    lastStart = start;
    p.dur.push(o.complete ? unit(o.complete.time) - start : -1);
    const row = rowOf.get(o.process) as number;
    p.row.push(row);
    p.proc.push(o.process - (firstProc[row] as number));
    p.type.push(o.complete ? TYPE_CODES[o.type] : TYPE_CODES.pending);
    p.f.push(fs.id(o.f));
    p.node.push(o.invoke.node === undefined ? -1 : nodes.id(o.invoke.node));
    p.inv.push(o.invoke.index - lastInv);
    lastInv = o.invoke.index;
    p.cmp.push(o.complete ? o.complete.index - o.invoke.index : -1);
    p.v.push(values.id(o.invoke.value, o.invoke.value !== null && o.invoke.value !== undefined));
    p.r.push(values.id(resultOf(o), o.complete !== undefined));
    positionOf.set(o.invoke.index, position);
    if (o.complete) positionOf.set(o.complete.index, position);
  });
  p.fs = fs.list;
  p.nodes = nodes.list;
  p.strings = values.list;
  p.values_omitted = values.omitted;

  for (const { checker, ops } of options.marked ?? []) {
    const name = p.mark_names.push(checker) - 1;
    for (const index of new Set(ops)) {
      const position = positionOf.get(index);
      if (position === undefined) continue;
      if (p.marks.length / 2 >= MAX_MARKS) {
        p.marks_omitted++;
        continue;
      }
      p.marks.push(position, name);
    }
  }
  return p;
}

/** What hover shows after the arrow: the ok value, or the error of a fail/info. */
function resultOf(o: Operation): unknown {
  if (!o.complete) return "(no completion: the history ended first)";
  if (o.type === "ok") return o.complete.value;
  return o.complete.error ?? o.complete.value;
}

/**
 * Rows: with the run's concurrency, one per client worker (a worker whose op timed out goes on
 * as process p + concurrency, Jepsen's rule, and stays on its row). A process that would
 * overlap its worker's row (e.g. the final-phase extra workers) gets a row of its own. Without
 * the concurrency (imported histories), one row per process.
 */
function assignRows(
  operations: readonly Operation[],
  end_ns: number,
  concurrency: number | undefined,
): { rowOf: Map<number, number>; labels: string[]; firstProc: number[]; folded: boolean } {
  const spans = new Map<number, { first: number; last: number; node: string | undefined }>();
  for (const o of operations) {
    const last = o.complete?.time ?? end_ns;
    const span = spans.get(o.process);
    if (span) span.last = Math.max(span.last, last);
    else spans.set(o.process, { first: o.invoke.time, last, node: o.invoke.node });
  }
  const processes = [...spans.keys()].sort(
    (a, b) => (spans.get(a)?.first ?? 0) - (spans.get(b)?.first ?? 0) || a - b,
  );
  const rowOf = new Map<number, number>();
  const labels: string[] = [];
  const firstProc: number[] = [];
  const rowFree: number[] = [];
  const workers = concurrency && concurrency > 0 ? Math.min(concurrency, MAX_TIMELINE_ROWS) : 0;
  let folded = false;
  const newRow = (process: number, label: string): number => {
    if (labels.length >= MAX_TIMELINE_ROWS) {
      folded = true;
      return process % MAX_TIMELINE_ROWS;
    }
    labels.push(label);
    firstProc.push(process);
    rowFree.push(Number.NEGATIVE_INFINITY);
    return labels.length - 1;
  };
  const label = (process: number) => {
    const node = spans.get(process)?.node;
    return `p${process}${node ? ` ${node}` : ""}`;
  };
  // Worker rows first and in worker order, so the top row is worker 0.
  const workerRow = new Map<number, number>();
  for (const process of [...processes].sort((a, b) => a - b)) {
    if (process >= workers) break;
    workerRow.set(process, newRow(process, label(process)));
  }
  for (const process of processes) {
    const span = spans.get(process) as { first: number; last: number };
    let row = workers > 0 ? workerRow.get(process % workers) : undefined;
    if (row === undefined) {
      row = newRow(process, label(process));
      if (workers > 0) workerRow.set(process % workers, row);
    } else if ((rowFree[row] as number) > span.first) {
      row = newRow(process, label(process)); // would overlap its worker's ops
    }
    rowOf.set(process, row);
    rowFree[row] = Math.max(rowFree[row] as number, span.last);
  }
  return { rowOf, labels, firstProc, folded };
}

/** Interns strings to small integers. */
class Interner {
  readonly list: string[] = [];
  private readonly ids = new Map<string, number>();
  id(text: string): number {
    let id = this.ids.get(text);
    if (id === undefined) {
      id = this.list.push(printable(text)) - 1;
      this.ids.set(text, id);
    }
    return id;
  }
}

/** Value texts, deduplicated and cut to VALUE_MAX_CHARS, within VALUE_TABLE_MAX_CHARS. */
class ValueTable {
  readonly list: string[] = [];
  omitted = 0;
  private chars = 0;
  private readonly ids = new Map<string, number>();
  id(value: unknown, present: boolean): number {
    if (!present) return NO_VALUE;
    const text = printable(showValue(value, VALUE_MAX_CHARS));
    let id = this.ids.get(text);
    if (id === undefined) {
      if (this.chars + text.length > VALUE_TABLE_MAX_CHARS) {
        this.omitted++;
        return OMITTED_VALUE;
      }
      this.chars += text.length;
      id = this.list.push(text) - 1;
      this.ids.set(text, id);
    }
    return id;
  }
}

export function sortedNodes(nodes: Iterable<string>): string[] {
  return [...nodes].sort(compareNodeNames);
}
