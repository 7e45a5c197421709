// The MapReduce programs as real processes (systems/mapreduce), in the order of MIT's test-mr.sh
// (workloads/mapreduce/README.md "The test script's shape"): wc and indexer equal the sequential
// oracle, maps and reduces run in parallel, each map runs once (job count), nothing exits before
// the output is final (early exit), and the crash app with relaunched workers still gives the right
// output. Then each bug variant, shown directly. Every job runs in its own temp dir; every process
// is in its own process group and is SIGKILLed after the test, whatever happened.
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { connect, createServer, type Server, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { afterEach, describe, expect, it } from "vitest";
import { distFile } from "../../harness/paths.js";
import { Random } from "../../harness/random.js";
import { words } from "../../protocols/mapreduce/apps/words.js";
import { sequential } from "../../protocols/mapreduce/sequential.js";
import { writeCorpus } from "../../workloads/mapreduce/job.js";

interface Proc {
  name: string;
  child: ChildProcess;
  pid: number;
  stderr: string;
  exited: boolean;
  exit: Promise<{ code: number | null; signal: string | null }>;
}

/** How long a test waits for a job or a process before it fails. */
const JOB_DEADLINE_MS = 30_000;
const EXIT_DEADLINE_MS = 10_000;
const POLL_MS = 20;

const jobs: Job[] = [];
const closers: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const close of closers.splice(0)) await close();
  for (const job of jobs.splice(0)) await job.cleanup();
});

async function waitFor(done: () => boolean, what: string, timeout_ms = JOB_DEADLINE_MS) {
  const deadline = Date.now() + timeout_ms;
  while (!done()) {
    if (Date.now() > deadline)
      throw new Error(`timed out after ${timeout_ms} ms waiting for ${what}`);
    await sleep(POLL_MS);
  }
}

async function waitExit(p: Proc, timeout_ms = EXIT_DEADLINE_MS) {
  await waitFor(() => p.exited, `${p.name} to exit`, timeout_ms);
  return p.exit;
}

class Job {
  readonly dir = mkdtempSync(join(tmpdir(), "faultline-mr-"));
  readonly procs: Proc[] = [];
  files: string[] = [];
  port = 0;
  coordinator: Proc | undefined;

  constructor(readonly env: Record<string, string> = {}) {
    jobs.push(this);
  }

  corpus(files: number, bytes_per_file: number, seed = 1): string[] {
    this.files = writeCorpus(this.dir, new Random(seed), files, bytes_per_file / 1024);
    return this.files;
  }

  spawn(name: string, program: string, args: string[]): Proc {
    const child = spawn(process.execPath, [distFile(`systems/mapreduce/${program}`), ...args], {
      cwd: this.dir,
      detached: true, // its own process group, killed whole in cleanup()
      stdio: ["ignore", "ignore", "pipe"],
      env: { ...process.env, ...this.env },
    });
    const proc: Proc = {
      name,
      child,
      pid: child.pid as number,
      stderr: "",
      exited: false,
      exit: new Promise((resolve) =>
        child.on("exit", (code, signal) => {
          proc.exited = true;
          resolve({ code, signal });
        }),
      ),
    };
    child.stderr?.on("data", (chunk: Buffer) => {
      proc.stderr += chunk.toString("utf8");
    });
    this.procs.push(proc);
    return proc;
  }

  async startCoordinator(args: string[] = []): Promise<Proc> {
    const c = this.spawn("coordinator", "coordinator.js", ["--port", "0", ...args, ...this.files]);
    this.coordinator = c;
    await waitFor(() => /listening on 127\.0\.0\.1:\d+/.test(c.stderr) || c.exited, "listening");
    const m = /listening on 127\.0\.0\.1:(\d+)/.exec(c.stderr);
    if (!m) throw new Error(`coordinator did not start:\n${c.stderr}`);
    this.port = Number(m[1]);
    return c;
  }

