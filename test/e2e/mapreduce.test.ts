// mapreduce end to end over the tcp transport (issue 8): the real `faultline` binary runs the
// reference coordinator and workers through the TCP proxy. The correct system passes the MIT
// test-mr.sh checks (wc, indexer, map and reduce parallelism, job count, early exit, crash) and
// survives worker kills, pauses and partitions. Each bug variant is caught in
// test/e2e/bug-runs.test.ts (no-reassign's job, which never finishes, fails by the deadline
// there instead of hanging the run).
//
// --mr-time-scale 0.2 makes the apps' sleeps and the crash app's stalls 5x shorter, and short
// task timeouts make re-assignment quick, so the file fits CI.
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it, type TestContext } from "vitest";
import { type Op, parseHistory } from "../../checkers/history.js";
import {
  groupAlive,
  nodePids,
  readResults,
  runLine,
  slots,
  startCli,
  tempStore,
} from "../helpers.js";

/** A run's own bound (the CLI is SIGKILLed past it); runs here take 5–20 s. */
const RUN_TIMEOUT_MS = 90_000;
/** A test may also wait for a free slot (MAX_PARALLEL_RUNS) before its run starts. */
const TEST_TIMEOUT_MS = 240_000;
/** Runs in flight at once: two cores, and each run is a coordinator, workers and the harness. */
const MAX_PARALLEL_RUNS = 3;
const FAST = "--mr-time-scale 0.2";

const inSlot = slots(MAX_PARALLEL_RUNS);

interface Run {
  exitCode: number | undefined;
  stdout: string;
  // biome-ignore lint/suspicious/noExplicitAny: tests poke at results.json freely
  results: Record<string, any>;
  ops: Op[];
  store: string;
  verdicts: Record<string, unknown>;
}

/** Runs `faultline <line>` in its own store (removed when the test finishes), a few at a time. */
async function run(ctx: TestContext, line: string): Promise<Run> {
  const store = tempStore(ctx.onTestFinished);
  return inSlot(async () => {
    const r = await runLine(line, store, RUN_TIMEOUT_MS);
    const results = readResults(store);
    return {
      exitCode: r.exitCode,
      stdout: r.stdout,
      results,
      ops: parseHistory(readFileSync(join(store, "latest", "history.jsonl"), "utf8")),
      store,
      verdicts: Object.fromEntries(
        Object.entries(results.checkers as Record<string, { valid: unknown }>).map(([k, c]) => [
          k,
          c.valid,
        ]),
      ),
    };
  });
}

const system = (rest: string) => `test --system mapreduce -w mapreduce ${FAST} ${rest}`;
const nemesisEvents = (ops: Op[], f: string) =>
  ops.filter((op) => op.process === "nemesis" && op.f === f);
const workerOps = (ops: Op[], type: string) =>
  ops.filter((op) => op.f === "worker" && op.type === type);

/** Every program the run started is gone (its node log names its pid). */
function noneAlive(store: string): boolean {
  const logs = join(store, "latest", "node-logs");
  const ids = [
    "coordinator",
    ...["w0", "w1", "w2", "w3"].filter((w) => existsSync(join(logs, `${w}.log`))),
  ];
  return nodePids(store, ids).every((pid) => !groupAlive(pid));
}

