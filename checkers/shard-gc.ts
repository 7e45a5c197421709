// `shard-gc` for shard-kv: a group deletes the shards it gave away once their new owner has them
// (MIT 6.5840 Lab 5's Challenge 1). The workload's GC phase (workloads/shard-kv/gc.ts) moves
// every shard through every group with large values in it, overwrites those values with small
// ones, drives enough writes that any log is compacted, and records one `gc-measure` op: the
// bytes in each group server's data directory beside the bytes of live data its group owns.
// A server over GC_LIVE_FACTOR × live + GC_ALLOWANCE_BYTES still keeps moved-away data: with the
// defaults the old copies are ≥ 2.5 × the allowance, so a correct system is far below the bound
// and a system that never deletes is far above it. Challenge 1 is beyond the lab's required
// tests, so this is a warning unless --strict.
import type { Op } from "./history.js";
import type { CheckResult } from "./result.js";

/** A server may hold this many times its group's live bytes (a snapshot beside a log's copy). */
export const GC_LIVE_FACTOR = 2;
/** Plus this much for its log's tail, duplicate tables, configs and file overheads. */
export const GC_ALLOWANCE_BYTES = 256 * 1024;

export const GC_MEASURE_F = "gc-measure";

export interface ServerBytes {
  node: string;
  gid: number;
  /** Bytes of every file under the server's FAULTLINE_DATA_DIR. */
  bytes: number;
  /** Keys and values of the shards its group owns in the final config (an upper bound). */
  live_bytes: number;
}

export interface GcMeasurement {
  /** The config the groups had settled in. */
  config: number;
  /** Bytes of large values moved through every group and then overwritten. */
  moved_bytes: number;
  /** How long the phase waited for the servers to come under the bound. */
  waited_ms: number;
  servers: ServerBytes[];
}

export interface ShardGcOptions {
  /** --strict: a server over the bound fails the run (Challenge 1 is optional in the lab). */
  strict?: boolean;
}

export function gcBound(live_bytes: number): number {
  return GC_LIVE_FACTOR * live_bytes + GC_ALLOWANCE_BYTES;
}

export function checkShardGc(history: readonly Op[], options: ShardGcOptions = {}): CheckResult {
  const done = history.findLast((op) => op.f === GC_MEASURE_F && op.type !== "invoke");
  if (done === undefined) {
    return {
      valid: true,
      summary: "not measured: no GC phase ran (--skip-gc, or the run ended before it)",
    };
  }
  if (done.type !== "ok") {
    const why = Array.isArray(done.error) ? String(done.error[1]) : JSON.stringify(done.error);
    return {
      valid: true,
      summary: `not measured: ${why}`,
      warnings: [`shard-gc not measured: ${why}`],
    };
  }
  const m = done.value as GcMeasurement;
  const over = m.servers.filter((s) => s.bytes > gcBound(s.live_bytes));
  const largest = [...m.servers].sort((a, b) => b.bytes - a.bytes)[0];
  if (over.length === 0) {
    return {
      valid: true,
      summary: `after ${kib(m.moved_bytes)} moved through every group, each server's data directory is within ${GC_LIVE_FACTOR} × its group's live data + ${kib(GC_ALLOWANCE_BYTES)} (largest: ${largest ? describe(largest) : "none"})`,
      servers: m.servers,
    };
  }
  const worst = over.sort(
    (a, b) => b.bytes - gcBound(b.live_bytes) - (a.bytes - gcBound(a.live_bytes)),
  )[0] as ServerBytes;
  const text = `${over.length} of ${m.servers.length} group servers keep data of shards they gave away: ${describe(worst)}, over the bound of ${kib(gcBound(worst.live_bytes))} (${GC_LIVE_FACTOR} × live + ${kib(GC_ALLOWANCE_BYTES)}) ${(m.waited_ms / 1000).toFixed(1)} s after ${kib(m.moved_bytes)} moved through every group and was overwritten. A group should delete a shard once its new owner has installed it (MIT's Challenge 1)`;
  if (options.strict) return { valid: false, summary: text, servers: m.servers, over };
  return {
    valid: true,
    summary: `${text}; a warning, since the lab's required tests do not check it (--strict fails it)`,
    warnings: [`shard-gc: ${text}`],
    servers: m.servers,
    over,
  };
}

function describe(s: ServerBytes): string {
  return `${s.node} (gid ${s.gid}) holds ${kib(s.bytes)} on disk while its group's live data is ${kib(s.live_bytes)}`;
}

function kib(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(0)} KiB`;
  return `${(bytes / 1024 / 1024).toFixed(2)} MiB`;
}
