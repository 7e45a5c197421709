// What an invalid run's failing checkers name, for a sweep (reports/sweep.ts): the earliest moment
// of the evidence (time to detection) and a value-free signature, so that two seeds hitting the
// same bug group together whatever values, nodes and counts they happened to involve.
import { closeSync, openSync, readSync } from "node:fs";
import { join } from "node:path";
import { StringDecoder } from "node:string_decoder";
import { truncate } from "./escape.js";
import { RUN_FILES } from "./load-run.js";
import {
  num,
  numbers,
  record,
  records,
  type StoredCheck,
  type StoredResults,
  str,
  strings,
  validity,
} from "./stored.js";

/** history.jsonl is read at most this far to find the ops a failure names. */
export const MAX_HISTORY_SCAN_BYTES = 64 * 1024 * 1024;
/** A checker's named ops looked at (the earliest ones); set-full can name every broadcast. */
export const MAX_NAMED_OPS = 10_000;
/** A signature's shape keeps this many op kinds (after merging repeats). */
export const MAX_SHAPE_LENGTH = 8;
/** Cuts for the parts of a signature, which come from stored (untrusted) text. */
export const MAX_KIND_CHARS = 200;
export const MAX_NAME_CHARS = 80;
/** Summaries longer than this are cut before masking. */
const MAX_MASKED_INPUT_CHARS = 2_000;
const SCAN_CHUNK_BYTES = 1024 * 1024;

export interface Evidence {
  /** Seconds from the run's start to the earliest op or crash the failing checkers name. */
  detection_s: number | undefined;
  /** `checker: kind [shape]` per invalid checker, sorted, joined with " + ". */
  signature: string;
}

interface NamedOp {
  time_ns: number;
  f: string;
}

/** The evidence of an invalid run; `runDir` holds its history when a checker names ops. */
export function invalidRunEvidence(results: StoredResults, runDir: string | undefined): Evidence {
  const failing = Object.entries(record(results.checkers) ?? {})
    .map(([name, raw]) => ({ name, check: (record(raw) ?? {}) as StoredCheck }))
    .filter((c) => validity(c.check.valid) === false)
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const named = failing.map((c) => opIndexes(c.check));
  const wanted = new Set(named.flat());
  const ops = wanted.size > 0 && runDir !== undefined ? readNamedOps(runDir, wanted) : new Map();
  let earliest_ns: number | undefined;
  const parts = failing.map((c, i) => {
    const found = (named[i] as number[]).flatMap((index) => ops.get(index) ?? []);
    const moments =
      found.length > 0 ? found.map((op) => op.time_ns) : crashTimes(c.name, c.check, results);
    for (const t of moments) if (earliest_ns === undefined || t < earliest_ns) earliest_ns = t;
    const shape = opShape(found.map((op) => op.f));
    const name = truncate(c.name, MAX_NAME_CHARS);
    // Named ops are the evidence's form; a summary's wording varies with it (a checker that
    // lists no kinds, like linearizable, says "ops 3, 5" or "4 ops (…)"), so it is left out.
    const kind = failureKind(c.check, shape !== "");
    return shape ? `${name}${kind ? `: ${kind}` : ""} [${shape}]` : `${name}: ${kind}`;
  });
  return {
    detection_s: earliest_ns === undefined ? undefined : earliest_ns / 1e9,
    signature:
      parts.length > 0 ? parts.join(" + ") : `verdict: ${maskValues(str(results.summary) ?? "")}`,
  };
}

/** The history indexes a checker names, ascending, the first MAX_NAMED_OPS. */
function opIndexes(check: StoredCheck): number[] {
  const indexes = numbers(check.ops).filter((i) => Number.isSafeInteger(i) && i >= 0);
  return [...new Set(indexes)].sort((a, b) => a - b).slice(0, MAX_NAMED_OPS);
}

/**
 * Unexpected exits a checker without ops names: its own `crashes` list (the `crashes` and
 * `programs` checkers keep one), else, for the `crashes` checker, results.json's per-node records.
 */
function crashTimes(name: string, check: StoredCheck, results: StoredResults): number[] {
  const own = Array.isArray(check.crashes) ? records(check.crashes) : undefined;
  const crashes =
    own ??
    (name === "crashes"
      ? Object.values(record(results.nodes) ?? {}).flatMap((n) => records(record(n)?.crashes))
      : []);
  return crashes.flatMap((c) => {
    const t = num(c.time_ns);
    return c.expected === true || t === undefined ? [] : [t];
  });
}

