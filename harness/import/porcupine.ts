// Porcupine's test data formats (shared/data/porcupine/VERDICTS.md). Line order is real-time
// order, so the 0-based line position is each event's time, as in Porcupine's Event API.

import { HistoryError, type Op, type OpType } from "../../checkers/history.js";
import type { Operation, RegisterInput, RegisterOutput } from "../../checkers/porcupine/index.js";
import { EdnError, EdnReader } from "./edn.js";
import type { ImportedOps } from "./jepsen-edn.js";

/** Porcupine operations for the cas-register model, each named by its invoke's line position. */
export interface ImportedOperations {
  operations: Operation<RegisterInput, RegisterOutput>[];
  /** 0-based line position of each operation's invoke: the number results name it by. */
  refs: number[];
}

function splitLines(text: string): string[] {
  const lines = text.split("\n");
  if (lines.at(-1) === "") lines.pop();
  return lines.map((l) => l.replace(/\r$/, ""));
}

function readValue(text: string, lineNo: number): unknown {
  let forms: { value: unknown }[];
  try {
    forms = EdnReader.readAll(text);
  } catch (err) {
    if (err instanceof EdnError)
      throw new HistoryError(
        lineNo,
        `bad value "${text}" (${err.message.replace(/^line \d+: /, "")})`,
      );
    throw err;
  }
  if (forms.length !== 1) throw new HistoryError(lineNo, `expected one value, got "${text}"`);
  return (forms[0] as { value: unknown }).value;
}

const ETCD_LINE = /^INFO\s+jepsen\.util\s+-\s+(\S+)\s+:(\S+)\s+:(\S+)\s*(.*?)\s*$/;

/**
 * `jepsen/etcd_NNN.log`: `INFO  jepsen.util - <process> :<type> :<f> <value>`. Porcupine's
 * semantics: a `:fail :cas` ran and found another value (output ok=false); `:fail :read
 * :timed-out` closes the read there with an unknown output; `:info` leaves the op pending,
 * and pending ops return at the end of time with an unknown output.
 */
