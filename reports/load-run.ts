// Reads what a run stored (ARCHITECTURE.md "The store") into memory for the renderers, with
// explicit bounds: a report must render even when a file is missing, torn, huge, or written by a
// misbehaving target. Every problem becomes a line in `problems` instead of an exception.
import { createReadStream } from "node:fs";
import { open, readdir, readFile, stat } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import { createInterface } from "node:readline";
import { type Op, parseHistory } from "../checkers/history.js";
import { type FaultView, faultViews, faultViewsFromResults } from "./fault-labels.js";
import { type JournalFocus, journalFocus } from "./journal-focus.js";
import { STORE_FILES } from "./store-files.js";
import type { StoredResults, StoredTest } from "./stored.js";

/** Histories above this size are not loaded (the timeline says so); 100k ops is about 10 MB. */
export const MAX_HISTORY_BYTES = 256 * 1024 * 1024;
/**
 * The message diagram embeds at most this many journal events (Maelstrom stops at 10,000), a
 * window around what matters (journal-focus.ts), so the report stays small enough to open.
 */
export const MAX_JOURNAL_EVENTS = 4_000;
/** A journal line longer than this is skipped (bodies are capped at 64 KiB by the router). */
const MAX_JOURNAL_LINE_CHARS = 128 * 1024;
/** How much of the end of each node log the report shows inline. */
export const LOG_TAIL_BYTES = 4 * 1024;
export const LOG_TAIL_LINES = 40;
/** Node logs listed at most (a 1000-node run lists the first ones and says how many more). */
export const MAX_NODE_LOGS = 200;

/** The files of a run directory: what the harness writes, and the reports written from it. */
export const RUN_FILES = {
  ...STORE_FILES,
  report: "report.html",
  junit: "junit.xml",
  summary: "summary.md",
} as const;

/** One line of messages.jsonl, as the router writes it. */
export interface JournalEvent {
  time: number;
  event: string;
  id?: number;
  src?: string;
  dest?: string;
  /** The node that wrote a send whose `src` is another participant (it forwarded the message). */
  via?: string;
  body?: unknown;
  /** udp transport: the decoded LSP message (sends that parsed as LSP). */
  lsp?: unknown;
  reason?: string;
  node?: string;
  line?: number;
  raw?: string;
  /** tcp transport: the connection a line belongs to. */
  conn?: number;
  /** h2-* lines: the send line whose bytes completed the event. */
  chunk?: number;
  /** h2-call-start / h2-call-end (harness/tcp/README.md "HTTP/2 and gRPC calls"). */
  method?: string;
  stream_id?: number;
  grpc_status?: number;
  grpc_message?: string;
  http_status?: number;
  request_bytes?: number;
  response_bytes?: number;
  reset?: unknown;
  refused?: unknown;
  aborted?: string;
}

export interface JournalLoad {
  /** The window of events drawn, in journal order. */
  events: JournalEvent[];
  /** True when the journal has more events than the window. */
  truncated: boolean;
  /** Events in the whole journal (lines after the window are counted, not parsed). */
  total: number;
  /** How many events come before the window. */
  before: number;
  /** What the window is centred on; undefined when it starts at the journal's start. */
  focus: JournalFocus | undefined;
  /** Lines that were not valid journal events. */
  skipped: number;
  exists: boolean;
}

export interface NodeLog {
  node: string;
  /** Path relative to the run directory, for links. */
  href: string;
  bytes: number;
  /** The last lines, at most LOG_TAIL_BYTES / LOG_TAIL_LINES. */
  tail: string[];
  /** True when the tail does not start at the beginning of the file. */
  tail_cut: boolean;
}

export interface RunData {
  /** Absolute run directory. */
  dir: string;
  /** `<test>/<timestamp>`, the run's name in its store. */
  name: string;
  test: StoredTest | undefined;
  results: StoredResults | undefined;
  history: Op[] | undefined;
  journal: JournalLoad;
  /** Fault intervals, from the history (or results.json without one). */
  faults: FaultView[];
  nodeLogs: NodeLog[];
  nodeLogCount: number;
  /** Which of the run's files exist (by RUN_FILES name), for links. */
  files: Set<string>;
  /** What could not be read, in words. */
  problems: string[];
}

