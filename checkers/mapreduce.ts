// The MapReduce checkers (workloads/mapreduce/README.md "History and checkers"): pure
// functions over what the driver (workloads/mapreduce/driver.ts) observed of the job directory
// and the processes — the final mr-out* files, the versions of each output file its 25 ms polls
// saw, a snapshot taken when the first process exited, and every process's exit.
//
//   output          sorted mr-out* lines equal the sequential oracle's (missing, extra, wrong and
//                   duplicated keys named); apps without an oracle: the keys they must produce
//   parallelism     mtiming: every worker ran maps and two ran at once; rtiming: two reduces did
//   job-count       jobcount: each map task ran exactly once (when no fault killed a worker)
//   early-exit      when the first process exited by itself, the output was already final
//   atomic-output   no worker died leaving an output file partial; a partial file its writer
//                   finished is a warning (the lab's advice, not its tests), a failure --strict
//   completion      the coordinator exited 0 before the deadline with every output; the
//                   workers exited after it, promptly
import { listSome, plural, show } from "./canonical.js";
import type { CheckResult } from "./result.js";

/** Items named per list in a result (counts are always complete). */
export const MAX_LISTED = 10;

/** One output file as read at one moment. */
export interface OutputFile {
  /** Content hash (any stable digest). */
  hash: string;
  size: number;
  /** Non-blank lines. */
  lines: number;
  /** Ends with a newline, or is empty. */
  complete: boolean;
  /** Digest of the sorted keys of its lines: equal keys, different values tell a rewrite. */
  keys: string;
}

/** Output files by name (mr-out-0 …). */
export type OutputSnapshot = Record<string, OutputFile>;

/** A distinct content of one output file the polls saw, and when it was first seen. */
export interface OutputVersion extends OutputFile {
  file: string;
  time_ns: number;
  /** Worker instances holding the file open then (absent: none found). */
  writers?: string[];
}

/** A worker that died (crashed, or was killed by a fault) while writing output files. */
export interface WriterDeath {
  instance: string;
  time_ns: number;
  /** How it died, for the summary: "was killed by the nemesis", "exited with code 1". */
  how: string;
  /** Each output file it held open, as the harness read it right after the death (null: gone). */
  files: Array<{ file: string; left: OutputFile | null }>;
}

/** A line's key and value: split at the first space ("key value"). */
export function splitLine(line: string): [string, string] {
  const space = line.indexOf(" ");
  return space === -1 ? [line, ""] : [line.slice(0, space), line.slice(space + 1)];
}

/** What `sort mr-out* | grep .` prints: every non-blank line of every file, sorted. */
export function outputLines(contents: Iterable<string>): string[] {
  const lines: string[] = [];
  for (const text of contents) {
    for (const line of text.split("\n")) if (line.trim() !== "") lines.push(line);
  }
  return lines.sort();
}

export interface OutputCheckOptions {
  app: string;
  /** Sorted non-blank lines of every mr-out* at the end. */
  actual: readonly string[];
  /** The oracle's sorted lines, when the app has one. */
  expected?: readonly string[];
  /** Where the oracle came from, for the summary ("a sequential run of nocrash"). */
  oracle?: string;
  /** Apps without an oracle: exactly these keys, each once. */
  expected_keys?: readonly string[];
  /** Apps without an oracle: every key must match this. */
  key_pattern?: RegExp;
}

