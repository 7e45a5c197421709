// A sweep's files (reports/sweep-summary.ts): sweep.json (the summary itself), sweep.md for CI
// step summaries, junit.xml with one testcase per seed, and sweep.html. Stored text reaches each
// format only through reports/escape.ts.
import { mkdirSync, renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { escapeXml, escapeMarkdown as md, truncate } from "./escape.js";
import { junitProperties, MESSAGE_MAX_CHARS } from "./junit.js";
import { RUN_FILES } from "./load-run.js";
import { SWEEP_FILES } from "./store-files.js";
import { formatCatchRate, formatDetection, SIGNATURE_CELL_CHARS } from "./sweep-format.js";
import { renderSweepHtml } from "./sweep-html.js";
import type { SweepRun, SweepSummary } from "./sweep-summary.js";

/** Failures sweep.md lists (the most frequent); the page and sweep.json have the rest. */
export const MARKDOWN_MAX_FAILURES = 20;

/** Writes sweep.json, sweep.md, junit.xml and sweep.html into `dir`, each atomically. */
export function writeSweepFiles(dir: string, summary: SweepSummary): void {
  mkdirSync(dir, { recursive: true });
  writeAtomic(join(dir, SWEEP_FILES.summary), `${JSON.stringify(summary, null, 2)}\n`);
  writeAtomic(join(dir, SWEEP_FILES.markdown), sweepMarkdown(summary));
  writeAtomic(join(dir, SWEEP_FILES.junit), sweepJunit(summary));
  writeAtomic(join(dir, SWEEP_FILES.page), renderSweepHtml(summary, dir));
}

function writeAtomic(path: string, text: string): void {
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, text);
  renameSync(tmp, path);
}

export function sweepMarkdown(summary: SweepSummary): string {
  const t = summary.totals;
  const d = summary.detection_s;
  const icon = t.invalid > 0 ? "❌" : t.unknown > 0 || t.completed < t.runs ? "❔" : "✅";
  const lines = [
    `### ${icon} Sweep: ${t.invalid} of ${t.completed} completed run${t.completed === 1 ? "" : "s"} invalid`,
    "",
    `**Sweep:** ${md(summary.command)}${summary.interrupted ? " (**interrupted**)" : ""}`,
    "",
    "| catch rate | runs | invalid | unknown | could not run | interrupted | detection median | detection p90 | detection unknown |",
    "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    `| ${formatCatchRate(summary.catch_rate)} | ${t.runs} of ${summary.planned_runs} | ${t.invalid} | ${t.unknown} | ${t.could_not_run} | ${t.interrupted} | ${formatDetection(d.median)} | ${formatDetection(d.p90)} | ${d.unknown} |`,
    "",
  ];
  if (summary.failures.length > 0) {
    lines.push(
      "#### Distinct failures",
      "",
      "| failure | runs | share | seed | repeat |",
      "| --- | --- | --- | --- | --- |",
    );
    for (const f of summary.failures.slice(0, MARKDOWN_MAX_FAILURES)) {
      lines.push(
        `| ${md(truncate(f.signature, SIGNATURE_CELL_CHARS))} | ${f.count} | ${Math.round(f.share * 100)}% | ${f.seeds[0]} | ${md(f.command ?? "—")} |`,
      );
    }
    const more = summary.failures.length - MARKDOWN_MAX_FAILURES + summary.failures_not_listed;
    if (more > 0) lines.push("", `… and ${more} more distinct failures in sweep.json.`);
    lines.push("");
  }
  return `${lines.join("\n")}\n`;
}

/**
 * junit.xml: one testcase per seed. An invalid run is a <failure>; an unknown run and one that
 * could not run are <error>s (CI must not read either as a pass, as in a run's junit.xml); an
 * interrupted run is <skipped>: someone stopped it, it says nothing about the system.
 */
export function sweepJunit(summary: SweepSummary): string {
  const a = (text: string) => escapeXml(text, true);
  const cases = summary.runs.map(junitCase);
  const count = (status: SweepRun["status"]) =>
    summary.runs.filter((r) => r.status === status).length;
  const failures = count("invalid");
  const errors = count("unknown") + count("could-not-run");
  const skipped = count("interrupted");
  const elapsed_s = (Date.parse(summary.finished_at) - Date.parse(summary.started_at)) / 1000;
  const time = (Number.isFinite(elapsed_s) ? elapsed_s : 0).toFixed(3);
  const counts = `tests="${cases.length}" failures="${failures}" errors="${errors}" skipped="${skipped}" time="${time}"`;
  const properties = junitProperties([
    ["command", summary.command],
    ["catch-rate", formatCatchRate(summary.catch_rate)],
    ["planned-runs", String(summary.planned_runs)],
    ["interrupted", String(summary.interrupted === true)],
  ]);
  return `<?xml version="1.0" encoding="UTF-8"?>
<testsuites name="faultline sweep" ${counts}>
  <testsuite name="faultline sweep" ${counts} timestamp="${a(summary.started_at.replace(/\.\d+Z$/, ""))}">
${properties}
${cases.join("\n")}
  </testsuite>
</testsuites>
`;
}

function junitCase(r: SweepRun): string {
  const a = (text: string) => escapeXml(text, true);
  const t = (text: string) => escapeXml(text);
  const time = (r.duration_s ?? (r.wall_ms ?? 0) / 1000).toFixed(3);
  const open = `    <testcase classname="faultline.sweep" name="seed ${r.seed}" time="${time}"`;
  if (r.status === "valid") return `${open}/>`;
  const why = r.signature ?? r.note ?? r.summary ?? r.status;
  const body = [
    r.summary ?? r.note ?? r.status,
    "",
    `repeat: ${r.command ?? "(unknown)"}`,
    `run: ${r.run_dir ?? "(none)"}`,
    ...(r.run_dir !== undefined ? [`report: ${r.run_dir}/${RUN_FILES.report}`] : []),
  ].join("\n");
  const message = a(truncate(why, MESSAGE_MAX_CHARS));
  if (r.status === "interrupted") {
    return `${open}>\n      <skipped message="${message}"/>\n    </testcase>`;
  }
  const tag = r.status === "invalid" ? "failure" : "error";
  return `${open}>\n      <${tag} message="${message}" type="${r.status}">${t(body)}</${tag}>\n    </testcase>`;
}
