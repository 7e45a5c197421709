// report.html: one self-contained page per run (ARCHITECTURE.md "The store"). The text a reader
// needs — the verdict and why, how to repeat the run, each checker's findings, faults, crashes — is
// rendered here as escaped HTML, so it reads even with scripts off. The drawings (timeline, plots,
// linearizability view, message diagram) are made in the browser by reports/client/ report.js from
// the data embedded as JSON, with textContent only, never innerHTML.
import { asset, contentSecurityPolicy } from "./assets.js";
import { checkerCards } from "./checker-sections.js";
import { html, jsonForScript, type SafeHtml, truncate, trusted } from "./escape.js";
import { FAULT_COLOURS, type FaultView, OTHER_FAULT_COLOUR } from "./fault-labels.js";
import { bytes, linkifyOps, pill, plural } from "./html-parts.js";
import { type LamportPayload, lamportPayload } from "./lamport-data.js";
import { type LinView, linearizabilityViews } from "./linearizability-view.js";
import { type JournalLoad, MESSAGES_AT_PARAM, RUN_FILES, type RunData } from "./load-run.js";
import {
  faultIntervalsTouched,
  formatDuration,
  formatWallTime,
  num,
  type RunFacts,
  record,
  records,
  runFacts,
  verdictKey,
  verdictWord,
} from "./stored.js";
import { TIME_UNIT_NS, type TimelinePayload, timelinePayload } from "./timeline-data.js";

/** The verdict sentence at the top is cut here (each checker's card has its full summary). */
export const REASON_MAX_CHARS = 600;

/** What the page's script reads from <script id="run-data">. */
export interface ReportData {
  timeline: TimelinePayload | null;
  timeline_error: string | null;
  faults: Array<{ kind: string; start: number; stop: number; label: string }>;
  fault_colours: Record<string, string>;
  other_fault_colour: string;
  /** Linearizability views by checker name (the cards draw `data-checker`/`data-view`). */
  lin: Record<string, LinView[]>;
  lamport: LamportPayload | null;
  /** Nodes that exited on their own: when, and how. */
  crashes: Array<{ node: string; t: number; text: string }>;
}

