// Rendering the stored fixture runs (made by the real CLI) and a generated 100,000-op run:
// structure of report.html, junit.xml, summary.md and the store index; escaping of everything a
// target said; bounded size.
import { readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ReportData } from "../../reports/html-report.js";
import { writeRunReports } from "../../reports/index.js";
import { MAX_JOURNAL_EVENTS } from "../../reports/load-run.js";
import {
  copyFixtureStore,
  LATE_LOST_VALUE,
  PAYLOAD,
  writeLargeRun,
  writeLateLossRun,
} from "./fixtures.js";

let fixture: ReturnType<typeof copyFixtureStore>;
let large: string;
let lateLoss: string;
const read = (dir: string, file: string) => readFileSync(join(dir, file), "utf8");

/** The JSON the page embeds for its script. */
function embedded(page: string): ReportData {
  const m = page.match(/<script type="application\/json" id="run-data">([^<]*)<\/script>/);
  if (!m) throw new Error("no run-data block");
  return JSON.parse(m[1] as string) as ReportData;
}

/** Every <script ...> opening tag in the page. */
function scriptTags(page: string): string[] {
  return [...page.matchAll(/<script\b[^>]*>/gi)].map((m) => m[0]);
}

beforeAll(async () => {
  fixture = copyFixtureStore();
  large = writeLargeRun(fixture.store);
  // Its own store, so the store index tests see only the fixtures and the large run.
  lateLoss = writeLateLossRun(join(fixture.store, "late-loss-store"));
  for (const dir of [...Object.values(fixture.runs), large, lateLoss]) await writeRunReports(dir);
}, 60_000);

afterAll(() => fixture.remove());

