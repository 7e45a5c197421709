// Times our Porcupine port on Porcupine's own test data (shared/data/porcupine), beside the
// figures of Go Porcupine v1.3.0 on the same 2-core machine. Like Go's benchmarks, the time
// is the check alone (files are parsed first). Go's testing.B reports the mean of many
// repetitions, so it runs warm: we show our first run (JIT still compiling) and the best of
// REPEATS. Every verdict is verified against verdicts.tsv: a fast wrong answer fails the bench.

import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import type { Op } from "../checkers/history.js";
import { checkLinearizable, checkLinearizableOperations } from "../checkers/linearizable.js";
import { appendKvModel, type Model } from "../checkers/porcupine/index.js";
import { PartitionSearch, type SearchOp, type SearchStatus } from "../checkers/porcupine/search.js";
import type { CheckResult } from "../checkers/result.js";
import { importHistory } from "../harness/import/index.js";
import { sharedDir } from "../harness/paths.js";

/** Go Porcupine v1.3.0 on this machine (2 cores), seconds per check. */
const GO: Record<string, number> = {
  "etcd total": 0.49,
  "etcd slowest": 0.21,
  "kv/c50-ok.txt partitioned": 0.118,
  "kv/c50-bad.txt partitioned": 0.019,
  "kv/c10-ok.txt unpartitioned": 1.9,
  "kv/c10-bad.txt unpartitioned": 2.0,
};
const GO_PEAK_RSS_MB = 364;

/** Runs per case after the first; the best is reported. */
const REPEATS = 5;
/** Generous: a bench run must decide, never time out. */
const TIMEOUT_MS = 600_000;

function verdicts(dir: string): Map<string, string> {
  const rows = readFileSync(join(dir, "verdicts.tsv"), "utf8").trim().split("\n").slice(1);
  return new Map(rows.map((row) => row.split("\t") as [string, string]));
}

interface Timing {
  /** Wall-clock seconds. */
  s: number;
  /** CPU seconds of this process (all threads): unlike wall time, not stretched by other load. */
  cpu: number;
}

async function timed(
  fn: () => Promise<CheckResult>,
  expect: boolean,
  what: string,
): Promise<Timing> {
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const r = await fn();
  const s = (performance.now() - t0) / 1000;
  const used = process.cpuUsage(cpu0);
  if (r.valid !== expect)
    throw new Error(`bench: ${what} gave ${String(r.valid)}, expected ${expect}`);
  return { s, cpu: (used.user + used.system) / 1e6 };
}

interface Row {
  name: string;
  first: number;
  best: number;
  bestCpu: number;
}

/** First run, and the best wall and CPU times of REPEATS more. */
async function measure(
  name: string,
  fn: () => Promise<CheckResult>,
  expect: boolean,
): Promise<Row> {
  const first = await timed(fn, expect, name);
  let best = Number.POSITIVE_INFINITY;
  let bestCpu = Number.POSITIVE_INFINITY;
  for (let i = 0; i < REPEATS; i++) {
    const t = await timed(fn, expect, name);
    best = Math.min(best, t.s);
    bestCpu = Math.min(bestCpu, t.cpu);
  }
  return { name, first: first.s, best, bestCpu };
}

