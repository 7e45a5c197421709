// Jepsen `history.edn` (one op map per line, or Knossos' single vector of maps) -> our Op[].
// Op maps: {:type :invoke|:ok|:fail|:info, :f :read|:write|:cas|…, :value v, :process p,
// :time ns?, :index i?, :error e?}. Non-integer processes (:nemesis) become "nemesis" ops,
// which the checkers skip. Keywords read as strings (`:read` -> "read").

import { HistoryError, OP_TYPES, type Op, type OpType } from "../../checkers/history.js";
import { EdnError, EdnReader } from "./edn.js";

export interface ImportedOps {
  history: Op[];
  /** The file line each op came from (1-based), for error messages. */
  lines: number[];
  /** The first op whose :time goes backwards, when the ops were timed by position instead. */
  retimedAt?: { op: number; line: number };
}

export function parseJepsenEdn(text: string): ImportedOps {
  let forms: { value: unknown; line: number }[];
  try {
    forms = EdnReader.readAll(text);
  } catch (err) {
    if (err instanceof EdnError)
      throw new HistoryError(err.line, `not valid EDN (${err.message.replace(/^line \d+: /, "")})`);
    throw err;
  }
  // Knossos also stores a history as one vector of op maps.
  const first = forms[0];
  if (forms.length === 1 && first && Array.isArray(first.value)) {
    forms = (first.value as unknown[]).map((value) => ({ value, line: first.line }));
  }
  const raw = forms.map(({ value, line }) => {
    if (typeof value !== "object" || value === null || Array.isArray(value)) {
      throw new HistoryError(
        line,
        "expected an op map like {:type :invoke, :f :read, :value nil, :process 0}",
      );
    }
    return { op: value as Record<string, unknown>, line };
  });
  // Histories without :time (Knossos test data) are timed by position.
  const timed = raw.length > 0 && raw.every(({ op }) => op.time !== undefined);
  const history: Op[] = [];
  const lines: number[] = [];
  let lastTime = 0;
  let backwardsAt: { op: number; line: number } | undefined;
  for (const { op: m, line } of raw) {
    const type = m.type;
    if (typeof type !== "string" || !OP_TYPES.includes(type as OpType)) {
      throw new HistoryError(
        line,
        `:type must be one of ${OP_TYPES.map((t) => `:${t}`).join(", ")}`,
      );
    }
    if (typeof m.f !== "string" || m.f === "")
      throw new HistoryError(line, ":f must be a keyword like :read");
    let time = history.length;
    if (timed) {
      if (typeof m.time !== "number" || !(m.time >= 0)) {
        throw new HistoryError(line, ":time must be a non-negative number of nanoseconds");
      }
      if (m.time < lastTime) backwardsAt ??= { op: history.length, line };
      time = m.time;
      lastTime = time;
    }
    const process =
      Number.isSafeInteger(m.process) && (m.process as number) >= 0
        ? (m.process as number)
        : undefined;
    if (process === undefined && m.process !== "nemesis") {
      if (typeof m.process !== "string") {
        throw new HistoryError(line, ":process must be a non-negative integer or :nemesis");
      }
    }
    const op: Op = {
      index: history.length,
      time,
      process: process ?? "nemesis",
      type: type as OpType,
      f: m.f,
      value: m.value === undefined ? null : m.value,
    };
    if (m.error !== undefined) op.error = m.error;
    history.push(op);
    lines.push(line);
  }
  if (backwardsAt === undefined) return { history, lines };
  // Jepsen appends ops to the history in the order they happen; :time is each thread's clock
  // read before the append, so it can run a little backwards. The order is what counts, as
  // in Knossos.
  for (const op of history) op.time = op.index;
  return { history, lines, retimedAt: backwardsAt };
}

/**
 * Jepsen's keyed workloads (jepsen.independent, Maelstrom's lin-kv) write each client op's
 * value as a `[key value]` tuple: read `[k v]`, write `[k v]`, cas `[k [from to]]`. This
 * rewrites them into the kv model's `{key, value}` / `{key, from, to}`; ops already in that
 * shape (EDN maps) and nemesis ops pass through.
 */
export function fromIndependentTuples({ history, lines }: ImportedOps): ImportedOps {
  const out = history.map((op, i): Op => {
    if (op.process === "nemesis" || !Array.isArray(op.value)) return op;
    const line = lines[i] ?? i + 1;
    if (op.value.length !== 2) {
      throw new HistoryError(line, "a keyed op's :value must be a [key value] tuple");
    }
    const [key, v] = op.value as [unknown, unknown];
    if (op.f !== "cas") return { ...op, value: { key, value: v } };
    if (op.type === "invoke" || op.type === "ok" || v !== null) {
      if (!Array.isArray(v) || v.length !== 2) {
        throw new HistoryError(line, "a keyed cas's :value must be [key [from to]]");
      }
      return { ...op, value: { key, from: v[0], to: v[1] } };
    }
    return { ...op, value: { key } };
  });
  return { history: out, lines };
}

/**
 * Knossos' register and cas-register models accept an ok read of nil in any state: Jepsen
 * clients record nil when they do not know what was read. This rewrites each such read's
 * completion to `info`, so the checker leaves it out as an effect-free indeterminate op —
 * the same verdict, since an op that fits every state and changes none can be placed
 * anywhere in its interval. `keyed`: kv reads (after fromIndependentTuples), whose
 * `{key, value}` counts when its value is nil. Returns the rewritten ops and how many reads
 * were rewritten.
 */
export function nilReadsAsUnknown(
  { history, lines }: ImportedOps,
  keyed: boolean,
): { imported: ImportedOps; count: number } {
  let count = 0;
  const out = history.map((op): Op => {
    if (op.type !== "ok" || op.f !== "read") return op;
    // A malformed kv read is left alone for the checker to name.
    const read = keyed ? (op.value as { value?: unknown } | null) : { value: op.value };
    if (typeof read !== "object" || read === null || read.value !== null) return op;
    count++;
    return { ...op, type: "info" };
  });
  return { imported: { history: out, lines }, count };
}
