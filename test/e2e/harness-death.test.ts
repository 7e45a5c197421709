// A harness killed with SIGKILL (or by the OOM killer) runs none of its exit handlers; its nodes
// must die with it all the same (the watchdog in harness/process-groups.ts), on every transport,
// wrapper scripts' children included, and the history must stay readable.
import { randomUUID } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { readHistory } from "../../harness/store.js";
import { processesWithEnv } from "../global-setup.js";
import { FIXTURES, startCli, tempStore } from "../helpers.js";

/** Every process of one run carries this variable, with a value of its own. */
const MARKER = "FAULTLINE_DEATH_TEST";
/** Runs last far longer than the test: it always ends by SIGKILL. */
const RUN_TIMEOUT_MS = 120_000;
/** Bound on the run starting its programs (a loaded CI machine starts them slowly). */
const STARTED_TIMEOUT_MS = 30_000;
/** Bound on every process of the run being gone once the harness is killed. */
const GONE_TIMEOUT_MS = 10_000;
/** Killed only once this many history lines are written: mid-run, with ops in flight. */
const MIN_HISTORY_LINES = 3;
const POLL_MS = 100;

async function until(condition: () => boolean, timeout_ms: number): Promise<boolean> {
  const deadline = Date.now() + timeout_ms;
  while (Date.now() < deadline) {
    if (condition()) return true;
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
  return condition();
}

function historyText(path: string): string {
  return existsSync(path) ? readFileSync(path, "utf8") : "";
}

/**
 * Each run; how many processes it starts besides the harness and its watchdog; and what its
 * history must show before the kill.
 */
const RUNS: Array<[string, number, string]> = [
  // A wrapper that forgets `exec`: per node sh, its background sleep, and echo.mjs.
  [`test --bin ${join(FIXTURES, "wrapper.sh")} -w echo --node-count 3 --rate 20`, 9, ""],
  // Killed while every node is paused: a stopped node never sees its stdin close. Seed 4
  // pauses them from about 6.6 s to 10.8 s.
  [
    "test --system gossip -w broadcast --node-count 3 --rate 20 --nemesis pause --kill-targets all --nemesis-interval 3 --seed 4",
    3,
    '"start-pause"',
  ],
  // tcp: a coordinator and two workers.
  ["test --system mapreduce -w mapreduce --node-count 2", 3, ""],
  // udp: a server and two clients.
  ["test --system lsp -w lsp --concurrency 2 --rate 20", 3, ""],
];

describe("a harness killed with SIGKILL", () => {
  it.each(RUNS)(
    "leaves no process of its run behind, and a readable history: %s",
    async (line, programs, mark) => {
      const cwd = tempStore();
      const token = randomUUID();
      const harness = startCli([...line.split(" "), "--time-limit", "100", "-q"], RUN_TIMEOUT_MS, {
        cwd,
        env: { [MARKER]: token },
      });
      const history = join(cwd, "store", "latest", "history.jsonl");
      const others = () => processesWithEnv(MARKER, token).filter((p) => p.pid !== harness.pid);
      const started = await until(() => {
        const text = historyText(history);
        return (
          text.split("\n").length > MIN_HISTORY_LINES &&
          text.includes(mark) &&
          others().length >= programs
        );
      }, STARTED_TIMEOUT_MS);
      expect(
        started,
        `no ${programs} programs, ${MIN_HISTORY_LINES} history lines and ${mark} within ${STARTED_TIMEOUT_MS} ms`,
      ).toBe(true);

      harness.kill("SIGKILL");
      await harness;
      const gone = await until(() => others().length === 0, GONE_TIMEOUT_MS);
      const survivors = others();
      for (const { pid } of survivors) process.kill(pid, "SIGKILL"); // ours; the suite goes on
      expect(gone, survivors.map((p) => `${p.pid} ${p.args}`).join("\n")).toBe(true);

      expect(readHistory(history).length).toBeGreaterThanOrEqual(MIN_HISTORY_LINES);
    },
    STARTED_TIMEOUT_MS + GONE_TIMEOUT_MS + 30_000,
  );
});
