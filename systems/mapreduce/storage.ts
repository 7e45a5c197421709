// The job directory's files: names, the intermediate format, and durable writes. A correct
// worker writes every file to a temporary name, fsyncs it, and renames it into place, so another
// process sees either no file or the whole file; temporary names start with "." so no glob for
// mr-* (the MIT checker's `sort mr-out*`) ever picks one up.

import { closeSync, fsyncSync, openSync, readFileSync, writeSync } from "node:fs";
import type { KeyValue } from "../../protocols/mapreduce/apps/index.js";
import { writeFileDurably } from "../lib/durable-file.js";

/** Map task `map`'s pairs for reduce task `reduce`. */
export function intermediateName(map: number, reduce: number): string {
  return `mr-${map}-${reduce}`;
}

/** Reduce task `reduce`'s output: one "key value" line per key. */
export function outputName(reduce: number): string {
  return `mr-out-${reduce}`;
}

/**
 * Intermediate files hold one pair per line, "key<TAB>value\n", with backslash, tab and newline
 * in keys and values escaped as \\, \t and \n, so keys may hold any text. (JSON lines cost 3x
 * more to write and read; see the README's Performance section.)
 */
export function encodePairs(pairs: readonly KeyValue[]): string {
  let text = "";
  for (const { key, value } of pairs) text += `${escapeField(key)}\t${escapeField(value)}\n`;
  return text;
}

const SPECIAL = /[\\\t\n]/;
const ESCAPES: Record<string, string> = { "\\": "\\\\", "\t": "\\t", "\n": "\\n" };
const UNESCAPES: Record<string, string> = { "\\": "\\", t: "\t", n: "\n" };

function escapeField(s: string): string {
  return SPECIAL.test(s) ? s.replace(/[\\\t\n]/g, (c) => ESCAPES[c] as string) : s;
}

function unescapeField(s: string, name: string): string {
  if (!s.includes("\\")) return s;
  return s.replace(/\\(.?)/g, (_, c: string) => {
    const u = UNESCAPES[c];
    if (u === undefined) throw new Error(`intermediate file ${name} is malformed: bad escape`);
    return u;
  });
}

/**
 * Parses an intermediate file, calling `each` per pair in file order. A malformed file (a torn
 * write: no final newline, a line without a tab) is an error, never skipped.
 */
export function decodePairsInto(
  text: string,
  name: string,
  each: (key: string, value: string) => void,
): void {
  if (text === "") return;
  if (!text.endsWith("\n")) {
    throw new Error(`intermediate file ${name} is malformed: its last line is cut off`);
  }
  let start = 0;
  while (start < text.length) {
    const end = text.indexOf("\n", start);
    const tab = text.indexOf("\t", start);
    if (tab < 0 || tab > end || text.lastIndexOf("\t", end) !== tab) {
      throw new Error(`intermediate file ${name} is malformed: line "${text.slice(start, end)}"`);
    }
    each(
      unescapeField(text.slice(start, tab), name),
      unescapeField(text.slice(tab + 1, end), name),
    );
    start = end + 1;
  }
}

export function decodePairs(text: string, name: string): KeyValue[] {
  const pairs: KeyValue[] = [];
  decodePairsInto(text, name, (key, value) => pairs.push({ key, value }));
  return pairs;
}

export function readPairs(path: string): KeyValue[] {
  return decodePairs(readFileSync(path, "utf8"), path);
}

/** Reads an intermediate file into `each`, pair by pair. */
export function readPairsInto(path: string, each: (key: string, value: string) => void): void {
  decodePairsInto(readFileSync(path, "utf8"), path, each);
}

let temp_seq = 0;

/**
 * Writes `data` to `path` atomically and durably; the temporary name (`.mr-tmp-<pid>-<n>-…`)
 * is this writer's own, as several workers may produce the same file, and no `mr-*` glob
 * matches it.
 */
export function writeFileAtomic(path: string, data: string): void {
  writeFileDurably(path, data, `.mr-tmp-${process.pid}-${temp_seq++}-`);
}

/** Appends `data` to `path` and fsyncs it: what the double-count bug does to intermediates. */
export function appendFileDurable(path: string, data: string): void {
  const fd = openSync(path, "a");
  try {
    writeAll(fd, data);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/**
 * Writes a file in place, one line at a time, each visible to other processes as soon as it is
 * written: what the non-atomic-output bug does to mr-out-Y.
 */
export class InPlaceLineWriter {
  private readonly fd: number;

  constructor(path: string) {
    this.fd = openSync(path, "w");
  }

  line(text: string): void {
    writeAll(this.fd, `${text}\n`);
  }

  close(): void {
    fsyncSync(this.fd);
    closeSync(this.fd);
  }
}

function writeAll(fd: number, data: string): void {
  const bytes = Buffer.from(data, "utf8");
  for (let off = 0; off < bytes.length; ) off += writeSync(fd, bytes, off);
}