export function parseEtcdLog(text: string): ImportedOperations {
  const operations: Operation<RegisterInput, RegisterOutput>[] = [];
  const refs: number[] = [];
  const pending = new Map<
    number,
    { op: Operation<RegisterInput, RegisterOutput>; f: string; line: number }
  >();
  const lines = splitLines(text);
  lines.forEach((source, t) => {
    const lineNo = t + 1;
    const m = ETCD_LINE.exec(source);
    if (!m) {
      throw new HistoryError(
        lineNo,
        'expected "INFO jepsen.util - <process> :<type> :<f> <value>"',
      );
    }
    const [, processText, type, f, valueText] = m as unknown as [
      string,
      string,
      string,
      string,
      string,
    ];
    const process = Number(processText);
    if (!Number.isSafeInteger(process) || process < 0) {
      throw new HistoryError(
        lineNo,
        `process must be a non-negative integer, got "${processText}"`,
      );
    }
    if (f !== "read" && f !== "write" && f !== "cas") {
      throw new HistoryError(lineNo, `f must be :read, :write or :cas, got ":${f}"`);
    }
    const value = readValue(valueText === "" ? "nil" : valueText, lineNo);
    const casPair = (): [unknown, unknown] => {
      if (!Array.isArray(value) || value.length !== 2) {
        throw new HistoryError(lineNo, `a cas value must be [from to], got "${valueText}"`);
      }
      return [value[0], value[1]];
    };
    if (type === "invoke") {
      const open = pending.get(process);
      if (open) {
        throw new HistoryError(
          lineNo,
          `process ${process} invokes while its op from line ${open.line} is pending`,
        );
      }
      let input: RegisterInput;
      if (f === "read") input = { f: "read" };
      else if (f === "write") {
        if (typeof value !== "number")
          throw new HistoryError(lineNo, `a write value must be an integer, got "${valueText}"`);
        input = { f: "write", value };
      } else {
        const [from, to] = casPair();
        input = { f: "cas", from, to };
      }
      const op: Operation<RegisterInput, RegisterOutput> = { client: process, input, call: t };
      operations.push(op);
      refs.push(t);
      pending.set(process, { op, f, line: lineNo });
      return;
    }
    const open = pending.get(process);
    if (!open)
      throw new HistoryError(lineNo, `process ${process} completes an op it never invoked`);
    if (open.f !== f) {
      throw new HistoryError(
        lineNo,
        `process ${process} completes :${f} but invoked :${open.f} on line ${open.line}`,
      );
    }
    const op = open.op;
    switch (type) {
      case "ok":
        if (f === "read") {
          if (value !== null && typeof value !== "number") {
            throw new HistoryError(lineNo, `a read returns nil or an integer, got "${valueText}"`);
          }
          op.output = { value };
        } else if (f === "write") op.output = {};
        else {
          casPair();
          op.output = { ok: true };
        }
        op.return = t;
        break;
      case "fail":
        if (f === "cas") {
          casPair();
          op.output = { ok: false };
          op.return = t;
        } else if (f === "read") {
          // A timed-out read: closed here, any value accepted.
          op.output = undefined;
          op.return = t;
        } else {
          // A write that definitely did not happen constrains nothing.
          operations.splice(operations.indexOf(op), 1);
          refs.splice(refs.indexOf(op.call), 1);
        }
        break;
      case "info":
        // Indeterminate: stays open until the end of time (set below).
        break;
      default:
        throw new HistoryError(lineNo, `type must be :invoke, :ok, :fail or :info, got ":${type}"`);
    }
    pending.delete(process);
  });
  for (const op of operations) {
    if (op.return === undefined) {
      op.output = undefined;
      op.return = Number.POSITIVE_INFINITY;
    }
  }
  return { operations, refs };
}

const KV_TYPES: readonly OpType[] = ["invoke", "ok", "fail", "info"];

/**
 * `kv/cNN-*.txt`: `{:process P, :type :invoke|:ok, :f :get|:put|:append, :key "K", :value V}`
 * per line -> our Op[] for the append-kv model (values `{key, value}`; time = line position).
 */
export function parseKvLog(text: string): ImportedOps {
  const history: Op[] = [];
  const lines: number[] = [];
  splitLines(text).forEach((source, t) => {
    const lineNo = t + 1;
    const m = readValue(source, lineNo);
    if (typeof m !== "object" || m === null || Array.isArray(m)) {
      throw new HistoryError(
        lineNo,
        'expected a map like {:process 0, :type :invoke, :f :get, :key "1", :value nil}',
      );
    }
    const r = m as Record<string, unknown>;
    if (!Number.isSafeInteger(r.process) || (r.process as number) < 0) {
      throw new HistoryError(lineNo, ":process must be a non-negative integer");
    }
    if (!KV_TYPES.includes(r.type as OpType))
      throw new HistoryError(lineNo, ":type must be :invoke, :ok, :fail or :info");
    if (r.f !== "get" && r.f !== "put" && r.f !== "append")
      throw new HistoryError(lineNo, ":f must be :get, :put or :append");
    if (typeof r.key !== "string") throw new HistoryError(lineNo, ':key must be a string like "3"');
    let value = r.value ?? null;
    if (r.f === "get" && r.type === "ok" && value === null) value = "";
    if (value !== null && typeof value !== "string")
      throw new HistoryError(lineNo, ":value must be a string or nil");
    if (r.f !== "get" && value === null)
      throw new HistoryError(lineNo, `a :${r.f} needs a string :value`);
    history.push({
      index: t,
      time: t,
      process: r.process as number,
      type: r.type as OpType,
      f: r.f,
      value: { key: r.key, value },
    });
    lines.push(lineNo);
  });
  return { history, lines };
}
