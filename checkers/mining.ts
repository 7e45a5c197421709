// The mining checkers (systems/bitcoin/README.md "What faultline checks (workload `mining`)").
//
// History ops (written by workloads/mining/driver.ts):
//   mine            invoke {message, max_nonce, kind, group?}
//                   ok {…, hash, nonce, output}   (hash and nonce as decimal strings: uint64)
//                   fail {…, error: "Disconnected" | "connect failed", output}
//                   info {…, error: "killed" | "timeout" | "bad output" | "no output", output}
//   miner-shutdown  invoke {miner} when the server is killed on purpose
//                   ok {miner, after_ms} when the miner exited; info when it did not
// Nemesis events as usual; the final deliberate server kill is start-kill {nodes:["server"], final}.
//
// The oracle recomputes Hash(message, n) = first 8 bytes, big-endian, of SHA-256("<message> <n>")
// with its own code (node:crypto and BigInt), independent of the system's implementation.
import * as crypto from "node:crypto";
import { listSome, plural } from "./canonical.js";
import { faultActivity } from "./faults.js";
import { type Op, type Operation, pairOperations } from "./history.js";
import type { CheckResult } from "./result.js";

/**
 * Fairness thresholds (faultline's, tunable; systems/bitcoin/README.md "What faultline checks").
 */
export const FAIRNESS = {
  /** The small probe's latency may be at most this fraction of the large one's. */
  small_latency_ratio: 0.25,
  /** A burst's completion order may be at most this fraction of the maximum Kendall-tau distance. */
  max_kendall_fraction: 0.25,
  /** The busiest miner may get at most this many times the least busy one's nonces. */
  max_load_ratio: 2,
};

/** Largest maxNonce the oracle brute-forces; bigger jobs are reported unchecked. */
export const MAX_ORACLE_NONCE = 5_000_000;
const MAX_LISTED = 20;

interface MineValue {
  message: string;
  max_nonce: number;
  kind?: string;
  group?: number;
  hash?: string;
  nonce?: string;
  /** When the proxy saw the Request reach the server and the Result leave it (ns, run clock). */
  request_ns?: number;
  result_ns?: number;
  error?: string;
  output?: string[];
  /** Lines the client printed besides its one answer (which was still checked). */
  stray_output?: string[];
}

function mineValue(o: Operation): MineValue {
  return {
    ...(o.invoke.value as MineValue),
    ...((o.complete?.value as MineValue | undefined) ?? {}),
  };
}

/** SHA-256 of a string: crypto.hash (Node >= 20.12, about 3× faster), else createHash. */
export const sha256: (text: string) => Buffer =
  typeof (crypto as { hash?: unknown }).hash === "function"
    ? (text) =>
        (crypto as unknown as { hash(a: string, d: string, e: "buffer"): Buffer }).hash(
          "sha256",
          text,
          "buffer",
        )
    : (text) => crypto.createHash("sha256").update(text).digest();

export function oracleHash(message: string, nonce: bigint): bigint {
  return sha256(`${message} ${nonce}`).readBigUInt64BE(0);
}

/** The true minimum over [0, maxNonce] and the smallest nonce attaining it. */
export function oracleMin(message: string, maxNonce: number): { hash: bigint; nonce: bigint } {
  let best = (1n << 64n) - 1n;
  let bestNonce = 0n;
  let bestHi = Number.POSITIVE_INFINITY;
  let bestLo = 0;
  for (let n = 0; n <= maxNonce; n++) {
    const d = sha256(`${message} ${n}`);
    const hi = d.readUInt32BE(0);
    const lo = d.readUInt32BE(4);
    if (hi < bestHi || (hi === bestHi && lo < bestLo)) {
      bestHi = hi;
      bestLo = lo;
      bestNonce = BigInt(n);
    }
  }
  best = (BigInt(bestHi) << 32n) | BigInt(bestLo);
  return { hash: best, nonce: bestNonce };
}