export function renderReport(run: RunData): string {
  const facts = runFacts(run.test, run.results, run.problems);
  const faults = run.faults;

  // Linearizability views, one list per checker that has failures to draw.
  const linViews = new Map<string, LinView[]>();
  for (const c of facts.checkers) {
    if (c.valid !== true && Array.isArray(c.check.failures)) {
      linViews.set(c.name, linearizabilityViews(c.check, run.history));
    }
  }
  let timeline: TimelinePayload | null = null;
  let timelineError: string | null = null;
  if (run.history) {
    try {
      timeline = timelinePayload(run.history, {
        concurrency: num(run.test?.concurrency),
        marked: facts.checkers
          .filter((c) => c.valid !== true && Array.isArray(c.check.ops))
          .map((c) => ({ checker: c.name, ops: (c.check.ops as unknown[]).filter(isIndex) })),
      });
    } catch (err) {
      timelineError = `The history could not be drawn: ${(err as Error).message}`;
    }
  } else {
    timelineError = "No history could be read, so there is no timeline.";
  }
  const lamport = run.journal.events.length > 0 ? lamportPayload(run.journal, faults) : null;
  const data: ReportData = {
    timeline,
    timeline_error: timelineError,
    faults: faults.map((f) => ({
      kind: f.kind,
      start: Math.round(f.start_ns / TIME_UNIT_NS),
      stop: f.stop_ns === undefined ? -1 : Math.round(f.stop_ns / TIME_UNIT_NS),
      label: f.label,
    })),
    fault_colours: FAULT_COLOURS,
    other_fault_colour: OTHER_FAULT_COLOUR,
    lin: Object.fromEntries(linViews),
    lamport,
    crashes: crashMarks(run),
  };

  const script = asset("report.js");
  const style = asset("report.css");
  const title = `${verdictWord(facts.valid)} · ${facts.workload} on ${facts.target}`;
  const page = html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="${contentSecurityPolicy(script, style)}">
<meta name="generator" content="faultline">
<title>${title} · faultline</title>
<style>${trusted(style.text)}</style>
</head>
<body>
${verdictHeader(facts, run)}
<nav class="toc">
<a href="#checkers">Checkers</a><a href="#timeline">Timeline</a><a href="#plots">Latency &amp; throughput</a><a href="#faults">Faults</a><a href="#messages">Messages</a><a href="#nodes">Nodes &amp; logs</a><a href="#files">Files</a>
</nav>
<main>
${problemsSection(facts)}
<section id="checkers"><h2>Checkers</h2>
<p class="explain">Each checker reads the history and gives its own verdict; the run is valid only if every one is.</p>
${checkerCards(facts.checkers, linViews)}
${facts.checkers.length === 0 ? html`<p class="notice">No checker ran.</p>` : undefined}
</section>
${timelineSection(timeline, timelineError, faults)}
${plotsSection(timeline)}
${faultsSection(faults, facts)}
${messagesSection(run, lamport)}
${nodesSection(run)}
${filesSection(run)}
</main>
<footer>Written by faultline from ${run.name}. This file is self-contained: it works offline and loads nothing.</footer>
<noscript><p class="notice">Scripts are off: the timeline, plots and diagrams need them; everything else is above.</p></noscript>
<script type="application/json" id="run-data">${trusted(jsonForScript(data))}</script>
<script>${trusted(script.text)}</script>
</body>
</html>
`;
  return page.text;
}

function crashMarks(run: RunData): ReportData["crashes"] {
  const marks: ReportData["crashes"] = [];
  for (const [node, n] of Object.entries(record(run.results?.nodes) ?? {})) {
    for (const c of records(record(n)?.crashes)) {
      const t = num(c.time_ns);
      if (t === undefined) continue;
      const how = c.signal ? `signal ${String(c.signal)}` : `exit code ${String(c.code)}`;
      marks.push({ node, t: Math.round(t / TIME_UNIT_NS), text: `${node} crashed (${how})` });
    }
  }
  return marks;
}

function isIndex(v: unknown): v is number {
  return typeof v === "number" && Number.isSafeInteger(v) && v >= 0;
}

function verdictHeader(facts: RunFacts, run: RunData): SafeHtml {
  const key = verdictKey(facts.valid);
  const headline =
    facts.valid === true
      ? "valid — no checker found a problem"
      : facts.valid === false
        ? "INVALID — a checker found a violation"
        : "unknown — the run could not decide";
  const net = record(run.results?.net);
  const msgsPerOp = num(net?.msgs_per_op);
  const ops = facts.ops;
  return html`<header class="verdict ${key}">
<div class="verdict-line"><span class="verdict-word" id="verdict">${headline}</span></div>
<p class="reason">${linkifyOps(truncate(facts.reason, REASON_MAX_CHARS))}</p>
${referenceLine(facts, run)}
${
  facts.command
    ? html`<div class="repeat"><span class="label">Repeat this run (same seed):</span>
<code id="repeat-command">${facts.command}</code><button type="button" class="copy" data-copy="repeat-command">copy</button></div>`
    : html`<p class="muted">test.json does not say how to repeat this run.</p>`
}
<dl class="facts">
<div><dt>workload</dt><dd>${facts.workload}</dd></div>
<div><dt>target</dt><dd>${facts.target}${facts.bug ? html` <span class="bug">bug: ${facts.bug}</span>` : undefined}</dd></div>
${facts.nodeCount !== undefined ? html`<div><dt>nodes</dt><dd>${facts.nodeCount}</dd></div>` : undefined}
<div><dt>faults</dt><dd>${
    facts.faultsRequested.length === 0
      ? "none"
      : html`${facts.faultsRequested.join(", ")} <span class="muted">(${faultIntervalsTouched(facts.faultIntervals, facts.faultsThatBit)})</span>`
  }</dd></div>
${
  ops
    ? html`<div><dt>operations</dt><dd>${ops.count} <span class="muted">(<span class="c-ok">${ops.ok} ok</span>, <span class="c-fail">${ops.fail} failed</span>, <span class="c-info">${ops.info} unknown</span>)</span></dd></div>`
    : undefined
}
${facts.duration_s !== undefined ? html`<div><dt>duration</dt><dd>${formatDuration(facts.duration_s)}</dd></div>` : undefined}
${msgsPerOp !== undefined ? html`<div><dt>messages per op</dt><dd>${msgsPerOp.toFixed(1)}</dd></div>` : undefined}
${facts.seed !== undefined ? html`<div><dt>seed</dt><dd>${facts.seed}</dd></div>` : undefined}
${facts.started_ms !== undefined ? html`<div><dt>started</dt><dd>${formatWallTime(facts.started_ms)}</dd></div>` : undefined}
</dl>
</header>`;
}

/** --against-reference: the reference system's verdict beside this run's, and its report. */
function referenceLine(facts: RunFacts, run: RunData): SafeHtml | undefined {
  const reference = facts.reference;
  if (facts.referenceFor !== undefined) {
    // The store is two levels up: <store>/<test>/<timestamp>.
    return html`<p class="reference" id="reference-for"><span class="label">Reference run</span> for
<a href="../../${facts.referenceFor}/${RUN_FILES.report}">${facts.referenceFor}</a>: our system with that run's options and seed (the command below repeats both).</p>`;
  }
  if (!reference) return undefined;
  const seed = facts.seed === undefined ? "" : ` ${facts.seed}`;
  return html`<p class="reference" id="reference"><span class="label">Reference system ${reference.system}, same options and seed${seed}:</span>
${pill(reference.valid)} ${truncate(reference.summary, REASON_MAX_CHARS)}${
    run.files.has(RUN_FILES.reference)
      ? html` <a href="${RUN_FILES.reference}/${RUN_FILES.report}">its report</a>`
      : undefined
  }</p>`;
}