  worker(app: string, args: string[] = [], port = this.port): Proc {
    return this.spawn(`worker ${this.procs.length}`, "worker.js", [
      "--coordinator",
      `127.0.0.1:${port}`,
      "--app",
      app,
      ...args,
    ]);
  }

  /** `sort mr-out* | grep .` */
  output(): string[] {
    return readdirSync(this.dir)
      .filter((n) => n.startsWith("mr-out"))
      .flatMap((n) => readFileSync(join(this.dir, n), "utf8").split("\n"))
      .filter((line) => line !== "")
      .sort();
  }

  sequential(app: Parameters<typeof sequential>[0]): Promise<string[]> {
    return sequential(app, this.files, this.dir);
  }

  count(pattern: RegExp): number {
    return (this.coordinator?.stderr.match(new RegExp(pattern, "g")) ?? []).length;
  }

  async cleanup(): Promise<void> {
    for (const p of this.procs) {
      if (p.exited) continue;
      try {
        process.kill(-p.pid, "SIGKILL");
      } catch {
        // already gone
      }
    }
    await Promise.all(this.procs.map((p) => waitExit(p, 5_000).catch(() => {})));
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** Keeps a worker running in `job` while the coordinator runs (test-mr.sh's relaunch loop). */
async function relaunchLoop(job: Job, app: string, args: string[]): Promise<void> {
  const coordinator = job.coordinator as Proc;
  while (!coordinator.exited) {
    const w = job.worker(app, args);
    await Promise.race([w.exit, coordinator.exit]);
    await sleep(200);
  }
}

/**
 * A TCP relay to the coordinator that resets every POST /report: a worker behind it does its
 * task but is never heard from (its reports are lost in the network, as in a partition).
 */
async function reportDroppingRelay(port: number): Promise<{ port: number; dropped(): number }> {
  let dropped = 0;
  const sockets = new Set<Socket>();
  const track = (s: Socket) => {
    sockets.add(s);
    s.on("close", () => sockets.delete(s));
    s.on("error", () => {});
  };
  const server: Server = createServer((client) => {
    track(client);
    let head = Buffer.alloc(0);
    const onData = (chunk: Buffer) => {
      head = Buffer.concat([head, chunk]);
      if (head.length < "POST /report".length) return;
      client.off("data", onData);
      if (head.toString("latin1").startsWith("POST /report")) {
        dropped++;
        client.resetAndDestroy();
        return;
      }
      const upstream = connect(port, "127.0.0.1");
      track(upstream);
      upstream.on("close", () => client.destroy());
      client.on("close", () => upstream.destroy());
      upstream.write(head);
      client.pipe(upstream);
      upstream.pipe(client);
    };
    client.on("data", onData);
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  closers.push(async () => {
    for (const s of sockets) s.destroy();
    await new Promise<void>((r) => server.close(() => r()));
  });
  return { port: (server.address() as { port: number }).port, dropped: () => dropped };
}

describe("mapreduce, test-mr.sh style", () => {
  it("wc: coordinator + 3 workers; the output equals the sequential run; everyone exits 0", async () => {
    const job = new Job();
    job.corpus(8, 60_000);
    const c = await job.startCoordinator();
    const ws = [job.worker("wc"), job.worker("wc"), job.worker("wc")];
    expect((await waitExit(c, JOB_DEADLINE_MS)).code).toBe(0);
    expect(job.output()).toEqual(await job.sequential("wc"));
    for (const w of ws) expect((await waitExit(w)).code).toBe(0);
    // Only final names: temporary files are dot files.
    const names = readdirSync(job.dir).filter((n) => n.startsWith("mr-"));
    expect(names.every((n) => /^mr-(out-\d+|\d+-\d+)$/.test(n))).toBe(true);
    expect(names.filter((n) => n.startsWith("mr-out-"))).toHaveLength(10);
  });

  it("indexer: 2 workers; the output equals the sequential run", async () => {
    const job = new Job();
    job.corpus(8, 20_000, 2);
    const c = await job.startCoordinator(["--n-reduce", "4"]);
    job.worker("indexer");
    job.worker("indexer");
    expect((await waitExit(c, JOB_DEADLINE_MS)).code).toBe(0);
    expect(job.output()).toEqual(await job.sequential("indexer"));
  });

  it("map parallelism (mtiming): both workers ran maps, at the same time", async () => {
    const job = new Job({ FAULTLINE_MR_TIME_SCALE: "0.3" });
    job.corpus(8, 500);
    const c = await job.startCoordinator();
    job.worker("mtiming");
    job.worker("mtiming");
    await waitExit(c, JOB_DEADLINE_MS);
    const out = job.output();
    expect(out.filter((l) => l.startsWith("times-"))).toHaveLength(2);
    expect(out.some((l) => /^parallel-\d+ .*\b2\b/.test(l))).toBe(true);
  });

  it("reduce parallelism (rtiming): at least two keys saw 2 reducers at once", async () => {
    const job = new Job({ FAULTLINE_MR_TIME_SCALE: "0.3" });
    job.corpus(8, 500);
    const c = await job.startCoordinator();
    job.worker("rtiming");
    job.worker("rtiming");
    await waitExit(c, JOB_DEADLINE_MS);
    const out = job.output();
    expect(out).toHaveLength(10);
    expect(out.filter((l) => / 2$/.test(l)).length).toBeGreaterThanOrEqual(2);
  });

  it("job count: 4 workers two at a time; each of the 8 map tasks ran exactly once", async () => {
    const job = new Job({ FAULTLINE_MR_TIME_SCALE: "0.15" });
    job.corpus(8, 500);
    const c = await job.startCoordinator();
    const first = [job.worker("jobcount"), job.worker("jobcount")];
    await Promise.race(first.map((w) => w.exit));
    job.worker("jobcount");
    job.worker("jobcount");
    await waitExit(c, JOB_DEADLINE_MS);
    expect(job.output()).toEqual(["a 8"]);
    expect(job.count(/assign map/)).toBe(8);
  });

  it("early exit: when the first process exits, mr-out* is already final", async () => {
    const job = new Job({ FAULTLINE_MR_TIME_SCALE: "0.4" });
    job.corpus(8, 500);
    const c = await job.startCoordinator();
    const all = [c, job.worker("early_exit"), job.worker("early_exit"), job.worker("early_exit")];
    await Promise.race(all.map((p) => p.exit));
    const snapshot = job.output();
    for (const p of all) await waitExit(p, JOB_DEADLINE_MS);
    expect(snapshot).toEqual(job.output());
    expect(snapshot).toEqual(await job.sequential("early_exit"));
  });

  it("crash: workers that exit or stall, relaunched, still give the nocrash output", async () => {
    // Stalls of up to 10 s × 0.1 against a 1 s task timeout: some tasks are re-assigned.
    const job = new Job({ FAULTLINE_MR_TIME_SCALE: "0.1" });
    job.corpus(8, 2_000);
    const c = await job.startCoordinator(["--task-timeout-ms", "1000"]);
    const loops = [0, 1, 2, 3].map(() => relaunchLoop(job, "crash", ["--give-up-ms", "1000"]));
    expect((await waitExit(c, 45_000)).code).toBe(0);
    await Promise.all(loops);
    expect(job.output()).toEqual(await job.sequential("nocrash"));
  }, 60_000);
});

describe("mapreduce bug variants, shown directly", () => {
  /**
   * Worker 1 reaches the coordinator through a relay that loses its reports: it writes map 0's
   * files, but the coordinator never hears, so after the task timeout worker 2 runs map 0 again.
   */
  async function reExecutedMap(bug: string[]): Promise<Job> {
    const job = new Job();
    job.corpus(2, 20_000, 4);
    await job.startCoordinator(["--n-reduce", "2", "--task-timeout-ms", "300", ...bug]);
    const relay = await reportDroppingRelay(job.port);
    job.worker("wc", ["--give-up-ms", "60000", ...bug], relay.port);
    await waitFor(() => relay.dropped() > 0, "worker 1's first report");
    job.worker("wc", bug);
    await waitExit(job.coordinator as Proc, JOB_DEADLINE_MS);
    expect(job.count(/assign map 0/)).toBe(2);
    return job;
  }

  it("correct: a re-executed map replaces its intermediate files (wc stays right)", async () => {
    const job = await reExecutedMap([]);
    expect(job.output()).toEqual(await job.sequential("wc"));
  });

  it("double-count: a re-executed map's pairs are appended, so its words count twice", async () => {
    const job = await reExecutedMap(["--bug", "double-count"]);
    const text = (f: string) => readFileSync(join(job.dir, f), "utf8");
    const [f0, f1] = job.files as [string, string];
    const total = job.output().reduce((n, line) => n + Number(line.split(" ")[1]), 0);
    expect(total).toBe(2 * words(text(f0)).length + words(text(f1)).length);
    expect(job.output()).not.toEqual(await job.sequential("wc"));
  });

  it("no-reassign: a killed worker's map is never handed out again; the job hangs", async () => {
    const job = new Job(); // jobcount maps sleep 2-5 s: the kill lands mid-map
    job.corpus(1, 500);
    const c = await job.startCoordinator(["--task-timeout-ms", "300", "--bug", "no-reassign"]);
    const w1 = job.worker("jobcount", ["--bug", "no-reassign"]);
    await waitFor(() => job.count(/assign map 0/) === 1, "map 0 to be assigned");
    process.kill(-w1.pid, "SIGKILL");
    job.worker("jobcount", ["--bug", "no-reassign"]);
    await sleep(2_000); // well past the 300 ms task timeout
    expect(c.exited).toBe(false);
    expect(job.count(/assign map 0/)).toBe(1);
    expect(job.output()).toEqual([]);
  });

  it("early-exit: the coordinator exits while a slow reduce is unfinished", async () => {
    const job = new Job(); // early_exit's sherlock and tom reduces sleep 3 s
    job.corpus(8, 500);
    const bug = ["--bug", "early-exit"];
    const c = await job.startCoordinator(bug);
    for (let i = 0; i < 3; i++) job.worker("early_exit", bug);
    expect((await waitExit(c, JOB_DEADLINE_MS)).code).toBe(0);
    const at_exit = job.output();
    const expected = await job.sequential("early_exit");
    expect(at_exit).not.toEqual(expected);
    expect(expected.filter((l) => !at_exit.includes(l)).join("\n")).toMatch(/sherlock|tom/);
  });

  /** One worker's 10-key rtiming reduce (0.1 s per key) is killed midway, then relaunched. */
  async function killedReduce(bug: string[]) {
    const job = new Job({ FAULTLINE_MR_TIME_SCALE: "0.1" });
    job.corpus(1, 500);
    const c = await job.startCoordinator(["--n-reduce", "1", "--task-timeout-ms", "500", ...bug]);
    const w1 = job.worker("rtiming", bug);
    // rtiming's Reduce holds the marker mr-worker-reduce-<pid> while it runs: the reduce is on.
    const marker = join(job.dir, `mr-worker-reduce-${w1.pid}`);
    await waitFor(() => existsSync(marker), "worker 1's reduce to start");
    await sleep(150);
    process.kill(-w1.pid, "SIGKILL");
    await waitExit(w1);
    const out = join(job.dir, "mr-out-0");
    const after_kill = existsSync(out)
      ? readFileSync(out, "utf8").split("\n").filter(Boolean)
      : null;
    job.worker("rtiming", bug);
    await waitExit(c, JOB_DEADLINE_MS);
    expect(job.output()).toHaveLength(10); // the re-execution completes it
    return after_kill;
  }

  it("correct: a reduce killed midway leaves no mr-out file", async () => {
    expect(await killedReduce([])).toBeNull();
  });

  it("non-atomic-output: a reduce killed midway leaves a partial mr-out file", async () => {
    const lines = await killedReduce(["--bug", "non-atomic-output"]);
    expect(lines).not.toBeNull(); // created when the reduce starts, then grown line by line
    expect(lines?.length).toBeLessThan(10);
  });
});