export function checkOutput(options: OutputCheckOptions): CheckResult {
  const { actual } = options;
  const counts = new Map<string, number>();
  const got = new Map<string, string>();
  for (const line of actual) {
    const [key, value] = splitLine(line);
    counts.set(key, (counts.get(key) ?? 0) + 1);
    if (!got.has(key)) got.set(key, value);
  }
  const duplicated = [...counts].filter(([, n]) => n > 1).map(([k]) => k);
  const base = { line_count: actual.length, key_count: got.size };

  if (options.expected) {
    const expected = options.expected;
    const want = new Map(expected.map((line) => splitLine(line)));
    const missing = [...want.keys()].filter((k) => !got.has(k));
    const extra = [...got.keys()].filter((k) => !want.has(k));
    const wrong = [...want]
      .filter(([k, v]) => got.has(k) && got.get(k) !== v)
      .map(([key, value]) => ({ key, expected: value, got: got.get(key) as string }));
    const equal =
      actual.length === expected.length && actual.every((line, i) => line === expected[i]);
    const oracle = options.oracle ?? `a sequential run of ${options.app}`;
    if (equal) {
      return {
        valid: true,
        summary: `the output equals ${oracle} (${plural(want.size, "key")})`,
        ...base,
      };
    }
    const parts: string[] = [];
    if (missing.length > 0) {
      parts.push(
        `${plural(missing.length, "key")} missing (${listSome(
          missing.map((k) => show(k)),
          3,
        )})`,
      );
    }
    if (extra.length > 0) {
      parts.push(
        `${plural(extra.length, "unexpected key")} (${listSome(
          extra.map((k) => show(k)),
          3,
        )})`,
      );
    }
    if (wrong.length > 0) {
      const e = wrong[0] as (typeof wrong)[number];
      parts.push(
        `${plural(wrong.length, "wrong value")}, e.g. ${show(e.key)}: expected ${show(e.expected)}, got ${show(e.got)}`,
      );
    }
    if (duplicated.length > 0) {
      parts.push(
        `${plural(duplicated.length, "key")} on more than one line (${listSome(
          duplicated.map((k) => show(k)),
          3,
        )})`,
      );
    }
    if (parts.length === 0) {
      const i = actual.findIndex((line, n) => line !== expected[n]);
      parts.push(
        `line ${i + 1} of the sorted output is ${show(actual[i] ?? "(none)")}, expected ${show(expected[i] ?? "(none)")}`,
      );
    }
    return {
      valid: false,
      summary: `the output differs from ${oracle}: ${parts.join("; ")}`,
      ...base,
      expected_key_count: want.size,
      missing_count: missing.length,
      missing: missing.slice(0, MAX_LISTED),
      extra_count: extra.length,
      extra: extra.slice(0, MAX_LISTED).map((key) => ({ key, got: got.get(key) })),
      wrong_count: wrong.length,
      wrong: wrong.slice(0, MAX_LISTED),
      duplicated_count: duplicated.length,
      duplicated: duplicated.slice(0, MAX_LISTED),
    };
  }

  // No oracle (timing apps): the keys alone.
  const problems: string[] = [];
  const missing = options.expected_keys?.filter((k) => !got.has(k)) ?? [];
  const extra = options.expected_keys
    ? [...got.keys()].filter((k) => !options.expected_keys?.includes(k))
    : [];
  const malformed = options.key_pattern
    ? [...got.keys()].filter((k) => !options.key_pattern?.test(k))
    : [];
  if (missing.length > 0)
    problems.push(
      `keys missing: ${listSome(
        missing.map((k) => show(k)),
        5,
      )}`,
    );
  if (extra.length > 0)
    problems.push(
      `unexpected keys: ${listSome(
        extra.map((k) => show(k)),
        5,
      )}`,
    );
  if (malformed.length > 0) {
    problems.push(
      `keys not of the form ${options.key_pattern?.source}: ${listSome(
        malformed.map((k) => show(k)),
        5,
      )}`,
    );
  }
  if (duplicated.length > 0) {
    problems.push(
      `keys on more than one line: ${listSome(
        duplicated.map((k) => show(k)),
        5,
      )}`,
    );
  }
  if (got.size === 0) problems.push("the output is empty");
  const detail = {
    ...base,
    missing: missing.slice(0, MAX_LISTED),
    extra: extra.slice(0, MAX_LISTED),
    malformed: malformed.slice(0, MAX_LISTED),
    duplicated: duplicated.slice(0, MAX_LISTED),
  };
  if (problems.length > 0) {
    return {
      valid: false,
      summary: `the ${options.app} output is malformed: ${problems.join("; ")}`,
      ...detail,
    };
  }
  return {
    valid: true,
    summary: `${options.app} has no sequential oracle (its values are pids and timings); its keys are as expected, once each (${plural(got.size, "key")})`,
    ...detail,
  };
}