export async function benchPorcupine(): Promise<string> {
  const dir = join(sharedDir(), "data", "porcupine");
  const expected = verdicts(dir);
  const rows: Row[] = [];

  // etcd: every file with a verdict, one after another; a pass = all of them.
  const etcd = readdirSync(join(dir, "jepsen"))
    .filter((f) => ["Ok", "Illegal"].includes(expected.get(`jepsen/${f}`) ?? ""))
    .sort()
    .map((f) => {
      const imported = importHistory(
        readFileSync(join(dir, "jepsen", f), "utf8"),
        "porcupine-etcd",
      );
      if (imported.kind !== "operations") throw new Error("bench: etcd logs import as operations");
      return { f, imported, ok: expected.get(`jepsen/${f}`) === "Ok" };
    });
  const passes: { total: number; cpu: number; slowest: Timing; file: string }[] = [];
  for (let pass = 0; pass <= REPEATS; pass++) {
    let total = 0;
    let cpu = 0;
    let slowest = { s: 0, cpu: 0 };
    let file = "";
    for (const { f, imported, ok } of etcd) {
      const t = await timed(
        () =>
          checkLinearizableOperations("cas-register", imported.operations, imported.refs, {
            timeout_ms: TIMEOUT_MS,
          }),
        ok,
        f,
      );
      total += t.s;
      cpu += t.cpu;
      if (t.s > slowest.s) [slowest, file] = [t, f];
    }
    passes.push({ total, cpu, slowest, file });
  }
  const [cold, ...warm] = passes as [(typeof passes)[0], ...typeof passes];
  const bestPass = warm.reduce((a, b) => (b.total < a.total ? b : a));
  rows.push({
    name: `etcd total (${etcd.length} files)`,
    first: cold.total,
    best: bestPass.total,
    bestCpu: Math.min(...warm.map((p) => p.cpu)),
  });
  rows.push({
    name: `etcd slowest file (${bestPass.file}; first run: ${cold.file})`,
    first: cold.slowest.s,
    best: bestPass.slowest.s,
    bestCpu: bestPass.slowest.cpu,
  });

  // kv: partitioned by key, and unpartitioned where upstream checked that way too.
  for (const size of ["c01", "c10", "c50"]) {
    for (const kind of ["ok", "bad"]) {
      const file = `kv/${size}-${kind}.txt`;
      const imported = importHistory(readFileSync(join(dir, file), "utf8"), "porcupine-kv");
      if (imported.kind !== "history") throw new Error("bench: kv logs import as histories");
      const ok = expected.get(file) === "Ok";
      const check = (history: Op[], unpartitioned: boolean) => () =>
        checkLinearizable(history, { model: "append-kv", timeout_ms: TIMEOUT_MS, unpartitioned });
      rows.push(await measure(`${file} partitioned`, check(imported.history, false), ok));
      if (size !== "c50") {
        rows.push(await measure(`${file} unpartitioned`, check(imported.history, true), ok));
      }
    }
  }

  const peakMb = process.resourceUsage().maxRSS / 1024;
  const goFor = (name: string): number | undefined =>
    name.startsWith("etcd total")
      ? GO["etcd total"]
      : name.startsWith("etcd slowest")
        ? GO["etcd slowest"]
        : GO[name];
  const fmt = (seconds: number): string => seconds.toFixed(3);
  return [
    "Seconds per check (files parsed beforehand, as in Go's benchmarks). First = first run in this",
    `process (JIT still compiling); best = best of ${REPEATS} more, wall clock and CPU time;`,
    "Go = Porcupine v1.3.0 wall clock (warm, partitions on both cores), same machine.",
    "",
    "| case | first (s) | best (s) | best CPU (s) | Go (s) | Go / best |",
    "|---|---|---|---|---|---|",
    ...rows.map((r) => {
      const go = goFor(r.name);
      const vs = go === undefined ? "–" : `${(go / r.best).toFixed(1)}×`;
      return `| ${r.name} | ${fmt(r.first)} | ${fmt(r.best)} | ${fmt(r.bestCpu)} | ${go === undefined ? "–" : fmt(go)} | ${vs} |`;
    }),
    `| peak RSS of the bench process | ${peakMb.toFixed(0)} MB | | | ${GO_PEAK_RSS_MB} MB | |`,
    "",
    benchGrowingPruning(),
  ].join("\n");
}

/** Budget per search in the pruning comparison: past it the plain search is "unknown". */
const PRUNING_BUDGET_MS = 10_000;
const PRUNING_SIZES = [8, 10, 12, 16];

/** `n` appends all concurrent, then a get that saw all but one: illegal only after every order. */
function appendsThenShortGet(n: number): SearchOp[] {
  const appends = Array.from({ length: n }, (_, i) => ({
    input: { f: "append", key: "k", value: `<${i}>` },
    output: {},
    call: 0,
    ret: 10,
  }));
  const seen = Array.from({ length: n - 1 }, (_, i) => `<${(i * 7 + 1) % n}>`).join("");
  return [
    ...appends,
    { input: { f: "get", key: "k" }, output: { value: seen }, call: 20, ret: 30 },
  ];
}

function searchFor(
  ops: SearchOp[],
  prune_after_iterations: number,
): { status: SearchStatus; s: number } {
  const t0 = performance.now();
  const search = new PartitionSearch(appendKvModel as Model<unknown, unknown, unknown>, ops, {
    max_bytes: 2 ** 31,
    prune_after_iterations,
  });
  while (search.run(1 << 14) === "running") {
    if (performance.now() - t0 > PRUNING_BUDGET_MS) break;
  }
  return { status: search.status, s: (performance.now() - t0) / 1000 };
}

/** The Model.reaches pruning against the plain search, same histories, same process. */
function benchGrowingPruning(): string {
  const cell = (r: { status: SearchStatus; s: number }) =>
    r.status === "running" || r.status === "memory"
      ? `unknown (out of ${r.status === "memory" ? "memory" : "time"}) after ${r.s.toFixed(1)} s`
      : `${r.status}, ${(r.s * 1000).toFixed(1)} ms`;
  const lines = PRUNING_SIZES.map((n) => {
    const ops = appendsThenShortGet(n);
    const pruned = searchFor(ops, 0);
    if (pruned.status !== "illegal")
      throw new Error(`bench: ${n} appends pruned gave ${pruned.status}`);
    const plain = searchFor(ops, Number.POSITIVE_INFINITY);
    if (plain.status === "ok") throw new Error(`bench: ${n} appends plain gave ok`);
    return `| ${n} | ${cell(pruned)} | ${cell(plain)} |`;
  });
  return [
    "append-kv, n concurrent appends then a get that saw all but one (illegal only after every",
    "order is tried), one key: the search with Model.reaches pruning from the first iteration,",
    `and without it (budget ${PRUNING_BUDGET_MS / 1000} s). A default check prunes after 2^20 iterations.`,
    "",
    "| appends | pruned | plain |",
    "|---|---|---|",
    ...lines,
  ].join("\n");
}