/** `faultline serve`'s query parameter for LoadOptions.messages_at_s (report.html links use it). */
export const MESSAGES_AT_PARAM = "messages_at";

export interface LoadOptions {
  /** Centre the message diagram here (s from the run's start) instead of journal-focus.ts's choice. */
  messages_at_s?: number;
}

export async function loadRun(dir: string, options: LoadOptions = {}): Promise<RunData> {
  const problems: string[] = [];
  const files = new Set<string>();
  try {
    for (const entry of await readdir(dir)) files.add(entry);
  } catch (err) {
    throw new Error(`cannot read the run directory ${dir}: ${(err as Error).message}`);
  }
  const test = await readJsonObject<StoredTest>(dir, RUN_FILES.test, files, problems);
  const results = await readJsonObject<StoredResults>(dir, RUN_FILES.results, files, problems);
  if (!files.has(RUN_FILES.results)) {
    problems.push("The run stored no results.json: it did not finish, so nothing was checked");
  }
  const history = await loadHistory(dir, files, problems);
  const faults = history ? faultViews(history) : faultViewsFromResults(results?.faults?.intervals);
  const journal = files.has(RUN_FILES.messages)
    ? await loadJournal(
        join(dir, RUN_FILES.messages),
        MAX_JOURNAL_EVENTS,
        options.messages_at_s === undefined
          ? journalFocus(results, history, faults)
          : {
              time_ns: options.messages_at_s * 1e9,
              why: `${options.messages_at_s} s, as asked`,
            },
      )
    : {
        events: [],
        truncated: false,
        total: 0,
        before: 0,
        focus: undefined,
        skipped: 0,
        exists: false,
      };
  const { logs, count } = files.has(RUN_FILES.nodeLogs)
    ? await loadNodeLogs(dir)
    : { logs: [], count: 0 };
  return {
    dir,
    name: `${basename(dirname(dir))}/${basename(dir)}`,
    test,
    results,
    history,
    journal,
    faults,
    nodeLogs: logs,
    nodeLogCount: count,
    files,
    problems,
  };
}

async function readJsonObject<T>(
  dir: string,
  file: string,
  files: Set<string>,
  problems: string[],
): Promise<T | undefined> {
  if (!files.has(file)) return undefined;
  try {
    const value: unknown = JSON.parse(await readFile(join(dir, file), "utf8"));
    if (typeof value !== "object" || value === null || Array.isArray(value)) {
      problems.push(`${file} is not a JSON object`);
      return undefined;
    }
    return value as T;
  } catch (err) {
    problems.push(`${file} could not be read: ${(err as Error).message}`);
    return undefined;
  }
}

async function loadHistory(
  dir: string,
  files: Set<string>,
  problems: string[],
): Promise<Op[] | undefined> {
  if (!files.has(RUN_FILES.history)) {
    problems.push("history.jsonl is missing");
    return undefined;
  }
  const path = join(dir, RUN_FILES.history);
  const { size } = await stat(path);
  if (size > MAX_HISTORY_BYTES) {
    problems.push(
      `history.jsonl is ${(size / 2 ** 20).toFixed(0)} MiB, above the report's ${MAX_HISTORY_BYTES / 2 ** 20} MiB limit: no timeline or plots`,
    );
    return undefined;
  }
  try {
    return parseHistory(await readFile(path, "utf8"), { allowTornTail: true });
  } catch (err) {
    problems.push(`history.jsonl could not be read: ${(err as Error).message}`);
    return undefined;
  }
}

/**
 * Reads a window of at most `max_events` journal events: without a focus the first ones; with
 * one, about half before the focus time and the rest after it (more on one side when the other
 * runs out). Parsing stops once the window is full; the remaining lines are only counted.
 */
