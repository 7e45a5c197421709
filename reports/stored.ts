// The shapes of results.json and test.json as the reports read them. They are written by
// harness/run.ts, but a report may be asked to render an older or hand-edited run, so every
// field is optional here and read through the helpers below, never trusted blindly.
import type { Validity } from "../checkers/result.js";

export interface StoredCheck {
  valid?: unknown;
  summary?: unknown;
  ops?: unknown;
  [detail: string]: unknown;
}

export interface StoredFaultInterval {
  kind?: unknown;
  start?: unknown;
  stop?: unknown;
  start_s?: unknown;
  stop_s?: unknown;
  value?: unknown;
  ops_overlapping?: unknown;
  ops_failed?: unknown;
  ops_info?: unknown;
}

export interface StoredResults {
  valid?: unknown;
  /** "could-not-run" or "interrupted" when the run did not end in a verdict. */
  status?: unknown;
  summary?: unknown;
  checkers?: Record<string, StoredCheck>;
  stats?: StoredCheck;
  net?: Record<string, unknown>;
  seed?: unknown;
  errors?: unknown;
  warnings?: unknown;
  faults?: StoredCheck & { intervals?: StoredFaultInterval[] };
  nodes?: Record<string, { crashes?: unknown }>;
  duration_s?: unknown;
  /** --against-reference: the reference system's verdict (harness/test-options.ts). */
  reference?: unknown;
}

export interface StoredTest {
  workload?: unknown;
  target?: { name?: unknown; bug?: unknown; command?: unknown; manifest?: unknown };
  node_count?: unknown;
  time_limit_s?: unknown;
  rate?: unknown;
  concurrency?: unknown;
  seed?: unknown;
  command?: unknown;
  nemesis?: { faults?: unknown; interval_s?: unknown };
  nodes?: unknown;
  wall_start_ms?: unknown;
  [option: string]: unknown;
}

export function validity(value: unknown): Validity {
  return value === true ? true : value === false ? false : "unknown";
}

export function verdictWord(valid: Validity): string {
  return valid === true ? "valid" : valid === false ? "INVALID" : "unknown";
}

/** CSS class / short key for a verdict. */
export function verdictKey(valid: Validity): "valid" | "invalid" | "unknown" {
  return valid === true ? "valid" : valid === false ? "invalid" : "unknown";
}

export function str(value: unknown): string | undefined {
  return typeof value === "string" ? value : undefined;
}

export function num(value: unknown): number | undefined {
  return typeof value === "number" && Number.isFinite(value) ? value : undefined;
}

export function strings(value: unknown): string[] {
  return Array.isArray(value) ? value.filter((v): v is string => typeof v === "string") : [];
}

export function numbers(value: unknown): number[] {
  return Array.isArray(value)
    ? value.filter((v): v is number => typeof v === "number" && Number.isFinite(v))
    : [];
}

export function records(value: unknown): Record<string, unknown>[] {
  return Array.isArray(value)
    ? value.filter(
        (v): v is Record<string, unknown> =>
          typeof v === "object" && v !== null && !Array.isArray(v),
      )
    : [];
}

export function record(value: unknown): Record<string, unknown> | undefined {
  return typeof value === "object" && value !== null && !Array.isArray(value)
    ? (value as Record<string, unknown>)
    : undefined;
}

/** The facts every renderer shows about a run, read once. */
export interface RunFacts {
  valid: Validity;
  /** One sentence: why. */
  reason: string;
  workload: string;
  target: string;
  bug: string | undefined;
  command: string | undefined;
  seed: number | undefined;
  nodeCount: number | undefined;
  faultsRequested: string[];
  faultIntervals: number;
  faultsThatBit: number;
  duration_s: number | undefined;
  started_ms: number | undefined;
  ops: { count: number; ok: number; fail: number; info: number } | undefined;
  warnings: string[];
  errors: Array<{ kind: string; message: string }>;
  checkers: Array<{ name: string; valid: Validity; summary: string; check: StoredCheck }>;
  /** --against-reference: the reference system's run, same options and seed. */
  reference: { system: string; valid: Validity; summary: string } | undefined;
  /** On a reference run: the user's run it was made for, `<test>/<timestamp>` in the store. */
  referenceFor: string | undefined;
}

