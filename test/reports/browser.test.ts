// The reports in a real browser: Debian's chromium driven by playwright-core, each fixture
// report opened from disk (file://, as a student would). No console errors, no dialog (the
// escaping fixture's `alert(1)` must never run), the verdict shown, the timeline drawn, hover
// and zoom working. Screenshots go to test-output/reports/.
import { existsSync, mkdirSync } from "node:fs";
import { join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { type Browser, chromium, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { writeRunReports } from "../../reports/index.js";
import { summarizeSweep, writeSweepFiles } from "../../reports/sweep.js";
import { chromiumPath } from "../../scripts/test-deps.js";
import {
  copyFixtureStore,
  LATE_LOST_VALUE,
  PAYLOAD,
  SCENARIOS,
  type Scenario,
  writeLargeRun,
  writeLateLossRun,
} from "./fixtures.js";
import { lostBroadcasts, writeFakeRun } from "./sweep-fixtures.js";

const CHROMIUM = chromiumPath();
const SHOTS = resolve(import.meta.dirname, "..", "..", "test-output", "reports");

let browser: Browser;
let fixture: ReturnType<typeof copyFixtureStore>;
const runs: Record<string, string> = {};
/** writeLateLossRun's run, in a store of its own so the index test sees only the others. */
const LATE_LOSS = "late-loss";

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) {
    throw new Error(`${CHROMIUM} is missing: npm test installs it (scripts/test-deps.ts)`);
  }
  mkdirSync(SHOTS, { recursive: true });
  fixture = copyFixtureStore();
  Object.assign(runs, fixture.runs, {
    large: writeLargeRun(fixture.store),
    [LATE_LOSS]: writeLateLossRun(join(fixture.store, "late-loss-store")),
  });
  for (const dir of Object.values(runs)) await writeRunReports(dir);
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ["--headless", "--no-sandbox", "--disable-gpu"],
  });
}, 60_000);

afterAll(async () => {
  await browser?.close();
  fixture?.remove();
});

interface Opened {
  page: Page;
  problems: string[];
}

/** Opens a run's report.html from disk, recording console errors, page errors and dialogs. */
async function open(scenario: Scenario | typeof LATE_LOSS): Promise<Opened> {
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  const problems: string[] = [];
  page.on("console", (m) => {
    if (m.type() === "error" || m.type() === "warning")
      problems.push(`console ${m.type()}: ${m.text()}`);
  });
  page.on("pageerror", (e) => problems.push(`page error: ${e.message}`));
  page.on("dialog", (d) => {
    problems.push(`dialog: ${d.message()}`);
    void d.dismiss();
  });
  page.on("request", (r) => {
    if (!r.url().startsWith("file://")) problems.push(`network request: ${r.url()}`);
  });
  await page.goto(pathToFileURL(join(runs[scenario] as string, "report.html")).href);
  await page.waitForLoadState("load");
  // Two frames: the first draw happens on load, the rAF-scheduled redraws after it.
  await page.evaluate(
    () => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r))),
  );
  return { page, problems };
}

/** Pixels of a canvas that are not (near) white or transparent, and those in the ok colour. */
async function inked(page: Page, selector: string): Promise<{ inked: number; ok: number }> {
  return page.$eval(selector, (el) => {
    const canvas = el as HTMLCanvasElement;
    const ctx = canvas.getContext("2d") as CanvasRenderingContext2D;
    const { data } = ctx.getImageData(0, 0, canvas.width, canvas.height);
    let inked = 0;
    let ok = 0;
    for (let i = 0; i < data.length; i += 4) {
      const [r, g, b, a] = [data[i] ?? 0, data[i + 1] ?? 0, data[i + 2] ?? 0, data[i + 3] ?? 0];
      if (a > 0 && r + g + b < 720) inked++;
      // The ok-op blues: #6db6fe (bars) and #3a8ad6 (edges, latency points).
      const near = (R: number, G: number, B: number) =>
        Math.abs(r - R) < 12 && Math.abs(g - G) < 12 && Math.abs(b - B) < 12;
      if (a > 200 && (near(0x6d, 0xb6, 0xfe) || near(0x3a, 0x8a, 0xd6))) ok++;
    }
    return { inked, ok };
  });
}

const VERDICTS: Record<Scenario, string> = {
  "valid-broadcast": "valid — no checker found a problem",
  "invalid-linearizable": "INVALID — a checker found a violation",
  "invalid-set": "INVALID — a checker found a violation",
  "node-crash": "INVALID — a checker found a violation",
  escaping: "INVALID — a checker found a violation",
  large: "INVALID — a checker found a violation",
};

