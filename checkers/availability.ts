// Maelstrom's availability checker (`--availability`): at least the required fraction of client
// operations must succeed; `total` means every one. Pending ops count as not ok, and a history
// without client ops is fully available, as in Maelstrom.
import type { Op } from "./history.js";
import type { CheckResult } from "./result.js";
import { checkStats, type FStats } from "./stats.js";

/** A fraction in [0, 1], or "total" (every op must succeed). */
export type Availability = number | "total";

export function checkAvailability(history: readonly Op[], required: Availability): CheckResult {
  const requiredFraction = required === "total" ? 1 : required;
  if (!(requiredFraction >= 0 && requiredFraction <= 1)) {
    throw new RangeError(`availability must be "total" or a fraction in [0, 1], got ${required}`);
  }
  const { count, ok_count, fail_count, info_count } = checkStats(history) as CheckResult & FStats;
  const okFraction = count === 0 ? 1 : ok_count / count;
  const valid = okFraction >= requiredFraction;
  const percent = (x: number) => `${(x * 100).toFixed(1)}%`;
  const wanted = required === "total" ? "total (every op ok)" : percent(requiredFraction);
  return {
    valid,
    summary:
      `${ok_count} of ${count} client operations ok (${fail_count} failed, ${info_count} indeterminate): ` +
      `availability ${percent(okFraction)}, ${valid ? "meets" : "below"} the required ${wanted}.`,
    required,
    ok_fraction: okFraction,
    count,
    ok_count,
    fail_count,
    info_count,
  };
}
