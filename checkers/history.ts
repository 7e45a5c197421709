// The history schema: one module, shared by the harness (writer), checkers (readers) and
// importers. Jepsen's model: every client op is an `invoke` followed by exactly one of
// `ok` (happened), `fail` (definitely did not happen) or `info` (unknown).

export const OP_TYPES = ["invoke", "ok", "fail", "info"] as const;
export type OpType = (typeof OP_TYPES)[number];
export type CompletionType = Exclude<OpType, "invoke">;

/** A client worker's Jepsen process id, or the nemesis. */
export type Process = number | "nemesis";

export interface Op {
  /** Position in the history, dense from 0. */
  index: number;
  /** Nanoseconds since the run started, from the harness's monotonic clock. */
  time: number;
  process: Process;
  type: OpType;
  f: string;
  value: unknown;
  /** The node a client op was sent to. */
  node?: string;
  /** For fail/info: `[name, text]` or another description of what went wrong. */
  error?: unknown;
  /** True for the final-phase ops (final reads after heal). */
  final?: boolean;
}

/** A malformed history line; `line` is 1-based. */
export class HistoryError extends Error {
  constructor(
    readonly line: number,
    reason: string,
  ) {
    super(`history line ${line}: ${reason}`);
    this.name = "HistoryError";
  }
}

const KNOWN_KEYS = new Set([
  "index",
  "time",
  "process",
  "type",
  "f",
  "value",
  "node",
  "error",
  "final",
]);

/** Validates one decoded history record; throws HistoryError naming the line and the field. */
export function validateOp(raw: unknown, line: number): Op {
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) {
    throw new HistoryError(line, "expected a JSON object");
  }
  const r = raw as Record<string, unknown>;
  for (const key of Object.keys(r)) {
    if (!KNOWN_KEYS.has(key)) throw new HistoryError(line, `unknown field "${key}"`);
  }
  if (!Number.isSafeInteger(r.index) || (r.index as number) < 0) {
    throw new HistoryError(line, `"index" must be a non-negative integer`);
  }
  if (typeof r.time !== "number" || !Number.isFinite(r.time) || r.time < 0) {
    throw new HistoryError(line, `"time" must be a non-negative number of nanoseconds`);
  }
  if (r.process !== "nemesis" && !(Number.isSafeInteger(r.process) && (r.process as number) >= 0)) {
    throw new HistoryError(line, `"process" must be a non-negative integer or "nemesis"`);
  }
  if (!OP_TYPES.includes(r.type as OpType)) {
    throw new HistoryError(line, `"type" must be one of ${OP_TYPES.join(", ")}`);
  }
  if (typeof r.f !== "string" || r.f.length === 0) {
    throw new HistoryError(line, `"f" must be a non-empty string`);
  }
  if (r.node !== undefined && typeof r.node !== "string") {
    throw new HistoryError(line, `"node" must be a string`);
  }
  if (r.final !== undefined && typeof r.final !== "boolean") {
    throw new HistoryError(line, `"final" must be a boolean`);
  }
  const op: Op = {
    index: r.index as number,
    time: r.time,
    process: r.process as Process,
    type: r.type as OpType,
    f: r.f,
    value: r.value === undefined ? null : r.value,
  };
  if (r.node !== undefined) op.node = r.node as string;
  if (r.error !== undefined) op.error = r.error;
  if (r.final !== undefined) op.final = r.final as boolean;
  return op;
}

/**
 * Parses a `history.jsonl` text. Every line is validated; indexes must be dense and times
 * non-decreasing. A torn final line (no trailing newline, unparsable) — what a crash mid-write
 * leaves — is reported like any other malformed line unless `allowTornTail` is set.
 */
export function parseHistory(text: string, options: { allowTornTail?: boolean } = {}): Op[] {
  const lines = text.split("\n");
  if (lines.at(-1) === "") lines.pop();
  const ops: Op[] = [];
  let lastTime = 0;
  for (let i = 0; i < lines.length; i++) {
    const lineNo = i + 1;
    const source = lines[i] as string;
    if (source.trim() === "") throw new HistoryError(lineNo, "blank line");
    let raw: unknown;
    try {
      raw = JSON.parse(source);
    } catch (err) {
      const torn = i === lines.length - 1 && !text.endsWith("\n");
      if (torn && options.allowTornTail) break;
      throw new HistoryError(lineNo, `not valid JSON (${(err as Error).message})`);
    }
    const op = validateOp(raw, lineNo);
    if (op.index !== ops.length) {
      throw new HistoryError(lineNo, `"index" is ${op.index}, expected ${ops.length}`);
    }
    if (op.time < lastTime) throw new HistoryError(lineNo, `"time" goes backwards`);
    lastTime = op.time;
    ops.push(op);
  }
  return ops;
}

/** One line of `history.jsonl` (without the newline). */
export function serializeOp(op: Op): string {
  return JSON.stringify(op);
}

/** A client op with its completion, in invocation order. */
export interface Operation {
  process: number;
  f: string;
  invoke: Op;
  /** Undefined when the history ended while the op was still pending. */
  complete: Op | undefined;
  /** The outcome; a missing completion counts as `info`. */
  type: CompletionType;
}

/**
 * Pairs every client invoke with its completion. Nemesis events are skipped. Throws
 * HistoryError when a process invokes while it already has an op pending, or completes an op
 * it never invoked — both mean the history itself is broken.
 */
export function pairOperations(history: readonly Op[]): Operation[] {
  const pending = new Map<number, Operation>();
  const out: Operation[] = [];
  for (const op of history) {
    if (op.process === "nemesis") continue;
    if (op.type === "invoke") {
      if (pending.has(op.process)) {
        throw new HistoryError(op.index + 1, `process ${op.process} invokes with an op pending`);
      }
      const operation: Operation = {
        process: op.process,
        f: op.f,
        invoke: op,
        complete: undefined,
        type: "info",
      };
      pending.set(op.process, operation);
      out.push(operation);
    } else {
      const operation = pending.get(op.process);
      if (!operation) {
        throw new HistoryError(
          op.index + 1,
          `process ${op.process} completes an op it never invoked`,
        );
      }
      operation.complete = op;
      operation.type = op.type;
      pending.delete(op.process);
    }
  }
  return out;
}