describe("report.html in chromium", () => {
  for (const scenario of [...SCENARIOS, "large"] as Scenario[]) {
    it(`${scenario}: loads offline without errors, shows the verdict and draws the timeline`, async () => {
      const { page, problems } = await open(scenario);
      try {
        expect(await page.textContent("#verdict")).toBe(VERDICTS[scenario]);
        const timeline = await inked(page, "#timeline-canvas");
        expect(timeline.ok).toBeGreaterThan(20);
        expect(timeline.inked).toBeGreaterThan(1000);
        const latency = await inked(page, "#latency-canvas");
        expect(latency.ok).toBeGreaterThan(10);
        await page.screenshot({
          path: join(SHOTS, `${scenario}.png`),
          fullPage: scenario !== "large",
        });
        await page
          .locator("#timeline")
          .screenshot({ path: join(SHOTS, `${scenario}-timeline.png`) });
        expect(problems).toEqual([]);
      } finally {
        await page.close();
      }
    });
  }

  it("draws the linearizability view: numbered prefix, the blocked op, and the message diagram", async () => {
    const { page, problems } = await open("invalid-linearizable");
    try {
      const steps = await page.$$eval(
        "table.steps tbody tr:not(.blocked-row)",
        (rows) => rows.length,
      );
      const circles = await page.$$eval(".linview-drawing svg circle", (c) => c.length);
      // One numbered circle per step shown, plus the blocked op's ✗.
      expect(circles).toBe(steps + 1);
      const blocked = await page.$$eval(
        ".linview-drawing svg rect[stroke-width='3']",
        (r) => r.length,
      );
      expect(blocked).toBe(1);
      const arrows = await page.$$eval("#lamport svg line[marker-end^='url']", (l) => l.length);
      expect(arrows).toBeGreaterThan(50);
      await page
        .locator(".linearizability")
        .screenshot({ path: join(SHOTS, "linearizability-view.png") });
      expect(problems).toEqual([]);
    } finally {
      await page.close();
    }
  });

  it("scrolls the message diagram to a late lost value's broadcast and says what was cut", async () => {
    const { page, problems } = await open(LATE_LOSS);
    try {
      const notice = page.locator("#lamport-window");
      await notice.scrollIntoViewIfNeeded();
      expect(await notice.isVisible()).toBe(true);
      expect(await notice.textContent()).toMatch(
        new RegExp(
          `^Showing 4,000 of [\\d,]+ message events, .* around the lost value ${LATE_LOST_VALUE}; earlier and later events are in messages\\.jsonl, `,
        ),
      );
      // Moving the window needs `faultline serve`; from a file the links stay hidden.
      expect(await page.locator(".window-moves").isVisible()).toBe(false);
      await page.locator(".lamport-wrap").scrollIntoViewIfNeeded();
      // The client's broadcast of the lost value and the focus mark lie inside the diagram's
      // scrolled viewport, under the column names: what a reader sees without searching.
      const inView = await page.$eval(
        ".lamport-wrap",
        (wrap, label) => {
          const box = wrap.getBoundingClientRect();
          const visible = (el: Element | undefined) => {
            const r = el?.getBoundingClientRect();
            return !!r && r.top >= box.top && r.bottom <= box.bottom;
          };
          const arrow = Array.from(wrap.querySelectorAll("svg text")).find(
            (t) => t.textContent === label,
          );
          return {
            scrolled: wrap.scrollTop,
            arrow: visible(arrow),
            focus: visible(wrap.querySelector(".lamport-focus text") ?? undefined),
            names: Array.from(wrap.querySelectorAll(".lamport-head text"))
              .filter(visible)
              .map((t) => t.textContent),
          };
        },
        `broadcast message=${LATE_LOST_VALUE}`,
      );
      expect(inView.scrolled).toBeGreaterThan(0);
      expect(inView.arrow).toBe(true);
      expect(inView.focus).toBe(true);
      // The column names stay in view above the scrolled rows.
      expect(inView.names).toEqual(["c0", "c1", "c2", "n0", "n1", "n2"]);
      await page.locator("#messages").screenshot({ path: join(SHOTS, "late-loss-messages.png") });
      expect(problems).toEqual([]);
    } finally {
      await page.close();
    }
  });

  it("shows a target's payload in the hover text as text", async () => {
    const { page, problems } = await open("escaping");
    try {
      // The single row sits under the 22 px axis: sweep it (in the page, one round trip) with
      // mouse events until the tooltip shows an op whose reply carried the payload.
      const text = await page.$eval("#timeline-canvas", (canvas) => {
        const box = canvas.getBoundingClientRect();
        const tooltip = document.getElementById("tooltip") as HTMLElement;
        for (let x = box.left + 80; x < box.right - 8; x += 1) {
          canvas.dispatchEvent(
            new MouseEvent("mousemove", { clientX: x, clientY: box.top + 33, bubbles: true }),
          );
          if (!tooltip.hidden && tooltip.textContent?.includes("alert")) return tooltip.textContent;
        }
        return "";
      });
      // Hover shows values as JSON, so the payload's quote comes back as \".
      expect(text).toContain(JSON.stringify(PAYLOAD).slice(1, -1));
      const markup = await page.locator("#tooltip").innerHTML();
      expect(markup).toContain("&lt;script&gt;alert(1)&lt;/script&gt;");
      expect(await page.locator("#tooltip script, #tooltip img").count()).toBe(0);
      expect(problems).toEqual([]);
    } finally {
      await page.close();
    }
  });

  it("zooms with the buttons and focuses an op from a link", async () => {
    const { page, problems } = await open("invalid-linearizable");
    try {
      const range = () => page.textContent("#timeline-range");
      const whole = await range();
      await page.click("button[data-zoom='in']");
      await page.evaluate(() => new Promise((r) => requestAnimationFrame(r)));
      const zoomed = await range();
      expect(zoomed).not.toBe(whole);
      await page.click("button[data-zoom='reset']");
      await page.evaluate(() => new Promise((r) => requestAnimationFrame(r)));
      expect(await range()).toBe(whole);
      // The op the checker could not place, linked from the verdict sentence. (dispatchEvent:
      // the sticky section menu may cover the link where Playwright scrolls it.)
      await page.locator("header.verdict a.opref").first().dispatchEvent("click");
      await page.evaluate(() => new Promise((r) => requestAnimationFrame(r)));
      expect(await range()).not.toBe(whole);
      expect(problems).toEqual([]);
    } finally {
      await page.close();
    }
  });

  it("shows a sweep: its catch rate, a hostile failure as text, and links to the runs' reports", async () => {
    const dir = join(fixture.store, "sweeps", "broadcast-gossip", "2026-01-01T000000");
    const records = [1, 2].map((seed) => {
      const fake = lostBroadcasts(seed, [seed, 7], ["n1"]);
      const checkers = fake.results?.checkers as Record<string, { summary: string }>;
      (checkers["set-full"] as { summary: string }).summary = PAYLOAD;
      const run_dir = writeFakeRun(join(dir, "runs", String(seed)), fake);
      return { seed, run_dir };
    });
    for (const { run_dir } of records) await writeRunReports(run_dir);
    const now = "2026-01-01T00:00:00.000Z";
    const summary = summarizeSweep(records, {
      command: `faultline sweep ${PAYLOAD}`,
      started_at: now,
      finished_at: now,
      planned_runs: 2,
      dir,
    });
    writeSweepFiles(dir, summary);
    const page = await browser.newPage();
    const problems: string[] = [];
    page.on("console", (m) => {
      if (m.type() === "error") problems.push(`console: ${m.text()}`);
    });
    page.on("pageerror", (e) => problems.push(`page error: ${e.message}`));
    page.on("dialog", (d) => {
      problems.push(`dialog: ${d.message()}`);
      void d.dismiss();
    });
    try {
      await page.goto(pathToFileURL(join(dir, "sweep.html")).href);
      const text = await page.innerText("body");
      expect(text).toMatch(/100%/);
      expect(text).toContain("<script>alert(1)</script>"); // shown as text, never run
      const links = await page.$$eval("a[href$='report.html']", (as) =>
        as.map((a) => (a as HTMLAnchorElement).href),
      );
      expect(links.length).toBeGreaterThanOrEqual(2);
      await page.goto(links[0] as string);
      expect(await page.title()).not.toBe("");
      expect(problems).toEqual([]);
      await page.goto(pathToFileURL(join(dir, "sweep.html")).href);
      await page.screenshot({ path: join(SHOTS, "sweep.png"), fullPage: true });
    } finally {
      await page.close();
    }
  });

  it("the store index filters by verdict", async () => {
    const page = await browser.newPage();
    try {
      await page.goto(pathToFileURL(join(fixture.store, "index.html")).href);
      const visible = () => page.$$eval("tr.run:not(.hidden)", (rows) => rows.length);
      expect(await visible()).toBe(6);
      await page.selectOption("#verdict-filter", "valid");
      expect(await visible()).toBe(1);
      await page.selectOption("#verdict-filter", "");
      await page.fill("#text-filter", "lin-kv");
      expect(await visible()).toBe(2); // the stale-read fixture and the generated run
      await page.screenshot({ path: join(SHOTS, "index.png"), fullPage: true });
    } finally {
      await page.close();
    }
  });
});
