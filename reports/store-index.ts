// The store's index.html: the sweeps (reports/sweep-index.ts), then every run, newest first, with
// its verdict colour, workload, target, faults, duration and links — what Jepsen's `serve` shows,
// plus a filter by verdict and text.
// Written to <store>/index.html after every run, and served fresh by `faultline serve`.
import { readdir, readFile, rename, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { asset, contentSecurityPolicy } from "./assets.js";
import { html, type SafeHtml, truncate, trusted } from "./escape.js";
import { RUN_FILES } from "./load-run.js";
import {
  formatDuration,
  formatWallTime,
  type RunFacts,
  runFacts,
  type StoredResults,
  type StoredTest,
  verdictKey,
  verdictWord,
} from "./stored.js";
import { listSweeps, type SweepEntry, sweepsSection } from "./sweep-index.js";

/** Runs listed at most (the newest); the page says how many more the store holds. */
export const MAX_INDEX_RUNS = 2_000;
/** results.json files above this size are not parsed for the index (the row says so). */
export const MAX_INDEX_RESULTS_BYTES = 32 * 1024 * 1024;
export const SUMMARY_MAX_CHARS = 220;

export interface RunEntry {
  /** `<test>/<timestamp>`, relative to the store. */
  path: string;
  test: string;
  stamp: string;
  facts: RunFacts;
  finished: boolean;
  hasReport: boolean;
}

/**
 * The store's runs, newest first. A run is any `<test>/<stamp>/` folder holding test.json or
 * results.json; symlinks (`latest`) are skipped so no run is listed twice.
 */
export async function listRuns(store: string): Promise<{ runs: RunEntry[]; total: number }> {
  const candidates: Array<{ test: string; stamp: string }> = [];
  let tests: import("node:fs").Dirent[];
  try {
    tests = await readdir(store, { withFileTypes: true });
  } catch {
    return { runs: [], total: 0 };
  }
  for (const t of tests) {
    if (!t.isDirectory()) continue;
    let stamps: import("node:fs").Dirent[];
    try {
      stamps = await readdir(join(store, t.name), { withFileTypes: true });
    } catch {
      continue;
    }
    for (const s of stamps) if (s.isDirectory()) candidates.push({ test: t.name, stamp: s.name });
  }
  // Stamps are ISO-like (2026-11-21T082236[-n]), so text order is time order.
  candidates.sort((a, b) =>
    a.stamp < b.stamp ? 1 : a.stamp > b.stamp ? -1 : a.test.localeCompare(b.test),
  );
  const runs: RunEntry[] = [];
  let total = 0;
  for (const c of candidates) {
    const dir = join(store, c.test, c.stamp);
    let files: Set<string>;
    try {
      files = new Set(await readdir(dir));
    } catch {
      continue;
    }
    if (!files.has(RUN_FILES.test) && !files.has(RUN_FILES.results)) continue;
    total++;
    if (runs.length >= MAX_INDEX_RUNS) continue;
    const test = await readSmallJson<StoredTest>(join(dir, RUN_FILES.test));
    const results = await readSmallJson<StoredResults>(join(dir, RUN_FILES.results));
    const problems = files.has(RUN_FILES.results)
      ? []
      : ["no results.json: the run is still going or did not finish"];
    runs.push({
      path: `${c.test}/${c.stamp}`,
      test: c.test,
      stamp: c.stamp,
      facts: runFacts(test, results, problems),
      finished: files.has(RUN_FILES.results),
      hasReport: files.has(RUN_FILES.report),
    });
  }
  // Wall-clock start when the runs say it, else the stamp order from above.
  runs.sort((a, b) => (b.facts.started_ms ?? 0) - (a.facts.started_ms ?? 0));
  return { runs, total };
}

async function readSmallJson<T>(path: string): Promise<T | undefined> {
  try {
    const text = await readFile(path, "utf8");
    if (text.length > MAX_INDEX_RESULTS_BYTES) return undefined;
    const value: unknown = JSON.parse(text);
    return typeof value === "object" && value !== null && !Array.isArray(value)
      ? (value as T)
      : undefined;
  } catch {
    return undefined;
  }
}

/** A link to a file of a run, relative to the store root. */
function href(run: RunEntry, file: string): string {
  return [run.test, run.stamp, file].map(encodeURIComponent).join("/");
}

export function renderStoreIndex(
  runs: readonly RunEntry[],
  total: number,
  options: {
    title?: string;
    liveReports?: boolean;
    /** The store's sweeps (listSweeps), listed above the runs. */
    sweeps?: { sweeps: readonly SweepEntry[]; total: number };
  } = {},
): string {
  const sweeps = options.sweeps && sweepsSection(options.sweeps.sweeps, options.sweeps.total);
  const script = asset("index.js");
  const style = asset("index.css");
  const counts = { valid: 0, invalid: 0, unknown: 0 };
  for (const r of runs) counts[verdictKey(r.facts.valid)]++;
  const page = html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="${contentSecurityPolicy(script, style)}">
<title>${options.title ?? "faultline runs"}</title>
<style>${trusted(style.text)}</style>
</head>
<body>
<header><h1>${options.title ?? "faultline runs"}</h1>
<p>${total} run${total === 1 ? "" : "s"}: <span class="v-valid">${counts.valid} valid</span>, <span class="v-invalid">${counts.invalid} invalid</span>, <span class="v-unknown">${counts.unknown} unknown</span>${
    total > runs.length
      ? html` <span class="notice">(the newest ${runs.length} are listed)</span>`
      : undefined
  }</p>
<div class="filters"><label>Show <select id="verdict-filter"><option value="">all verdicts</option><option value="invalid">invalid</option><option value="unknown">unknown</option><option value="valid">valid</option></select></label>
<label>Search <input id="text-filter" type="search" placeholder="workload, target, fault, text…"></label>
<span id="shown-count" class="muted"></span></div>
</header>
<main>
${sweeps}${sweeps ? html`<h2>Runs</h2>` : undefined}
${
  runs.length === 0
    ? html`<p class="empty">No runs yet. Start one with <code>faultline test</code>.</p>`
    : html`<table id="runs">
<thead><tr><th>started</th><th>verdict</th><th>workload</th><th>target</th><th>faults</th><th>ops</th><th>duration</th><th>why</th><th>files</th></tr></thead>
<tbody>${runs.map((r) => row(r, options.liveReports === true))}</tbody></table>`
}
</main>
<script>${trusted(script.text)}</script>
</body>
</html>
`;
  return page.text;
}

function row(r: RunEntry, liveReports: boolean): SafeHtml {
  const f = r.facts;
  const key = verdictKey(f.valid);
  const started = f.started_ms !== undefined ? formatWallTime(f.started_ms) : r.stamp;
  const faults =
    f.faultsRequested.length === 0
      ? "none"
      : `${f.faultsRequested.join(", ")} (${f.faultIntervals})`;
  const reportLink = r.hasReport || liveReports;
  return html`<tr class="run ${key}" data-verdict="${key}">
<td class="when"><a href="${href(r, reportLink ? RUN_FILES.report : RUN_FILES.results)}">${started}</a></td>
<td class="verdict ${key}">${r.finished ? verdictWord(f.valid) : "unfinished"}</td>
<td>${f.workload}</td>
<td>${f.target}${f.bug ? html` <span class="bug">${f.bug}</span>` : undefined}</td>
<td>${faults}</td>
<td>${f.ops ? `${f.ops.count}` : "—"}</td>
<td>${f.duration_s !== undefined ? formatDuration(f.duration_s) : "—"}</td>
<td class="why" title="${f.reason}">${truncate(f.reason, SUMMARY_MAX_CHARS)}</td>
<td class="links">${reportLink ? html`<a href="${href(r, RUN_FILES.report)}">report</a> ` : undefined}<a href="${href(r, RUN_FILES.results)}">results</a> <a href="${href(r, RUN_FILES.history)}">history</a> <a href="${href(r, RUN_FILES.nodeLogs)}/">logs</a></td>
</tr>`;
}

/** Writes <store>/index.html, sweeps and runs (atomically, so a browser never sees half a page). */
export async function writeStoreIndex(store: string): Promise<string> {
  const { runs, total } = await listRuns(store);
  const sweeps = await listSweeps(store);
  const path = join(store, "index.html");
  const tmp = `${path}.${process.pid}.tmp`;
  await writeFile(tmp, renderStoreIndex(runs, total, { sweeps }));
  await rename(tmp, path);
  return path;
}
