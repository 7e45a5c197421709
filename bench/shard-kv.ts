// shard-kv benchmark (issue 16): does adding replica groups add throughput (1 group against 3,
// saturated, no faults), and how long a moved shard is out of service under load (from the
// controller's move to the first ok op on that shard invoked after it). Real `faultline test`
// runs of the correct system on Raft; catch rates come from `npm run bench -- detection`.
import { key2shard } from "../protocols/shard-kv.js";
import { faultline, quantile, type RunOutput } from "./raft.js";

/** Seconds of workload per run. */
const TIME_LIMIT_S = 10;
/** Offered load for the throughput runs: above what the groups serve, so they saturate. */
const SATURATING_RATE_OPS_S = 10_000;
/** The move-time run: steady load, and the nemesis moving shards (and leaving/joining groups). */
const MOVE_RATE_OPS_S = 200;
const MOVE_TIME_LIMIT_S = 30;
const KV = new Set(["get", "put", "append"]);

function keyOf(value: unknown): string | undefined {
  const key = (value as { key?: unknown } | null)?.key;
  return typeof key === "string" ? key : undefined;
}

/** ok key-value ops per second and their p50/p99 latency in ms. */
function throughput(out: RunOutput) {
  const invoked = new Map<unknown, number>();
  const latencies: number[] = [];
  for (const op of out.history) {
    if (!KV.has(op.f)) continue;
    if (op.type === "invoke") invoked.set(op.process, op.time);
    else if (op.type === "ok")
      latencies.push((op.time - (invoked.get(op.process) ?? op.time)) / 1e6);
  }
  latencies.sort((a, b) => a - b);
  return {
    ok_per_s: latencies.length / TIME_LIMIT_S,
    p50_ms: quantile(latencies, 0.5),
    p99_ms: quantile(latencies, 0.99),
  };
}

/** Per shard move: ms from the move's completion to the first ok op on it invoked later. */
function moveTimes(out: RunOutput): number[] {
  const moves: Array<{ shard: number; time: number }> = [];
  for (const op of out.history) {
    const change = (op.value as { change?: unknown } | null)?.change;
    const m = typeof change === "string" ? /^move shard (\d+) .*: ok/.exec(change) : null;
    if (op.process === "nemesis" && m) moves.push({ shard: Number(m[1]), time: op.time });
  }
  const invokes = new Map<unknown, number>();
  const okInvokedAt: Array<{ shard: number; invoked: number; done: number }> = [];
  for (const op of out.history) {
    const key = KV.has(op.f) ? keyOf(op.value) : undefined;
    if (key === undefined) continue;
    if (op.type === "invoke") invokes.set(op.process, op.time);
    else if (op.type === "ok") {
      okInvokedAt.push({
        shard: key2shard(key),
        invoked: invokes.get(op.process) ?? 0,
        done: op.time,
      });
    }
  }
  const times: number[] = [];
  for (const move of moves) {
    const first = okInvokedAt.find((o) => o.shard === move.shard && o.invoked > move.time);
    if (first) times.push((first.done - move.time) / 1e6);
  }
  return times.sort((a, b) => a - b);
}

export async function benchShardKv(): Promise<string> {
  const lines = [
    `Correct system on Raft, ${TIME_LIMIT_S} s at an offered ${SATURATING_RATE_OPS_S} ops/s, 8 clerks per node, no faults; latency of ok get/put/append.`,
    "",
    "| groups | nodes | ok kv ops/s | p50 ms | p99 ms | verdict |",
    "|---:|---:|---:|---:|---:|---|",
  ];
  for (const groups of [1, 3]) {
    const nodes = 3 + 3 * groups;
    const out = await faultline(
      `--system shard-kv -w shard-kv --node-count ${nodes} --time-limit ${TIME_LIMIT_S} --rate ${SATURATING_RATE_OPS_S} --concurrency 8n --recovery-time 1 --seed 1`,
    );
    const t = throughput(out);
    lines.push(
      `| ${groups} | ${nodes} | ${t.ok_per_s.toFixed(0)} | ${t.p50_ms.toFixed(1)} | ${t.p99_ms.toFixed(1)} | ${out.results.valid} |`,
    );
  }
  const out = await faultline(
    `--system shard-kv -w shard-kv --node-count 9 --time-limit ${MOVE_TIME_LIMIT_S} --rate ${MOVE_RATE_OPS_S} --concurrency 2n --nemesis reconfigure --nemesis-interval 2 --seed 1`,
  );
  const times = moveTimes(out);
  lines.push(
    "",
    `Time for a moved shard to serve again: 2 groups, ${MOVE_RATE_OPS_S} ops/s, the nemesis reconfiguring every ~2 s for ${MOVE_TIME_LIMIT_S} s; from the move's completion to the first ok op on that shard invoked after it.`,
    "",
    "| moves | p50 ms | p90 ms | max ms | verdict |",
    "|---:|---:|---:|---:|---|",
    `| ${times.length} | ${quantile(times, 0.5).toFixed(0)} | ${quantile(times, 0.9).toFixed(0)} | ${(times.at(-1) ?? Number.NaN).toFixed(0)} | ${out.results.valid} |`,
  );
  return lines.join("\n");
}
