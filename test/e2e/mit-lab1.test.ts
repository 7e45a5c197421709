// Lab mode (issue 24 item 11, workloads/mit-lab1/README.md): an MIT 6.5840 Lab 1 solution run
// unchanged. The solution is ours, written for this test in the lab's shape
// (test/fixtures/mit-lab1/: Go net/rpc over the per-user UNIX socket, a do-not-change
// mrcoordinator.go with nReduce 10, apps as plugins, a 10 s task timeout). Built with
// `-tags faultline_backup_bug` it hands a running task to any idle worker, so maps run twice.
//
// The lab's socket is one per user, so these runs go one at a time; they share one store, so
// the Go builds are cached across them (a cold Go cache builds the plugin runtime once).
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { ROOT, readResults, runCli } from "../helpers.js";

const LAB = join(ROOT, "test", "fixtures", "mit-lab1");
const STORE = mkdtempSync(join(tmpdir(), "faultline-mit-lab1-"));
afterAll(() => rmSync(STORE, { recursive: true, force: true }));

/** The first run may build Go's plugin runtime from a cold cache. */
const FIRST_RUN_TIMEOUT_MS = 300_000;
const RUN_TIMEOUT_MS = 180_000;

function lab(args: readonly string[], env: Record<string, string> = {}, bin = LAB) {
  return runCli(
    ["test", "-w", "mit-lab1", "--bin", bin, "--store", STORE, "--seed", "1", "-q", ...args],
    RUN_TIMEOUT_MS,
    { env },
  );
}

describe("lab mode on a correct Lab 1 solution", () => {
  it.for([
    ["wc", "output", /equals a sequential run of wc/],
    ["indexer", "output", /equals a sequential run of indexer/],
    ["map-parallelism", "parallelism", /2 workers ran maps, up to 2 at once/],
    ["reduce-parallelism", "parallelism", /reduces ran while another reduce ran/],
    ["job-count", "job-count", /each of the 8 map tasks ran exactly once/],
    ["early-exit", "early-exit", /the output was already final then/],
    ["crash", "output", /equals a sequential run of nocrash/],
  ] as const)(
    "passes test-mr.sh's %s test",
    { timeout: FIRST_RUN_TIMEOUT_MS },
    async ([test, checker, summary]) => {
      const r = await lab(["--lab-test", test, "--time-limit", test === "crash" ? "120" : "45"]);
      expect(r.exitCode, r.stdout + r.stderr).toBe(0);
      const results = readResults(STORE);
      expect(results.checkers[checker].summary).toMatch(summary);
      expect(results.checkers.completion.valid).toBe(true);
    },
  );

  it("stays valid while workers are killed", { timeout: RUN_TIMEOUT_MS }, async () => {
    // Maps sleep 1 s, so a kill lands mid-task and the task must be handed out again.
    const r = await lab([
      "--lab-test",
      "map-parallelism",
      "--time-limit",
      "60",
      "--nemesis",
      "kill",
      "--kill-targets",
      "one",
      "--nemesis-interval",
      "2",
    ]);
    expect(r.exitCode, r.stdout + r.stderr).toBe(0);
    const history = readFileSync(join(STORE, "latest", "history.jsonl"), "utf8")
      .trim()
      .split("\n")
      .map((line) => JSON.parse(line));
    const killed = history.filter(
      (op) => op.f === "worker" && op.error === "killed by the nemesis",
    );
    expect(killed.length).toBeGreaterThan(0);
    const { checkers } = readResults(STORE);
    for (const name of ["output", "parallelism", "completion"]) {
      expect(checkers[name].valid, name).toBe(true);
    }
  });

  it("runs programs already built", { timeout: RUN_TIMEOUT_MS }, async () => {
    const builds = join(STORE, ".mit-lab1-builds");
    const built = readdirSync(builds).map((key) => join(builds, key));
    const dir = built.find((d) => readdirSync(d).includes("wc.so")) as string;
    const r = await lab(["--lab-test", "wc"], {}, dir);
    expect(r.exitCode, r.stdout + r.stderr).toBe(0);
    expect(readResults(STORE).checkers.output.summary).toMatch(/equals a sequential run of wc/);
  });
});

describe("lab mode on a buggy Lab 1 solution", () => {
  it("catches tasks handed out twice with no worker failed", {
    timeout: FIRST_RUN_TIMEOUT_MS,
  }, async () => {
    const r = await lab(["--lab-test", "job-count", "--time-limit", "45"], {
      GOFLAGS: "-tags=faultline_backup_bug",
    });
    expect(r.exitCode, r.stdout + r.stderr).toBe(1);
    const jobCount = readResults(STORE).checkers["job-count"];
    expect(jobCount.valid).toBe(false);
    expect(jobCount.summary).toMatch(
      /maps ran \d+ times for 8 map tasks: \d+ needless re-executions? with no worker killed or crashed/,
    );
  });
});

describe("lab mode refuses what cannot work", () => {
  it("names why network faults cannot apply", async () => {
    const r = await lab(["--nemesis", "partition"]);
    expect(r.exitCode).toBe(3);
    expect(r.stderr).toMatch(/cannot inject partition faults.*same per-user UNIX socket/);
  });

  it("refuses a second run on the same socket", async () => {
    const dir = mkdtempSync(join(tmpdir(), "faultline-lab-socket-"));
    const socket = join(dir, "5840-mr-test");
    try {
      writeFileSync(`${socket}.faultline-lock`, String(process.pid));
      const held = await lab(["--lab-socket", socket]);
      expect(held.exitCode).toBe(3);
      expect(held.stderr.trim()).toBe(
        `faultline: another faultline Lab 1 run (pid ${process.pid}) is using ${socket}: the lab's socket is one per user, so two runs at once would take each other's tasks; wait for it to finish`,
      );
      rmSync(`${socket}.faultline-lock`);
      const server = createServer();
      await new Promise<void>((resolve) => server.listen(socket, resolve));
      try {
        const served = await lab(["--lab-socket", socket]);
        expect(served.exitCode).toBe(3);
        expect(served.stderr).toMatch(/something already serves on .*5840-mr-test/);
        expect(existsSync(socket), "the other job's socket is left alone").toBe(true);
      } finally {
        server.close();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("says what --bin must be", async () => {
    const empty = mkdtempSync(join(tmpdir(), "faultline-not-a-lab-"));
    try {
      const r = await lab([], {}, empty);
      expect(r.exitCode).toBe(3);
      expect(r.stderr).toMatch(/is not an MIT 6.5840 Lab 1 repository/);
    } finally {
      rmSync(empty, { recursive: true, force: true });
    }
  });
});
