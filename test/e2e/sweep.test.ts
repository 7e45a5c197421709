// `faultline sweep` end to end, as a user runs it: from a folder, with the default store. One
// test once per seed, two at a time; the summary's catch rate, failure signature and files; the
// exit codes; Ctrl-C; merging runs made separately.
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { defaultParallel, runArguments } from "../../harness/sweep-command.js";
import { runCli, startCli, tempStore } from "../helpers.js";

// biome-ignore lint/suspicious/noExplicitAny: tests poke at sweep.json freely
type Json = Record<string, any>;

/** The one sweep folder in `<cwd>/store/sweeps/<name>/`. */
function sweepDir(cwd: string, name: string): string {
  const parent = join(cwd, "store", "sweeps", name);
  const [stamp, ...more] = readdirSync(parent);
  expect(more).toEqual([]);
  return join(parent, stamp as string);
}

const readJson = (path: string): Json => JSON.parse(readFileSync(path, "utf8"));

/** A command line's words. */
const words = (line: string) => line.split(" ");

/** Pids of every node a run's logs name ("--- faultline: started n0 pid 123"). */
function nodePidsUnder(dir: string): number[] {
  const pids: number[] = [];
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      if (e.isDirectory()) walk(join(d, e.name));
      else if (e.name.endsWith(".log") && d.endsWith("node-logs")) {
        const log = readFileSync(join(d, e.name), "utf8");
        for (const m of log.matchAll(/started \S+ pid (\d+)/g)) pids.push(Number(m[1]));
      }
    }
  };
  walk(dir);
  return pids;
}

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return !/^\d+ \(.*\) Z/.test(stat);
  } catch {
    return false;
  }
};

