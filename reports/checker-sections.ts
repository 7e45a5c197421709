// One card per checker: verdict, summary (op numbers link to the timeline), then the details a
// student needs for that kind of failure — the Porcupine view for linearizability, lost values
// by node for set/broadcast, crash output, protocol errors — and every other detail as tables.
import { html, type SafeHtml, showValue, truncate, trusted } from "./escape.js";
import {
  cell,
  detailName,
  linkifyOps,
  MAX_TABLE_ROWS,
  moreNotice,
  opLink,
  pill,
  plural,
  recordTable,
} from "./html-parts.js";
import type { LinView } from "./linearizability-view.js";
import { compareNodeNames } from "./load-run.js";
import { num, type RunFacts, records, str, strings } from "./stored.js";

/** The raw JSON of a checker's details, shown folded, is cut here. */
export const RAW_DETAILS_MAX_CHARS = 50_000;

type Checker = RunFacts["checkers"][number];

/** Keys shown by the card itself or by a specialised block, not as generic details. */
const HANDLED = new Set(["valid", "summary", "ops", "failures", "lost", "partial_of", "partials"]);

export function checkerCards(
  checkers: readonly Checker[],
  linViews: ReadonlyMap<string, LinView[]>,
): SafeHtml {
  // Failures first, then unknown, then passes: what went wrong is what a reader looks for.
  const order = (c: Checker) => (c.valid === false ? 0 : c.valid === "unknown" ? 1 : 2);
  const sorted = [...checkers].sort((a, b) => order(a) - order(b));
  return html`${sorted.map((c) => checkerCard(c, linViews.get(c.name)))}`;
}

function checkerCard(c: Checker, views: LinView[] | undefined): SafeHtml {
  const key = c.valid === true ? "valid" : c.valid === false ? "invalid" : "unknown";
  return html`<article class="check ${key}" id="check-${c.name.replace(/[^A-Za-z0-9_-]/g, "_")}">
<h3>${pill(c.valid)} <span class="name">${c.name}</span></h3>
<p class="summary">${linkifyOps(c.summary || "(no summary)")}</p>
${views && views.length > 0 ? linearizabilityBlock(c.name, views, c.check) : undefined}
${Array.isArray(c.check.lost) && c.check.lost.length > 0 ? lostBlock(c.check) : undefined}
${c.name === "crashes" ? crashesBlock(c.check) : undefined}
${genericDetails(c)}
${rawDetails(c)}
</article>`;
}

// --- linearizability ------------------------------------------------------------------

function linearizabilityBlock(
  checker: string,
  views: readonly LinView[],
  check: Record<string, unknown>,
): SafeHtml {
  const failures = records(check.failures).length;
  return html`<div class="linearizability">
<p class="explain">Each bar is one operation on the key, from its call (left) to its return (right); time is
compressed to the order of calls and returns. The numbered points are the longest order of operations
that a single copy of the data could have produced (the <em>longest linearizable prefix</em>).
The red op is the one that cannot be added to it: no point in its bar explains what it saw.</p>
${views.map((v, i) => linearizabilityView(checker, v, i))}
${failures > views.length ? html`<p class="notice">${failures - views.length} more failing keys are in results.json.</p>` : undefined}
</div>`;
}

function linearizabilityView(checker: string, v: LinView, i: number): SafeHtml {
  const heading = v.key === null ? "All operations" : `Key ${v.key}`;
  const b = v.blocked;
  return html`<section class="linview">
<h4>${heading} <span class="muted">(${plural(v.partition_ops, "op")}${v.result !== "illegal" ? `; search ${v.result}${v.reason ? `: ${v.reason}` : ""}` : ""})</span></h4>
${
  b
    ? html`<p class="blocked">After ${v.steps_total === 0 ? "no operation at all" : html`step ${v.steps_total}`} the key holds <code>${b.state_before}</code>,
but op ${opLink(b.op)} <code>${b.describe}</code> cannot come next or anywhere later.</p>`
    : undefined
}
${v.ops.length > 0 ? html`<div class="linview-drawing" data-checker="${checker}" data-view="${i}" role="img" aria-label="Operations on ${heading}, with the longest linearizable prefix numbered"></div>` : html`<p class="notice">The history could not be read, so the operations are not drawn.</p>`}
${v.omitted_ops > 0 ? html`<p class="notice">${v.omitted_ops} more concurrent ops on this key are not drawn (at most ${v.ops.length}).</p>` : undefined}
${v.partials > 1 ? html`<p class="muted">The search found ${v.partials} different longest prefixes; this is one of them.</p>` : undefined}
<div class="table-wrap"><table class="steps">
<thead><tr><th>step</th><th>op</th><th>operation</th><th>state after</th></tr></thead>
<tbody>
${v.steps_total > v.steps.length ? html`<tr><td colspan="4" class="muted">… ${v.steps_total - v.steps.length} earlier steps</td></tr>` : undefined}
${v.steps.map((s) => html`<tr><td>${s.step}</td><td>${opLink(s.op)}</td><td><code>${s.describe}</code></td><td><code>${s.state}</code></td></tr>`)}
${b ? html`<tr class="blocked-row"><td>✗</td><td>${opLink(b.op)}</td><td><code>${b.describe}</code></td><td>cannot be placed</td></tr>` : undefined}
</tbody></table></div>
</section>`;
}

// --- set / broadcast --------------------------------------------------------------------

