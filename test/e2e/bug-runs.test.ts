// Every planted bug of every built-in system is caught by `faultline test --system S --bug B`
// alone (issue 13): the bug's manifest names the run that exposes it (bugs.B.run), so a
// first-time user who names a bug sees it caught instead of a VALID that blames the harness.
// The list comes from the manifests, so a new bug is covered (and must ship a run) at once.
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { execa } from "execa";
import { describe, expect, it } from "vitest";
import { type Op, parseHistory } from "../../checkers/history.js";
import { loadManifest, systemNames } from "../../harness/target.js";
import { CLI, readResults, slots, tempStore } from "../helpers.js";

/** What the issue promises a user: caught within a minute, checks included. */
const MAX_BUG_RUN_MS = 60_000;
/** Past this the run is SIGKILLed (it has failed its bound anyway). */
const RUN_KILL_MS = 2 * MAX_BUG_RUN_MS;
/** Runs in flight at once: CI has two cores, and each run is a cluster plus the harness. */
const MAX_PARALLEL_RUNS = 2;
/**
 * Runs of one bug before the test calls it missed. Every bug's measured catch rate is at least
 * 90% per run (README "Detection power", `npm run bench -- detection`, 20 seeds each; all but
 * shard-kv skip-config at 95% or more), so three misses in a row (at most 1 in 1,000) mean
 * detection got worse, not that CI was unlucky. The rate itself comes from the bench, never from
 * this count.
 */
const MAX_ATTEMPTS = 3;
/** A test may wait for a slot while the others' runs take theirs. */
const TEST_TIMEOUT_MS = MAX_ATTEMPTS * 10 * 60_000;

const inSlot = slots(MAX_PARALLEL_RUNS);

const BUGS = systemNames().flatMap((system) =>
  Object.entries(loadManifest(system).bugs).map(([bug, entry]) => ({ system, bug, entry })),
);

/** `faultline ARGS` in `cwd`, nothing else given; returns its outcome and wall time. */
interface Caught {
  // biome-ignore lint/suspicious/noExplicitAny: tests poke at results.json freely
  results: Record<string, any>;
  history: Op[];
  /** Whether node-to-node traffic included a message of this type (maelstrom systems). */
  sent: (type: string) => boolean;
}

/** The fault kinds a run's `--nemesis` names. */
const runFaults = (run: string | undefined) =>
  /--nemesis (\S+)/.exec(run ?? "")?.[1]?.split(",") ?? [];

const nemesis = (history: Op[], f: string) =>
  history.filter((op) => op.process === "nemesis" && op.f === f);

/**
 * What a bug's catch must show beyond the checker (kept from the per-system bug tests this
 * file replaced): the violation is the one the bug makes, by the schedule that makes it.
 */