describe("report.html", () => {
  it("puts the verdict, the reason and the repeat command first, for a valid run", () => {
    const page = read(fixture.runs["valid-broadcast"] as string, "report.html");
    const header = page.slice(page.indexOf("<header"), page.indexOf("</header>"));
    expect(header).toContain('class="verdict valid"');
    expect(header).toContain("valid — no checker found a problem");
    expect(header).toContain("Every checker passed.");
    expect(header).toMatch(/faultline test --system gossip -w broadcast .*--seed 11/);
    const results = JSON.parse(read(fixture.runs["valid-broadcast"] as string, "results.json"));
    const intervals = results.faults.intervals.length;
    expect(header).toContain(
      `partition, packet, pause <span class="muted">(all ${intervals} intervals touched client operations)</span>`,
    );
    // Faults from the history: every interval listed with what it did.
    expect(page).toContain("partition majority-minority: n0 | n1 n2 (4 links cut)");
    expect(page).toContain("pause n1");
    expect(page).toMatch(/packet faults on n1: loss 20%, duplicate 20%, \+50 ms delay/);
    const data = embedded(page);
    expect(data.faults.map((f) => f.kind)).toEqual(
      expect.arrayContaining(["partition", "packet", "pause"]),
    );
    expect(data.timeline?.rows).toEqual(["p0 n0", "p1 n1", "p2 n2"]);
    expect(data.lamport?.participants.slice(-3)).toEqual(["n0", "n1", "n2"]);
    expect(data.lamport?.faults.length).toBeGreaterThan(0);
  });

  it("shows a linearizability violation as the longest prefix, the blocked op and states", () => {
    const page = read(fixture.runs["invalid-linearizable"] as string, "report.html");
    expect(page).toContain('class="verdict invalid"');
    expect(page).toContain("INVALID — a checker found a violation");
    const results = JSON.parse(
      read(fixture.runs["invalid-linearizable"] as string, "results.json"),
    );
    const failure = results.checkers.linearizable.failures[0];
    const view = embedded(page).lin.linearizable?.[0];
    expect(view?.blocked?.op).toBe(failure.blocked.op);
    expect(view?.steps.map((s) => s.op)).toEqual(failure.longest.map((s: { op: number }) => s.op));
    // Every prefix op is drawn as a numbered point, inside its op's bar and in order.
    expect(view?.points.map((p) => p[1])).toEqual(
      failure.longest.map((_: unknown, i: number) => i + 1),
    );
    let previous = Number.NEGATIVE_INFINITY;
    for (const [position, , x] of view?.points ?? []) {
      const op = view?.ops[position];
      expect(x).toBeGreaterThan(previous);
      expect(x).toBeGreaterThanOrEqual(op?.call ?? Number.NaN);
      expect(x).toBeLessThanOrEqual(op?.ret ?? Number.NaN);
      previous = x;
    }
    expect(view?.ops.filter((o) => o.blocked).map((o) => o.index)).toEqual([failure.blocked.op]);
    // The state table, server-rendered: the final state and the op that cannot be placed.
    expect(page).toContain('<tr class="blocked-row">');
    expect(page).toContain(`cannot come next or anywhere later`);
    // Op numbers in the summary link to the timeline.
    expect(page).toContain(`data-op="${failure.blocked.op}"`);
    const marks = embedded(page).timeline?.marks ?? [];
    expect(marks.length).toBeGreaterThan(0);
  });

  it("lists lost values by the node that missed them for a set failure", () => {
    const dir = fixture.runs["invalid-set"] as string;
    const page = read(dir, "report.html");
    const lost = JSON.parse(read(dir, "results.json")).checkers["set-full"].lost as Array<{
      value: number;
      missing_from: Array<{ node: string }>;
    }>;
    expect(page).toContain("Lost values by node");
    const n0 = lost.filter((l) => l.missing_from.some((m) => m.node === "n0")).map((l) => l.value);
    expect(n0.length).toBeGreaterThan(0);
    expect(page).toContain(`<strong>n0</strong> missed ${n0.length} value`);
    expect(page).toContain(n0.join(", "));
  });

  it("prints the stable latency quantiles in numeric order, also from a run stored before they were named", () => {
    const page = read(fixture.runs["invalid-set"] as string, "report.html");
    const dd = page.match(/<dt>stable latency ms<\/dt><dd>(.*?)<\/dd>/)?.[1] ?? "";
    const names = [...dd.matchAll(/<span class="muted">([^<]*)<\/span>/g)].map((m) => m[1]);
    expect(names).toEqual(["0", "0.5", "0.95", "0.99", "1"]);
  });

  it("heads a column of *_ns values in seconds, as its cells show them", () => {
    const page = read(fixture.runs.escaping as string, "report.html");
    const protocol = page.slice(page.indexOf('id="check-protocol"'));
    const table = protocol.slice(protocol.indexOf("<table>"), protocol.indexOf("</table>"));
    expect(table).toContain("<th>time (s)</th>");
    expect(table).not.toContain("time ns");
    expect(table).toMatch(/<td>\d+\.\d{3} s<\/td>/);
  });

  it("centres the message diagram on a late lost value and says what was cut", () => {
    const page = read(lateLoss, "report.html");
    const lines = read(lateLoss, "messages.jsonl").trim().split("\n").length;
    const sentence = page.match(/<p class="notice" id="lamport-window">([^<]*)</)?.[1];
    const parts = sentence?.match(
      new RegExp(
        `^Showing ${MAX_JOURNAL_EVENTS.toLocaleString("en-US")} of ${lines.toLocaleString("en-US")} message events, ` +
          `(\\d+\\.\\d) s–(\\d+\\.\\d) s, around the lost value ${LATE_LOST_VALUE}; ` +
          "earlier and later events are in messages\\.jsonl, " +
          "and faultline report DIR --messages-at SECONDS draws another part\\.$",
      ),
    );
    expect(parts, sentence).toBeTruthy();
    // The value is broadcast at about 17.7 s (fixtures.ts).
    expect(Number(parts?.[1])).toBeLessThan(17.7);
    expect(Number(parts?.[2])).toBeGreaterThan(17.7);
    const lamport = embedded(page).lamport;
    expect(lamport?.rows).toBe(MAX_JOURNAL_EVENTS);
    expect(lamport?.labels).toContain(`broadcast message=${LATE_LOST_VALUE}`);
    expect(lamport?.focus?.text).toBe(`the lost value ${LATE_LOST_VALUE}`);
    // The partition that cut n0 off is in the window, shaded.
    expect(lamport?.faults.map((f) => f[0])).toEqual(["partition"]);
  });

  it("centres the message diagram where --messages-at asks", async () => {
    try {
      await writeRunReports(lateLoss, { messages_at_s: 10 });
      const page = read(lateLoss, "report.html");
      expect(page).toMatch(
        /Showing 4,000 of [\d,]+ message events, \d\.\d s–1\d\.\d s, around 10 s, as asked; earlier and later events/,
      );
      expect(embedded(page).lamport?.labels).not.toContain(`broadcast message=${LATE_LOST_VALUE}`);
    } finally {
      await writeRunReports(lateLoss);
    }
  });

  it("names a crashed node, its exit and its last stderr lines, and marks it on the timeline", () => {
    const page = read(fixture.runs["node-crash"] as string, "report.html");
    expect(page).toContain("node n0 crashed (exit code 42)");
    expect(page).toContain("crash-midrun: assertion failed: served &lt; 5");
    expect(page).toContain('<span class="pill invalid">crashed</span>');
    expect(page).toContain('href="node-logs/n0.log"');
    expect(embedded(page).crashes).toEqual([expect.objectContaining({ node: "n0" })]);
  });

  it("renders every string from the target as text, never as markup", () => {
    const dir = fixture.runs.escaping as string;
    const page = read(dir, "report.html");
    // The payload came back in replies, errors, stray stdout lines and the node log.
    expect(read(dir, "results.json")).toContain("<script>alert(1)</script>");
    expect(page).not.toContain("<script>alert");
    expect(page).not.toContain("<img src=x");
    expect(page).not.toContain("<!--");
    expect(page).toContain("&lt;script&gt;alert(1)&lt;/script&gt;&quot;&#39;&amp;&lt;img src=x");
    // Exactly faultline's two script blocks: the data (not executable) and the hashed client.
    expect(scriptTags(page)).toEqual([
      '<script type="application/json" id="run-data">',
      "<script>",
    ]);
    const data = page.match(/id="run-data">([^<]*)<\/script>/)?.[1] ?? "";
    expect(data).toContain("\\u003cscript\\u003ealert(1)");
    // The payload survives the JSON round trip exactly (the page shows it with textContent).
    expect(JSON.stringify(embedded(page))).toContain(JSON.stringify(PAYLOAD).slice(1, -1));
    // The page runs only its own script.
    const policy = page.match(/<meta http-equiv="Content-Security-Policy" content="([^"]*)">/)?.[1];
    expect(policy?.replace(/&#39;/g, "'")).toMatch(
      /^default-src 'none'; script-src 'sha256-[A-Za-z0-9+/=]+'; style-src 'sha256-/,
    );
  });

  it("stays small with 100,000 ops and keeps every op in the timeline", () => {
    const page = read(large, "report.html");
    const bytes = statSync(join(large, "report.html")).size;
    expect(bytes).toBeLessThan(4 * 1024 * 1024);
    const data = embedded(page);
    expect(data.timeline?.start.length).toBe(100_000);
    expect(data.timeline?.rows.length).toBeLessThanOrEqual(12); // 10 workers (+ a spare or two)
    expect(new Set(data.faults.map((f) => f.kind))).toEqual(
      new Set(["partition", "kill", "pause", "packet", "clock"]),
    );
    // No per-op DOM: the page has only a handful of tables, whatever the op count.
    expect((page.match(/<tr/g) ?? []).length).toBeLessThan(200);
  });
});