function problemsSection(facts: RunFacts): SafeHtml | undefined {
  if (facts.warnings.length === 0 && facts.errors.length === 0) return undefined;
  return html`<section id="problems" class="problems">
${
  facts.errors.length > 0
    ? html`<h2>Errors during the run</h2><ul class="errors">${facts.errors.map(
        (e) => html`<li><strong>${e.kind}</strong>: ${e.message}</li>`,
      )}</ul>`
    : undefined
}
${
  facts.warnings.length > 0
    ? html`<h2>Warnings</h2><p class="explain">These make the run prove less than it seems.</p><ul class="warnings">${facts.warnings.map(
        (w) => html`<li>${w}</li>`,
      )}</ul>`
    : undefined
}
</section>`;
}

function legendFaults(faults: readonly FaultView[]): SafeHtml {
  const kinds = [...new Set(faults.map((f) => f.kind))];
  return html`${kinds.map(
    (k) => html`<span class="swatch fault-${k.replace(/[^a-z]/g, "")}"></span>${k} `,
  )}`;
}

function timelineSection(
  timeline: TimelinePayload | null,
  error: string | null,
  faults: readonly FaultView[],
): SafeHtml {
  return html`<section id="timeline"><h2>Timeline</h2>
<p class="explain">One row per client worker (and the node it talks to); each bar is one operation from
invocation to completion. Shaded bands are faults. Hover for details. Ctrl+scroll (or pinch) zooms,
drag pans, double-click zooms in; "whole run" resets. Ops a failing checker named are outlined in red.</p>
<div class="legend"><span class="swatch op-ok"></span>ok <span class="swatch op-fail"></span>failed
<span class="swatch op-info"></span>unknown (timed out / indeterminate) ${legendFaults(faults)}</div>
${
  timeline
    ? html`<div class="controls"><button type="button" data-zoom="in">zoom in</button><button type="button" data-zoom="out">zoom out</button><button type="button" data-zoom="reset">whole run</button>
<span class="muted" id="timeline-range"></span></div>
<div class="canvas-wrap"><canvas id="timeline-canvas" class="timeline" aria-label="timeline of operations"></canvas></div>
${timeline.rows_folded ? html`<p class="notice">More processes than rows: some rows hold several processes.</p>` : undefined}
${timeline.values_omitted > 0 ? html`<p class="notice">${timeline.values_omitted} op values are left out of this page to keep it small; history.jsonl has them all.</p>` : undefined}
${timeline.marks_omitted > 0 ? html`<p class="notice">${timeline.marks_omitted} more flagged ops are not outlined.</p>` : undefined}`
    : html`<p class="notice">${error ?? "No timeline."}</p>`
}
<div class="tooltip" id="tooltip" hidden></div>
</section>`;
}

