// raft-kv benchmark (issue 6): throughput and latency of the correct system with 3 and 5 nodes,
// without faults and under partitions; and, for each bug variant, how long faultline takes to
// catch it, over a few seeds: the end of the shortest prefix of the history that is already not
// linearizable (found by bisecting over prefixes), or the node's crash. Every figure comes from
// real `faultline test` runs.
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { execa } from "execa";
import { type Op, parseHistory } from "../checkers/history.js";
import { checkLinearizable } from "../checkers/linearizable.js";
import { Logger } from "../harness/logger.js";
import { distFile } from "../harness/paths.js";
import { type RunOutcome, runTest } from "../harness/run.js";
import { resolveSystem } from "../harness/target.js";
import { SCHEDULES, type Schedule } from "../systems/raft-kv/schedules.js";

/** Seconds of workload per performance run. */
const PERF_TIME_LIMIT_S = 10;
/** Offered load for the performance runs: above what the cluster serves, so it saturates. */
const PERF_RATE_OPS_S = 2000;
/** Seeds per bug for the detection medians. */
const DETECTION_SEEDS = [1, 2, 3, 4];
/** A whole run (start, workload, recovery, check) is killed past this. */
const RUN_TIMEOUT_MS = 180_000;
/** Bisection over history prefixes stops when the bracket is this many records wide. */
const PREFIX_RESOLUTION_RECORDS = 10;
/** Budget for checking one prefix; an undecided prefix counts as "not caught yet". */
const PREFIX_CHECK_TIMEOUT_MS = 20_000;

export interface RunOutput {
  exitCode: number | undefined;
  // biome-ignore lint/suspicious/noExplicitAny: results.json is read loosely here
  results: Record<string, any>;
  history: Op[];
}

export async function faultline(args: string): Promise<RunOutput> {
  const store = mkdtempSync(join(tmpdir(), "faultline-bench-"));
  try {
    const r = await execa(
      process.execPath,
      [distFile("harness/cli.js"), "test", ...args.split(/\s+/), "--store", store, "-q"],
      { reject: false, timeout: RUN_TIMEOUT_MS, killSignal: "SIGKILL" },
    );
    const dir = join(store, "latest");
    const results = JSON.parse(readFileSync(join(dir, "results.json"), "utf8"));
    const history = parseHistory(readFileSync(join(dir, "history.jsonl"), "utf8"));
    return { exitCode: r.exitCode, results, history };
  } finally {
    rmSync(store, { recursive: true, force: true });
  }
}

export function quantile(sorted: number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? Number.NaN;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1
    ? (sorted[mid] as number)
    : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}

/** ok ops per second of workload time, and p50/p99 latency (ms) of the ok ops. */
function performance(out: RunOutput): { ok_per_s: number; p50_ms: number; p99_ms: number } {
  const invoked = new Map<number, number>();
  const latencies: number[] = [];
  for (const op of out.history) {
    if (op.process === "nemesis") continue;
    if (op.type === "invoke") invoked.set(op.process, op.time);
    else if (op.type === "ok")
      latencies.push((op.time - (invoked.get(op.process) ?? op.time)) / 1e6);
  }
  latencies.sort((a, b) => a - b);
  return {
    ok_per_s: latencies.length / PERF_TIME_LIMIT_S,
    p50_ms: quantile(latencies, 0.5),
    p99_ms: quantile(latencies, 0.99),
  };
}

/**
 * When the run's failure showed itself, in seconds from the start: the end of the shortest
 * history prefix the checker already finds not linearizable (a violation in a prefix is one in
 * the whole history, since ops still open at the cut may take effect later), or the first node
 * crash. Undefined if the run was not caught.
 */
async function detectionSeconds(out: RunOutput, model: string): Promise<number | undefined> {
  if (out.exitCode !== 1) return undefined;
  const times: number[] = [];
  for (const crash of out.results.checkers?.crashes?.crashes ?? []) {
    if (typeof crash.time_ns === "number") times.push(crash.time_ns / 1e9);
  }
  if (out.results.checkers?.linearizable?.valid === false) {
    let caught = out.history.length; // this prefix (all of it) is known to be invalid
    let notYet = 0;
    while (caught - notYet > PREFIX_RESOLUTION_RECORDS) {
      const mid = Math.floor((caught + notYet) / 2);
      const r = await checkLinearizable(out.history.slice(0, mid), {
        model,
        timeout_ms: PREFIX_CHECK_TIMEOUT_MS,
      });
      if (r.valid === false) caught = mid;
      else notYet = mid;
    }
    times.push((out.history[caught - 1] as Op).time / 1e9);
  }
  return times.length > 0 ? Math.min(...times) : undefined;
}

/**
 * The fault mix that exposes each bug: the same runs as test/e2e/raft-kv.test.ts for the four
 * that faultline catches reliably, and the best mix found for the two that need rare schedules.
 */
export const DETECTION_MIXES: Record<string, string> = {
  "stale-read":
    "-w lin-kv --node-count 5 --time-limit 20 --rate 100 --concurrency 2n --nemesis partition --partition-shape halves --nemesis-interval 1",
  "early-ack":
    "-w kv --node-count 5 --time-limit 20 --rate 60 --concurrency 2n --nemesis partition --partition-shape halves --nemesis-interval 1",
  "no-dedup":
    "-w kv --node-count 3 --time-limit 10 --rate 50 --concurrency 2n --nemesis packet --nemesis-interval 1",
  "no-fsync":
    "-w lin-kv --node-count 3 --time-limit 15 --rate 50 --concurrency 2n --nemesis kill --kill-targets all --nemesis-interval 1.2",
  "no-persist-vote":
    "-w lin-kv --node-count 3 --time-limit 20 --rate 30 --concurrency 2n --nemesis partition,kill --partition-shape bridge --nemesis-interval 0.2",
  "commit-old-term":
    "-w lin-kv --node-count 5 --time-limit 20 --rate 10 --concurrency 2n --nemesis partition,kill,packet --nemesis-interval 0.3",
};

