// MapReduce benchmark (issue 8): throughput of word count (input MB/s) with 1, 2 and 4 workers on
// a seeded generated corpus, running the real coordinator and worker programs directly (no
// harness, no proxy) in a temp dir. A run's time is from the coordinator listening to its "job
// done" log line (so it includes worker start-up, but not the coordinator's 1 s exit delay).
// Every run's output is compared with the sequential oracle: fast wrong answers are not figures.
// Beside wall-clock throughput, the CPU time all the job's processes used (each logs its own at
// exit): on a machine shared with other jobs it varies far less than the wall clock does.
import { spawn } from "node:child_process";
import { copyFileSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { distFile } from "../harness/paths.js";
import { Random } from "../harness/random.js";
import { sequential } from "../protocols/mapreduce/sequential.js";
import { writeCorpus } from "../workloads/mapreduce/job.js";

const SEED = 1;
const FILES = 8;
const BYTES_PER_FILE = 512 * 1024;
const N_REDUCE = 10;
const WORKER_COUNTS = [1, 2, 4];
/** Runs per worker count; the median is reported. */
const REPEATS = 3;
/** A run taking longer than this fails the bench. */
const RUN_TIMEOUT_MS = 120_000;

interface Proc {
  pid: number;
  stderr: () => string;
  exited: Promise<number | null>;
}

function start(program: string, args: string[], cwd: string): Proc {
  const child = spawn(process.execPath, [distFile(`systems/mapreduce/${program}`), ...args], {
    cwd,
    detached: true,
    stdio: ["ignore", "ignore", "pipe"],
  });
  let stderr = "";
  child.stderr?.on("data", (chunk: Buffer) => {
    stderr += chunk.toString("utf8");
  });
  return {
    pid: child.pid as number,
    stderr: () => stderr,
    exited: new Promise((resolve) => child.on("exit", (code) => resolve(code))),
  };
}

async function until(done: () => boolean, deadline_ms: number): Promise<void> {
  while (!done()) {
    if (performance.now() > deadline_ms) throw new Error("mapreduce bench: run timed out");
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** One job: its time, and the CPU time its processes used (from their exit log lines), in ms. */
async function run(corpus: string, files: string[], workers: number, oracle: string[]) {
  const dir = mkdtempSync(join(tmpdir(), "faultline-bench-mr-"));
  const procs: Proc[] = [];
  try {
    for (const f of files) copyFileSync(join(corpus, f), join(dir, f));
    const deadline = performance.now() + RUN_TIMEOUT_MS;
    const args = ["--port", "0", "--n-reduce", String(N_REDUCE), ...files];
    const c = start("coordinator.js", args, dir);
    procs.push(c);
    await until(() => /listening on 127\.0\.0\.1:\d+/.test(c.stderr()), deadline);
    const t0 = performance.now();
    const port = /listening on 127\.0\.0\.1:(\d+)/.exec(c.stderr())?.[1];
    for (let i = 0; i < workers; i++) {
      procs.push(start("worker.js", ["--coordinator", `127.0.0.1:${port}`, "--app", "wc"], dir));
    }
    await until(() => c.stderr().includes("job done"), deadline);
    const took_ms = performance.now() - t0;
    await Promise.all(procs.map((p) => p.exited));
    const out = readdirSync(dir)
      .filter((n) => n.startsWith("mr-out"))
      .flatMap((n) => readFileSync(join(dir, n), "utf8").split("\n"))
      .filter(Boolean)
      .sort();
    if (JSON.stringify(out) !== JSON.stringify(oracle)) {
      throw new Error(`mapreduce bench: ${workers}-worker output differs from the sequential run`);
    }
    let cpu_ms = 0;
    for (const p of procs) {
      const m = /\(cpu (\d+) ms\)/.exec(p.stderr());
      if (!m)
        throw new Error(`mapreduce bench: a process did not log its CPU time:\n${p.stderr()}`);
      cpu_ms += Number(m[1]);
    }
    return { took_ms, cpu_ms };
  } finally {
    for (const p of procs) {
      try {
        process.kill(-p.pid, "SIGKILL");
      } catch {
        // exited
      }
    }
    rmSync(dir, { recursive: true, force: true });
  }
}

export async function benchMapreduce(): Promise<string> {
  const corpus = mkdtempSync(join(tmpdir(), "faultline-bench-mr-corpus-"));
  try {
    const files = writeCorpus(corpus, new Random(SEED), FILES, BYTES_PER_FILE / 1024);
    const bytes = files.reduce((n, f) => n + statSync(join(corpus, f)).size, 0);
    const oracle = await sequential("wc", files, corpus);
    const t0 = performance.now();
    await sequential("wc", files, corpus);
    const sequential_ms = performance.now() - t0;
    const mb = bytes / 1e6;
    const rows = [
      `wc over ${FILES} files, ${mb.toFixed(2)} MB (seed ${SEED}, ${oracle.length} distinct words), ` +
        `n-reduce ${N_REDUCE}; coordinator and workers as processes on 127.0.0.1, no proxy; ` +
        `median of ${REPEATS} runs. In-process sequential wc (the oracle): ` +
        `${sequential_ms.toFixed(0)} ms, ${(mb / (sequential_ms / 1000)).toFixed(2)} MB/s.`,
      "",
      "| workers | job time ms (median) | runs ms | input MB/s | CPU s (all processes, median) | MB per CPU-s |",
      "|---:|---:|---|---:|---:|---:|",
    ];
    const median = (xs: number[]) =>
      [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;
    for (const workers of WORKER_COUNTS) {
      const runs = [];
      for (let i = 0; i < REPEATS; i++) runs.push(await run(corpus, files, workers, oracle));
      const took = median(runs.map((r) => r.took_ms));
      const cpu = median(runs.map((r) => r.cpu_ms));
      rows.push(
        `| ${workers} | ${took.toFixed(0)} | ${runs.map((r) => r.took_ms.toFixed(0)).join(", ")} | ` +
          `${(mb / (took / 1000)).toFixed(2)} | ${(cpu / 1000).toFixed(2)} | ${(mb / (cpu / 1000)).toFixed(2)} |`,
      );
    }
    return rows.join("\n");
  } finally {
    rmSync(corpus, { recursive: true, force: true });
  }
}