export async function loadJournal(
  path: string,
  max_events: number,
  focus?: JournalFocus,
): Promise<JournalLoad> {
  const focus_ns = focus?.time_ns ?? Number.NEGATIVE_INFINITY;
  // The latest max_events events before the focus, as a ring, and the first ones from it on.
  const ring: JournalEvent[] = [];
  let ringStart = 0;
  let beforeCount = 0;
  const after: JournalEvent[] = [];
  let skipped = 0;
  let unparsed = 0;
  const stream = createReadStream(path, { encoding: "utf8" });
  const lines = createInterface({ input: stream, crlfDelay: Number.POSITIVE_INFINITY });
  try {
    for await (const line of lines) {
      if (line === "") continue;
      if (after.length >= max_events - Math.min(beforeCount, Math.floor(max_events / 2))) {
        unparsed++;
        continue;
      }
      if (line.length > MAX_JOURNAL_LINE_CHARS) {
        skipped++;
        continue;
      }
      let event: unknown;
      try {
        event = JSON.parse(line);
      } catch {
        skipped++; // a torn last line, or garbage
        continue;
      }
      if (!isJournalEvent(event)) skipped++;
      else if (after.length === 0 && event.time < focus_ns) {
        beforeCount++;
        if (ring.length < max_events) ring.push(event);
        else {
          ring[ringStart] = event;
          ringStart = (ringStart + 1) % max_events;
        }
      } else after.push(event);
    }
  } finally {
    lines.close();
    stream.destroy();
  }
  const ordered = [...ring.slice(ringStart), ...ring.slice(0, ringStart)];
  const shownBefore = Math.min(ordered.length, max_events - after.length);
  const events = [...ordered.slice(ordered.length - shownBefore), ...after];
  const total = beforeCount + after.length + unparsed;
  return {
    events,
    truncated: total > events.length,
    total,
    before: beforeCount - shownBefore,
    focus,
    skipped,
    exists: true,
  };
}

function isJournalEvent(value: unknown): value is JournalEvent {
  if (typeof value !== "object" || value === null) return false;
  const e = value as Record<string, unknown>;
  return typeof e.event === "string" && typeof e.time === "number" && Number.isFinite(e.time);
}

async function loadNodeLogs(dir: string): Promise<{ logs: NodeLog[]; count: number }> {
  const folder = join(dir, RUN_FILES.nodeLogs);
  let names: string[];
  try {
    names = (await readdir(folder)).filter((n) => n.endsWith(".log"));
  } catch {
    return { logs: [], count: 0 };
  }
  names.sort(compareNodeNames);
  const logs: NodeLog[] = [];
  for (const name of names.slice(0, MAX_NODE_LOGS)) {
    const path = join(folder, name);
    try {
      const { size } = await stat(path);
      const { lines, cut } = await tail(path, size);
      logs.push({
        node: name.slice(0, -".log".length),
        href: `${RUN_FILES.nodeLogs}/${name}`,
        bytes: size,
        tail: lines,
        tail_cut: cut,
      });
    } catch {
      // A log that vanished or cannot be read is just not listed.
    }
  }
  return { logs, count: names.length };
}

/** The last LOG_TAIL_LINES lines within the last LOG_TAIL_BYTES bytes of a file. */
async function tail(path: string, size: number): Promise<{ lines: string[]; cut: boolean }> {
  const length = Math.min(size, LOG_TAIL_BYTES);
  const handle = await open(path, "r");
  try {
    const buffer = Buffer.alloc(length);
    await handle.read(buffer, 0, length, size - length);
    let text = buffer.toString("utf8");
    let cut = size > length;
    if (cut) text = text.slice(text.indexOf("\n") + 1); // drop the partial first line
    const lines = text.split("\n");
    if (lines.at(-1) === "") lines.pop();
    if (lines.length > LOG_TAIL_LINES) {
      lines.splice(0, lines.length - LOG_TAIL_LINES);
      cut = true;
    }
    return { lines, cut };
  } finally {
    await handle.close();
  }
}

/** n2 before n10: names compared by their text, with digit runs compared as numbers. */
export function compareNodeNames(a: string, b: string): number {
  return a.localeCompare(b, "en", { numeric: true });
}