describe("junit.xml and summary.md", () => {
  it("has one testcase per checker, failures carrying the checker's summary", () => {
    const dir = fixture.runs["invalid-linearizable"] as string;
    const xml = read(dir, "junit.xml");
    const results = JSON.parse(read(dir, "results.json"));
    const names = Object.keys(results.checkers);
    expect([...xml.matchAll(/<testcase /g)].length).toBe(names.length);
    for (const name of names) expect(xml).toContain(`name="${name}"`);
    expect(xml).toMatch(/<testsuites name="faultline" tests="3" failures="1" errors="0"/);
    const summary = results.checkers.linearizable.summary as string;
    expect(xml).toContain(`<failure message="${summary.replace(/&/g, "&amp;")}" type="invalid">`);
    expect(read(fixture.runs["valid-broadcast"] as string, "junit.xml")).not.toContain("<failure");
  });

  it("escapes target text in XML and Markdown", () => {
    const dir = fixture.runs.escaping as string;
    const xml = read(dir, "junit.xml");
    expect(xml).not.toContain("<script>");
    expect(xml).toContain("&lt;script&gt;alert(1)&lt;/script&gt;");
    const md = read(dir, "summary.md");
    expect(md).not.toContain("<script>");
    expect(md).not.toContain("<img");
    expect(md).toContain("&lt;script&gt;alert(1)&lt;/script&gt;");
  });

  it("writes a Markdown summary with the verdict, a checker table and the repeat command", () => {
    const md = read(fixture.runs["node-crash"] as string, "summary.md");
    expect(md).toMatch(/^### ❌ INVALID: echo on crash-midrun\.mjs\n/);
    expect(read(fixture.runs["invalid-linearizable"] as string, "summary.md")).toContain(
      "**Faults:** partition (all 2 intervals touched client operations)",
    );
    expect(md).toContain("| crashes | ❌ INVALID | node n0 crashed (exit code 42) at 0.7 s |");
    expect(md).toMatch(
      /```sh\nfaultline test --bin test\/fixtures\/nodes\/crash-midrun\.mjs .*--seed 6\n```/,
    );
  });

  it("appends the summary to $GITHUB_STEP_SUMMARY when it is set", async () => {
    const stepSummary = join(fixture.store, "step-summary.md");
    writeFileSync(stepSummary, "earlier step\n");
    process.env.GITHUB_STEP_SUMMARY = stepSummary;
    try {
      await writeRunReports(fixture.runs["valid-broadcast"] as string);
    } finally {
      delete process.env.GITHUB_STEP_SUMMARY;
    }
    const text = readFileSync(stepSummary, "utf8");
    expect(text.startsWith("earlier step\n### ✅ valid: broadcast on gossip")).toBe(true);
  });
});

describe("store index", () => {
  it("lists every run newest first with verdict colours and links", () => {
    const page = read(fixture.store, "index.html");
    const rows = [...page.matchAll(/<tr class="run (\w+)" data-verdict="\w+">[\s\S]*?<\/tr>/g)];
    expect(rows.length).toBe(6);
    const started = rows.map((r) => r[0].match(/<td class="when"><a [^>]*>([^<]*)</)?.[1] ?? "");
    expect([...started].sort().reverse()).toEqual(started);
    expect(rows.map((r) => r[1])).toEqual(expect.arrayContaining(["valid", "invalid"]));
    expect(page).toContain('href="invalid-linearizable/2026-11-21T082218/report.html"');
    expect(page).toContain('lin-kv <span class="bug">stale-read</span>');
    expect(page).not.toContain("<script>alert");
  });
});