const SHOWS: Record<string, (run: Caught) => void> = {
  "raft-kv/stale-read": ({ results }) =>
    expect(results.checkers.linearizable.summary).toMatch(/op \d+ \(read /),
  "raft-kv/no-dedup": ({ sent }) => expect(sent("forward")).toBe(true),
  // The whole cluster down at once: every node killed before the first restart.
  "raft-kv/no-fsync": ({ history }) => {
    const kills = history.filter((op) => op.process === "nemesis" && op.f.endsWith("-kill"));
    const restart = kills.findIndex((op) => op.f === "stop-kill");
    const down = kills
      .slice(0, restart === -1 ? kills.length : restart)
      .flatMap((op) => (op.value as { nodes: string[] }).nodes);
    expect(new Set(down).size).toBe(3);
  },
  "raft-kv/no-persist-vote": ({ results, history }) => {
    expect(results.checkers.crashes.summary).toMatch(/exit code 70/);
    expect(nemesis(history, "crashed")).toHaveLength(1);
    expect(nemesis(history, "start-kill")).toHaveLength(1);
    expect(nemesis(history, "script-done")).toHaveLength(1);
  },
  "raft-kv/commit-old-term": ({ results }) =>
    expect(results.checkers.crashes.summary).toMatch(/exit code 70/),
  // The same value twice in one read: a retried append applied again by the shard's new owner.
  "shard-kv/no-dedup-transfer": ({ results, history }) => {
    expect(results.checkers["exactly-once"].summary).toMatch(/applied more than once/);
    expect(nemesis(history, "script-done")).toHaveLength(1);
  },
  // Its run leaves the GC phase out (--skip-gc), as every shard-kv bug run but no-gc's does.
  "shard-kv/skip-config": ({ results }) =>
    expect(results.checkers["shard-gc"].summary).toMatch(/^not measured: no GC phase ran/),
  "shard-kv/no-gc": ({ results }) =>
    expect(results.checkers["shard-gc"].summary).toMatch(/keep data of shards they gave away/),
  "shard-kv/uneven-rebalance": ({ results }) =>
    expect(results.checkers["shard-controller"].summary).toMatch(/^Config \d+ is not one config: /),
  "bitcoin/no-reassign": ({ results }) =>
    expect(results.checkers.mining.violation_counts).toHaveProperty("unanswered"),
  "bitcoin/off-by-one-range": ({ results }) => {
    expect(results.checkers.mining.violation_counts).toHaveProperty("wrong-answer");
    expect(results.checkers.mining.summary).toMatch(/the upper bound itself/);
  },
  "bitcoin/fifo-only": ({ results }) => {
    expect(results.checkers.mining.valid).toBe(true);
    expect(results.checkers.fairness.summary).toMatch(/small job/);
  },
  "bitcoin/one-miner": ({ results }) => {
    expect(results.checkers.mining.valid).toBe(true);
    expect(results.checkers["load-balance"].summary).toMatch(
      /^a miner left idle while work waited: m\d held nothing /,
    );
  },
  "lsp/no-retransmit": ({ results }) =>
    expect(Object.keys(results.checkers.delivery.violation_counts)).toEqual(
      expect.arrayContaining([expect.stringMatching(/^(close-hung|missing-after-close)$/)]),
    ),
  "lsp/no-checksum": ({ results }) =>
    expect(results.checkers.delivery.violation_counts).toHaveProperty("corrupted"),
  "lsp/reorder-deliver": ({ results }) =>
    expect(results.checkers.delivery.violation_counts).toHaveProperty("out-of-order"),
  "lsp/ignore-window": ({ results }) =>
    // Under load more checks may time out; window-limit is the one the bug breaks.
    expect(results.checkers.conformance.deviation_names).toContain("window-limit"),
  "mapreduce/no-reassign": ({ results, history }) => {
    expect(results.checkers.completion.summary).toMatch(
      /the job did not finish within \d+ s .*missing outputs: mr-out-/,
    );
    expect(nemesis(history, "deadline").length).toBeGreaterThan(0);
  },
  // A reduce seen partial (--strict), or a crash app worker that died while writing one.
  "mapreduce/non-atomic-output": ({ results }) =>
    expect(results.checkers["atomic-output"].summary).toMatch(
      /^(mr-out-\d+ was visible with \d+ of its final \d+ bytes|\S+ (exited with code \d+|was killed by the nemesis) at [\d.]+ s while writing mr-out-\d+ in place)/,
    ),
  "mapreduce/early-exit": ({ results }) =>
    expect(results.checkers["early-exit"].summary).toMatch(
      /exited at .* while the job's output was unfinished/,
    ),
  "mapreduce/double-count": ({ results }) =>
    expect(results.checkers.output.summary).toMatch(/wrong values?, e\.g\./),
};

async function faultline(args: string[], cwd: string) {
  return inSlot(async () => {
    const started = Date.now();
    const r = await execa(process.execPath, [CLI, ...args], {
      cwd,
      reject: false,
      timeout: RUN_KILL_MS,
      killSignal: "SIGKILL",
      env: { FORCE_COLOR: "0" },
    });
    return { ...r, stdout: String(r.stdout), stderr: String(r.stderr), ms: Date.now() - started };
  });
}

describe("faultline test --system S --bug B, nothing else, catches every planted bug", () => {
  it.concurrent.for(BUGS)(
    "$system --bug $bug",
    { timeout: TEST_TIMEOUT_MS },
    async ({ system, bug, entry }, { onTestFinished }) => {
      let cwd = tempStore(onTestFinished);
      let r = await faultline(["test", "--system", system, "--bug", bug], cwd);
      for (let attempt = 1; attempt < MAX_ATTEMPTS && r.exitCode === 0; attempt++) {
        cwd = tempStore(onTestFinished);
        r = await faultline(["test", "--system", system, "--bug", bug], cwd);
      }
      expect(r.exitCode, `${r.stdout}\n${r.stderr}`).toBe(1);
      expect(r.ms).toBeLessThanOrEqual(MAX_BUG_RUN_MS);
      expect(r.stderr).toContain(`--bug ${bug}: using its run: `);
      // Caught by a checker the manifest names, not by something else going wrong.
      const results = readResults(join(cwd, "store"));
      const invalid = Object.entries(results.checkers as Record<string, { valid: unknown }>)
        .filter(([, c]) => c.valid === false)
        .map(([name]) => name);
      expect(
        invalid.some((name) => entry.caught_by?.includes(name)),
        `${invalid.join(", ")} vs caught_by "${entry.caught_by}"`,
      ).toBe(true);
      // A bug caught by the history must not also have crashed a node.
      if (!entry.caught_by?.includes("crashes")) {
        expect(results.checkers.crashes?.valid ?? true).toBe(true);
      }
      const dir = join(cwd, "store", "latest");
      const history = parseHistory(readFileSync(join(dir, "history.jsonl"), "utf8"));
      for (const kind of runFaults(entry.run)) {
        expect(nemesis(history, `start-${kind}`).length, kind).toBeGreaterThan(0);
      }
      const journal = join(dir, "messages.jsonl");
      SHOWS[`${system}/${bug}`]?.({
        results,
        history,
        sent: (type) =>
          existsSync(journal) && readFileSync(journal, "utf8").includes(`"type":"${type}"`),
      });
    },
  );
});

describe("a bug's run", () => {
  it.each(BUGS)(
    "$system --bug $bug has a run, with every fault its manifest names",
    ({ entry }) => {
      expect(entry.run).toBeDefined();
      // A run may expose the bug without random faults (a nemesis script; mapreduce's crash app
      // kills workers itself), but random faults it injects include the manifest's.
      for (const kind of runFaults(entry.run)) expect(entry.nemesis ?? []).toContain(kind);
      if (runFaults(entry.run).length > 0) {
        for (const kind of entry.nemesis ?? []) expect(runFaults(entry.run)).toContain(kind);
      }
    },
  );

  it("yields to the flags the user gives, and the repeat command spells out the rest", async ({
    onTestFinished,
  }) => {
    const cwd = tempStore(onTestFinished);
    const r = await faultline(
      ["test", "--system", "lin-kv", "--bug", "stale-read", "--time-limit", "1", "--seed", "3"],
      cwd,
    );
    const run = loadManifest("lin-kv").bugs["stale-read"]?.run as string;
    const kept = run.replace(/--time-limit \S+ ?/, "").trim();
    expect(r.stderr).toContain(
      `--bug stale-read: using its run: ${kept} (flags you give override these)`,
    );
    const test = JSON.parse(readFileSync(join(cwd, "store", "latest", "test.json"), "utf8"));
    expect(test.time_limit_s).toBe(1);
    expect(test.node_count).toBe(3);
    expect(test.command).toBe(
      `faultline test --system lin-kv --bug stale-read --time-limit 1 ${kept} --seed 3`,
    );
  });

  it("leaves its whole fault schedule out once the user names a fault flag", async ({
    onTestFinished,
  }) => {
    const cwd = tempStore(onTestFinished);
    const given = ["--nemesis", "kill", "--time-limit", "1", "--seed", "3"];
    const r = await faultline(["test", "--system", "lin-kv", "--bug", "no-persist", ...given], cwd);
    const run = loadManifest("lin-kv").bugs["no-persist"]?.run as string;
    expect(run).toMatch(/--kill-targets all --nemesis-interval 1 /);
    const kept = run
      .replace(/--(nemesis|kill-targets|nemesis-interval|time-limit) \S+ ?/g, "")
      .trim();
    expect(r.stderr).toContain(`--bug no-persist: using its run: ${kept} (flags you give`);
    const test = JSON.parse(readFileSync(join(cwd, "store", "latest", "test.json"), "utf8"));
    expect(test.nemesis.faults).toEqual(["kill"]);
    expect(test.nemesis.targets).toBeUndefined();
  });
});
