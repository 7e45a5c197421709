// summary.md: the run in a few lines of GitHub-flavoured Markdown, for $GITHUB_STEP_SUMMARY
// and pull-request comments. Target text is escaped with escapeMarkdown (GitHub renders
// inline HTML, so a node's reply must not become markup there either).
import { markdownFence, escapeMarkdown as md, truncate } from "./escape.js";
import { faultIntervalsTouched, formatDuration, type RunFacts, verdictWord } from "./stored.js";

/** A checker's summary in the table is cut here (the report has it in full). */
export const CELL_MAX_CHARS = 300;
export const MAX_WARNINGS = 10;

const ICON = { valid: "✅", invalid: "❌", unknown: "❔" } as const;

function icon(valid: RunFacts["valid"]): string {
  return valid === true ? ICON.valid : valid === false ? ICON.invalid : ICON.unknown;
}

export function renderMarkdown(facts: RunFacts, runName: string, reportPath: string): string {
  const lines: string[] = [];
  const bug = facts.bug ? ` (bug ${md(facts.bug)})` : "";
  lines.push(
    `### ${icon(facts.valid)} ${verdictWord(facts.valid)}: ${md(facts.workload)} on ${md(facts.target)}${bug}`,
    "",
    `**Why:** ${md(truncate(facts.reason, 1000))}`,
    "",
  );
  if (facts.referenceFor !== undefined) {
    lines.push(
      `**Reference run** for ${md(facts.referenceFor)}: our system with that run's options and seed.`,
      "",
    );
  }
  const reference = facts.reference;
  if (reference) {
    lines.push(
      `**Reference ${md(reference.system)}, same options and seed:** ${icon(reference.valid)} ${verdictWord(reference.valid)}: ${md(truncate(reference.summary, 1000))}`,
      "",
    );
  }
  if (facts.checkers.length > 0) {
    lines.push("| checker | verdict | summary |", "| --- | --- | --- |");
    for (const c of facts.checkers) {
      lines.push(
        `| ${md(c.name)} | ${icon(c.valid)} ${verdictWord(c.valid)} | ${md(truncate(c.summary, CELL_MAX_CHARS))} |`,
      );
    }
    lines.push("");
  }
  const facts_: string[] = [];
  if (facts.ops) {
    facts_.push(
      `**Ops:** ${facts.ops.count} (${facts.ops.ok} ok, ${facts.ops.fail} failed, ${facts.ops.info} unknown)`,
    );
  }
  facts_.push(
    `**Faults:** ${
      facts.faultsRequested.length === 0
        ? "none"
        : `${md(facts.faultsRequested.join(", "))} (${faultIntervalsTouched(facts.faultIntervals, facts.faultsThatBit)})`
    }`,
  );
  if (facts.duration_s !== undefined)
    facts_.push(`**Duration:** ${formatDuration(facts.duration_s)}`);
  if (facts.seed !== undefined) facts_.push(`**Seed:** ${facts.seed}`);
  lines.push(facts_.join(" · "), "");
  const notes = [
    ...facts.errors.map((e) => `${md(e.kind)}: ${md(truncate(e.message, CELL_MAX_CHARS))}`),
    ...facts.warnings.map((w) => `warning: ${md(truncate(w, CELL_MAX_CHARS))}`),
  ];
  if (notes.length > 0) {
    for (const note of notes.slice(0, MAX_WARNINGS)) lines.push(`- ${note}`);
    if (notes.length > MAX_WARNINGS)
      lines.push(`- … and ${notes.length - MAX_WARNINGS} more in the report`);
    lines.push("");
  }
  if (facts.command) {
    const fence = markdownFence(facts.command);
    lines.push(
      "Repeat this run:",
      "",
      `${fence}sh`,
      facts.command.replace(/\r?\n/g, " "),
      fence,
      "",
    );
  }
  lines.push(`Report: \`${reportPath.replace(/`/g, "'")}\` (run ${md(runName)})`, "");
  return `${lines.join("\n")}\n`;
}