/**
 * What a checker found, without values: the kinds of its violations, else its deviations, else
 * (unless the ops it names say it) its summary with the values masked.
 */
export function failureKind(check: StoredCheck, namesOps = false): string {
  const counts = record(check.violation_counts);
  const listed = counts ? Object.keys(counts) : strings(check.deviation_names);
  const kind =
    listed.length > 0
      ? [...new Set(listed)].sort().join(", ")
      : namesOps
        ? ""
        : maskValues(str(check.summary) ?? "");
  return truncate(kind, MAX_KIND_CHARS);
}

/**
 * A summary with what varies between seeds replaced: quoted values by `…`, node names (n3, c12)
 * by `N`, numbers by `#`; then "and # more" goes, and an item repeated in a `,` or `;` list is
 * kept once. "3 of 4 acknowledged broadcasts are missing (n0 lacks 2, n4 lacks 1): 0, 7, 9." and
 * its twin from another seed both become "# of # acknowledged broadcasts are missing (N lacks
 * #): #".
 */
export function maskValues(summary: string): string {
  return truncate(summary, MAX_MASKED_INPUT_CHARS)
    .replace(/"(?:[^"\\]|\\.)*"|(?<!\w)'[^'\n]*'(?!\w)|`[^`]*`/g, "…")
    .replace(/\b[A-Za-z]{1,2}\d+\b/g, "N")
    .replace(/\d+(?:\.\d+)?(?:e[+-]?\d+)?/gi, "#")
    .replace(/,? and # more/g, "")
    .replace(/(?<![^\s([{:])([^,;]+?)(?:[,;] \1(?!\w))+/g, "$1")
    .replace(/\.$/, "");
}

/** The kinds of the named ops in history order, repeats merged, at most MAX_SHAPE_LENGTH. */
function opShape(fs: readonly string[]): string {
  const shape: string[] = [];
  for (const f of fs) {
    const short = truncate(f, MAX_NAME_CHARS);
    if (shape[shape.length - 1] !== short) shape.push(short);
    if (shape.length === MAX_SHAPE_LENGTH) break;
  }
  return shape.join(" ");
}

/**
 * The time and kind of the wanted ops, from the start of history.jsonl, stopping past the
 * largest wanted index or at MAX_HISTORY_SCAN_BYTES. A missing or torn history yields fewer.
 * Only lines that may hold a wanted op are parsed (the recorder writes op i on line i).
 */
function readNamedOps(runDir: string, wanted: ReadonlySet<number>): Map<number, NamedOp> {
  const found = new Map<number, NamedOp>();
  let last = 0;
  for (const index of wanted) last = Math.max(last, index); // no spread: it may be 10^5 long
  let fd: number;
  try {
    fd = openSync(join(runDir, RUN_FILES.history), "r");
  } catch {
    return found;
  }
  try {
    const buffer = Buffer.alloc(SCAN_CHUNK_BYTES);
    const decoder = new StringDecoder("utf8"); // a character may straddle two chunks
    let carry = "";
    let line = 0;
    for (let read = 0; read < MAX_HISTORY_SCAN_BYTES && line <= last; ) {
      const n = readSync(
        fd,
        buffer,
        0,
        Math.min(SCAN_CHUNK_BYTES, MAX_HISTORY_SCAN_BYTES - read),
        read,
      );
      if (n === 0) break;
      read += n;
      const lines = (carry + decoder.write(buffer.subarray(0, n))).split("\n");
      carry = lines.pop() ?? "";
      for (const text of lines) {
        if (wanted.has(line)) addOp(found, text);
        if (++line > last) break;
      }
    }
    if (line <= last && wanted.has(line)) addOp(found, carry);
  } finally {
    closeSync(fd);
  }
  return found;
}

function addOp(found: Map<number, NamedOp>, text: string): void {
  let op: Record<string, unknown> | undefined;
  try {
    op = record(JSON.parse(text));
  } catch {
    return; // a torn line
  }
  const index = num(op?.index);
  const time_ns = num(op?.time);
  const f = str(op?.f);
  if (index !== undefined && time_ns !== undefined && f !== undefined) {
    found.set(index, { time_ns, f });
  }
}