export interface ParallelismCheckOptions {
  app: "mtiming" | "rtiming";
  lines: readonly string[];
  /** Workers that should each have run maps: min(workers, map tasks). */
  workers: number;
  /** No worker was killed, crashed or replaced: exactly `workers` pids may have run maps. */
  exact: boolean;
}

export function checkParallelism(options: ParallelismCheckOptions): CheckResult {
  const { lines } = options;
  if (options.workers < 2) {
    return {
      valid: "unknown",
      summary: `parallelism needs at least 2 workers (this run had ${options.workers})`,
    };
  }
  if (options.app === "mtiming") {
    const times = lines.filter((l) => l.startsWith("times-"));
    const parallel = lines.filter((l) => l.startsWith("parallel-"));
    const counts = parallel.flatMap((l) =>
      splitLine(l)[1]
        .split(/\s+/)
        .filter((s) => s !== "")
        .map(Number),
    );
    const most = counts.length > 0 ? Math.max(...counts) : 0;
    const problems: string[] = [];
    if (options.exact ? times.length !== options.workers : times.length < 2) {
      problems.push(
        `${plural(times.length, "worker")} ran maps (times- keys), expected ${options.exact ? options.workers : "at least 2"}`,
      );
    }
    if (most < 2) {
      problems.push(
        "no map saw another map running at once (no parallel- count of 2 or more): maps ran one at a time",
      );
    }
    const detail = { times_keys: times.length, max_parallel: most, workers: options.workers };
    if (problems.length > 0) {
      return { valid: false, summary: `map parallelism: ${problems.join("; ")}`, ...detail };
    }
    return {
      valid: true,
      summary: `${plural(times.length, "worker")} ran maps, up to ${most} at once`,
      ...detail,
    };
  }
  const reduceKeys = lines.filter((l) => /^[a-j] /.test(l));
  const concurrent = reduceKeys.filter((l) => Number(splitLine(l)[1]) >= 2);
  const detail = { keys: reduceKeys.length, concurrent_keys: concurrent.length };
  if (concurrent.length < 2) {
    return {
      valid: false,
      summary: `reduce parallelism: only ${concurrent.length} of ${reduceKeys.length} reduces saw another reduce running at once (need at least 2): reduces ran one at a time`,
      ...detail,
    };
  }
  return {
    valid: true,
    summary: `${concurrent.length} of ${reduceKeys.length} reduces ran while another reduce ran`,
    ...detail,
  };
}

export interface JobCountCheckOptions {
  lines: readonly string[];
  map_tasks: number;
  /** A worker was killed or crashed: re-executed maps are then legitimate. */
  process_faults: boolean;
}

export function checkJobCount(options: JobCountCheckOptions): CheckResult {
  const line = options.lines.find((l) => splitLine(l)[0] === "a");
  const m = options.map_tasks;
  if (line === undefined) {
    return { valid: false, summary: "the jobcount output has no line for key a", map_tasks: m };
  }
  const value = Number(splitLine(line)[1]);
  const detail = { map_tasks: m, map_executions: value, process_faults: options.process_faults };
  if (!Number.isInteger(value)) {
    return { valid: false, summary: `the job count is not a number: ${show(line)}`, ...detail };
  }
  if (value < m) {
    return {
      valid: false,
      summary: `maps ran ${plural(value, "time")} for ${plural(m, "map task")}: some map task never ran`,
      ...detail,
    };
  }
  if (value > m && !options.process_faults) {
    return {
      valid: false,
      summary: `maps ran ${plural(value, "time")} for ${plural(m, "map task")}: ${plural(value - m, "needless re-execution")} with no worker killed or crashed`,
      ...detail,
    };
  }
  return {
    valid: true,
    summary:
      value === m
        ? `each of the ${plural(m, "map task")} ran exactly once`
        : `maps ran ${value} times for ${m} tasks; workers were killed, so re-executions are expected`,
    ...detail,
  };
}

