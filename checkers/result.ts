import type { Op } from "./history.js";

/** A checker's verdict: `"unknown"` when it ran out of time or memory, or lacked evidence. */
export type Validity = true | false | "unknown";

export interface CheckResult {
  valid: Validity;
  /** One sentence a student can read: why the verdict is what it is. */
  summary: string;
  /** History indexes of the ops a violation involves, for the report. */
  ops?: number[];
  [detail: string]: unknown;
}

/** A checker is a pure function of the history; the linearizability checker is async. */
export type Checker<Options = undefined> = (
  history: readonly Op[],
  options: Options,
) => CheckResult | Promise<CheckResult>;

/** Any false makes the whole false; otherwise any unknown makes it unknown. */
export function mergeValidity(values: Iterable<Validity>): Validity {
  let merged: Validity = true;
  for (const v of values) {
    if (v === false) return false;
    if (v === "unknown") merged = "unknown";
  }
  return merged;
}
