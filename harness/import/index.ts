// History importers: a file in one of FORMATS -> what the linearizability checker takes.

import { type Op, parseHistory } from "../../checkers/history.js";
import type { ModelName } from "../../checkers/porcupine/index.js";
import { parseJepsenEdn } from "./jepsen-edn.js";
import { type ImportedOperations, parseEtcdLog, parseKvLog } from "./porcupine.js";

export const FORMATS = ["jsonl", "jepsen-edn", "porcupine-etcd", "porcupine-kv"] as const;
export type Format = (typeof FORMATS)[number];

export type Imported =
  | {
      kind: "history";
      format: Format;
      history: Op[];
      /** The file line each op came from (1-based). */
      lines: number[];
      /** The model the format implies, if any. */
      model?: ModelName;
      /** Jepsen EDN whose :time goes backwards (first at this line): timed by position. */
      retimedAt?: { op: number; line: number };
    }
  | ({ kind: "operations"; format: Format; model: ModelName } & ImportedOperations);

/** The format from the file name, else from the first non-blank line; undefined if unsure. */
export function detectFormat(path: string, text: string): Format | undefined {
  const first =
    text
      .split("\n")
      .find((l) => l.trim() !== "")
      ?.trim() ?? "";
  if (/^INFO\s+jepsen\.util\s+-/.test(first)) return "porcupine-etcd";
  if (path.endsWith(".jsonl") || first.startsWith('{"')) return "jsonl";
  if (/^\{:process\s+\d+,?\s+:type\s+\S+,?\s+:f\s+:(get|put|append),?\s+:key/.test(first))
    return "porcupine-kv";
  if (
    path.endsWith(".edn") ||
    first.startsWith("{:") ||
    first.startsWith("[") ||
    first.startsWith("#jepsen") ||
    first.startsWith(";")
  ) {
    return "jepsen-edn";
  }
  if (path.endsWith(".log") && text.trim() === "") return "porcupine-etcd";
  return undefined;
}

/** Parses `text` in `format`; malformed input throws HistoryError naming the line. */
export function importHistory(text: string, format: Format): Imported {
  switch (format) {
    case "jsonl": {
      const history = parseHistory(text);
      return { kind: "history", format, history, lines: history.map((op) => op.index + 1) };
    }
    case "jepsen-edn":
      return { kind: "history", format, ...parseJepsenEdn(text) };
    case "porcupine-kv":
      return { kind: "history", format, model: "append-kv", ...parseKvLog(text) };
    case "porcupine-etcd":
      return { kind: "operations", format, model: "cas-register", ...parseEtcdLog(text) };
  }
}
