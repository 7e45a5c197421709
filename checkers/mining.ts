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

/** What the fairness checker makes of one probe pair or burst. */
type Judgement =
  | { outcome: "fair" }
  /** Not judged for a reason outside the scheduler: a fault, a job that did not complete. */
  | { outcome: "skipped" }
  /** The jobs did not compete at the server, so their order says nothing about scheduling. */
  | { outcome: "untested"; reason: string }
  | { outcome: "unfair"; text: string; ops: number[] };

export interface FairnessOptions {
  /** Every chunk handed to a miner: the evidence of whom the server served while a job waited. */
  dispatches?: readonly Dispatch[];
}

const ms = (ns: number) => `${Math.round(ns / 1e6)} ms`;

/**
 * Fairness (systems/bitcoin/README.md "What faultline checks"): (a) a small probe submitted after a
 * large one finishes first, within FAIRNESS.small_latency_ratio of the large one's latency; (b) a
 * burst of identical jobs finishes close to arrival order. Probes a fault overlapped are not
 * judged; jobs that were never at the server together are "not tested" (a warning): fast miners
 * can finish the large job before the small one arrives.
 */
export function checkFairness(history: readonly Op[], options: FairnessOptions = {}): CheckResult {
  const jobs = pairOperations(history).filter((o) => o.f === "mine");
  // The final server kill is the test's own last step, not a fault the jobs ran under.
  const activeAt = faultActivity(history, { skipFinal: true });
  const faulted = (o: Operation) => activeAt(o.invoke.time, o.complete?.time ?? o.invoke.time);
  const groups = new Map<number, Operation[]>();
  for (const o of jobs) {
    const v = mineValue(o);
    if (v.group === undefined) continue;
    groups.set(v.group, [...(groups.get(v.group) ?? []), o]);
  }
  const violations: Array<{ text: string; ops: number[] }> = [];
  const judged: string[] = [];
  const skipped: string[] = [];
  const untested: string[] = [];
  for (const [group, members] of groups) {
    const isProbe = members.some((o) => mineValue(o).kind === "probe-large");
    const name = `${isProbe ? "probe" : "burst"} ${group}`;
    const j = isProbe
      ? judgeProbe(members, faulted, options.dispatches)
      : judgeBurst(members, faulted);
    if (j.outcome === "skipped") skipped.push(name);
    else if (j.outcome === "untested") untested.push(`${name}: ${j.reason}`);
    else judged.push(name);
    if (j.outcome === "unfair") violations.push({ text: j.text, ops: j.ops });
  }
  const warnings = untested.map((u) => `fairness not tested: ${u}`);
  const details = { judged, skipped, untested, violations };
  if (violations.length > 0) {
    return {
      valid: false,
      summary: `unfair scheduling: ${(violations[0] as { text: string }).text}`,
      ops: violations.flatMap((v) => v.ops),
      ...(warnings.length > 0 && { warnings }),
      ...details,
    };
  }
  if (judged.length === 0) {
    if (skipped.length > 0) {
      warnings.push("fairness was not judged: every probe overlapped a fault or did not complete");
    }
    return {
      valid: true,
      summary:
        groups.size === 0
          ? "no fairness probe ran"
          : untested.length > 0
            ? `fairness not tested: ${untested[0]}`
            : "no fairness probe could be judged (faults overlapped them or they did not complete)",
      warnings,
      ...details,
    };
  }
  return {
    valid: true,
    summary: `fair: ${listSome(judged, 4)} behaved (small jobs first, similar jobs in arrival order)`,
    ...(warnings.length > 0 && { warnings }),
    ...details,
  };
}

/** A job's span at the server (proxy times) when the proxy saw both ends, else its client's. */
function serverSpan(o: Operation): { start: number; end: number; at_server: boolean } {
  const v = mineValue(o);
  if (v.request_ns !== undefined && v.result_ns !== undefined) {
    return { start: v.request_ns, end: v.result_ns, at_server: true };
  }
  return { start: o.invoke.time, end: (o.complete as Op).time, at_server: false };
}