function lostBlock(check: Record<string, unknown>): SafeHtml {
  const lost = records(check.lost);
  const total = num(check.lost_count) ?? lost.length;
  // Which node missed what: the question a student asks first.
  const perNode = new Map<string, unknown[]>();
  for (const l of lost) {
    for (const m of records(l.missing_from)) {
      const node = str(m.node) ?? "?";
      const list = perNode.get(node) ?? [];
      if (!list.includes(l.value)) list.push(l.value);
      perNode.set(node, list);
    }
  }
  const nodes = [...perNode.keys()].sort(compareNodeNames);
  return html`<div class="lost">
<h4>Lost values by node</h4>
<p class="explain">A value is lost when a node's final read (after the faults were healed and the
system had time to recover) does not contain it, although it had been acknowledged or read before.</p>
<ul class="per-node">${nodes.map((node) => {
    const values = perNode.get(node) ?? [];
    return html`<li><strong>${node}</strong> missed ${plural(values.length, "value")}: <code>${values
      .slice(0, 30)
      .map((v) => showValue(v, 40))
      .join(", ")}${values.length > 30 ? " …" : ""}</code></li>`;
  })}</ul>
<details class="more"${lost.length <= 10 ? trusted(" open") : undefined}><summary>Each lost value, when it became known, and the final reads that lack it</summary>
<div class="table-wrap"><table>
<thead><tr><th>value</th><th>acknowledged</th><th>known from op</th><th>missing from (final read op)</th></tr></thead>
<tbody>${lost.slice(0, MAX_TABLE_ROWS).map(
    (
      l,
    ) => html`<tr><td><code>${showValue(l.value, 80)}</code></td><td>${l.acknowledged === true ? "yes" : "read back only"}</td>
<td>${cell("op", l.known_index)}</td><td>${records(l.missing_from).map(
      (m, i) => html`${i ? ", " : ""}${str(m.node) ?? "?"} (${cell("op", m.op)})`,
    )}</td></tr>`,
  )}</tbody></table></div>
${moreNotice(Math.min(lost.length, MAX_TABLE_ROWS), total)}</details>
</div>`;
}

// --- crashes ----------------------------------------------------------------------------

function crashesBlock(check: Record<string, unknown>): SafeHtml | undefined {
  const crashes = records(check.crashes);
  if (crashes.length === 0) return undefined;
  return html`<div class="crashes">${crashes.map((c) => {
    const how = c.signal ? `signal ${String(c.signal)}` : `exit code ${String(c.code)}`;
    const at = num(c.time_ns);
    const tail = strings(c.stderr_tail);
    return html`<div class="crash"><p><strong>${str(c.node) ?? "?"}</strong> exited on its own (${how})${at !== undefined ? ` at ${(at / 1e9).toFixed(2)} s` : ""}.${
      str(c.node)
        ? html` <a href="node-logs/${encodeURIComponent(str(c.node) as string)}.log">Full log</a>`
        : undefined
    }</p>${
      tail.length > 0
        ? html`<p class="muted">Its last stderr lines:</p><pre class="log">${tail.map((l) => truncate(l, 400)).join("\n")}</pre>`
        : undefined
    }</div>`;
  })}</div>`;
}

// --- everything else --------------------------------------------------------------------

/** Detail lists that are themselves the finding when the checker fails: shown unfolded. */
const FINDINGS = new Set([
  "mismatches",
  "unexpected",
  "duplicated",
  "duplicates",
  "errors",
  "before_init",
  "malformed_replies",
  "malformed_reads",
  "checks",
]);

function genericDetails(c: Checker): SafeHtml | undefined {
  const scalars: Array<[string, unknown]> = [];
  const findings: SafeHtml[] = [];
  const more: SafeHtml[] = [];
  const moreNames: string[] = [];
  for (const [key, value] of Object.entries(c.check)) {
    if (HANDLED.has(key)) continue;
    if (c.name === "crashes" && key === "crashes") continue;
    const rows = records(value);
    if (Array.isArray(value) && value.length > 0 && rows.length === value.length) {
      const total =
        num(c.check[`${key.replace(/s$/, "")}_count`]) ??
        num(c.check[`${key}_count`]) ??
        rows.length;
      const table = html`<h4>${key.replace(/_/g, " ")} <span class="muted">(${total})</span></h4>${recordTable(rows, total)}`;
      if (c.valid !== true && FINDINGS.has(key)) findings.push(table);
      else {
        more.push(table);
        moreNames.push(`${key.replace(/_/g, " ")} (${total})`);
      }
    } else if (!Array.isArray(value) || value.length > 0) {
      // Scalars, flat records and short lists; an empty list says nothing the summary does not.
      if (
        typeof value !== "object" ||
        value === null ||
        !Array.isArray(value) ||
        value.every((v) => typeof v !== "object")
      ) {
        scalars.push([key, value]);
      }
    }
  }
  if (scalars.length === 0 && findings.length === 0 && more.length === 0) return undefined;
  const list =
    scalars.length > 0
      ? html`<dl class="details">${scalars.map(([k, v]) => html`<dt>${detailName(k)}</dt><dd>${cell(k, v)}</dd>`)}</dl>`
      : undefined;
  // A passing checker's numbers are folded away; a failing one's are the evidence.
  return html`${findings}${
    c.valid === true
      ? html`<details class="more"><summary>Details${moreNames.length ? `: ${moreNames.join(", ")}` : ""}</summary>${list}${more}</details>`
      : html`${list}${more.length > 0 ? html`<details class="more"><summary>More: ${moreNames.join(", ")}</summary>${more}</details>` : undefined}`
  }`;
}

function rawDetails(c: Checker): SafeHtml {
  let text = JSON.stringify(c.check, null, 1) ?? "";
  const cut = text.length > RAW_DETAILS_MAX_CHARS;
  if (cut) text = text.slice(0, RAW_DETAILS_MAX_CHARS);
  return html`<details class="raw"><summary>All of this checker's details (JSON)</summary><pre>${text}${cut ? "\n… (cut; see results.json)" : ""}</pre></details>`;
}
