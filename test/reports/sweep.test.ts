// The sweep summary layer (reports/sweep.ts) over small run directories written as the harness
// writes them: statuses, signatures, time to detection, exit codes, merge's run finding, the
// files and their escaping, and the store index / serve listing sweeps.
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { request } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { serveStore } from "../../reports/serve.js";
import { writeStoreIndex } from "../../reports/store-index.js";
import {
  findRunRecords,
  type SweepMeta,
  type SweepRunRecord,
  summarizeSweep,
  sweepExitCode,
  sweepMarkdown,
  writeSweepFiles,
} from "../../reports/sweep.js";
import { MAX_RUN_JSON_BYTES } from "../../reports/sweep-summary.js";
import { PAYLOAD } from "./fixtures.js";
import {
  crashedNode,
  type FakeRun,
  judged,
  lostBroadcasts,
  TEST_NAME,
  writeFakeRun,
} from "./sweep-fixtures.js";

let tmp: string;
let sweep: string;
beforeEach(() => {
  tmp = mkdtempSync(join(tmpdir(), "faultline-sweep-"));
  sweep = join(tmp, "store", "sweeps", TEST_NAME, "2026-01-01T000000");
});
afterEach(() => rmSync(tmp, { recursive: true, force: true }));

/** A run of the sweep in its own store, runs/<seed>/, as the orchestrator makes it. */
function run(r: FakeRun, exit_code?: number): SweepRunRecord {
  const run_dir = writeFakeRun(join(sweep, "runs", String(r.seed)), r);
  return { seed: r.seed, run_dir, ...(exit_code !== undefined && { exit_code }) };
}

function meta(planned_runs: number, extra: Partial<SweepMeta> = {}): SweepMeta {
  return {
    command: "faultline sweep --seeds 1..9 -- --system gossip -w broadcast",
    started_at: "2026-01-01T00:00:00.000Z",
    finished_at: "2026-01-01T00:01:00.000Z",
    planned_runs,
    dir: sweep,
    ...extra,
  };
}

/** The same failure told in other words, as linearizable's summary varies with its evidence. */
function reworded(fake: ReturnType<typeof lostBroadcasts>): ReturnType<typeof lostBroadcasts> {
  const checkers = fake.results?.checkers as Record<string, { summary: string }>;
  const check = checkers["set-full"] as { summary: string };
  check.summary = "the longest linearizable prefix is 4 ops (…, 7), leaving the state 2";
  return fake;
}

