// `npm run bench -- bugs`: how reliably `faultline test --system S --bug B` alone (the bug's
// manifest run) catches each planted bug, over BUG_SEEDS seeds (default 3), as Markdown.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { execa } from "execa";
import { loadManifest, systemNames } from "../harness/target.js";

const CLI = join(import.meta.dirname, "..", "harness", "cli.js");
const DEFAULT_SEEDS = 3;
/** Runs at once: each is a cluster plus the harness, and two cores are what CI has. */
const PARALLEL_RUNS = 2;
/** A run past this is killed and counted as a miss (the promise is a catch within 60 s). */
const RUN_KILL_MS = 120_000;

interface Outcome {
  exitCode: number | undefined;
  seconds: number;
}

async function runBug(system: string, bug: string, seed: number): Promise<Outcome> {
  const cwd = mkdtempSync(join(tmpdir(), "faultline-bench-bugs-"));
  const started = performance.now();
  try {
    const r = await execa(
      process.execPath,
      [CLI, "test", "--system", system, "--bug", bug, "--seed", String(seed), "-q"],
      { cwd, reject: false, timeout: RUN_KILL_MS, killSignal: "SIGKILL" },
    );
    return { exitCode: r.exitCode, seconds: (performance.now() - started) / 1000 };
  } finally {
    rmSync(cwd, { recursive: true, force: true });
  }
}

export async function benchBugs(): Promise<string> {
  const seeds = Number(process.env.BUG_SEEDS ?? DEFAULT_SEEDS);
  const jobs = systemNames().flatMap((system) =>
    Object.keys(loadManifest(system).bugs).flatMap((bug) =>
      Array.from({ length: seeds }, (_, i) => ({ system, bug, seed: i + 1 })),
    ),
  );
  const outcomes = new Map<string, Outcome[]>();
  let next = 0;
  const worker = async () => {
    for (let job = jobs[next++]; job; job = jobs[next++]) {
      const key = `${job.system} | ${job.bug}`;
      const outcome = await runBug(job.system, job.bug, job.seed);
      outcomes.set(key, [...(outcomes.get(key) ?? []), outcome]);
    }
  };
  await Promise.all(Array.from({ length: PARALLEL_RUNS }, worker));
  const rows = [...outcomes].map(([key, runs]) => {
    const caught = runs.filter((r) => r.exitCode === 1).length;
    const times = runs.map((r) => r.seconds);
    const mean = times.reduce((a, b) => a + b, 0) / times.length;
    return `| ${key} | ${caught}/${runs.length} | ${mean.toFixed(1)} | ${Math.max(...times).toFixed(1)} |`;
  });
  return [
    `Seeds 1–${seeds}, ${PARALLEL_RUNS} runs at a time; caught = exit 1 (INVALID).`,
    "",
    "| system | bug | caught | mean s | max s |",
    "|---|---|---|---|---|",
    ...rows.sort(),
  ].join("\n");
}