export interface MiningViolation {
  kind:
    | "wrong-answer"
    | "hash-mismatch"
    | "nonce-out-of-range"
    | "bad-output"
    | "unanswered"
    | "spurious-disconnect"
    | "no-disconnect"
    | "miner-survived"
    | "job-not-dropped";
  text: string;
  ops: number[];
}

/** A chunk the server handed a miner, as the proxy saw it. */
export interface Dispatch {
  message: string;
  time_ns: number;
  miner: string;
}

export interface MiningOracleOptions {
  /** Every chunk handed to a miner (for "a lost client's job is dropped"). */
  dispatches?: readonly Dispatch[];
  /** How long after a client dies its job may still be handed out (K epochs + slack). */
  drop_bound_ms?: number;
}

export function checkMiningOracle(
  history: readonly Op[],
  options: MiningOracleOptions = {},
): CheckResult {
  const operations = pairOperations(history);
  const jobs = operations.filter((o) => o.f === "mine");
  const violations: MiningViolation[] = [];
  // The final server kill is the test's own last step, not a fault the jobs ran under.
  const activeAt = faultActivity(history, { skipFinal: true });
  const serverKill = history.find(
    (op) => op.process === "nemesis" && op.f === "start-kill" && nodesOf(op).includes("server"),
  );
  const cache = new Map<string, { hash: bigint; nonce: bigint }>();
  let checked = 0;
  let unchecked = 0;
  for (const o of jobs) {
    const v = mineValue(o);
    const at = [o.invoke.index, ...(o.complete ? [o.complete.index] : [])];
    const afterServerKill =
      serverKill !== undefined &&
      o.invoke.time <= serverKill.time &&
      (o.complete?.time ?? Number.POSITIVE_INFINITY) >= serverKill.time;
    if (o.type === "ok") {
      if (
        v.hash === undefined ||
        v.nonce === undefined ||
        !/^\d+$/.test(v.hash) ||
        !/^\d+$/.test(v.nonce)
      ) {
        violations.push({
          kind: "bad-output",
          text: `job ${show(v.message)} completed without a parsable Result`,
          ops: at,
        });
        continue;
      }
      const hash = BigInt(v.hash);
      const nonce = BigInt(v.nonce);
      if (nonce > BigInt(v.max_nonce)) {
        violations.push({
          kind: "nonce-out-of-range",
          text: `job ${show(v.message)} (maxNonce ${v.max_nonce}) answered nonce ${nonce}, outside [0, ${v.max_nonce}]`,
          ops: at,
        });
        continue;
      }
      if (oracleHash(v.message, nonce) !== hash) {
        violations.push({
          kind: "hash-mismatch",
          text: `job ${show(v.message)} answered hash ${hash} for nonce ${nonce}, but Hash(${show(v.message)}, ${nonce}) = ${oracleHash(v.message, nonce)}`,
          ops: at,
        });
        continue;
      }
      if (v.max_nonce > MAX_ORACLE_NONCE) {
        unchecked++;
        continue;
      }
      const key = `${v.message}\u0000${v.max_nonce}`;
      let truth = cache.get(key);
      if (!truth) {
        truth = oracleMin(v.message, v.max_nonce);
        cache.set(key, truth);
      }
      checked++;
      if (truth.hash !== hash) {
        violations.push({
          kind: "wrong-answer",
          text: `job ${show(v.message)} over [0, ${v.max_nonce}] answered ${hash} (nonce ${nonce}), but the minimum is ${truth.hash} at nonce ${truth.nonce}${truth.nonce === BigInt(v.max_nonce) ? " — the upper bound itself" : ""}`,
          ops: at,
        });
      }
      continue;
    }
    const error = v.error ?? "";
    if (error === "bad output" || error === "no output") {
      violations.push({
        kind: "bad-output",
        text: `the client for ${show(v.message)} printed ${v.output && v.output.length > 0 ? JSON.stringify(v.output.slice(0, 3)) : "nothing"}; it must print exactly one line, "Result <hash> <nonce>" or "Disconnected"`,
        ops: at,
      });
      continue;
    }
    if (afterServerKill) {
      if (o.type !== "fail" || error !== "Disconnected") {
        violations.push({
          kind: "no-disconnect",
          text: `the server was killed while job ${show(v.message)} was running, but its client ${o.type === "info" ? `did not print "Disconnected" (${error})` : `ended with ${error}`}`,
          ops: [...at, (serverKill as Op).index],
        });
      }
      continue;
    }
    if (o.type === "fail" && error === "Disconnected") {
      if (!activeAt(o.invoke.time, o.complete?.time ?? o.invoke.time)) {
        violations.push({
          kind: "spurious-disconnect",
          text: `the client for ${show(v.message)} printed "Disconnected" although no fault was active and the server was up`,
          ops: at,
        });
      }
      continue;
    }
    if (o.type === "info" && error === "timeout") {
      violations.push({
        kind: "unanswered",
        text: `job ${show(v.message)} (maxNonce ${v.max_nonce}) was never answered although miners remained (its client was killed after the job deadline)`,
        ops: at,
      });
    }
  }
  // A killed client's job must stop being handed out once the server can know it is gone.
  if (options.dispatches && options.drop_bound_ms !== undefined) {
    const bound_ns = options.drop_bound_ms * 1e6;
    for (const o of jobs) {
      const v = mineValue(o);
      if (v.error !== "killed" || !o.complete) continue;
      const late = options.dispatches.filter(
        (d) => d.message === v.message && d.time_ns > (o.complete as Op).time + bound_ns,
      );
      if (late.length > 0) {
        violations.push({
          kind: "job-not-dropped",
          text: `the client of job ${show(v.message)} was killed at ${(o.complete.time / 1e9).toFixed(2)} s, but the server still handed ${late.length} chunk${late.length === 1 ? "" : "s"} of it to miners more than ${options.drop_bound_ms} ms later`,
          ops: [o.invoke.index, o.complete.index],
        });
      }
    }
  }
  for (const o of operations.filter((x) => x.f === "miner-shutdown")) {
    if (o.type !== "ok") {
      const miner = (o.invoke.value as { miner?: string }).miner;
      violations.push({
        kind: "miner-survived",
        text: `miner ${miner} did not exit after losing the server`,
        ops: [o.invoke.index],
      });
    }
  }

  const byKind: Record<string, number> = {};
  for (const x of violations) byKind[x.kind] = (byKind[x.kind] ?? 0) + 1;
  const answered = jobs.filter((o) => o.type === "ok").length;
  const details = {
    job_count: jobs.length,
    answered_count: answered,
    checked_count: checked,
    unchecked_count: unchecked,
    killed_count: jobs.filter((o) => mineValue(o).error === "killed").length,
    violation_counts: byKind,
    violations: violations.slice(0, MAX_LISTED),
    ...strayOutput(jobs),
  };
  if (violations.length > 0) {
    return {
      valid: false,
      summary: `${plural(violations.length, "mining violation")} (${listSome(
        Object.entries(byKind).map(([k, n]) => `${n} ${k}`),
        5,
      )}), e.g. ${(violations[0] as MiningViolation).text}`,
      ops: violations.slice(0, MAX_LISTED).flatMap((x) => x.ops),
      ...details,
    };
  }
  if (checked === 0) {
    return {
      valid: "unknown",
      summary: "No job was answered, so no answer could be checked.",
      ...details,
    };
  }
  return {
    valid: true,
    summary: `All ${plural(checked, "answered job")} carried the true minimum hash and nonce; no job was left unanswered while miners remained${unchecked ? ` (${unchecked} too large to brute-force were checked for consistency only)` : ""}.`,
    ...details,
  };
}