export async function benchRaft(): Promise<string> {
  const lines = [
    `Correct system, lin-kv, ${PERF_TIME_LIMIT_S} s at an offered ${PERF_RATE_OPS_S} ops/s with 4 workers per node; latency of ok ops.`,
    "",
    "| nodes | faults | ok ops/s | p50 ms | p99 ms | verdict |",
    "|---:|---|---:|---:|---:|---|",
  ];
  for (const nodes of [3, 5]) {
    for (const faults of ["none", "partition"]) {
      const nemesis = faults === "none" ? "" : " --nemesis partition --nemesis-interval 2";
      const out = await faultline(
        `--system raft-kv -w lin-kv --node-count ${nodes} --time-limit ${PERF_TIME_LIMIT_S} --rate ${PERF_RATE_OPS_S} --concurrency 4n --recovery-time 1 --seed 1${nemesis}`,
      );
      const p = performance(out);
      lines.push(
        `| ${nodes} | ${faults} | ${p.ok_per_s.toFixed(0)} | ${p.p50_ms.toFixed(1)} | ${p.p99_ms.toFixed(1)} | ${out.results.valid} |`,
      );
    }
  }
  lines.push(
    "",
    `Bug variants: how many runs caught each (seeds ${DETECTION_SEEDS.join(", ")}), and the median time from the start of the run until the history already shows the violation (the shortest non-linearizable prefix) or a node stops on a broken invariant.`,
    "",
    "| bug | fault mix | caught | median time to detection |",
    "|---|---|---:|---:|",
  );
  for (const [bug, mix] of Object.entries(DETECTION_MIXES)) {
    const times: number[] = [];
    for (const seed of DETECTION_SEEDS) {
      const out = await faultline(
        `--system raft-kv --bug ${bug} ${mix} --recovery-time 2 --seed ${seed}`,
      );
      const model = mix.includes("-w kv ") ? "append-kv" : "kv";
      const t = await detectionSeconds(out, model);
      if (t !== undefined) times.push(t);
    }
    const shownMix = mix.replace(/ --rate \S+| --concurrency \S+/g, "");
    lines.push(
      `| ${bug} | \`${shownMix}\` | ${times.length}/${DETECTION_SEEDS.length} | ${times.length > 0 ? `${median(times).toFixed(1)} s` : "—"} |`,
    );
  }
  lines.push(
    "",
    `The two rare schedules driven by nemesis scripts (systems/raft-kv/schedules.ts), ${DETECTION_SEEDS.length} runs each: time from the start of the run until a node stops on a broken invariant.`,
    "",
    "| bug | script | caught | median time to detection |",
    "|---|---|---:|---:|",
  );
  for (const [bug, schedule] of Object.entries(SCHEDULES)) {
    const times: number[] = [];
    for (const _ of DETECTION_SEEDS) {
      const t = await runSchedule(schedule, bug, (outcome) => {
        const exits = Object.values(outcome.results.nodes).flatMap((n) => n.crashes);
        const first = Math.min(...exits.map((exit) => exit.time_ns));
        return outcome.exitCode === 1 && Number.isFinite(first) ? first / 1e9 : undefined;
      });
      if (t !== undefined) times.push(t);
    }
    lines.push(
      `| ${bug} | ${schedule.script.name}, ${schedule.nodes} nodes | ${times.length}/${DETECTION_SEEDS.length} | ${times.length > 0 ? `${median(times).toFixed(1)} s` : "—"} |`,
    );
  }
  return lines.join("\n");
}

// Here, not beside the scripts: a system may not import the harness that runs them.
/** Election timeouts long enough that a crashed node is back before a candidate's next one. */
const ELECTION_TIMEOUT = ["--election-timeout-ms", "3000-6000"];

/**
 * One lin-kv run of raft-kv (`bug`, or the correct variant) under `schedule`'s script, in a
 * temporary store; `inspect` sees the outcome before the store is removed.
 */
async function runSchedule<T>(
  schedule: Schedule,
  bug: string | undefined,
  inspect: (outcome: RunOutcome) => T,
): Promise<T> {
  const store = mkdtempSync(join(tmpdir(), "faultline-raft-script-"));
  try {
    const outcome = await runTest(
      {
        workload: "lin-kv",
        target: resolveSystem("raft-kv", "lin-kv", bug, ELECTION_TIMEOUT),
        node_count: schedule.nodes,
        time_limit_s: schedule.time_s,
        // No client traffic: its writes would lengthen the logs the scripts need equal.
        rate: 0,
        concurrency: schedule.nodes,
        latency: { mean_ms: 0, dist: "constant" },
        topology: "grid",
        recovery_s: 2,
        seed: 1,
        store,
        command: "test (scripted)",
        nemesis: {
          faults: [],
          interval_s: 1,
          packet: { loss: 0, duplicate: 0, delay_ms: 0 },
          script: schedule.script,
        },
      },
      new Logger(true),
      new AbortController().signal,
    );
    return inspect(outcome);
  } finally {
    rmSync(store, { recursive: true, force: true });
  }
}