describe("summarizeSweep", () => {
  it("takes each run's status from results.json, else from how the child ended", () => {
    const records = [
      run(judged(1, true), 0),
      run(lostBroadcasts(2, [4, 5], ["n0"]), 1),
      run(judged(3, "unknown"), 2),
      run(judged(4, "unknown", { status: "could-not-run" }), 3),
      run(judged(5, "unknown", { status: "interrupted" }), 3),
      run({ seed: 6 }, 3), // a directory but no results.json
      { seed: 7, exit_code: 3, note: "faultline: --bin ./missing does not exist" },
      { seed: 8 }, // the child never told us anything
    ];
    const s = summarizeSweep(records, meta(8));
    expect(s.runs.map((r) => [r.seed, r.status])).toEqual([
      [1, "valid"],
      [2, "invalid"],
      [3, "unknown"],
      [4, "could-not-run"],
      [5, "interrupted"],
      [6, "could-not-run"],
      [7, "could-not-run"],
      [8, "could-not-run"],
    ]);
    expect(s.totals).toEqual({
      runs: 8,
      completed: 3,
      valid: 1,
      invalid: 1,
      unknown: 1,
      could_not_run: 4,
      interrupted: 1,
    });
    expect(s.catch_rate?.point).toBeCloseTo(1 / 3, 10);
    const bySeed = new Map(s.runs.map((r) => [r.seed, r]));
    expect(bySeed.get(6)?.note).toMatch(/no results\.json: faultline exited with 3/);
    expect(bySeed.get(7)?.note).toBe("faultline: --bin ./missing does not exist");
    expect(bySeed.get(8)?.note).toBe("the run made no directory");
    expect(bySeed.get(8)?.run_dir).toBeUndefined();
    // Run dirs inside the sweep are kept relative to it, with the command that repeats them.
    expect(bySeed.get(2)?.run_dir).toBe(`runs/2/${TEST_NAME}/2026-01-01T000002`);
    expect(bySeed.get(2)?.command).toMatch(/--seed 2$/);
    // JSON-serialisable: sweep.json is the summary itself.
    expect(JSON.parse(JSON.stringify(s))).toEqual(s);
  });

  it("does not parse a results.json above the limit: the run is unknown, with a note", () => {
    const r = run(judged(1, true));
    writeFileSync(join(r.run_dir as string, "results.json"), " ".repeat(MAX_RUN_JSON_BYTES + 1));
    const s = summarizeSweep([r], meta(1));
    expect(s.runs[0]?.status).toBe("unknown");
    expect(s.runs[0]?.note).toMatch(/results\.json is \d+ MiB, above .* limit/);
  });

  it("groups seeds hitting the same bug with different values, nodes and counts", () => {
    const s = summarizeSweep(
      [
        run(lostBroadcasts(1, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11], ["n0", "n2", "n4"])),
        run(lostBroadcasts(2, [17], ["n3"])),
        run(reworded(lostBroadcasts(3, [5, 99], ["n1", "n2"]))),
        run(crashedNode(4, 2.5e9)),
        run(judged(5, true)),
      ],
      meta(5),
    );
    const signatures = s.runs.map((r) => r.signature);
    // A checker that names ops and lists no kinds is known by the ops' shape, not its wording.
    expect(signatures[0]).toBe("set-full [broadcast read]");
    expect(signatures[1]).toBe(signatures[0]);
    expect(signatures[2]).toBe(signatures[0]);
    expect(signatures[3]).toBe("crashes: node N crashed (exit code #) at # s");
    expect(signatures[4]).toBeUndefined();
    expect(s.failures.map((f) => [f.count, f.seeds, f.share])).toEqual([
      [3, [1, 2, 3], 0.75],
      [1, [4], 0.25],
    ]);
    // One command repeats each failure: its first seed's.
    expect(s.failures[0]?.command).toMatch(/--seed 1$/);
    expect(s.failures[1]?.command).toMatch(/--seed 4$/);
  });

  it("names a failure by its violation kinds or deviations when the checker lists them", () => {
    const kinds = (seed: number, counts: Record<string, number>) =>
      run({
        seed,
        results: {
          valid: false,
          checkers: {
            delivery: { valid: false, summary: `${seed} violations`, violation_counts: counts },
            conformance: { valid: false, summary: "x", deviation_names: ["epoch", "ack-order"] },
          },
        },
      });
    const s = summarizeSweep(
      [kinds(1, { reorder: 3, loss: 1 }), kinds(2, { loss: 7, reorder: 1 })],
      meta(2),
    );
    expect(s.runs[0]?.signature).toBe("conformance: ack-order, epoch + delivery: loss, reorder");
    expect(s.runs[1]?.signature).toBe(s.runs[0]?.signature);
    expect(s.failures).toHaveLength(1);
  });

  it("times detection from the earliest named op, else the earliest unexpected crash", () => {
    const s = summarizeSweep(
      [
        run(lostBroadcasts(1, [3, 4], ["n0"])),
        run(lostBroadcasts(3, [9], ["n1"])),
        run(crashedNode(4, 2.5e9)),
        // Invalid, but nothing in the evidence names a moment.
        run({
          seed: 5,
          results: { valid: false, checkers: { x: { valid: false, summary: "bad" } } },
        }),
      ],
      meta(4),
    );
    const detection = s.runs.map((r) => r.detection_s);
    expect(detection[0]).toBeCloseTo(1.101, 9); // op 1, the first lost broadcast's ok
    expect(detection[1]).toBeCloseTo(1.301, 9);
    expect(detection[2]).toBeCloseTo(2.5, 9); // n1's crash; n0's kill was expected
    expect(detection[3]).toBeUndefined();
    expect(s.detection_s.known).toBe(3);
    expect(s.detection_s.unknown).toBe(1);
    expect(s.detection_s.median).toBeCloseTo(1.301, 9);
    expect(s.detection_s.p90).toBeCloseTo(1.301 + 0.8 * (2.5 - 1.301), 9);
    const md = sweepMarkdown(s);
    expect(md).toContain("| 100% (95% CI 51–100%) | 4 of 4 | 4 | 0 | 0 | 0 | 1.3 s | 2.3 s | 1 |");
  });

  it("finds the crash time in results.json's nodes for a crashes checker without a list", () => {
    const r = crashedNode(1, 4e9);
    const checkers = (r.results as { checkers: Record<string, Record<string, unknown>> }).checkers;
    delete checkers.crashes?.crashes;
    expect(summarizeSweep([run(r)], meta(1)).runs[0]?.detection_s).toBeCloseTo(4, 9);
  });
});