describe("faultline sweep", () => {
  it("catches a planted bug in every run, with one failure signature, and says so in every file", {
    timeout: 180_000,
  }, async ({ onTestFinished }) => {
    const cwd = tempStore(onTestFinished);
    const r = await runCli(
      words("sweep --system gossip --bug lose-messages -w broadcast --runs 6 --parallel 2"),
      170_000,
      { cwd },
    );
    expect(r.exitCode, r.stderr).toBe(1);
    const dir = sweepDir(cwd, "broadcast-gossip-lose-messages");
    const sweep = readJson(join(dir, "sweep.json"));
    expect(sweep.totals).toMatchObject({ runs: 6, invalid: 6, unknown: 0, could_not_run: 0 });
    expect(sweep.failures).toHaveLength(1);
    expect(sweep.failures[0].signature).toMatch(/set-full/);
    expect(r.stdout).toMatch(/catch rate/i);
    expect(r.stdout).toContain(join(dir, "sweep.html"));
    expect(readdirSync(join(dir, "runs"))).toHaveLength(6);
    const junit = readFileSync(join(dir, "junit.xml"), "utf8");
    expect(junit.match(/<testcase /g)).toHaveLength(6);
    expect(existsSync(join(dir, "sweep.html"))).toBe(true);
    expect(existsSync(join(dir, "sweep.md"))).toBe(true);
  });

  it("exits 0 when every run of the correct variant passes", { timeout: 120_000 }, async ({
    onTestFinished,
  }) => {
    const cwd = tempStore(onTestFinished);
    const r = await runCli(
      words(
        "sweep --system gossip -w broadcast --time-limit 2 --recovery-time 1 --seeds 1..4 --parallel 2",
      ),
      110_000,
      { cwd },
    );
    expect(r.exitCode, r.stderr).toBe(0);
    const sweep = readJson(join(sweepDir(cwd, "broadcast-gossip"), "sweep.json"));
    expect(sweep.totals).toMatchObject({ runs: 4, invalid: 0 });
    expect(sweep.runs.map((run: Json) => run.seed)).toEqual([1, 2, 3, 4]);
  });

  it("--stop-on-failure starts no run after the first invalid one", { timeout: 120_000 }, async ({
    onTestFinished,
  }) => {
    const cwd = tempStore(onTestFinished);
    const r = await runCli(
      words("sweep --system gossip --bug lose-messages --runs 5 --parallel 1 --stop-on-failure"),
      110_000,
      { cwd },
    );
    expect(r.exitCode, r.stderr).toBe(1);
    const sweep = readJson(join(sweepDir(cwd, "broadcast-gossip-lose-messages"), "sweep.json"));
    expect(sweep.runs).toHaveLength(1);
  });

  it("Ctrl-C stops every run, keeps each history, writes the summary of what finished", {
    timeout: 120_000,
  }, async ({ onTestFinished }) => {
    const cwd = tempStore(onTestFinished);
    const cli = startCli(
      words("sweep --system gossip -w broadcast --time-limit 60 --runs 4 --parallel 2"),
      110_000,
      { cwd },
    );
    const runs = () => {
      const parent = join(cwd, "store", "sweeps", "broadcast-gossip");
      if (!existsSync(parent)) return [];
      const [stamp] = readdirSync(parent);
      const dir = join(parent, stamp as string, "runs");
      return existsSync(dir)
        ? readdirSync(dir).filter((seed) => existsSync(join(dir, seed, "latest", "history.jsonl")))
        : [];
    };
    while (runs().length < 2) await new Promise((resolve) => setTimeout(resolve, 200));
    await new Promise((resolve) => setTimeout(resolve, 2_000));
    cli.kill("SIGINT");
    const r = await cli;
    expect(r.exitCode, String(r.stderr)).toBe(3);
    const dir = sweepDir(cwd, "broadcast-gossip");
    const sweep = readJson(join(dir, "sweep.json"));
    expect(sweep.interrupted).toBe(true);
    expect(sweep.runs).toHaveLength(2);
    for (const run of sweep.runs) expect(run.status).toBe("interrupted");
    for (const seed of readdirSync(join(dir, "runs"))) {
      const history = readFileSync(join(dir, "runs", seed, "latest", "history.jsonl"), "utf8");
      expect(history.split("\n").length).toBeGreaterThan(10);
    }
    const pids = nodePidsUnder(join(dir, "runs"));
    expect(pids.length).toBeGreaterThanOrEqual(2 * 5);
    expect(pids.filter(alive)).toEqual([]);
  });

  it("merges runs made apart into one summary", { timeout: 120_000 }, async ({
    onTestFinished,
  }) => {
    const cwd = tempStore(onTestFinished);
    for (const seed of ["7", "8"]) {
      const r = await runCli(
        words(`test --system gossip --bug lose-messages --seed ${seed} --store machine-${seed} -q`),
        60_000,
        { cwd },
      );
      expect(r.exitCode).toBe(1);
    }
    const r = await runCli(words("sweep merge machine-7 machine-8 --out merged"), 30_000, { cwd });
    expect(r.exitCode, r.stderr).toBe(1);
    const sweep = readJson(join(cwd, "merged", "sweep.json"));
    expect(sweep.runs.map((run: Json) => run.seed).sort()).toEqual([7, 8]);
    expect(sweep.failures).toHaveLength(1);
    const none = await runCli(words("sweep merge nowhere"), 30_000, { cwd });
    expect(none.exitCode).toBe(3);
    expect(none.stderr.trim().split("\n")).toHaveLength(1);
  });

  it("refuses bad flags in one line before starting any run", async ({ onTestFinished }) => {
    const cwd = tempStore(onTestFinished);
    for (const [args, message] of [
      [["--system", "gossip"], /--seeds A\.\.B or --runs N/],
      [["--system", "gossip", "--seeds", "5..2"], /expected A\.\.B/],
      [["--system", "gossip", "--seeds", "1..2", "--runs", "2"], /not both/],
      [["--system", "nope", "--runs", "2"], /nope/],
      [["--system", "gossip", "--runs", "2", "--image", "x"], /--image goes with --emit/],
      [["--system", "gossip", "--runs", "2", "--emit", "k8s"], /--emit k8s needs --image/],
    ] as const) {
      const r = await runCli(["sweep", ...args], 30_000, { cwd });
      expect(r.exitCode, args.join(" ")).toBe(3);
      expect(r.stderr.trim().split("\n"), r.stderr).toHaveLength(1);
      expect(r.stderr).toMatch(message);
    }
    expect(existsSync(join(cwd, "store", "sweeps"))).toBe(false);
  });

  it("stops at once when a run cannot start, naming why", { timeout: 60_000 }, async ({
    onTestFinished,
  }) => {
    const cwd = tempStore(onTestFinished);
    const r = await runCli(
      words("sweep --system gossip --nemesis crash --runs 6 --parallel 1"),
      50_000,
      { cwd },
    );
    expect(r.exitCode).toBe(3);
    expect(r.stderr).toMatch(/a run could not start, so the sweep stopped: .*--crash-after/);
    const sweep = readJson(join(sweepDir(cwd, "echo-gossip"), "sweep.json"));
    expect(sweep.runs).toHaveLength(1);
  });
});

describe("runArguments", () => {
  it("keeps the test's options as given and drops the sweep's own and the per-run ones", () => {
    const options = [
      { long: "--seeds", required: true },
      { long: "--runs", required: true },
      { long: "--parallel", required: true },
      { long: "--stop-on-failure", required: false },
      { long: "--seed", required: true },
      { long: "--store", required: true },
      { long: "--quiet", short: "-q", required: false },
    ] as never;
    expect(
      runArguments(
        [
          "--system",
          "gossip",
          "--runs",
          "4",
          "--parallel=2",
          "--seed",
          "9",
          "-q",
          "--stop-on-failure",
          "--store",
          "s",
          "--",
          "--runs",
          "x",
        ],
        options,
      ),
    ).toEqual(["--system", "gossip", "--", "--runs", "x"]);
  });
});

describe("defaultParallel", () => {
  it("counts each run's nodes and the harness against the cores, and runs at least one", () => {
    expect(defaultParallel(3, 2)).toBe(1);
    expect(defaultParallel(3, 16)).toBe(4);
    expect(defaultParallel(5, 64)).toBe(10);
    expect(defaultParallel(1000, 8)).toBe(1);
  });
});
