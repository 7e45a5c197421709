// A run's verdict, its one-sentence reason and the warnings beside it, shared by every transport.
import { type CheckResult, mergeValidity, type Validity } from "../checkers/result.js";

/** Every checker's verdict merged; unknown for an interrupted run, which checked nothing. */
export function runVerdict(checkers: Record<string, CheckResult>, interrupted: boolean): Validity {
  return interrupted ? "unknown" : mergeValidity(Object.values(checkers).map((c) => c.valid));
}

/** The fault report's warnings, then every checker's. */
export function runWarnings(
  faultReport: CheckResult,
  checkers: Record<string, CheckResult>,
): string[] {
  const warnings = [...((faultReport.warnings as string[] | undefined) ?? [])];
  for (const check of Object.values(checkers)) {
    for (const w of (check.warnings as string[] | undefined) ?? []) warnings.push(w);
  }
  return warnings;
}

export function verdictSummary(
  valid: Validity,
  checkers: Record<string, CheckResult>,
  interrupted: boolean,
): string {
  if (interrupted) return "The run was interrupted before it finished; nothing was checked.";
  if (valid === true) return "Every checker passed.";
  const failing = Object.entries(checkers).filter(([, c]) => c.valid === valid);
  return failing.map(([name, c]) => `${name}: ${c.summary}`).join(" ");
}
