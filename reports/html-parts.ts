// Small HTML pieces shared by the report sections: verdict pills, op links, tables of records.
import type { Validity } from "../checkers/result.js";
import { type HtmlValue, html, type SafeHtml, showValue, truncate } from "./escape.js";
import { verdictKey, verdictWord } from "./stored.js";

/** Rows a detail table shows at most (checkers cap their own lists too). */
export const MAX_TABLE_ROWS = 50;
/** Characters of one table cell at most. */
export const CELL_MAX_CHARS = 200;

export function pill(valid: Validity): SafeHtml {
  return html`<span class="pill ${verdictKey(valid)}">${verdictWord(valid)}</span>`;
}

/** A link that focuses the timeline on a history index (the client script handles the click). */
export function opLink(index: number): SafeHtml {
  return html`<a class="opref" href="#timeline" data-op="${index}">${index}</a>`;
}

/**
 * Text with every "op 12", "ops 3, 8, 11", "index 42" turned into op links; the rest escaped.
 * Checker summaries name ops that way (checkers/linearizable.ts, set-full.ts).
 */
export function linkifyOps(text: string): SafeHtml {
  const parts: HtmlValue[] = [];
  const pattern = /\b(ops?|index|indexes)( \d+(?:(?:, | and )\d+)*)/g;
  let last = 0;
  for (const m of text.matchAll(pattern)) {
    const at = m.index as number;
    parts.push(text.slice(last, at), `${m[1]} `);
    const numbers = (m[2] as string).trim();
    let cursor = 0;
    for (const n of numbers.matchAll(/\d+/g)) {
      parts.push(numbers.slice(cursor, n.index), opLink(Number(n[0])));
      cursor = (n.index as number) + n[0].length;
    }
    last = at + m[0].length;
  }
  parts.push(text.slice(last));
  return html`${parts}`;
}

/** Detail keys whose numbers are history indexes. */
const OP_KEYS = new Set(["op", "ops", "invoke", "complete", "known_index", "last_missed_by"]);

/** One table cell: op indexes as links, everything else as short JSON text. */
export function cell(key: string, value: unknown): SafeHtml {
  if (OP_KEYS.has(key)) {
    if (typeof value === "number") return opLink(value);
    if (Array.isArray(value) && value.every((v) => typeof v === "number")) {
      const shown = value.slice(0, 20).map((v, i) => html`${i ? ", " : ""}${opLink(v)}`);
      return html`${shown}${value.length > 20 ? ` … (${value.length})` : ""}`;
    }
  }
  if (typeof value === "number" && key.endsWith("_ns")) return html`${(value / 1e9).toFixed(3)} s`;
  if (typeof value === "number") return html`${roundForDisplay(value)}`;
  if (typeof value === "string") return html`${truncate(value, CELL_MAX_CHARS)}`;
  if (value === null || value === undefined) return html`<span class="muted">—</span>`;
  const flat = flatRecord(value);
  if (flat) {
    return html`${flat.map(([k, v], i) => html`${i ? " · " : ""}<span class="muted">${k.replace(/_/g, " ")}</span> ${typeof v === "number" ? roundForDisplay(v) : showValue(v, 60)}`)}`;
  }
  return html`${showValue(value, CELL_MAX_CHARS)}`;
}

/**
 * A record of at most 12 scalar fields, as entries; otherwise undefined. Numeric keys (runs
 * stored quantiles as "0", "0.5", "1") are put in numeric order: JSON.parse puts integer-like
 * keys first.
 */
function flatRecord(value: unknown): Array<[string, unknown]> | undefined {
  if (typeof value !== "object" || value === null || Array.isArray(value)) return undefined;
  const entries = Object.entries(value);
  if (entries.length === 0 || entries.length > 12) return undefined;
  if (!entries.every(([, v]) => v === null || typeof v !== "object")) return undefined;
  const numeric = entries.every(([k]) => k.trim() !== "" && Number.isFinite(Number(k)));
  return numeric ? entries.sort(([a], [b]) => Number(a) - Number(b)) : entries;
}

/** A detail key as a heading: words, and seconds for `_ns` keys, which cell() shows in s. */
export function detailName(key: string): string {
  return key.endsWith("_ns")
    ? `${key.slice(0, -3).replace(/_/g, " ")} (s)`
    : key.replace(/_/g, " ");
}

/** Measurements to at most 3 decimals (results.json keeps full precision). */
export function roundForDisplay(n: number): string {
  return Number.isInteger(n) ? String(n) : String(Number(n.toFixed(3)));
}

/** A table of records: columns are the union of their keys, in first-seen order. */
export function recordTable(
  rows: readonly Record<string, unknown>[],
  total = rows.length,
): SafeHtml {
  const shown = rows.slice(0, MAX_TABLE_ROWS);
  const columns: string[] = [];
  for (const row of shown)
    for (const key of Object.keys(row)) if (!columns.includes(key)) columns.push(key);
  return html`<div class="table-wrap"><table>
<thead><tr>${columns.map((c) => html`<th>${detailName(c)}</th>`)}</tr></thead>
<tbody>${shown.map((row) => html`<tr>${columns.map((c) => html`<td>${cell(c, row[c])}</td>`)}</tr>`)}</tbody>
</table></div>${moreNotice(shown.length, total)}`;
}

export function moreNotice(shown: number, total: number): SafeHtml | undefined {
  if (total <= shown) return undefined;
  return html`<p class="notice">Showing ${shown} of ${total}; the rest are in results.json.</p>`;
}

export function plural(n: number, one: string, many = `${one}s`): string {
  return `${n} ${n === 1 ? one : many}`;
}

export function bytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${(n / 1024 / 1024).toFixed(1)} MiB`;
}