/**
 * Clients that printed lines besides their answer: the course's client prints exactly one line,
 * but a stray debug print does not make the answer wrong, so the answers were checked and the
 * lines are a warning.
 */
function strayOutput(jobs: readonly Operation[]): {
  stray_output_jobs?: number;
  warnings?: string[];
} {
  const stray = jobs.filter((o) => (mineValue(o).stray_output?.length ?? 0) > 0);
  if (stray.length === 0) return {};
  const first = mineValue(stray[0] as Operation);
  return {
    stray_output_jobs: stray.length,
    warnings: [
      `${plural(stray.length, "client")} printed lines besides the answer, e.g. ${JSON.stringify(first.stray_output?.slice(0, 3))} for ${show(first.message)}; the answers were still checked, but the client must print exactly one line`,
    ],
  };
}

/**
 * Fairness (systems/bitcoin/README.md "What faultline checks"): (a) a small probe submitted after a
 * large one finishes first, within FAIRNESS.small_latency_ratio of the large one's latency; (b) a
 * burst of identical jobs finishes close to arrival order. Probes a fault overlapped are not
 * judged.
 */
export function checkFairness(history: readonly Op[]): CheckResult {
  const jobs = pairOperations(history).filter((o) => o.f === "mine");
  // The final server kill is the test's own last step, not a fault the jobs ran under.
  const activeAt = faultActivity(history, { skipFinal: true });
  const faulted = (o: Operation) => activeAt(o.invoke.time, o.complete?.time ?? o.invoke.time);
  const groups = new Map<number, Operation[]>();
  for (const o of jobs) {
    const v = mineValue(o);
    if (v.group === undefined) continue;
    const list = groups.get(v.group) ?? [];
    list.push(o);
    groups.set(v.group, list);
  }
  const violations: Array<{ text: string; ops: number[] }> = [];
  const judged: string[] = [];
  const skipped: string[] = [];
  for (const [group, members] of groups) {
    const ops = members;
    const kinds = ops.map((o) => mineValue(o).kind);
    if (kinds.includes("probe-large")) {
      const large = ops.find((o) => mineValue(o).kind === "probe-large");
      const small = ops.find((o) => mineValue(o).kind === "probe-small");
      if (
        !large?.complete ||
        !small?.complete ||
        large.type !== "ok" ||
        small.type !== "ok" ||
        faulted(large) ||
        faulted(small) ||
        (mineValue(small).request_ns ?? small.invoke.time) <
          (mineValue(large).request_ns ?? large.invoke.time) ||
        small.invoke.time > large.complete.time
      ) {
        skipped.push(`probe ${group}`);
        continue;
      }
      judged.push(`probe ${group}`);
      // Judged on the server's side when the proxy saw both ends of both jobs: process start-up
      // and exit of the client programs are no part of the scheduler's fairness.
      const lv = mineValue(large);
      const sv = mineValue(small);
      const serverSide =
        lv.request_ns !== undefined &&
        lv.result_ns !== undefined &&
        sv.request_ns !== undefined &&
        sv.result_ns !== undefined;
      const [lStart, lEnd, sStart, sEnd] = serverSide
        ? [
            lv.request_ns as number,
            lv.result_ns as number,
            sv.request_ns as number,
            sv.result_ns as number,
          ]
        : [large.invoke.time, large.complete.time, small.invoke.time, small.complete.time];
      const largeLatency = lEnd - lStart;
      const smallLatency = sEnd - sStart;
      const ms = (ns: number) => `${Math.round(ns / 1e6)} ms`;
      const where = serverSide ? " at the server" : "";
      const at = [
        large.invoke.index,
        small.invoke.index,
        small.complete.index,
        large.complete.index,
      ];
      if (sEnd > lEnd) {
        violations.push({
          text: `a small job (maxNonce ${sv.max_nonce}) submitted after a large one (maxNonce ${lv.max_nonce}) finished after it (${ms(smallLatency)} vs ${ms(largeLatency)}${where})`,
          ops: at,
        });
      } else if (smallLatency > FAIRNESS.small_latency_ratio * largeLatency) {
        violations.push({
          text: `a small job (maxNonce ${sv.max_nonce}) submitted during a large one (maxNonce ${lv.max_nonce}) took ${ms(smallLatency)}${where}, more than ${FAIRNESS.small_latency_ratio * 100}% of the large job's ${ms(largeLatency)}: it waited behind the large job's chunks`,
          ops: at,
        });
      }
      continue;
    }
    // A burst: identical jobs in arrival order.
    if (ops.length < 3 || ops.some((o) => o.type !== "ok" || faulted(o))) {
      skipped.push(`burst ${group}`);
      continue;
    }
    judged.push(`burst ${group}`);
    // Server-side times when the proxy saw them (see above), else the client programs' own.
    const arrival = (o: Operation) => mineValue(o).request_ns ?? o.invoke.time;
    const finish = (o: Operation) => mineValue(o).result_ns ?? o.complete?.time ?? 0;
    const byArrival = [...ops].sort((a, b) => arrival(a) - arrival(b));
    let discordant = 0;
    for (let i = 0; i < byArrival.length; i++) {
      for (let j = i + 1; j < byArrival.length; j++) {
        if (finish(byArrival[i] as Operation) > finish(byArrival[j] as Operation)) discordant++;
      }
    }
    const max = (byArrival.length * (byArrival.length - 1)) / 2;
    // One swapped pair is noise, not a policy: jobs arriving within a millisecond of each other
    // can finish either way round; in a small burst it alone would exceed the fraction.
    if (discordant > Math.max(1, FAIRNESS.max_kendall_fraction * max)) {
      violations.push({
        text: `${byArrival.length} identical jobs finished far from arrival order: Kendall-tau distance ${discordant} of at most ${max} (limit ${FAIRNESS.max_kendall_fraction * 100}%)`,
        ops: byArrival.map((o) => o.invoke.index),
      });
    }
  }
  const details = { judged, skipped, violations };
  if (violations.length > 0) {
    return {
      valid: false,
      summary: `unfair scheduling: ${(violations[0] as { text: string }).text}`,
      ops: violations.flatMap((v) => v.ops),
      ...details,
    };
  }
  if (judged.length === 0) {
    return {
      valid: true,
      summary:
        groups.size === 0
          ? "no fairness probe ran"
          : "no fairness probe could be judged (faults overlapped them or they did not complete)",
      warnings:
        groups.size === 0
          ? []
          : ["fairness was not judged: every probe overlapped a fault or did not complete"],
      ...details,
    };
  }
  return {
    valid: true,
    summary: `fair: ${listSome(judged, 4)} behaved (small jobs first, similar jobs in arrival order)`,
    ...details,
  };
}

