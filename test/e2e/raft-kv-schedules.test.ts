// raft-kv's two schedule-dependent bugs, end to end: real node processes, faultline's router,
// a nemesis script that drives the exact interleaving (the simulation tests drive the same
// schedules inside one process), and faultline's checkers giving the verdict. The correct
// variant must survive the same script.
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { type Op, parseHistory } from "../../checkers/history.js";
import { Logger } from "../../harness/logger.js";
import type { ScriptControl, Sent } from "../../harness/nemesis/nemesis.js";
import { type RunOutcome, runTest } from "../../harness/run.js";
import { resolveSystem } from "../../harness/target.js";

const stores: string[] = [];
afterAll(() => {
  for (const dir of stores) rmSync(dir, { recursive: true, force: true });
});

/** Long enough that a crashed node is back before the candidates' next timeout. */
const ELECTION_TIMEOUT = ["--election-timeout-ms", "3000-6000"];

async function run(
  bug: string | undefined,
  script: (control: ScriptControl) => Promise<void>,
  options: { nodes: number; time_s: number; rate: number },
): Promise<RunOutcome> {
  const store = mkdtempSync(join(tmpdir(), "faultline-raft-script-"));
  stores.push(store);
  return runTest(
    {
      workload: "lin-kv",
      target: resolveSystem("raft-kv", "lin-kv", bug, ELECTION_TIMEOUT),
      node_count: options.nodes,
      time_limit_s: options.time_s,
      rate: options.rate,
      concurrency: options.nodes,
      latency: { mean_ms: 0, dist: "constant" },
      topology: "grid",
      recovery_s: 2,
      seed: 1,
      store,
      command: "test (scripted)",
      nemesis: {
        faults: [],
        interval_s: 1,
        packet: { loss: 0, duplicate: 0, delay_ms: 0 },
        script,
      },
    },
    new Logger(true),
    new AbortController().signal,
  );
}

function nemesisEvents(outcome: RunOutcome): Op[] {
  return parseHistory(readFileSync(join(outcome.dir, "history.jsonl"), "utf8")).filter(
    (op) => op.process === "nemesis",
  );
}

const isAppend = ({ body }: Sent) => body.type === "append_entries";
const grantsVote = ({ body }: Sent) => body.type === "request_vote_reply" && body.granted === true;

const requestsVote =
  (node: string) =>
  ({ src, body }: Sent) =>
    src === node && body.type === "request_vote";

/**
 * A voter that forgets its vote, made to vote twice in one term. The leader L becomes the
 * middle of a bridge (the two ends X and Y cannot hear each other) and is killed, so X and Y
 * both time out into the same term; their timeouts differ by less than one timeout, so each is
 * a candidate before the other's next. L comes back hearing only X, grants it, crashes right
 * after granting and comes back again. Now it hears only Y (X's first entries would make L's
 * log longer than Y's and refuse Y for that reason): without a persisted vote it grants Y too.
 * Then L hears both: two leaders of one term send it AppendEntries.
 */
async function doubleVote(control: ScriptControl): Promise<void> {
  const { src: leader } = await control.message(isAppend, "AppendEntries from a leader");
  const [x, y] = control.nodes.filter((n) => n !== leader) as [string, string];
  control.cut([
    [x, y],
    [y, x],
  ]);
  await control.kill(leader);
  await Promise.all([
    control.message(requestsVote(x), `RequestVote from ${x}`),
    control.message(requestsVote(y), `RequestVote from ${y}`),
  ]);
  control.cut([[y, leader]]);
  const votedX = control
    .message((s) => s.src === leader && grantsVote(s), `a vote granted by ${leader}`)
    .then(() => {
      control.cut([[x, leader]]);
      control.heal([[y, leader]]);
    });
  const crashed = control.crashAfter(leader, grantsVote, `a vote granted by ${leader}`);
  await control.restart(leader);
  await Promise.all([votedX, crashed]);
  // Only a forgetful voter grants this one; the correct variant refuses, and the script goes on.
  await control
    .message((s) => s.src === leader && s.dest === y && grantsVote(s), `a vote for ${y}`, 3_000)
    .catch(() => undefined);
  control.heal();
  await control.sleep(3_000);
}

describe("raft-kv bugs that need an exact schedule, caught end to end by a nemesis script", () => {
  it.concurrent("no-persist-vote: a restarted voter votes twice in one term, and two leaders meet", async () => {
    const outcome = await run("no-persist-vote", doubleVote, { nodes: 3, time_s: 20, rate: 0.3 });
    expect(outcome.exitCode, `${outcome.dir} ${outcome.results.summary}`).toBe(1);
    expect(outcome.results.checkers.crashes?.valid).toBe(false);
    expect(outcome.results.checkers.crashes?.summary).toMatch(/exit code 70/);
    const events = nemesisEvents(outcome).map((e) => e.f);
    expect(events.filter((f) => f === "crashed")).toHaveLength(1);
    expect(events.filter((f) => f === "start-kill")).toHaveLength(1);
    expect(events).toContain("script-done");
  }, 60_000);

  it.concurrent("the correct variant survives the same script", async () => {
    const outcome = await run(undefined, doubleVote, { nodes: 3, time_s: 20, rate: 0.3 });
    expect(outcome.exitCode, outcome.results.summary).toBe(0);
    expect(nemesisEvents(outcome).map((e) => [e.f, e.time / 1e9])).toContainEqual([
      "script-done",
      expect.any(Number),
    ]);
  }, 60_000);
});
