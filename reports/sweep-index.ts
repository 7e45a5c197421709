// The sweeps section of the store's index.html (reports/store-index.ts): every
// <store>/sweeps/<test>/<stamp>/sweep.json, newest first, with its catch rate and a link to its
// sweep.html. sweep.json is read as untrusted as any stored file: bounded, field by field.
import type { Dirent } from "node:fs";
import { readdir, readFile, stat } from "node:fs/promises";
import { join } from "node:path";
import { html, type SafeHtml, truncate } from "./escape.js";
import { SWEEP_FILES, SWEEPS_FOLDER } from "./store-files.js";
import { num, record, records, str } from "./stored.js";
import { formatCatchRate, SIGNATURE_CELL_CHARS } from "./sweep-format.js";
import type { Proportion } from "./sweep-stats.js";

/** Sweeps listed at most (the newest); the section says how many more the store holds. */
export const MAX_INDEX_SWEEPS = 200;
/** sweep.json files above this size are not parsed (the row says so). */
export const MAX_INDEX_SWEEP_BYTES = 32 * 1024 * 1024;
const MAX_TITLE_CHARS = 1_000;

export interface SweepEntry {
  /** `sweeps/<test>/<stamp>`, relative to the store. */
  path: string;
  test: string;
  stamp: string;
  /** Absent when sweep.json could not be read. */
  summary?: {
    started_at?: string;
    command?: string;
    runs?: number;
    planned_runs?: number;
    invalid?: number;
    unknown?: number;
    could_not_run?: number;
    catch_rate?: Proportion;
    top_failure?: string;
    interrupted: boolean;
  };
}

/** The store's sweeps, newest first (by stamp, which is ISO-like), at most MAX_INDEX_SWEEPS. */
export async function listSweeps(store: string): Promise<{ sweeps: SweepEntry[]; total: number }> {
  const root = join(store, SWEEPS_FOLDER);
  const candidates: Array<{ test: string; stamp: string }> = [];
  for (const t of await folders(root)) {
    for (const s of await folders(join(root, t))) candidates.push({ test: t, stamp: s });
  }
  candidates.sort((a, b) =>
    a.stamp < b.stamp ? 1 : a.stamp > b.stamp ? -1 : a.test.localeCompare(b.test),
  );
  const sweeps: SweepEntry[] = [];
  let total = 0;
  for (const c of candidates) {
    const file = join(root, c.test, c.stamp, SWEEP_FILES.summary);
    const size = await stat(file).then(
      (info) => (info.isFile() ? info.size : undefined),
      () => undefined,
    );
    if (size === undefined) continue; // not a sweep, or one still running
    total++;
    if (sweeps.length >= MAX_INDEX_SWEEPS) continue;
    const entry: SweepEntry = { path: `${SWEEPS_FOLDER}/${c.test}/${c.stamp}`, ...c };
    const summary = size <= MAX_INDEX_SWEEP_BYTES ? await readSummary(file) : undefined;
    sweeps.push(summary ? { ...entry, summary } : entry);
  }
  return { sweeps, total };
}

/** Sub-folders, not following symlinks; none when `dir` cannot be read. */
async function folders(dir: string): Promise<string[]> {
  let entries: Dirent[];
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch {
    return [];
  }
  return entries.filter((e) => e.isDirectory()).map((e) => e.name);
}

async function readSummary(file: string): Promise<SweepEntry["summary"]> {
  let json: Record<string, unknown> | undefined;
  try {
    json = record(JSON.parse(await readFile(file, "utf8")));
  } catch {
    return undefined;
  }
  if (!json) return undefined;
  const totals = record(json.totals);
  const rate = record(json.catch_rate);
  const point = num(rate?.point);
  const low = num(rate?.low);
  const high = num(rate?.high);
  return {
    started_at: str(json.started_at),
    command: str(json.command),
    runs: num(totals?.runs),
    planned_runs: num(json.planned_runs),
    invalid: num(totals?.invalid),
    unknown: num(totals?.unknown),
    could_not_run: num(totals?.could_not_run),
    catch_rate:
      point !== undefined && low !== undefined && high !== undefined
        ? { point, low, high, confidence: num(rate?.confidence) ?? 0.95 }
        : undefined,
    top_failure: str(records(json.failures)[0]?.signature),
    interrupted: json.interrupted === true,
  };
}

/** The index's sweeps table; nothing when the store holds no sweep. */
export function sweepsSection(sweeps: readonly SweepEntry[], total: number): SafeHtml | undefined {
  if (total === 0) return undefined;
  return html`<h2>Sweeps</h2>
<p class="muted">${total} sweep${total === 1 ? "" : "s"}${
    total > sweeps.length
      ? html` <span class="notice">(the newest ${sweeps.length} are listed)</span>`
      : undefined
  }</p>
<table id="sweeps">
<thead><tr><th>started</th><th>test</th><th>catch rate</th><th>runs</th><th>invalid</th><th>unknown</th><th>could not run</th><th>most frequent failure</th></tr></thead>
<tbody>${sweeps.map(sweepRow)}</tbody></table>`;
}

function sweepRow(entry: SweepEntry): SafeHtml {
  const s = entry.summary;
  const href = [SWEEPS_FOLDER, entry.test, entry.stamp, SWEEP_FILES.page]
    .map(encodeURIComponent)
    .join("/");
  const count = (n: number | undefined) => (n === undefined ? "—" : String(n));
  const key = (s?.invalid ?? 0) > 0 ? "invalid" : s?.catch_rate ? "valid" : "unknown";
  return html`<tr class="sweep ${key}">
<td class="when"><a href="${href}">${s?.started_at ?? entry.stamp}</a></td>
<td>${entry.test}</td>
<td class="verdict ${key}">${s ? formatCatchRate(s.catch_rate) : "sweep.json unreadable"}${s?.interrupted ? " (interrupted)" : ""}</td>
<td>${count(s?.runs)}${s?.planned_runs !== undefined && s.planned_runs !== s.runs ? ` of ${s.planned_runs}` : ""}</td>
<td>${count(s?.invalid)}</td>
<td>${count(s?.unknown)}</td>
<td>${count(s?.could_not_run)}</td>
<td class="why" title="${truncate(s?.command ?? "", MAX_TITLE_CHARS)}">${s?.top_failure ? truncate(s.top_failure, SIGNATURE_CELL_CHARS) : "—"}</td>
</tr>`;
}