describe("sweepExitCode", () => {
  const code = (...records: SweepRunRecord[]) =>
    sweepExitCode(summarizeSweep(records, meta(records.length)));
  it("says invalid over unknown over could-not-run over valid", () => {
    const valid = () => run(judged(1, true));
    expect(code(valid())).toBe(0);
    expect(code(valid(), { seed: 2 })).toBe(3);
    expect(code(valid(), { seed: 2 }, run(judged(3, "unknown")))).toBe(2);
    expect(
      code(valid(), { seed: 2 }, run(judged(3, "unknown")), run(lostBroadcasts(4, [1], ["n0"]))),
    ).toBe(1);
    expect(code(valid(), run(judged(5, "unknown", { status: "interrupted" })))).toBe(3);
    expect(code()).toBe(3);
    expect(sweepExitCode(summarizeSweep([valid()], meta(3, { interrupted: true })))).toBe(3);
  });
});

describe("findRunRecords", () => {
  it("finds runs in nested stores and sweeps, skipping symlinks and the inside of runs", () => {
    const store = join(tmp, "store");
    const direct = writeFakeRun(store, judged(11, true));
    symlinkSync(direct, join(store, "latest"));
    const inSweep = [1, 2].map((seed) => run(judged(seed, true)).run_dir);
    symlinkSync(inSweep[0] as string, join(sweep, "runs", "1", "latest"));
    // A link to a run outside every DIR (as `reference` can be) is not followed.
    const linked = writeFakeRun(join(tmp, "linked"), judged(31, true));
    symlinkSync(join(tmp, "linked"), join(store, "link-out"));
    symlinkSync(linked, join(direct, "reference"));
    // A target's data directory holding a test.json is part of its run, not a run.
    mkdirSync(join(direct, "data", "n0"), { recursive: true });
    writeFileSync(join(direct, "data", "n0", "test.json"), '{"seed": 99}');
    // A run with only test.json (it never finished) still has its seed.
    const unfinished = writeFakeRun(join(tmp, "other"), { seed: 21 });
    const found = findRunRecords([store, join(tmp, "other"), sweep]);
    expect(found.map((r) => [r.seed, r.run_dir])).toEqual([
      [11, direct],
      [1, inSweep[0]],
      [2, inSweep[1]],
      [21, unfinished],
    ]);
    expect(found.every((r) => r.exit_code === undefined)).toBe(true);
  });

  it("takes a run directory itself, and throws one line naming a DIR without runs", () => {
    const only = run(judged(4, true)).run_dir as string;
    expect(findRunRecords([only])).toEqual([{ seed: 4, run_dir: only }]);
    const empty = join(tmp, "empty\nfolder");
    mkdirSync(join(empty, "a", "b"), { recursive: true });
    expect(() => findRunRecords([only, empty])).toThrow(
      /^[^\n]*empty\\nfolder[^\n]* holds no faultline run[^\n]*$/,
    );
    expect(() => findRunRecords([join(tmp, "nowhere")])).toThrow(/nowhere is not a folder$/);
  });
});