/** Files that differ between a snapshot and the final output: missing, not final, extra. */
export function compareSnapshot(
  snapshot: OutputSnapshot,
  final: OutputSnapshot,
  deterministic = true,
): { missing: string[]; changed: string[]; vanished: string[] } {
  const missing = Object.keys(final).filter((f) => !(f in snapshot));
  const same = (a: OutputFile | undefined, b: OutputFile | undefined) =>
    a?.hash === b?.hash || (!deterministic && a?.complete === true && a.keys === b?.keys);
  const changed = Object.keys(final).filter((f) => f in snapshot && !same(snapshot[f], final[f]));
  const vanished = Object.keys(snapshot).filter((f) => !(f in final));
  return { missing: missing.sort(byNumber), changed: changed.sort(byNumber), vanished };
}

export interface EarlyExitCheckOptions {
  /** Taken when the first process exited by itself (crashes and fault victims excluded). */
  snapshot?: { time_ns: number; process: string; files: OutputSnapshot };
  final: OutputSnapshot;
  /**
   * False for apps whose reduce output is timing data (rtiming): a re-executed reduce may then
   * rewrite a complete file with other values after the exit, which is not an early exit.
   */
  deterministic?: boolean;
}

export function checkEarlyExit(options: EarlyExitCheckOptions): CheckResult {
  const { snapshot, final } = options;
  if (!snapshot) {
    return {
      valid: "unknown",
      summary: "no process exited by itself, so there was no moment to compare the output at",
    };
  }
  const diff = compareSnapshot(snapshot.files, final, options.deterministic ?? true);
  const at = `${snapshot.process} exited at ${(snapshot.time_ns / 1e9).toFixed(2)} s`;
  const detail = {
    process: snapshot.process,
    time_s: snapshot.time_ns / 1e9,
    missing: diff.missing.slice(0, MAX_LISTED),
    not_final: diff.changed.slice(0, MAX_LISTED),
    vanished: diff.vanished.slice(0, MAX_LISTED),
    files_at_exit: Object.keys(snapshot.files).length,
    files_final: Object.keys(final).length,
  };
  const parts: string[] = [];
  if (diff.missing.length > 0) parts.push(`${listSome(diff.missing, 5)} did not exist yet`);
  if (diff.changed.length > 0) {
    parts.push(
      `${listSome(diff.changed, 5)} ${diff.changed.length === 1 ? "was" : "were"} not final yet`,
    );
  }
  if (diff.vanished.length > 0) parts.push(`${listSome(diff.vanished, 5)} later disappeared`);
  if (parts.length > 0) {
    return {
      valid: false,
      summary: `${at} while the job's output was unfinished: ${parts.join("; ")}`,
      ...detail,
    };
  }
  return {
    valid: true,
    summary: `${at}; the output was already final then (${plural(Object.keys(final).length, "file")})`,
    ...detail,
  };
}

export interface AtomicOutputCheckOptions {
  /** Every distinct content of an output file the polls saw, in time order. */
  versions: readonly OutputVersion[];
  final: OutputSnapshot;
  polls: number;
  interval_ms: number;
  /**
   * False for apps whose reduce output is timing data (rtiming): a re-executed reduce may then
   * rewrite a complete file with other values, which is not a partial write.
   */
  deterministic: boolean;
  /** Workers that died while holding output files open, with what they left. */
  deaths?: readonly WriterDeath[];
  /** --strict: a partial file its live writer went on to finish fails the run too. */
  strict?: boolean;
}

/**
 * Why a partial output file whose writer finished it is only a warning by default: the rule is
 * the lab's advice, not something its tests check.
 */
export const ATOMIC_OUTPUT_REASON =
  "the lab suggests writing each mr-out-Y to a temporary file and renaming it into place so that nobody sees a partial file if a worker crashes, but its tests read the output only after the job and never check this";

