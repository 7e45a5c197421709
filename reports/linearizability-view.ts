// The Porcupine-style view of a linearizability violation: the failing key's ops around the op
// that could not be placed, one row per process, the longest linearizable prefix drawn as
// numbered points inside its ops (in order, each within its op's call..return), the blocked op
// highlighted, and the model state after each point. Like Porcupine's visualiser, time is
// compressed to the rank of each call/return, so short ops stay visible next to long ones.
import { type Op, type Operation, pairOperations } from "../checkers/history.js";
import { printable, showValue, truncate } from "./escape.js";
import { num, record, records, type StoredCheck, str } from "./stored.js";

/** Ops drawn per failing key at most; the rest are counted in a notice. */
export const MAX_VIEW_OPS = 40;
/** How many of the prefix's last steps set the left edge of the window. */
export const WINDOW_STEPS = 12;
/** Failing keys drawn at most. */
export const MAX_VIEWS = 4;
/** Steps listed in the state table at most (the last ones, which lead to the failure). */
export const MAX_TABLE_STEPS = 40;
export const OP_TEXT_MAX_CHARS = 60;
export const STATE_MAX_CHARS = 120;

export interface LinStep {
  /** 1-based position in the linearization. */
  step: number;
  op: number;
  describe: string;
  state: string;
}

export interface LinView {
  key: string | null;
  result: string;
  reason: string | undefined;
  /** Ops in the partition (the key). */
  partition_ops: number;
  ops: Array<{
    /** History index of the invoke. */
    index: number;
    process: number;
    call: number;
    /** Rank of the return; `ranks` for an op that never returned (info / pending). */
    ret: number;
    text: string;
    /** 0 ok, 1 fail, 2 info, 3 pending. */
    type: number;
    /** 1-based step in the longest linearization, 0 when not in it. */
    step: number;
    blocked: boolean;
  }>;
  /** Number of distinct call/return ranks; the x axis runs 0..ranks. */
  ranks: number;
  /** Per drawn step: position in `ops`, step number, x (rank units), state after. */
  points: Array<[number, number, number, string]>;
  omitted_ops: number;
  steps: LinStep[];
  steps_total: number;
  blocked: { op: number; describe: string; state_before: string } | undefined;
  /** Distinct longest prefixes the search found (Porcupine's partial linearizations). */
  partials: number;
}

const TYPE = { ok: 0, fail: 1, info: 2 } as const;

export function linearizabilityViews(
  check: StoredCheck,
  history: readonly Op[] | undefined,
): LinView[] {
  const failures = records(check.failures);
  if (failures.length === 0) return [];
  let byInvoke = new Map<number, Operation>();
  if (history) {
    try {
      byInvoke = new Map(pairOperations(history).map((o) => [o.invoke.index, o]));
    } catch {
      // A broken history: the view shows the steps table without the drawing.
    }
  }
  const end_ns = history?.at(-1)?.time ?? 0;
  return failures.slice(0, MAX_VIEWS).map((f) => oneView(f, byInvoke, end_ns));
}