describe("sweep files", () => {
  it("escape a hostile summary and checker name in HTML, Markdown and XML", () => {
    const hostile = run({
      seed: 1,
      results: {
        valid: false,
        summary: PAYLOAD,
        checkers: { [PAYLOAD]: { valid: false, summary: `got "${PAYLOAD}" from n1 | ${PAYLOAD}` } },
      },
    });
    const s = summarizeSweep([hostile, { seed: 2, note: PAYLOAD }], meta(2, { command: PAYLOAD }));
    writeSweepFiles(sweep, s);
    const page = readFileSync(join(sweep, "sweep.html"), "utf8");
    const md = readFileSync(join(sweep, "sweep.md"), "utf8");
    const xml = readFileSync(join(sweep, "junit.xml"), "utf8");
    for (const text of [page, md, xml]) {
      expect(text).not.toContain("<script>alert");
      expect(text).not.toContain("<img");
    }
    expect(page).toContain("&lt;script&gt;alert(1)&lt;/script&gt;");
    expect(page).toContain('http-equiv="Content-Security-Policy"');
    // The failure's row keeps its five cells: the value's pipes are escaped.
    const row = md.split("\n").find((line) => line.startsWith("| ") && line.includes("script"));
    expect(row?.match(/(?<!\\)\|/g)).toHaveLength(6);
    expect(xml).toContain('<error message="&lt;script&gt;');
    expect(JSON.parse(readFileSync(join(sweep, "sweep.json"), "utf8"))).toEqual(s);
  });

  it("link every run's report by a path relative to the sweep page", () => {
    const s = summarizeSweep([run(lostBroadcasts(3, [1], ["n0"])), run(judged(4, true))], meta(2));
    writeSweepFiles(sweep, s);
    const page = readFileSync(join(sweep, "sweep.html"), "utf8");
    const links = [...page.matchAll(/href="([^"]*report\.html)"/g)].map((m) => m[1]);
    expect(links).toContain(`runs/3/${TEST_NAME}/2026-01-01T000003/report.html`);
    expect(links).toContain(`runs/4/${TEST_NAME}/2026-01-01T000004/report.html`);
    // A run outside the sweep folder (merge without --out there) is linked relatively too.
    const outside = writeFakeRun(join(tmp, "elsewhere"), judged(5, true));
    writeSweepFiles(sweep, summarizeSweep([{ seed: 5, run_dir: outside }], meta(1)));
    expect(readFileSync(join(sweep, "sweep.html"), "utf8")).toContain(
      `href="../../../../elsewhere/${TEST_NAME}/2026-01-01T000005/report.html"`,
    );
  });

  it("say skipped for an interrupted run and error for unknown and could-not-run in junit.xml", () => {
    const s = summarizeSweep(
      [
        run(judged(1, true)),
        run(judged(2, "unknown")),
        run(judged(3, "unknown", { status: "interrupted" })),
        { seed: 4, note: "no dir" },
        run(lostBroadcasts(5, [1], ["n0"])),
      ],
      meta(5),
    );
    writeSweepFiles(sweep, s);
    const xml = readFileSync(join(sweep, "junit.xml"), "utf8");
    expect(xml).toContain('tests="5" failures="1" errors="2" skipped="1" time="60.000"');
    expect(xml).toMatch(/name="seed 3"[^\n]*>\n\s*<skipped/);
    expect(xml).toMatch(/name="seed 4"[^\n]*>\n\s*<error message="no dir" type="could-not-run"/);
    expect(xml).toMatch(/name="seed 1"[^\n]*\/>/);
  });
});

describe("the store index and serve", () => {
  it("list sweeps above the runs, and serve sweep.html and its runs' reports as pages", async () => {
    const store = join(tmp, "store");
    writeFakeRun(store, judged(11, true));
    const invalid = run(lostBroadcasts(3, [1], ["n0"]));
    writeFileSync(join(invalid.run_dir as string, "report.html"), "<!doctype html><p>report</p>");
    const s = summarizeSweep([invalid, run(judged(4, true))], meta(2));
    writeSweepFiles(sweep, s);
    // A target could leave a report.html in its data directory: that one stays text.
    const data = join(invalid.run_dir as string, "data", "n0");
    mkdirSync(data, { recursive: true });
    writeFileSync(join(data, "report.html"), "<script>alert(1)</script>");
    const index = readFileSync(await writeStoreIndex(store), "utf8");
    const sweepsAt = index.indexOf("<h2>Sweeps</h2>");
    expect(sweepsAt).toBeGreaterThan(0);
    expect(index.indexOf("<h2>Runs</h2>")).toBeGreaterThan(sweepsAt);
    expect(index).toContain(`href="sweeps/${TEST_NAME}/2026-01-01T000000/sweep.html"`);
    expect(index).toContain("50% (95% CI 9–91%)");
    expect(index).toContain("1 run:"); // the sweep's runs are not the store's runs
    const server = await serveStore({ store, port: 0 });
    try {
      const base = `${server.url}sweeps/${TEST_NAME}/2026-01-01T000000/`;
      const page = await get(`${base}sweep.html`);
      expect(page.type).toBe("text/html; charset=utf-8");
      const report = await get(`${base}${s.runs[0]?.run_dir}/report.html`);
      expect([report.status, report.type]).toEqual([200, "text/html; charset=utf-8"]);
      // No report.html yet (a run still going): rendered on the fly, as for the store's runs.
      const live = await get(`${base}${s.runs[1]?.run_dir}/report.html`);
      expect([live.status, live.type]).toEqual([200, "text/html; charset=utf-8"]);
      const planted = await get(`${base}${s.runs[0]?.run_dir}/data/n0/report.html`);
      expect(planted.type).toBe("text/plain; charset=utf-8");
      const served = await get(server.url);
      expect(served.body).toContain("<h2>Sweeps</h2>");
    } finally {
      await server.close();
    }
  });
});

function get(url: string): Promise<{ status: number; type: string; body: string }> {
  return new Promise((done, fail) => {
    request(url, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (chunk) => {
        body += chunk;
      });
      res.on("end", () =>
        done({ status: res.statusCode ?? 0, type: String(res.headers["content-type"]), body }),
      );
    })
      .on("error", fail)
      .end();
  });
}