export function checkAtomicOutput(options: AtomicOutputCheckOptions): CheckResult {
  const { final } = options;
  if (options.polls === 0) {
    return { valid: "unknown", summary: "the job directory was never polled" };
  }
  const isFinal = (file: string, seen: OutputFile) => {
    const end = final[file];
    if (end && end.hash === seen.hash) return true;
    return !options.deterministic && end !== undefined && seen.complete && seen.keys === end.keys;
  };
  const violations = options.versions
    .filter((v) => !isFinal(v.file, v))
    .map((v) => ({
      file: v.file,
      time_s: v.time_ns / 1e9,
      size: v.size,
      lines: v.lines,
      final_size: final[v.file]?.size ?? null,
      final_lines: final[v.file]?.lines ?? null,
      ...(v.writers && { writers: v.writers }),
    }));
  const torn = (options.deaths ?? []).flatMap((d) =>
    d.files.flatMap(({ file, left }) =>
      left && !isFinal(file, left)
        ? [{ instance: d.instance, how: d.how, time_s: d.time_ns / 1e9, file, size: left.size }]
        : [],
    ),
  );
  const detail = {
    polls: options.polls,
    interval_ms: options.interval_ms,
    versions_seen: options.versions.length,
    violation_count: violations.length,
    violations: violations.slice(0, MAX_LISTED),
    torn_by_death_count: torn.length,
    torn_by_death: torn.slice(0, MAX_LISTED),
    strict: options.strict === true,
  };
  const advice = "write to a temporary file and rename it into place";
  if (torn.length > 0) {
    const t = torn[0] as (typeof torn)[number];
    const end = final[t.file];
    const left = !end
      ? `${t.size} bytes (it later disappeared)`
      : t.size < end.size
        ? `${t.size} of its final ${end.size} bytes`
        : `${t.size} bytes (${end.size} when the run ended)`;
    return {
      valid: false,
      summary: `${t.instance} ${t.how} at ${t.time_s.toFixed(2)} s while writing ${t.file} in place, leaving it with ${left} for any reader to see (${plural(torn.length, "file")} left partial by a dead writer); ${advice}`,
      ...detail,
    };
  }
  if (violations.length === 0) {
    return {
      valid: true,
      summary: `${plural(options.polls, "poll")} every ${options.interval_ms} ms saw each output file only in its final form`,
      ...detail,
    };
  }
  const v = violations[0] as (typeof violations)[number];
  const what =
    v.final_size === null
      ? `was visible with ${v.size} bytes and later disappeared`
      : `was visible with ${v.size} of its final ${v.final_size} bytes (${v.lines} of ${v.final_lines} lines)`;
  const files = new Set(violations.map((x) => x.file)).size;
  const seen = `${v.file} ${what} at ${v.time_s.toFixed(2)} s: a reader saw an output file that was not final (${plural(files, "file")} affected)`;
  if (options.strict) {
    return {
      valid: false,
      summary: `${seen}; ${advice} (--strict: ${ATOMIC_OUTPUT_REASON})`,
      ...detail,
    };
  }
  return {
    valid: true,
    summary: `${seen}; no worker was seen dying while writing one, and the lab's tests read the output only at the end (a warning; --strict fails it)`,
    ...detail,
    warnings: [
      `atomic-output: ${seen}. Not a failure: ${ATOMIC_OUTPUT_REASON}. A worker that dies while writing in place fails the run; --strict fails this too. Fix: ${advice}.`,
    ],
  };
}

export interface ProcessEnd {
  id: string;
  code: number | null;
  signal: string | null;
  time_ns: number;
  /** The harness killed it (the deadline, the end of the run, or the nemesis). */
  killed: boolean;
  /** The nemesis killed it (a fault, not a verdict on the process). */
  fault?: boolean;
}

export interface CompletionCheckOptions {
  deadline_s: number;
  /** The coordinator's end; undefined if it was still running when the run ended. */
  coordinator: ProcessEnd | undefined;
  /** Output files the job must produce (the oracle's partitions, or what the run produced). */
  required: readonly string[];
  final: OutputSnapshot;
  /** Output files when the coordinator exited. */
  at_coordinator_exit?: OutputSnapshot;
  /** Every worker instance's end (killed: true when the harness had to stop it). */
  workers: readonly ProcessEnd[];
  /** How long workers may take to exit after the job ended. */
  grace_ms: number;
  /** The crash app exits workers on purpose; otherwise a worker's non-zero exit is a crash. */
  crashes_expected?: boolean;
}