function plotsSection(timeline: TimelinePayload | null): SafeHtml | undefined {
  if (!timeline) return undefined;
  return html`<section id="plots"><h2>Latency and throughput</h2>
<p class="explain">Both follow the timeline's zoom. Latency is per operation, by when it was invoked
(log scale; colour = outcome, shape = kind of op); throughput counts completions per second.</p>
<div class="canvas-wrap"><canvas id="latency-canvas" class="plot" aria-label="latency plot"></canvas></div>
<div class="canvas-wrap"><canvas id="rate-canvas" class="plot" aria-label="throughput plot"></canvas></div>
</section>`;
}

function faultsSection(faults: readonly FaultView[], facts: RunFacts): SafeHtml {
  const s = (ns: number | undefined) => (ns === undefined ? "end" : `${(ns / 1e9).toFixed(2)} s`);
  return html`<section id="faults"><h2>Faults</h2>
${
  faults.length === 0
    ? html`<p>${facts.faultsRequested.length > 0 ? "Faults were requested but none started." : "No fault was injected in this run."}</p>`
    : html`<p class="explain">Each interval, exactly what it did, and how many client operations overlapped it.
A fault that overlapped no operation proved nothing.</p>
<div class="table-wrap"><table class="faults">
<thead><tr><th>kind</th><th>from</th><th>to</th><th>what</th><th>ops overlapping</th><th>failed</th><th>unknown</th></tr></thead>
<tbody>${faults.map(
        (
          f,
        ) => html`<tr class="${f.ops_overlapping === 0 ? "did-not-bite" : ""}"><td><span class="swatch fault-${f.kind.replace(/[^a-z]/g, "")}"></span>${f.kind}</td>
<td>${s(f.start_ns)}</td><td>${s(f.stop_ns)}</td><td>${f.label}</td><td>${f.ops_overlapping}${f.ops_overlapping === 0 ? " ⚠" : ""}</td><td>${f.ops_failed}</td><td>${f.ops_info}</td></tr>`,
      )}</tbody></table></div>`
}
</section>`;
}

function messagesSection(run: RunData, lamport: LamportPayload | null): SafeHtml {
  const net = record(run.results?.net);
  const n = (k: string) => num(net?.[k]);
  const servers = record(net?.servers);
  return html`<section id="messages"><h2>Messages</h2>
${
  net
    ? html`<dl class="facts small">
<div><dt>sent</dt><dd>${n("send_count") ?? "?"}</dd></div><div><dt>delivered</dt><dd>${n("recv_count") ?? "?"}</dd></div>
<div><dt>dropped</dt><dd>${n("drop_count") ?? "?"}</dd></div>
<div><dt>node↔node sent</dt><dd>${num(servers?.send_count) ?? "?"}</dd></div>
<div><dt>messages per op</dt><dd>${n("msgs_per_op")?.toFixed(2) ?? "—"}</dd></div>
<div><dt>node↔node per op</dt><dd>${n("servers_msgs_per_op")?.toFixed(2) ?? "—"}</dd></div></dl>`
    : undefined
}
${
  lamport
    ? html`<p class="explain">Lamport diagram: one vertical line per client (c…), node (n…) and service; time flows down in
the order the router saw events. Each arrow is a message from send to delivery; dashed arrows ending in ✕ were dropped.
Blue arrows involve a client, red ones carry an error. Hover an arrow for its body.</p>
${
  lamport.call_arrows > 0 || lamport.notes.length > 0
    ? html`<p class="explain">On HTTP/2 (gRPC) connections the tcp proxy decoded, the data chunks are not drawn: each call is one
arrow from the chunk that started it to that chunk's delivery, labelled with the method, and one arrow back for its end,
labelled with the gRPC status name (red unless OK) or how it ended without one (reset, refused, or aborted with the
connection). A connection the proxy could not decode is marked "undecodable: why, showing bytes" where it gave up,
and its chunks from there on are drawn as on any TCP connection.</p>`
    : undefined
}
${run.journal.truncated ? html`<p class="notice" id="lamport-window">${windowSentence(run.journal)}${windowMoves(run.journal)}</p>` : undefined}
${lamport.skipped > 0 ? html`<p class="notice">${plural(lamport.skipped, "journal line")} could not be read and ${lamport.skipped === 1 ? "was" : "were"} skipped.</p>` : undefined}
<div class="lamport-wrap"><div id="lamport" class="lamport"></div></div>`
    : html`<p class="muted">${run.journal.exists ? "messages.jsonl has no events." : "This run has no messages.jsonl."}</p>`
}
</section>`;
}