function judgeProbe(
  ops: readonly Operation[],
  faulted: (o: Operation) => boolean,
  dispatches: readonly Dispatch[] | undefined,
): Judgement {
  const large = ops.find((o) => mineValue(o).kind === "probe-large");
  const small = ops.find((o) => mineValue(o).kind === "probe-small");
  if (
    !large?.complete ||
    !small?.complete ||
    large.type !== "ok" ||
    small.type !== "ok" ||
    faulted(large) ||
    faulted(small)
  ) {
    return { outcome: "skipped" };
  }
  const lv = mineValue(large);
  const sv = mineValue(small);
  // Judged on the server's side when the proxy saw both ends of both jobs: process start-up
  // and exit of the client programs are no part of the scheduler's fairness.
  const l = serverSpan(large);
  const s = serverSpan(small);
  const at_server = l.at_server && s.at_server;
  const [lStart, lEnd] = at_server ? [l.start, l.end] : [large.invoke.time, large.complete.time];
  const [sStart, sEnd] = at_server ? [s.start, s.end] : [small.invoke.time, small.complete.time];
  if (sStart < lStart) return { outcome: "skipped" };
  if (sStart >= lEnd) {
    return {
      outcome: "untested",
      reason: `the large job (maxNonce ${lv.max_nonce}) was done ${ms(lEnd - lStart)} after it arrived${at_server ? " at the server" : ""}, before the small one arrived (${ms(sStart - lStart)} after it): the miners were faster than the probe, so nothing was left to schedule`,
    };
  }
  const largeLatency = lEnd - lStart;
  const smallLatency = sEnd - sStart;
  const where = at_server ? " at the server" : "";
  let text: string;
  if (sEnd > lEnd) {
    text = `a small job (maxNonce ${sv.max_nonce}) submitted after a large one (maxNonce ${lv.max_nonce}) finished after it (${ms(smallLatency)} vs ${ms(largeLatency)}${where})`;
  } else if (smallLatency > FAIRNESS.small_latency_ratio * largeLatency) {
    text = `a small job (maxNonce ${sv.max_nonce}) submitted during a large one (maxNonce ${lv.max_nonce}) took ${ms(smallLatency)}${where}, more than ${FAIRNESS.small_latency_ratio * 100}% of the large job's ${ms(largeLatency)}: it waited behind the large job's chunks`;
  } else {
    return { outcome: "fair" };
  }
  const ops_at = [
    large.invoke.index,
    small.invoke.index,
    small.complete.index,
    large.complete.index,
  ];
  if (!at_server || dispatches === undefined) return { outcome: "unfair", text, ops: ops_at };
  return passedOver(lv.message, sv.message, sStart, dispatches, text, ops_at);
}

/**
 * Late or slow is unfair only if the server chose the large job over the waiting small one:
 * it handed out more of the large job's chunks after the small one arrived, before the small
 * one's first, than it had miners on the large job (chunks it may have handed out as the small
 * Request was on its way in). If the large job had nothing left to hand out, no scheduler could
 * have served the small one sooner than the next free miner: not tested.
 */
function passedOver(
  large: string,
  small: string,
  smallArrival_ns: number,
  dispatches: readonly Dispatch[],
  text: string,
  ops: number[],
): Judgement {
  const largeChunks = dispatches.filter((d) => d.message === large);
  const after = largeChunks.filter((d) => d.time_ns > smallArrival_ns);
  if (after.length === 0) {
    return {
      outcome: "untested",
      reason: `the large job's last chunk was already on a miner when the small job arrived, so the small one could only wait for a free miner (${text})`,
    };
  }
  const smallFirst = dispatches.find((d) => d.message === small && d.time_ns >= smallArrival_ns);
  const before = after.filter((d) => smallFirst === undefined || d.time_ns < smallFirst.time_ns);
  const miners = new Set(largeChunks.map((d) => d.miner)).size;
  if (before.length <= miners) return { outcome: "fair" };
  return {
    outcome: "unfair",
    text: `${text}; after it arrived the server handed out ${before.length} of the large job's chunks before its first`,
    ops,
  };
}

/** A burst: identical jobs in arrival order. */
function judgeBurst(ops: readonly Operation[], faulted: (o: Operation) => boolean): Judgement {
  if (ops.length < 3 || ops.some((o) => o.type !== "ok" || faulted(o))) {
    return { outcome: "skipped" };
  }
  // Server-side times when the proxy saw them (see judgeProbe), else the client programs' own.
  const arrival = (o: Operation) => mineValue(o).request_ns ?? o.invoke.time;
  const finish = (o: Operation) => mineValue(o).result_ns ?? o.complete?.time ?? 0;
  const byArrival = [...ops].sort((a, b) => arrival(a) - arrival(b));
  let discordant = 0;
  let overlapping = 0;
  for (let i = 0; i < byArrival.length; i++) {
    for (let j = i + 1; j < byArrival.length; j++) {
      const [a, b] = [byArrival[i] as Operation, byArrival[j] as Operation];
      if (arrival(b) < finish(a)) overlapping++;
      if (finish(a) > finish(b)) discordant++;
    }
  }
  if (overlapping === 0) {
    return {
      outcome: "untested",
      reason: `each of its ${byArrival.length} jobs was done before the next arrived, so their order says nothing about scheduling`,
    };
  }
  const max = (byArrival.length * (byArrival.length - 1)) / 2;
  // One swapped pair is noise, not a policy: jobs arriving within a millisecond of each other
  // can finish either way round; in a small burst it alone would exceed the fraction.
  if (discordant <= Math.max(1, FAIRNESS.max_kendall_fraction * max)) return { outcome: "fair" };
  return {
    outcome: "unfair",
    text: `${byArrival.length} identical jobs finished far from arrival order: Kendall-tau distance ${discordant} of at most ${max} (limit ${FAIRNESS.max_kendall_fraction * 100}%)`,
    ops: byArrival.map((o) => o.invoke.index),
  };
}

function nodesOf(op: Op): string[] {
  const nodes = (op.value as { nodes?: unknown } | null)?.nodes;
  return Array.isArray(nodes) ? (nodes as string[]) : [];
}

function show(message: string): string {
  return JSON.stringify(message.length > 40 ? `${message.slice(0, 39)}…` : message);
}
