// Jepsen's stats checker: how many client operations were ok, failed or indeterminate, overall
// and per f. It is informational. Jepsen marks an f with no ok op as invalid; under faults that
// cries wolf (every cas can legitimately fail during a partition), so we only say so in the
// summary. The verdict is "unknown" when no client op succeeded at all (the run proved
// nothing), and never false (a minimum availability is checkers/availability.ts).
import { listSome } from "./canonical.js";
import { type Op, pairOperations } from "./history.js";
import type { CheckResult } from "./result.js";

export interface FStats {
  count: number;
  ok_count: number;
  fail_count: number;
  /** Indeterminate, including ops still pending when the history ended. */
  info_count: number;
  /** Ops with no completion at all (also counted in info_count). */
  pending_count: number;
}

function emptyStats(): FStats {
  return { count: 0, ok_count: 0, fail_count: 0, info_count: 0, pending_count: 0 };
}

export function checkStats(history: readonly Op[]): CheckResult {
  const overall = emptyStats();
  const byF: Record<string, FStats> = {};
  for (const o of pairOperations(history)) {
    const f = byF[o.f] ?? emptyStats();
    byF[o.f] = f;
    for (const s of [overall, f]) {
      s.count++;
      if (o.type === "ok") s.ok_count++;
      else if (o.type === "fail") s.fail_count++;
      else s.info_count++;
      if (!o.complete) s.pending_count++;
    }
  }

  const okFraction = overall.count === 0 ? 0 : overall.ok_count / overall.count;
  const details = { ...overall, ok_fraction: okFraction, by_f: byF };
  const counts =
    `${overall.count} client operations: ${overall.ok_count} ok, ${overall.fail_count} failed, ` +
    `${overall.info_count} indeterminate`;

  if (overall.count === 0) {
    return {
      valid: "unknown",
      summary: "The history has no client operations, so the run proved nothing.",
      ...details,
    };
  }
  if (overall.ok_count === 0) {
    return {
      valid: "unknown",
      summary: `${counts}; not one succeeded, so the run proved nothing about correctness.`,
      ...details,
    };
  }
  const neverOk = Object.entries(byF)
    .filter(([, s]) => s.ok_count === 0)
    .map(([f]) => f);
  const note = neverOk.length === 0 ? "" : `; no ${listSome(neverOk, 5)} op succeeded`;
  return { valid: true, summary: `${counts}${note}.`, ...details };
}
