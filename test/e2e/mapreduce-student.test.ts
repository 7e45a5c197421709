// Student-like MapReduce workers of ours against faultline's coordinator (issue 24, items 5 and
// 9), each a small program in test/fixtures/nodes/:
// - mr-worker-in-place.mjs writes mr-out-Y in place. The lab's tests pass it (they read the output
//   after the job), so atomic-output is a warning naming its reason, and a failure only under
//   --strict. Before, the run was INVALID.
// - mr-worker-dies-mid-write.mjs does the same and once dies halfway through a file: the partial
//   file is what the lab's rule is for, so atomic-output fails without --strict; so does
//   mr-worker-slow-in-place.mjs when the nemesis kills it mid-file.
// - mr-worker-wrong-protocol.mjs asks for tasks in another protocol and gets HTTP 400 each time:
//   the run could not test anything (exit 3, the first reply quoted), where before it ran to the
//   deadline and came out INVALID (exit 1) on output and completion.
import { join } from "node:path";
import { describe, expect, it, type TestContext } from "vitest";
import { FIXTURES, readResults, runCli, slots, tempStore } from "../helpers.js";

const RUN_TIMEOUT_MS = 90_000;
const TEST_TIMEOUT_MS = 200_000;
const inSlot = slots(2);

async function run(ctx: TestContext, worker: string, flags: string) {
  const store = tempStore(ctx.onTestFinished);
  return inSlot(async () => {
    const args = [
      ..."test --system mapreduce -w mapreduce --mr-time-scale 0.2 --seed 6 -q".split(" "),
      "--worker-bin",
      join(FIXTURES, worker),
      ...flags.split(" "),
      "--store",
      store,
    ];
    const r = await runCli(args, RUN_TIMEOUT_MS);
    return { ...r, results: readResults(store) };
  });
}

/** early_exit's sherlock and tom reduces sleep with their file open and half written. */
const IN_PLACE = "--mr-app early_exit --node-count 3";

describe("a worker that writes mr-out-Y in place (item 5)", () => {
  it.concurrent(
    "is valid with a warning that says why, fault-free",
    async (ctx) => {
      const r = await run(ctx, "mr-worker-in-place.mjs", IN_PLACE);
      expect(r.exitCode, r.stdout).toBe(0);
      const atomic = r.results.checkers["atomic-output"];
      expect(atomic.valid).toBe(true);
      expect(atomic.violation_count).toBeGreaterThan(0);
      expect(atomic.summary).toMatch(/^mr-out-\d+ was visible with .*a warning; --strict fails it/);
      expect(r.results.warnings).toContainEqual(
        expect.stringMatching(/^atomic-output: .*Not a failure: the lab suggests/),
      );
      expect(r.results.checkers.output.valid).toBe(true);
    },
    TEST_TIMEOUT_MS,
  );

  it.concurrent(
    "is invalid under --strict, naming the rule as stricter than the lab's tests",
    async (ctx) => {
      const r = await run(ctx, "mr-worker-in-place.mjs", `${IN_PLACE} --strict`);
      expect(r.exitCode, r.stdout).toBe(1);
      const atomic = r.results.checkers["atomic-output"];
      expect(atomic.valid).toBe(false);
      expect(atomic.summary).toMatch(/\(--strict: the lab suggests .* never check this\)$/);
      expect(r.results.checkers.output.valid).toBe(true);
    },
    TEST_TIMEOUT_MS,
  );

  it.concurrent(
    "is invalid without --strict when it dies halfway through a file",
    async (ctx) => {
      const r = await run(
        ctx,
        "mr-worker-dies-mid-write.mjs",
        "--mr-app wc --node-count 3 --task-timeout-ms 1000",
      );
      expect(r.exitCode, r.stdout).toBe(1);
      const atomic = r.results.checkers["atomic-output"];
      expect(atomic.valid).toBe(false);
      expect(atomic.summary).toMatch(
        /^w\d(\.\d+)? exited with code 1 at [\d.]+ s while writing mr-out-\d+ in place, leaving it with \d+ of its final \d+ bytes/,
      );
      // The re-executed reduce rewrote it: the final output is right, the partial file mattered.
      expect(r.results.checkers.output.valid).toBe(true);
    },
    TEST_TIMEOUT_MS,
  );
});

describe("a slow in-place writer under worker kills (item 5)", () => {
  it.concurrent(
    "is invalid without --strict: a kill mid-file left it partial",
    async (ctx) => {
      // 200 ms per output line: a worker killed in the reduce phase dies mid-file.
      const r = await run(
        ctx,
        "mr-worker-slow-in-place.mjs",
        "--mr-app wc --mr-files 2 --mr-file-kib 0.2 --n-reduce 3 --node-count 2 --task-timeout-ms 1000 --nemesis kill --nemesis-interval 2 --time-limit 40",
      );
      expect(r.exitCode, r.stdout).toBe(1);
      const atomic = r.results.checkers["atomic-output"];
      expect(atomic.valid).toBe(false);
      expect(atomic.summary).toMatch(
        /^w\d(\.\d+)? was killed by the nemesis at [\d.]+ s while writing mr-out-\d+ in place, leaving it with \d+/,
      );
    },
    TEST_TIMEOUT_MS,
  );
});

describe("a worker that does not speak the coordinator's protocol (item 9)", () => {
  it.concurrent(
    "could not run (exit 3), quoting the first reply it got",
    async (ctx) => {
      const r = await run(ctx, "mr-worker-wrong-protocol.mjs", "--node-count 3 --time-limit 20");
      expect(r.exitCode, r.stderr).toBe(3);
      const reason =
        /^your worker does not speak the coordinator's protocol: none of its calls was accepted and \d+ replies rejected the request; the first reply it got was: HTTP\/1\.1 400 Bad Request: \{"error":"field \\"worker\\" must be a string"\}/;
      expect(r.stderr).toMatch(/faultline: your worker does not speak the coordinator's protocol/);
      expect(r.results).toMatchObject({
        valid: "unknown",
        status: "could-not-run",
        errors: [{ kind: "setup", message: expect.stringMatching(reason) }],
      });
    },
    TEST_TIMEOUT_MS,
  );
});
