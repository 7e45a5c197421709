// sweep.html: a sweep on one self-contained page (the store index's style, script and CSP): the
// catch rate, the distinct failures, and one row per seed linking to that run's report.html by
// a relative path, so the sweep folder can be moved or served as it is.
import { isAbsolute, relative, sep } from "node:path";
import { asset, contentSecurityPolicy } from "./assets.js";
import { html, type SafeHtml, truncate, trusted } from "./escape.js";
import { RUN_FILES } from "./load-run.js";
import { formatDuration } from "./stored.js";
import { formatCatchRate, formatDetection, SIGNATURE_CELL_CHARS } from "./sweep-format.js";
import type { SweepFailure, SweepRun, SweepStatus, SweepSummary } from "./sweep-summary.js";

/** Rows the page shows at most (sweep.json has every run). */
export const MAX_PAGE_RUNS = 5_000;
/** Seeds a failure's row lists. */
const PAGE_FAILURE_SEEDS = 10;
const TEXT_CELL_CHARS = 300;

/** The page for `summary`, written into `dir` (links to the runs are relative to it). */
export function renderSweepHtml(summary: SweepSummary, dir: string): string {
  const script = asset("index.js");
  const style = asset("index.css");
  const t = summary.totals;
  const d = summary.detection_s;
  const title = "faultline sweep";
  const shown = summary.runs.slice(0, MAX_PAGE_RUNS);
  return html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="${contentSecurityPolicy(script, style)}">
<title>${title}</title>
<style>${trusted(style.text)}</style>
</head>
<body>
<header><h1>${title}: <span class="${t.invalid > 0 ? "v-invalid" : "v-valid"}">catch rate ${formatCatchRate(summary.catch_rate)}</span></h1>
<p>${t.invalid} of ${t.completed} completed run${t.completed === 1 ? "" : "s"} invalid · ${t.runs} of ${summary.planned_runs} planned runs ·
<span class="v-unknown">${t.unknown} unknown, ${t.could_not_run} could not run, ${t.interrupted} interrupted</span>${
    summary.interrupted ? html` · <span class="notice">the sweep was interrupted</span>` : undefined
  }</p>
<p>Time to detection: median ${formatDetection(d.median)}, p90 ${formatDetection(d.p90)}${
    d.unknown > 0
      ? ` (${d.unknown} invalid run${d.unknown === 1 ? "" : "s"} name no moment: —)`
      : ""
  } · ${summary.started_at} to ${summary.finished_at}${summary.parallel !== undefined ? ` · ${summary.parallel} at a time` : ""}</p>
<p class="muted"><code>${truncate(summary.command, TEXT_CELL_CHARS)}</code></p>
</header>
<main>
<h2>Distinct failures</h2>
${
  summary.failures.length === 0
    ? html`<p class="empty">No run was invalid.</p>`
    : html`<table id="failures">
<thead><tr><th>failure</th><th>runs</th><th>share</th><th>seeds</th><th>repeat</th></tr></thead>
<tbody>${summary.failures.map((f) => failureRow(f, dir))}</tbody></table>${
        summary.failures_not_listed > 0
          ? html`<p class="notice">${summary.failures_not_listed} more distinct failures are not listed.</p>`
          : undefined
      }`
}
<h2>Runs</h2>
<div class="filters"><label>Show <select id="verdict-filter"><option value="">every status</option>${(
    ["invalid", "unknown", "could-not-run", "interrupted", "valid"] as const
  ).map((s) => html`<option value="${s}">${s}</option>`)}</select></label>
<label>Search <input id="text-filter" type="search" placeholder="seed, failure, text…"></label>
<span id="shown-count" class="muted"></span></div>
<table id="runs">
<thead><tr><th>seed</th><th>status</th><th>detection</th><th>duration</th><th>what it found</th><th>files</th></tr></thead>
<tbody>${shown.map((r) => runRow(r, dir))}</tbody></table>${
    summary.runs.length > shown.length
      ? html`<p class="notice">The first ${shown.length} of ${summary.runs.length} runs are shown; sweep.json has all.</p>`
      : undefined
  }
</main>
<script>${trusted(script.text)}</script>
</body>
</html>
`.text;
}

function failureRow(f: SweepFailure, dir: string): SafeHtml {
  const seeds = f.seeds.slice(0, PAGE_FAILURE_SEEDS).join(", ");
  const more = f.count > PAGE_FAILURE_SEEDS ? ` and ${f.count - PAGE_FAILURE_SEEDS} more` : "";
  const report = f.run_dir !== undefined ? runHref(f.run_dir, dir, RUN_FILES.report) : undefined;
  return html`<tr>
<td class="why" title="${f.signature}">${truncate(f.signature, SIGNATURE_CELL_CHARS)}</td>
<td>${f.count}</td>
<td>${Math.round(f.share * 100)}%</td>
<td>${seeds}${more}</td>
<td>${f.command !== undefined ? html`<code>${truncate(f.command, TEXT_CELL_CHARS)}</code>` : "—"}${
    report ? html` <a href="${report}">report</a>` : undefined
  }</td>
</tr>`;
}

function runRow(r: SweepRun, dir: string): SafeHtml {
  // What this seed found, with its values (the failures table has them masked), or why not.
  const why = (r.status === "invalid" ? r.summary : (r.note ?? r.summary)) ?? "";
  const links =
    r.run_dir === undefined
      ? "—"
      : html`<a href="${runHref(r.run_dir, dir, RUN_FILES.report)}">report</a> <a href="${runHref(r.run_dir, dir, RUN_FILES.results)}">results</a> <a href="${runHref(r.run_dir, dir, RUN_FILES.history)}">history</a>`;
  return html`<tr class="run" data-verdict="${r.status}">
<td>${r.seed}</td>
<td class="verdict ${statusClass(r.status)}">${r.status}</td>
<td>${r.status === "invalid" ? formatDetection(r.detection_s) : ""}</td>
<td>${r.duration_s !== undefined ? formatDuration(r.duration_s) : "—"}</td>
<td class="why" title="${why}">${truncate(why, TEXT_CELL_CHARS)}</td>
<td class="links">${links}</td>
</tr>`;
}

/** The store index's verdict colours: a run that could not run or was stopped is "unknown". */
function statusClass(status: SweepStatus): "valid" | "invalid" | "unknown" {
  return status === "valid" || status === "invalid" ? status : "unknown";
}

/** A link from the sweep page to a file of a run (kept relative or absolute in sweep.json). */
function runHref(runDir: string, dir: string, file: string): string {
  const rel = isAbsolute(runDir) ? relative(dir, runDir).split(sep).join("/") : runDir;
  return [...rel.split("/"), file].map((s) => (s === ".." ? s : encodeURIComponent(s))).join("/");
}