export function runFacts(
  test: StoredTest | undefined,
  results: StoredResults | undefined,
  problems: readonly string[] = [],
): RunFacts {
  const valid = results ? validity(results.valid) : "unknown";
  const reason =
    str(results?.summary) ??
    (problems[0] ? capitalise(`${problems[0]}.`) : "The run stored no results.");
  const target = record(test?.target);
  const stats = record(results?.stats);
  const count = num(stats?.count);
  const intervals = records(results?.faults?.intervals);
  const checkers = Object.entries(record(results?.checkers) ?? {}).map(([name, raw]) => {
    const check = (record(raw) ?? {}) as StoredCheck;
    return {
      name,
      valid: validity(check.valid),
      summary: str(check.summary) ?? "",
      check,
    };
  });
  const bug = str(target?.bug);
  const name = str(target?.name) ?? "?";
  return {
    valid,
    reason,
    workload: str(test?.workload) ?? "?",
    // A buggy variant is named `<system>-<bug>`; the bug is shown apart.
    target: bug && name.endsWith(`-${bug}`) ? name.slice(0, -bug.length - 1) : name,
    bug,
    command: str(test?.command),
    seed: num(results?.seed) ?? num(test?.seed),
    nodeCount:
      num(test?.node_count) ?? (Array.isArray(test?.nodes) ? test.nodes.length : undefined),
    faultsRequested: strings(record(test?.nemesis)?.faults),
    faultIntervals: intervals.length,
    faultsThatBit: intervals.filter((i) => (num(i.ops_overlapping) ?? 0) > 0).length,
    duration_s: num(results?.duration_s),
    started_ms: num(test?.wall_start_ms),
    ops:
      count === undefined
        ? undefined
        : {
            count,
            ok: num(stats?.ok_count) ?? 0,
            fail: num(stats?.fail_count) ?? 0,
            info: num(stats?.info_count) ?? 0,
          },
    warnings: [...strings(results?.warnings), ...problems],
    errors: records(results?.errors).map((e) => ({
      kind: str(e.kind) ?? "error",
      message: str(e.message) ?? JSON.stringify(e),
    })),
    checkers,
    reference: referenceFacts(results?.reference),
    referenceFor: str(test?.reference_for),
  };
}

function referenceFacts(value: unknown): RunFacts["reference"] {
  const reference = record(value);
  if (!reference) return undefined;
  return {
    system: str(reference.system) ?? "?",
    valid: validity(reference.valid),
    summary: str(reference.summary) ?? "",
  };
}

/**
 * How many fault intervals touched client operations, in words: "all 4 intervals touched
 * client operations", "3 of 5 intervals touched client operations", "1 interval, which
 * touched no client operation".
 */
export function faultIntervalsTouched(intervals: number, touched: number): string {
  if (intervals === 0) return "no interval started";
  if (intervals === 1) {
    return `1 interval, which touched ${touched === 1 ? "client operations" : "no client operation"}`;
  }
  if (touched === intervals) return `all ${intervals} intervals touched client operations`;
  if (touched === 0) return `${intervals} intervals, none of which touched a client operation`;
  return `${touched} of ${intervals} intervals touched client operations`;
}

function capitalise(text: string): string {
  return text.charAt(0).toUpperCase() + text.slice(1);
}

/** "4.2 s", "350 ms", "2 min 5 s". */
export function formatDuration(seconds: number): string {
  if (seconds < 1) return `${Math.round(seconds * 1000)} ms`;
  if (seconds < 120) return `${seconds.toFixed(1)} s`;
  const minutes = Math.floor(seconds / 60);
  return `${minutes} min ${Math.round(seconds - minutes * 60)} s`;
}

/** "2026-11-21 08:22:36 UTC". */
export function formatWallTime(ms: number): string {
  return `${new Date(ms)
    .toISOString()
    .replace("T", " ")
    .replace(/\.\d+Z$/, "")} UTC`;
}
