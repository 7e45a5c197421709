// --against-reference (issue 24, item 13): after the user's run, our reference system for the
// workload runs with the same options and seed, as a run of its own linked from the user's, and
// both verdicts reach every report. The user's verdict and exit code stand; a reference that
// fails too is a warning that the test itself may be too harsh to grade with.
import { existsSync, readdirSync, readFileSync, readlinkSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { chromium } from "playwright-core";
import { describe, expect, it } from "vitest";
import { chromiumPath } from "../../scripts/test-deps.js";
import { FIXTURES, groupAlive, readResults, runCli, startCli, tempStore } from "../helpers.js";

/** A short echo run: 2 s of load, no faults (the bad-echo bug needs none). */
const ECHO = [
  "-w",
  "echo",
  "--node-count",
  "3",
  "--time-limit",
  "2",
  "--rate",
  "50",
  "--recovery-time",
  "1",
  "-q",
];

// biome-ignore lint/suspicious/noExplicitAny: tests poke at results.json freely
function readJson(path: string): Record<string, any> {
  return JSON.parse(readFileSync(path, "utf8"));
}

/** The run directories of one test name in a store (`<store>/<name>/<stamp>`). */
function runsOf(store: string, name: string): string[] {
  const dir = join(store, name);
  return existsSync(dir) ? readdirSync(dir).map((stamp) => join(dir, stamp)) : [];
}

describe("a buggy echo beside its reference", () => {
  it("keeps the user's verdict and exit code, and shows the reference passing in every report", {
    timeout: 90_000,
  }, async () => {
    const store = tempStore();
    const r = await runCli([
      "test",
      "--system",
      "gossip",
      "--bug",
      "bad-echo",
      ...ECHO,
      "--seed",
      "3",
      "--against-reference",
      "--store",
      store,
    ]);
    expect(r.exitCode, r.stderr).toBe(1);
    expect(r.stdout).toMatch(/^INVALID: echo: /);
    expect(r.stdout).toContain(
      "reference gossip (same options and seed): valid: Every checker passed.",
    );
    const results = readResults(store);
    expect(results.valid).toBe(false);
    expect(results.reference).toEqual({
      system: "gossip",
      valid: true,
      summary: "Every checker passed.",
      dir: expect.stringMatching(/^\.\.\/\.\.\/echo-gossip\/[0-9T-]+$/),
    });
    expect(results.warnings.join("\n")).not.toMatch(/reference/);

    // `latest` stays on the user's run; the reference is a run of its own, linked from it.
    const latest = join(store, "latest");
    expect(readlinkSync(latest)).toMatch(/^echo-gossip-bad-echo\//);
    expect(readlinkSync(join(latest, "reference"))).toBe(results.reference.dir);
    const [referenceDir] = runsOf(store, "echo-gossip");
    expect(runsOf(store, "echo-gossip")).toHaveLength(1);
    const refTest = readJson(join(referenceDir as string, "test.json"));
    expect(refTest.target.name).toBe("gossip");
    expect(refTest.target.bug).toBeUndefined();
    expect(refTest.target.command.args).not.toContain("--bug");
    expect(refTest).toMatchObject({ seed: 3, time_limit_s: 2, rate: 50, node_count: 3 });
    expect(refTest.reference_for).toBe(
      `echo-gossip-bad-echo/${readlinkSync(latest).split("/")[1]}`,
    );
    const refResults = readJson(join(latest, "reference", "results.json"));
    expect(refResults).toMatchObject({ valid: true, seed: 3 });

    const summary = readFileSync(join(latest, "summary.md"), "utf8");
    expect(summary).toContain(
      "**Reference gossip, same options and seed:** ✅ valid: Every checker passed.",
    );
    const junit = readFileSync(join(latest, "junit.xml"), "utf8");
    expect(junit).toContain('<property name="verdict" value="false"/>');
    expect(junit).toContain('<property name="reference" value="gossip"/>');
    expect(junit).toContain('<property name="reference-verdict" value="true"/>');

    // The report, in a browser: the user's verdict on top, the reference's beside it, and its
    // report one click away.
    const browser = await chromium.launch({
      executablePath: chromiumPath(),
      args: ["--headless", "--no-sandbox", "--disable-gpu"],
    });
    try {
      const page = await browser.newPage();
      await page.goto(pathToFileURL(join(latest, "report.html")).href);
      expect(await page.textContent("#verdict")).toBe("INVALID — a checker found a violation");
      const line = (await page.textContent("#reference"))?.replace(/\s+/g, " ");
      expect(line).toBe(
        "Reference system gossip, same options and seed 3: valid Every checker passed. its report",
      );
      await page.click("#reference a");
      await page.waitForLoadState("load");
      expect(await page.textContent("#verdict")).toBe("valid — no checker found a problem");
      expect(await page.textContent(".facts")).toContain("gossip");
      // …and it names the run it was made for, one click back.
      expect((await page.textContent("#reference-for"))?.replace(/\s+/g, " ")).toMatch(
        /^Reference run for echo-gossip-bad-echo\/\S+: our system with that run's options and seed/,
      );
      await page.click("#reference-for a");
      await page.waitForLoadState("load");
      expect(await page.textContent("#verdict")).toBe("INVALID — a checker found a violation");
    } finally {
      await browser.close();
    }
  });

  it("gives each run of --test-count its own reference, with that run's seed", {
    timeout: 120_000,
  }, async () => {
    const store = tempStore();
    const r = await runCli([
      "test",
      "--bin",
      join(FIXTURES, "echo.mjs"),
      ...ECHO,
      "--seed",
      "5",
      "--test-count",
      "2",
      "--against-reference",
      "--store",
      store,
      "--",
      "--an-argument-for-the-user-program",
    ]);
    expect(r.exitCode, r.stderr).toBe(0);
    const mine = runsOf(store, "echo-echo.mjs");
    const references = runsOf(store, "echo-gossip");
    expect(mine).toHaveLength(2);
    expect(references).toHaveLength(2);
    const seeds = mine.map((dir) => readJson(join(dir, "results.json")).seed);
    expect(new Set(seeds).size).toBe(2);
    for (const dir of mine) {
      const results = readJson(join(dir, "results.json"));
      expect(results.reference).toMatchObject({ system: "gossip", valid: true });
      const refTest = readJson(join(dir, "reference", "test.json"));
      expect(refTest.seed).toBe(results.seed);
      // The user's program's arguments are the user's: the reference never gets them.
      expect(refTest.target.command.args).not.toContain("--an-argument-for-the-user-program");
    }
  });
});

describe("a schedule too harsh for the reference itself", () => {
  // MapReduce with 1 MiB inputs and every worker killed about every 0.3 s: a killed task is
  // re-assigned only after --task-timeout-ms (10 s by default), past the 4 s deadline, so no
  // program can finish the job, our reference included.
  it("warns that the test may be too harsh to grade with, and keeps the user's exit code", {
    timeout: 120_000,
  }, async () => {
    const store = tempStore();
    const r = await runCli(
      [
        "test",
        "--system",
        "mapreduce",
        "--bug",
        "early-exit",
        "-w",
        "mapreduce",
        "--mr-app",
        "wc",
        "--node-count",
        "3",
        "--mr-time-scale",
        "0.2",
        "--mr-file-kib",
        "1024",
        "--time-limit",
        "4",
        "--nemesis",
        "kill",
        "--kill-targets",
        "all",
        "--nemesis-interval",
        "0.3",
        "--seed",
        "1",
        "--against-reference",
        "-q",
        "--store",
        store,
      ],
      110_000,
    );
    expect(r.exitCode, r.stderr).toBe(1);
    const results = readResults(store);
    expect(results.checkers.completion.valid).toBe(false);
    expect(results.reference).toMatchObject({ system: "mapreduce", valid: false });
    expect(results.reference.summary).toMatch(/completion: the job did not finish within 4 s/);
    const warning =
      "the reference system mapreduce also fails this test with seed 1: the schedule may be too harsh to grade with";
    expect(results.warnings.some((w: string) => w.startsWith(warning))).toBe(true);
    expect(r.stdout).toContain(`warning: ${warning}`);
    const latest = join(store, "latest");
    expect(readFileSync(join(latest, "summary.md"), "utf8")).toContain(warning);
    const page = readFileSync(join(latest, "report.html"), "utf8");
    expect(page).toMatch(
      /<p class="reference" id="reference"><span class="label">Reference system mapreduce, same options and seed 1:<\/span>\s*<span class="pill invalid">INVALID<\/span>/,
    );
    expect(page).toContain(`<li>${warning}`);
    expect(readJson(join(latest, "reference", "results.json")).valid).toBe(false);
  });
});

describe("when --against-reference does not run the reference", () => {
  it("refuses a system that does not serve the workload, before anything runs", async () => {
    const store = tempStore();
    const r = await runCli([
      "test",
      "--system",
      "gossip",
      ...ECHO,
      "--against-reference",
      "raft-kv",
      "--store",
      store,
    ]);
    expect(r.exitCode).toBe(3);
    expect(r.stderr.trim()).toBe(
      "faultline: system raft-kv does not serve workload echo; it serves: lin-kv, kv",
    );
    expect(readdirSync(store)).toEqual([]);
  });

  it("runs no reference after a run that could not run", { timeout: 60_000 }, async () => {
    const store = tempStore();
    const r = await runCli([
      "test",
      "--bin",
      join(FIXTURES, "exit-at-start.mjs"),
      ...ECHO,
      "--against-reference",
      "--store",
      store,
    ]);
    expect(r.exitCode).toBe(3);
    expect(readResults(store).status).toBe("could-not-run");
    expect(existsSync(join(store, "latest", "reference"))).toBe(false);
    expect(runsOf(store, "echo-gossip")).toEqual([]);
  });
});

describe("Ctrl-C with --against-reference", () => {
  /** Waits until `path` exists and has more than `lines` lines. */
  async function waitForLines(path: () => string, lines: number): Promise<void> {
    const deadline = Date.now() + 30_000;
    while (Date.now() < deadline) {
      const file = path();
      if (existsSync(file) && readFileSync(file, "utf8").split("\n").length > lines) return;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    throw new Error(`${path()} did not reach ${lines} lines`);
  }

  const start = (store: string, time_limit: string) =>
    startCli([
      "test",
      "--system",
      "gossip",
      "--bug",
      "bad-echo",
      ...ECHO,
      "--time-limit",
      time_limit,
      "--seed",
      "4",
      "--against-reference",
      "--store",
      store,
    ]);

  it("during the user's run: starts no reference, exits 3", { timeout: 60_000 }, async () => {
    const store = tempStore();
    const cli = start(store, "60");
    await waitForLines(() => join(store, "latest", "history.jsonl"), 20);
    cli.kill("SIGINT");
    const r = await cli;
    expect(r.exitCode).toBe(3);
    expect(readResults(store).valid).toBe("unknown");
    expect(readResults(store).reference).toBeUndefined();
    expect(runsOf(store, "echo-gossip")).toEqual([]);
  });

  it("during the reference's run: keeps both histories, leaves no process, exits 3", {
    timeout: 60_000,
  }, async () => {
    const store = tempStore();
    const cli = start(store, "3");
    const referenceHistory = () => {
      const [dir] = runsOf(store, "echo-gossip");
      return dir ? join(dir, "history.jsonl") : join(store, "none");
    };
    await waitForLines(referenceHistory, 20);
    cli.kill("SIGINT");
    const r = await cli;
    expect(r.exitCode).toBe(3);
    expect(String(r.stderr)).toMatch(/interrupted; the history so far is in \S+\/reference\//);
    // The user's run finished before the reference started: its verdict stands.
    const results = readResults(store);
    expect(results.valid).toBe(false);
    expect(results.reference).toMatchObject({
      system: "gossip",
      valid: "unknown",
      status: "interrupted",
    });
    expect(results.warnings.join("\n")).not.toMatch(/reference system/);
    const reference = join(store, "latest", "reference");
    expect(readJson(join(reference, "results.json")).valid).toBe("unknown");
    expect(readFileSync(join(reference, "history.jsonl"), "utf8").length).toBeGreaterThan(0);
    for (const node of ["n0", "n1", "n2"]) {
      const log = readFileSync(join(reference, "node-logs", `${node}.log`), "utf8");
      for (const m of log.matchAll(/started \S+ pid (\d+)/g)) {
        expect(groupAlive(Number(m[1]))).toBe(false);
      }
    }
  });
});