function oneView(
  failure: Record<string, unknown>,
  byInvoke: ReadonlyMap<number, Operation>,
  end_ns: number,
): LinView {
  const longest = records(failure.longest).map((s, i) => ({
    step: i + 1,
    op: num(s.op) ?? -1,
    describe: printable(truncate(str(s.describe) ?? "?", OP_TEXT_MAX_CHARS)),
    state: printable(truncate(str(s.state) ?? "?", STATE_MAX_CHARS)),
  }));
  const blockedRecord = record(failure.blocked);
  const blocked = blockedRecord
    ? {
        op: num(blockedRecord.op) ?? -1,
        describe: printable(truncate(str(blockedRecord.describe) ?? "?", OP_TEXT_MAX_CHARS)),
        state_before: printable(truncate(str(blockedRecord.state_before) ?? "?", STATE_MAX_CHARS)),
      }
    : undefined;
  const partitionOps = Object.keys(record(failure.partial_of) ?? {})
    .map(Number)
    .filter((i) => byInvoke.has(i));
  const view: LinView = {
    key: failure.key === null || failure.key === undefined ? null : String(failure.key),
    result: str(failure.result) ?? "illegal",
    reason: str(failure.reason),
    partition_ops: num(failure.ops) ?? partitionOps.length,
    ops: [],
    ranks: 0,
    points: [],
    omitted_ops: 0,
    steps: longest.slice(-MAX_TABLE_STEPS),
    steps_total: longest.length,
    blocked,
    partials: Array.isArray(failure.partials) ? failure.partials.length : 0,
  };
  if (byInvoke.size === 0) return view;

  const stepOf = new Map(longest.map((s) => [s.op, s]));
  const callOf = (i: number) => byInvoke.get(i)?.invoke.time ?? 0;
  const returnOf = (i: number) => byInvoke.get(i)?.complete?.time ?? Number.POSITIVE_INFINITY;

  // The window: from the earliest call among the last WINDOW_STEPS steps and the blocked op, to
  // the blocked op's return (or the last step's return when nothing was blocked).
  const anchors = [
    ...longest.slice(-WINDOW_STEPS).map((s) => s.op),
    ...(blocked ? [blocked.op] : []),
  ].filter((i) => byInvoke.has(i));
  if (anchors.length === 0) return view;
  const from = Math.min(...anchors.map(callOf));
  const lastAnchor = blocked && byInvoke.has(blocked.op) ? blocked.op : (anchors.at(-1) as number);
  const to = Math.min(returnOf(lastAnchor), end_ns);
  const inWindow = (partitionOps.length > 0 ? partitionOps : anchors).filter(
    (i) => callOf(i) <= to && returnOf(i) >= from,
  );
  // Keep the blocked op and the drawn steps first, then the ops closest to the blocked op's call.
  const centre = callOf(lastAnchor);
  const priority = (i: number) => (i === blocked?.op ? 0 : stepOf.has(i) ? 1 : 2);
  const chosen = [...new Set([...anchors, ...inWindow])]
    .sort(
      (a, b) =>
        priority(a) - priority(b) || Math.abs(callOf(a) - centre) - Math.abs(callOf(b) - centre),
    )
    .slice(0, MAX_VIEW_OPS)
    .sort((a, b) => callOf(a) - callOf(b));
  view.omitted_ops = new Set([...anchors, ...inWindow]).size - chosen.length;

  // Ranks: every distinct call and (finite) return time; "never returned" is one past the last.
  const times = [
    ...new Set(chosen.flatMap((i) => [callOf(i), returnOf(i)]).filter(Number.isFinite)),
  ].sort((a, b) => a - b);
  const rankOf = new Map(times.map((t, r) => [t, r]));
  view.ranks = times.length;
  const rank = (t: number) => (Number.isFinite(t) ? (rankOf.get(t) as number) : times.length);

  for (const i of chosen) {
    const o = byInvoke.get(i) as Operation;
    const step = stepOf.get(i);
    view.ops.push({
      index: i,
      process: o.process,
      call: rank(callOf(i)),
      ret: rank(returnOf(i)),
      text:
        step?.describe ??
        (i === blocked?.op
          ? blocked.describe
          : printable(truncate(describeOp(o), OP_TEXT_MAX_CHARS))),
      type: o.complete ? TYPE[o.type] : 3,
      step: step?.step ?? 0,
      blocked: i === blocked?.op,
    });
  }
  // Linearization points: in step order, each as early as its call allows but after the
  // previous point, never past its return. A valid prefix always fits; the clamp guards ranks.
  const drawn = view.ops
    .map((o, position) => ({ o, position }))
    .filter(({ o }) => o.step > 0)
    .sort((a, b) => a.o.step - b.o.step);
  const gap = drawn.length > 0 ? 0.5 / drawn.length : 0;
  let previous = Number.NEGATIVE_INFINITY;
  for (const { o, position } of drawn) {
    const x = Math.min(Math.max(o.call, previous + gap), o.ret);
    previous = x;
    view.points.push([position, o.step, x, (stepOf.get(o.index) as LinStep).state]);
  }
  return view;
}

/** "read 3 → 4", "write 3 7", "cas 3 1→2 (failed)" from the history alone. */
export function describeOp(o: Operation): string {
  const v = o.invoke.value;
  const parts = [o.f];
  let args: unknown = v;
  const r = record(v);
  if (r && "key" in r) {
    parts.push(showValue(r.key, 20));
    const { key: _key, ...rest } = r;
    args = rest;
  }
  const a = record(args);
  if (a && "from" in a && "to" in a) parts.push(`${showValue(a.from, 20)}→${showValue(a.to, 20)}`);
  else if (a && Object.keys(a).length === 1 && "value" in a) parts.push(showValue(a.value, 30));
  else if (a ? Object.keys(a).length > 0 : args !== null && args !== undefined)
    parts.push(showValue(args, 30));
  let text = parts.join(" ");
  if (!o.complete || o.type === "info") text += " (outcome unknown)";
  else if (o.type === "fail") text += " (failed)";
  else {
    const result = record(o.complete.value);
    const shown = result && "value" in result ? result.value : o.complete.value;
    if (o.f === "read" || o.f === "get" || o.f === "dequeue")
      text += ` → ${showValue(shown ?? null, 30)}`;
  }
  return text;
}
