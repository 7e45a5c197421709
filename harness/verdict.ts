// The one-sentence reason for a run's verdict, shared by every transport.
import type { CheckResult, Validity } from "../checkers/result.js";

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
