// Throughput and latency of the replicated KV reference systems (issue 9): paxos-kv and pb-kv,
// and raft-kv beside them when systems/raft-kv/manifest.json exists, each with 3 and 5 nodes,
// run through the real harness (`faultline test`, lin-kv workload, no faults) on this machine
// in this run. Two modes per configuration:
//   saturated   closed loop: CONCURRENCY_PER_NODE × nodes synchronous clients and a rate far
//               above what they can reach, so ops/s is the system's capacity here;
//   fixed rate  FIXED_RATE ops/s spread over the same clients: latency when not overloaded.
// Figures are computed from history.jsonl: completed ops per second between the first
// invocation and the last completion, and quantiles of their invoke→complete time. "Completed"
// is ok, or failed with the op's own answer (cas precondition-failed, key-does-not-exist): those
// went through replication like any other op. lin-kv rather than kv because its checker stays
// fast with many concurrent clients per key (kv's appends make the search blow up: "unknown").
// A run that is not valid fails the bench: fast wrong answers are not figures.
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { execa } from "execa";
import { type Op, parseHistory } from "../checkers/history.js";
import { distFile, packageRoot } from "../harness/paths.js";

const NODE_COUNTS = [3, 5];
/** Seconds of workload per run. */
const TIME_LIMIT_S = 8;
const CONCURRENCY_PER_NODE = 4;
/** Far above any system's capacity here: the clients, not the scheduler, set the pace. */
const SATURATING_RATE = 20_000;
const FIXED_RATE = 100;
const SEED = 1;
/** This issue's systems: a run of theirs that is invalid or does not run fails the bench. */
const OURS = ["paxos-kv", "pb-kv"];
/** A run (workload + check) taking longer than this is killed and reported as failed. */
const RUN_TIMEOUT_MS = 180_000;

/** Failures that are the op's own answer, not the system's unavailability. */
const ANSWERS = ["precondition-failed", "key-does-not-exist"];

interface Measured {
  system: string;
  nodes: number;
  mode: string;
  done_per_s: number;
  p50_ms: number;
  p99_ms: number;
  done: number;
  invoked: number;
  valid: string;
}

function quantile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] as number;
}

function measure(system: string, nodes: number, mode: string, ops: readonly Op[]): Measured {
  const invokes = new Map<number | string, Op>();
  const latencies_ms: number[] = [];
  let first = Number.POSITIVE_INFINITY;
  let last = 0;
  let invoked = 0;
  for (const op of ops) {
    if (op.process === "nemesis") continue;
    if (op.type === "invoke") {
      invokes.set(op.process, op);
      invoked++;
      first = Math.min(first, op.time);
      continue;
    }
    const inv = invokes.get(op.process);
    invokes.delete(op.process);
    const answered =
      op.type === "ok" ||
      (op.type === "fail" && Array.isArray(op.error) && ANSWERS.includes(op.error[0] as string));
    if (!answered || !inv) continue;
    latencies_ms.push((op.time - inv.time) / 1e6);
    last = Math.max(last, op.time);
  }
  latencies_ms.sort((a, b) => a - b);
  const span_s = (last - first) / 1e9;
  return {
    system,
    nodes,
    mode,
    done_per_s: span_s > 0 ? latencies_ms.length / span_s : 0,
    p50_ms: quantile(latencies_ms, 0.5),
    p99_ms: quantile(latencies_ms, 0.99),
    done: latencies_ms.length,
    invoked,
    valid: "",
  };
}

async function runOnce(system: string, nodes: number, saturated: boolean): Promise<Measured> {
  const store = mkdtempSync(join(tmpdir(), "faultline-bench-pb-"));
  try {
    const args = [
      distFile("harness/cli.js"),
      "test",
      "--system",
      system,
      "-w",
      "lin-kv",
      "--node-count",
      String(nodes),
      "--time-limit",
      String(TIME_LIMIT_S),
      "--rate",
      String(saturated ? SATURATING_RATE : FIXED_RATE),
      "--concurrency",
      `${CONCURRENCY_PER_NODE}n`,
      "--seed",
      String(SEED),
      "--store",
      store,
      "-q",
    ];
    const r = await execa(process.execPath, args, {
      reject: false,
      timeout: RUN_TIMEOUT_MS,
      killSignal: "SIGKILL",
    });
    const results = join(store, "latest", "results.json");
    const mode = saturated ? "saturated" : `${FIXED_RATE} ops/s`;
    if (!existsSync(results)) {
      const why = `${system} ×${nodes} did not run (exit ${r.exitCode}): ${`${r.stdout}${r.stderr}`.slice(0, 300)}`;
      if (OURS.includes(system)) throw new Error(`bench: ${why}`);
      // Another team's system still in progress: a row saying so, not a failed bench.
      const none = Number.NaN;
      return {
        system,
        nodes,
        mode,
        done_per_s: none,
        p50_ms: none,
        p99_ms: none,
        done: 0,
        invoked: 0,
        valid: "did not run",
      };
    }
    const verdict = JSON.parse(readFileSync(results, "utf8")).valid as boolean | string;
    const ops = parseHistory(readFileSync(join(store, "latest", "history.jsonl"), "utf8"));
    const m = measure(system, nodes, mode, ops);
    m.valid = String(verdict);
    if (verdict !== true && OURS.includes(system)) {
      // Our own systems must be right before their speed means anything.
      throw new Error(
        `bench: ${system} ×${nodes} was ${String(verdict)}: ${r.stdout.split("\n")[0]}`,
      );
    }
    return m;
  } finally {
    rmSync(store, { recursive: true, force: true });
  }
}

export async function benchPaxosPb(): Promise<string> {
  const systems = [...OURS];
  if (existsSync(join(packageRoot(), "systems", "raft-kv", "manifest.json")))
    systems.push("raft-kv");
  const rows: Measured[] = [];
  for (const nodes of NODE_COUNTS) {
    for (const system of systems) {
      for (const saturated of [true, false]) rows.push(await runOnce(system, nodes, saturated));
    }
  }
  const f = (x: number, digits = 1) => (Number.isFinite(x) ? x.toFixed(digits) : "–");
  const lines = [
    `lin-kv workload (read 1/2, write 1/6, cas 1/3), no faults, ${TIME_LIMIT_S} s per run, ${CONCURRENCY_PER_NODE} clients per node, seed ${SEED}; ` +
      "pb-kv's n0 is its view service (clients of n0 are forwarded to the primary).",
    "",
    "| system | nodes | load | ops/s | p50 ms | p99 ms | completed / invoked | valid |",
    "|---|---:|---|---:|---:|---:|---:|---|",
    ...rows.map(
      (m) =>
        `| ${m.system} | ${m.nodes} | ${m.mode} | ${f(m.done_per_s, 0)} | ${f(m.p50_ms)} | ${f(m.p99_ms)} | ${m.done} / ${m.invoked} | ${m.valid} |`,
    ),
  ];
  return lines.join("\n");
}