describe("mapreduce, correct", () => {
  it.concurrent(
    "wc: the output equals a sequential run, the output was final at every exit",
    async (ctx) => {
      const r = await run(ctx, system("--mr-app wc --node-count 3 --time-limit 30 --seed 1"));
      expect(r.exitCode, r.stdout).toBe(0);
      expect(r.verdicts).toEqual({
        output: true,
        "early-exit": true,
        "atomic-output": true,
        completion: true,
      });
      // The job op spans the coordinator's life; one op per worker instance.
      const job = r.ops.filter((op) => op.f === "job");
      expect(job.map((op) => op.type)).toEqual(["invoke", "ok"]);
      expect(workerOps(r.ops, "ok")).toHaveLength(3);
      expect(r.results.checkers["atomic-output"].polls).toBeGreaterThan(20);
      expect(existsSync(join(r.store, "latest", "report.html"))).toBe(true);
      expect(existsSync(join(r.store, "latest", "job", "pg-sherlock_holmes.txt"))).toBe(true);
      expect(noneAlive(r.store)).toBe(true);
    },
    TEST_TIMEOUT_MS,
  );

  it.concurrent(
    "indexer on 2 workers",
    async (ctx) => {
      const r = await run(ctx, system("--mr-app indexer --node-count 2 --seed 2"));
      expect(r.exitCode, r.stdout).toBe(0);
      expect(r.results.checkers.output.summary).toMatch(/equals a sequential run of indexer/);
    },
    TEST_TIMEOUT_MS,
  );

  it.concurrent(
    "mtiming: both workers ran maps, at the same time",
    async (ctx) => {
      const r = await run(ctx, system("--mr-app mtiming --node-count 2 --seed 3"));
      expect(r.exitCode, r.stdout).toBe(0);
      expect(r.results.checkers.parallelism).toMatchObject({ valid: true, times_keys: 2 });
    },
    TEST_TIMEOUT_MS,
  );

  it.concurrent(
    "rtiming: reduces ran at the same time",
    async (ctx) => {
      const r = await run(ctx, system("--mr-app rtiming --node-count 2 --seed 4"));
      expect(r.exitCode, r.stdout).toBe(0);
      expect(r.results.checkers.parallelism.concurrent_keys).toBeGreaterThanOrEqual(2);
    },
    TEST_TIMEOUT_MS,
  );

  it.concurrent(
    "jobcount: each map task ran once, with workers started two at a time",
    async (ctx) => {
      const r = await run(ctx, system("--mr-app jobcount --node-count 4 --seed 5"));
      expect(r.exitCode, r.stdout).toBe(0);
      expect(r.results.checkers["job-count"]).toMatchObject({ valid: true, map_executions: 8 });
      expect(workerOps(r.ops, "invoke")).toHaveLength(4);
    },
    TEST_TIMEOUT_MS,
  );

  it.concurrent(
    "early_exit: no process exits before the output is final",
    async (ctx) => {
      const r = await run(ctx, system("--mr-app early_exit --node-count 3 --seed 6"));
      expect(r.exitCode, r.stdout).toBe(0);
      expect(r.results.checkers["early-exit"].valid).toBe(true);
    },
    TEST_TIMEOUT_MS,
  );

  it.concurrent(
    "crash: workers that crash and stall are relaunched, tasks re-assigned, output still right",
    async (ctx) => {
      const r = await run(
        ctx,
        system("--mr-app crash --node-count 3 --task-timeout-ms 500 --time-limit 40 --seed 7"),
      );
      expect(r.exitCode, r.stdout).toBe(0);
      expect(r.results.checkers.output.summary).toMatch(/sequential run of nocrash/);
      // Crashed workers (exit 1) were relaunched in their slots.
      expect(workerOps(r.ops, "fail").length).toBeGreaterThan(0);
      expect(
        r.ops.some(
          (op) =>
            op.f === "worker" &&
            /^w\d\.\d+$/.test(String((op.value as { instance: string }).instance)),
        ),
      ).toBe(true);
    },
    TEST_TIMEOUT_MS,
  );

  it.concurrent(
    "survives worker kills, pauses and partitions",
    async (ctx) => {
      const r = await run(
        ctx,
        system(
          "--mr-app wc --mr-files 16 --node-count 3 --task-timeout-ms 1000 --time-limit 40 --nemesis kill,pause,partition --nemesis-interval 0.4 --seed 1",
        ),
      );
      expect(r.exitCode, r.stdout).toBe(0);
      for (const f of ["start-kill", "start-pause", "start-partition"]) {
        expect(nemesisEvents(r.ops, f).length, f).toBeGreaterThan(0);
      }
      // Killed workers came back as new instances.
      expect(r.ops.some((op) => op.f === "worker" && op.error === "killed by the nemesis")).toBe(
        true,
      );
      expect(noneAlive(r.store)).toBe(true);
    },
    TEST_TIMEOUT_MS,
  );
});

describe("mapreduce, interrupted", () => {
  it(
    "Ctrl-C stops every program, keeps the history and exits 3",
    async (ctx) => {
      const store = tempStore(ctx.onTestFinished);
      // Full-length stalls: the job is still running when the signal comes.
      const cli = startCli(
        [
          ..."test --system mapreduce -w mapreduce --mr-app crash --node-count 3 --time-limit 60".split(
            " ",
          ),
          "--store",
          store,
          "-q",
        ],
        RUN_TIMEOUT_MS,
      );
      const historyPath = join(store, "latest", "history.jsonl");
      const deadline = Date.now() + 20_000;
      const workersStarted = () =>
        existsSync(historyPath) &&
        (readFileSync(historyPath, "utf8").match(/"f":"worker"/g) ?? []).length >= 3;
      while (Date.now() < deadline && !workersStarted()) {
        await new Promise((r) => setTimeout(r, 100));
      }
      cli.kill("SIGINT");
      const r = await cli;
      expect(r.exitCode).toBe(3);
      expect(readResults(store).valid).toBe("unknown");
      expect(noneAlive(store)).toBe(true);
    },
    TEST_TIMEOUT_MS,
  );
});
