// The terminal summary at the end of a run: verdict, one line per checker, where the run is.
import { join } from "node:path";
import type { Validity } from "../checkers/result.js";
import type { RunOutcome } from "./test-options.js";

const VERDICT: Record<string, string> = { true: "valid", false: "INVALID", unknown: "unknown" };

export function verdictWord(valid: Validity): string {
  return VERDICT[String(valid)] ?? "unknown";
}

export function printSummary(outcome: RunOutcome, repeat: string): void {
  const { results } = outcome;
  const lines = [`${verdictWord(results.valid)}: ${results.summary}`];
  const width = Math.max(...Object.keys(results.checkers).map((name) => name.length));
  for (const [name, check] of Object.entries(results.checkers)) {
    lines.push(`  ${name.padEnd(width)}  ${verdictWord(check.valid).padEnd(7)}  ${check.summary}`);
  }
  lines.push(`  ${"stats".padEnd(width)}  ${"".padEnd(7)}  ${results.stats.summary}`);
  lines.push(`  ${"faults".padEnd(width)}  ${"".padEnd(7)}  ${results.faults.summary}`);
  const reference = results.reference;
  if (reference) {
    lines.push(
      `reference ${reference.system} (same options and seed): ${verdictWord(reference.valid)}: ${reference.summary}`,
    );
  }
  for (const warning of results.warnings) lines.push(`warning: ${warning}`);
  lines.push(`report: ${join(outcome.dir, "report.html")}`);
  lines.push(`run:    ${outcome.dir}`);
  if (reference?.dir !== undefined) lines.push(`ref:    ${join(outcome.dir, reference.dir)}`);
  lines.push(`repeat: ${repeat}`);
  process.stdout.write(`${lines.join("\n")}\n`);
}
