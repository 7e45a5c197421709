// `shard-availability` for shard-kv: a reconfiguration should block only the shards it moves
// (MIT 6.5840 Lab 5's challenge: unaffected shards keep being served). Per shard, the longest
// stall: from an op on it that did not end ok until the next op on it that did, while no config
// change touched the shard and no other fault was in force. Never a violation: a warning above
// SHARD_STALL_WARN_S, since a slow machine can stall a shard too.
import { type Config, key2shard, NSHARDS, parseConfig } from "../protocols/shard-kv.js";
import { faultIntervals } from "./faults.js";
import { type Op, pairOperations } from "./history.js";
import type { CheckResult } from "./result.js";

/** A stall this long on a shard no change touched is worth a warning. */
export const SHARD_STALL_WARN_S = 5;
/**
 * After a config that moves a shard is first seen, its groups still have to notice it and hand
 * the shard over; stalls this long after count as caused by the move.
 */
export const SHARD_HANDOFF_GRACE_S = 5;

const CLIENT_FS = new Set(["get", "put", "append"]);
const CONTROLLER_FS = new Set(["join", "leave", "move"]);

interface Span {
  from_ns: number;
  to_ns: number;
}

export interface ShardStall {
  shard: number;
  from_s: number;
  to_s: number;
  stall_s: number;
}

export function checkShardAvailability(history: readonly Op[]): CheckResult {
  const operations = pairOperations(history);
  const end_ns = history.at(-1)?.time ?? 0;
  const excused = excuses(history, end_ns);
  const longest: Array<ShardStall | undefined> = new Array(NSHARDS).fill(undefined);
  for (let shard = 0; shard < NSHARDS; shard++) {
    for (const span of stalls(operations, shard, end_ns)) {
      if (excused[shard]?.some((e) => span.from_ns <= e.to_ns && span.to_ns >= e.from_ns)) continue;
      const stall_s = (span.to_ns - span.from_ns) / 1e9;
      if (stall_s > (longest[shard]?.stall_s ?? 0)) {
        longest[shard] = { shard, from_s: span.from_ns / 1e9, to_s: span.to_ns / 1e9, stall_s };
      }
    }
  }
  const found = longest.filter((s): s is ShardStall => s !== undefined);
  const warnings = found
    .filter((s) => s.stall_s > SHARD_STALL_WARN_S)
    .map(
      (s) =>
        `shard ${s.shard} made no progress for ${s.stall_s.toFixed(1)} s (${s.from_s.toFixed(1)} s to ${s.to_s.toFixed(1)} s) although no config change moved it and no other fault was in force: did a reconfiguration elsewhere block it?`,
    );
  const worst = found.reduce<ShardStall | undefined>(
    (a, s) => (a === undefined || s.stall_s > a.stall_s ? s : a),
    undefined,
  );
  return {
    valid: true,
    summary: worst
      ? `the longest stall of a shard no change touched was ${worst.stall_s.toFixed(1)} s (shard ${worst.shard}); warned above ${SHARD_STALL_WARN_S} s`
      : "no shard stalled outside a change that moved it or a fault",
    stalls: found,
    ...(warnings.length > 0 && { warnings }),
  };
}

/**
 * Stretches in which ops on the shard were tried and none ended ok: from the invoke of an op
 * that did not end ok to the next ok completion (or the end).
 */
function stalls(
  operations: ReturnType<typeof pairOperations>,
  shard: number,
  end_ns: number,
): Span[] {
  const events: Array<{ time: number; ok: boolean }> = [];
  for (const op of operations) {
    const key = (op.invoke.value as { key?: unknown } | null)?.key;
    if (!CLIENT_FS.has(op.f) || typeof key !== "string" || key2shard(key) !== shard) continue;
    if (op.type === "ok" && op.complete) events.push({ time: op.complete.time, ok: true });
    else events.push({ time: op.invoke.time, ok: false });
  }
  events.sort((a, b) => a.time - b.time);
  const spans: Span[] = [];
  let from: number | undefined;
  for (const e of events) {
    if (!e.ok) from ??= e.time;
    else if (from !== undefined) {
      spans.push({ from_ns: from, to_ns: e.time });
      from = undefined;
    }
  }
  if (from !== undefined) spans.push({ from_ns: from, to_ns: end_ns });
  return spans;
}

/**
 * Per shard, the spans a stall is explained in: every fault but reconfigure, and for each
 * observed config that gave the shard a new owner, from the controller op that made it (the
 * last one invoked before the config was first seen) until the handoff grace after that.
 */
function excuses(history: readonly Op[], end_ns: number): Span[][] {
  const faults: Span[] = faultIntervals(history)
    .filter((i) => i.kind !== "reconfigure")
    .map((i) => ({
      from_ns: (history[i.start] as Op).time,
      to_ns: i.stop === undefined ? end_ns : (history[i.stop] as Op).time,
    }));
  const perShard: Span[][] = Array.from({ length: NSHARDS }, () => [...faults]);
  const firstSeen = new Map<number, { config: Config; time: number }>();
  const changeInvokes: number[] = [];
  for (const op of history) {
    if (op.process === "nemesis") continue;
    if (op.type === "invoke" && CONTROLLER_FS.has(op.f)) changeInvokes.push(op.time);
    if (op.type !== "ok" || op.f !== "query") continue;
    const config = parseConfig((op.value as { config?: unknown } | null)?.config);
    if (config && !firstSeen.has(config.num)) firstSeen.set(config.num, { config, time: op.time });
  }
  const seen = [...firstSeen.values()].sort((a, b) => a.config.num - b.config.num);
  for (let i = 1; i < seen.length; i++) {
    const before = (seen[i - 1] as (typeof seen)[number]).config;
    const { config, time } = seen[i] as (typeof seen)[number];
    const madeAt = changeInvokes.filter((t) => t <= time).at(-1) ?? 0;
    for (let shard = 0; shard < NSHARDS; shard++) {
      if (before.shards[shard] === config.shards[shard]) continue;
      perShard[shard]?.push({ from_ns: madeAt, to_ns: time + SHARD_HANDOFF_GRACE_S * 1e9 });
    }
  }
  return perShard;
}