export function checkCompletion(options: CompletionCheckOptions): CheckResult {
  const { coordinator, final } = options;
  const missingAtEnd = options.required.filter((f) => !(f in final)).sort(byNumber);
  const base = {
    deadline_s: options.deadline_s,
    required_outputs: options.required.length,
    missing_outputs: missingAtEnd.slice(0, MAX_LISTED),
    missing_output_count: missingAtEnd.length,
  };
  if (!coordinator || coordinator.killed) {
    const missing =
      missingAtEnd.length > 0
        ? `missing outputs: ${listSome(missingAtEnd, 8)}`
        : "every output exists, but the coordinator never exited";
    return {
      valid: false,
      summary: `the job did not finish within ${options.deadline_s} s (the coordinator was killed at the deadline); ${missing}`,
      ...base,
    };
  }
  const at = `at ${(coordinator.time_ns / 1e9).toFixed(2)} s`;
  if (coordinator.code !== 0) {
    return {
      valid: false,
      summary: `the coordinator exited ${coordinator.signal ? `on signal ${coordinator.signal}` : `with code ${coordinator.code}`} ${at}${missingAtEnd.length > 0 ? `; missing outputs: ${listSome(missingAtEnd, 8)}` : ""}`,
      ...base,
    };
  }
  const atExit = options.at_coordinator_exit ?? final;
  const missingAtExit = options.required.filter((f) => !(f in atExit)).sort(byNumber);
  if (missingAtExit.length > 0) {
    return {
      valid: false,
      summary: `the coordinator exited ${at} while ${listSome(missingAtExit, 8)} did not exist yet${missingAtEnd.length > 0 ? ` (${listSome(missingAtEnd, 8)} never appeared)` : ""}`,
      ...base,
      missing_at_coordinator_exit: missingAtExit.slice(0, MAX_LISTED),
    };
  }
  const crashed = options.crashes_expected
    ? []
    : options.workers.filter((w) => !w.killed && w.code !== 0);
  if (crashed.length > 0) {
    const c = crashed[0] as ProcessEnd;
    return {
      valid: false,
      summary: `${plural(crashed.length, "worker")} crashed, e.g. ${c.id} exited ${c.signal ? `on signal ${c.signal}` : `with code ${c.code}`} at ${(c.time_ns / 1e9).toFixed(2)} s (only the crash app exits on purpose)`,
      ...base,
      crashed: crashed
        .slice(0, MAX_LISTED)
        .map((w) => ({ id: w.id, code: w.code, signal: w.signal })),
    };
  }
  const lingering = options.workers.filter((w) => w.killed && !w.fault);
  const slowest = Math.max(
    0,
    ...options.workers
      .filter((w) => !w.killed && w.time_ns > coordinator.time_ns)
      .map((w) => (w.time_ns - coordinator.time_ns) / 1e6),
  );
  if (lingering.length > 0) {
    return {
      valid: false,
      summary: `${listSome(
        lingering.map((w) => w.id),
        5,
      )} did not exit within ${options.grace_ms / 1000} s after the job ended (workers must exit when the job is done)`,
      ...base,
      lingering: lingering.map((w) => w.id).slice(0, MAX_LISTED),
    };
  }
  return {
    valid: true,
    summary: `the coordinator exited 0 ${at} (deadline ${options.deadline_s} s) with every output (${plural(options.required.length, "file")}); every worker exited${slowest > 0 ? ` within ${(slowest / 1000).toFixed(1)} s after it` : " before it"}`,
    ...base,
    slowest_worker_exit_ms: Math.round(slowest),
  };
}

function byNumber(a: string, b: string): number {
  const na = Number(/(\d+)$/.exec(a)?.[1] ?? Number.NaN);
  const nb = Number(/(\d+)$/.exec(b)?.[1] ?? Number.NaN);
  if (Number.isFinite(na) && Number.isFinite(nb) && na !== nb) return na - nb;
  return a < b ? -1 : a > b ? 1 : 0;
}