/**
 * What the diagram leaves out, in words: "Showing 4,000 of 52,113 events, 12.3 s–19.8 s, around
 * the lost value 117; earlier and later events are in messages.jsonl."
 */
export function windowSentence(journal: JournalLoad): string {
  const count = (n: number) => n.toLocaleString("en-US");
  const shown = journal.events.length;
  const from = journal.events[0]?.time ?? 0;
  const to = journal.events.at(-1)?.time ?? 0;
  const span = `${(from / 1e9).toFixed(1)} s–${(to / 1e9).toFixed(1)} s`;
  const earlier = journal.before > 0;
  const later = journal.before + shown < journal.total;
  const where = journal.focus ? `, around ${journal.focus.why}` : "";
  const elsewhere = earlier && later ? "earlier and later" : earlier ? "earlier" : "later";
  return (
    `Showing ${earlier ? "" : "the first "}${count(shown)} of ${count(journal.total)} message events, ${span}${where}; ` +
    `${elsewhere} events are in ${RUN_FILES.messages}, and faultline report DIR --messages-at SECONDS draws another part.`
  );
}

/**
 * Links to the windows before and after this one. They only work through `faultline serve`
 * (which renders ?messages_at=S), so the page's script unhides them on http(s) only.
 */
function windowMoves(journal: JournalLoad): SafeHtml {
  const from_s = (journal.events[0]?.time ?? 0) / 1e9;
  const to_s = (journal.events.at(-1)?.time ?? 0) / 1e9;
  const half_s = (to_s - from_s) / 2;
  const link = (at_s: number, text: string) =>
    html`<a href="?${MESSAGES_AT_PARAM}=${Math.max(0, at_s).toFixed(1)}">${text}</a>`;
  const earlier = journal.before > 0;
  const later = journal.before + journal.events.length < journal.total;
  return html`<span class="window-moves" hidden> Move: ${earlier ? link(from_s - half_s, "← earlier") : undefined}${earlier && later ? " · " : ""}${later ? link(to_s + half_s, "later →") : undefined}</span>`;
}

function nodesSection(run: RunData): SafeHtml {
  const crashed = new Set(
    Object.entries(run.results?.nodes ?? {})
      .filter(([, n]) => Array.isArray(n?.crashes) && n.crashes.length > 0)
      .map(([id]) => id),
  );
  return html`<section id="nodes"><h2>Nodes and logs</h2>
<p class="explain">Each node's stderr, with faultline's notes on when it was started, killed, paused or stopped.</p>
${
  run.nodeLogs.length === 0
    ? html`<p class="muted">No node logs were stored.</p>`
    : html`<ul class="nodes">${run.nodeLogs.map(
        (log) => html`<li><details${crashed.has(log.node) ? trusted(" open") : undefined}>
<summary><strong>${log.node}</strong>${crashed.has(log.node) ? html` <span class="pill invalid">crashed</span>` : undefined} — <a href="${log.href}">${log.href}</a> <span class="muted">(${bytes(log.bytes)})</span></summary>
<pre class="log">${log.tail_cut ? "…\n" : ""}${log.tail.join("\n")}</pre></details></li>`,
      )}</ul>${
        run.nodeLogCount > run.nodeLogs.length
          ? html`<p class="notice">${run.nodeLogCount - run.nodeLogs.length} more node logs are in node-logs/.</p>`
          : undefined
      }`
}
</section>`;
}

function filesSection(run: RunData): SafeHtml {
  const files: Array<[string, string]> = [
    [RUN_FILES.results, "every checker's full result"],
    [RUN_FILES.history, "every operation and fault event, one JSON object per line"],
    [RUN_FILES.messages, "every message the router saw"],
    [RUN_FILES.test, "the exact options and seed"],
    [RUN_FILES.log, "faultline's own log of the run"],
    [RUN_FILES.junit, "JUnit XML for CI"],
    [RUN_FILES.summary, "Markdown summary"],
  ];
  const present = files.filter(
    ([f]) => run.files.has(f) || f === RUN_FILES.junit || f === RUN_FILES.summary,
  );
  return html`<section id="files"><h2>Files of this run</h2><ul class="files">${present.map(
    ([f, what]) => html`<li><a href="${f}">${f}</a> — ${what}</li>`,
  )}</ul></section>`;
}