/** Nonces the server assigned each miner (keyed by participant, e.g. "m0"). */
export type LoadReport = Record<string, { nonces: number; chunks: number }>;

export function checkLoadBalance(
  load: LoadReport,
  options: { faults_injected: boolean },
): CheckResult {
  const entries = Object.entries(load);
  const details = { load };
  if (entries.length < 2)
    return { valid: true, summary: "fewer than two miners: load balance not judged", ...details };
  const chunks = entries.reduce((s, [, l]) => s + l.chunks, 0);
  const sorted = entries.map(([m, l]) => [m, l.nonces] as const).sort((a, b) => a[1] - b[1]);
  const [minM, min] = sorted[0] as readonly [string, number];
  const [maxM, max] = sorted.at(-1) as readonly [string, number];
  const text = `busiest ${maxM} got ${max} nonces, least busy ${minM} ${min}`;
  if (options.faults_injected || chunks < 4 * entries.length) {
    return {
      valid: true,
      summary: `not judged (${options.faults_injected ? "faults change who can work" : "too few chunks"}): ${text}`,
      ...details,
    };
  }
  if (max > FAIRNESS.max_load_ratio * Math.max(min, 1)) {
    return {
      valid: false,
      summary: `unbalanced load: ${text}, more than ${FAIRNESS.max_load_ratio}×`,
      ...details,
    };
  }
  return { valid: true, summary: `balanced: ${text}`, ...details };
}

function nodesOf(op: Op): string[] {
  const nodes = (op.value as { nodes?: unknown } | null)?.nodes;
  return Array.isArray(nodes) ? (nodes as string[]) : [];
}

function show(message: string): string {
  return JSON.stringify(message.length > 40 ? `${message.slice(0, 39)}…` : message);
}
