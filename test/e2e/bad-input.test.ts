// Bad input gets one clear line and exit 3; misbehaving nodes are reported, never hang the
// harness, and leave no process behind; the history on disk survives.
import { chmodSync, copyFileSync, existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parseHistory } from "../../checkers/history.js";
import {
  FIXTURES,
  groupAlive,
  nodePids,
  ROOT,
  readResults,
  runCli,
  startCli,
  tempStore,
} from "../helpers.js";

const quick = ["--time-limit", "2", "--rate", "20", "--node-count", "1", "--recovery-time", "0"];

/** A short echo run of one misbehaving fixture node. */
const runFixture = (fixture: string, store: string) =>
  runCli(["test", "-w", "echo", "--bin", join(FIXTURES, fixture), "--store", store, ...quick]);

describe("bad arguments", () => {
  it("names an unknown workload", async () => {
    const r = await runCli(["test", "-w", "nope", "--bin", join(FIXTURES, "echo.mjs")]);
    expect(r.exitCode).toBe(3);
    expect(r.stderr).toMatch(/nope.*invalid|choices/i);
  });

  it("names an unknown option", async () => {
    const r = await runCli(["test", "--no-such-flag"]);
    expect(r.exitCode).toBe(3);
    expect(r.stderr).toContain("--no-such-flag");
  });

  it("rejects a non-numeric --rate", async () => {
    const r = await runCli([
      "test",
      "-w",
      "echo",
      "--bin",
      join(FIXTURES, "echo.mjs"),
      "--rate",
      "fast",
    ]);
    expect(r.exitCode).toBe(3);
    expect(r.stderr).toMatch(/--rate/);
  });

  it("refuses reconfigure faults for a workload that cannot reconfigure", async () => {
    const bin = join(FIXTURES, "echo.mjs");
    const r = await runCli(["test", "-w", "lin-kv", "--bin", bin, "--nemesis", "reconfigure"]);
    expect(r.exitCode).toBe(3);
    expect(r.stderr.trim().split("\n").at(-1)).toBe(
      "faultline: the lin-kv workload cannot take reconfigure faults: only a workload that changes the system's configuration can (shard-kv)",
    );
  });

  it("names the node count shard-kv needs", async () => {
    const bin = join(FIXTURES, "echo.mjs");
    const r = await runCli(["test", "-w", "shard-kv", "--bin", bin, "--node-count", "8"]);
    expect(r.exitCode).toBe(3);
    expect(r.stderr.trim().split("\n").at(-1)).toMatch(
      /^faultline: shard-kv needs 3 controller nodes.*--node-count 9 \(2 groups\)$/,
    );
  });

  it("says when --bin does not exist", async () => {
    const r = await runCli(["test", "-w", "echo", "--bin", "/nonexistent/node"]);
    expect(r.exitCode).toBe(3);
    expect(r.stderr.trim().split("\n")).toEqual([
      "faultline: --bin /nonexistent/node does not exist",
    ]);
  });

  it("says when --bin is not executable", async () => {
    const store = tempStore();
    const copy = join(store, "not-executable.mjs");
    copyFileSync(join(FIXTURES, "echo.mjs"), copy);
    chmodSync(copy, 0o644);
    const r = await runCli(["test", "-w", "echo", "--bin", copy]);
    expect(r.exitCode).toBe(3);
    expect(r.stderr).toMatch(/is not executable \(try chmod \+x\)/);
  });

  it("says what is missing when no target is given", async () => {
    const r = await runCli(["test", "-w", "echo"]);
    expect(r.exitCode).toBe(3);
    expect(r.stderr).toMatch(/--bin .* or --system/);
  });

  it("prints help for every command", async () => {
    for (const args of [["--help"], ["test", "--help"], ["check", "--help"]]) {
      const r = await runCli(args);
      expect(r.exitCode).toBe(0);
      expect(r.stdout).toMatch(/Usage: faultline/);
    }
  });
});

describe("misbehaving nodes", () => {
  it("a node that never answers init is a setup error naming it, with its stderr", async () => {
    const store = tempStore();
    const started = Date.now();
    const r = await runFixture("silent.mjs", store);
    expect(r.exitCode).toBe(3);
    expect(r.stderr).toMatch(/node n0 did not answer init within 10 s/);
    expect(r.stderr).toContain("I read stdin but never answer");
    expect(Date.now() - started).toBeLessThan(20_000);
    for (const pid of nodePids(store, ["n0"])) expect(groupAlive(pid)).toBe(false);
  });

  it("a node that dies before init is reported at once with its exit code and stderr", async () => {
    const store = tempStore();
    const started = Date.now();
    const r = await runFixture("exit-at-start.mjs", store);
    expect(r.exitCode).toBe(3);
    expect(r.stderr).toMatch(/node n0 exited during init \(code 7/);
    expect(r.stderr).toContain("missing configuration file");
    expect(Date.now() - started).toBeLessThan(8_000);
  });

  it("non-JSON on stdout is a protocol violation with the offending line", async () => {
    const store = tempStore();
    const r = await runFixture("garbage.mjs", store);
    expect(r.exitCode).toBe(1);
    const results = readResults(store);
    expect(results.checkers.protocol.valid).toBe(false);
    expect(results.checkers.protocol.summary).toMatch(/not JSON/);
    expect(results.checkers.protocol.errors[0].raw).toMatch(/^DEBUG got echo/);
    expect(results.checkers.echo.valid).toBe(true);
  });

  it("lines written before a node answered init are told apart from other violations", async () => {
    const store = tempStore();
    // before-init.mjs: the last node writes 3 lines with src null, answers init, writes a 4th;
    // the script restarts it once, so it does all of that twice.
    const restart = `${join(ROOT, "test", "fixtures", "scripts", "fixed-faults.mjs")}#restartLast`;
    const r = await runCli([
      "test",
      "-w",
      "echo",
      "--bin",
      join(FIXTURES, "before-init.mjs"),
      "--store",
      store,
      "--nemesis-script",
      restart,
      ...quick,
      "--node-count", // the last one counts
      "3",
    ]);
    expect(r.exitCode).toBe(1);
    const protocol = readResults(store).checkers.protocol;
    expect(protocol.summary).toBe(
      'n2 sent 6 lines before it answered init; their src was null (e.g. stdout line 1: {"src":null,"dest":"n0","body":{"type":"merge","i":0}}); 2 other protocol violations, e.g. n2 stdout line 5: "src" must be a string',
    );
    expect(r.stdout).toContain(`INVALID: protocol: ${protocol.summary}`);
    expect(protocol.before_init).toEqual([
      { node: "n2", count: 6, srcs: ["null"], example: protocol.errors[0] },
    ]);
    expect(protocol.error_count).toBe(8);
    expect(protocol.errors.map((e: { line: number; before_init?: true }) => e.line)).toEqual([
      1, 2, 3, 5, 6, 7, 8, 10,
    ]);
    expect(protocol.errors[0].reason).toBe('written before n2 answered init: "src" was null');
    expect(protocol.errors[3].before_init).toBeUndefined();
  });

  it("a node crashing mid-run makes the run invalid, names the exit code, keeps the history", async () => {
    const store = tempStore();
    const r = await runFixture("crash-midrun.mjs", store);
    expect(r.exitCode).toBe(1);
    const results = readResults(store);
    expect(results.checkers.crashes.valid).toBe(false);
    expect(results.checkers.crashes.summary).toMatch(/node n0 crashed \(exit code 42\)/);
    expect(results.checkers.crashes.crashes[0].stderr_tail.join("\n")).toContain(
      "assertion failed",
    );
    const history = parseHistory(readFileSync(join(store, "latest", "history.jsonl"), "utf8"));
    expect(history.filter((op) => op.type === "ok").length).toBe(4);
    // The fifth echo never got its reply; echo has no effect, so the timeout is a `fail`.
    const unanswered = history.filter((op) => op.type === "fail");
    expect(unanswered).toHaveLength(1);
    expect((unanswered[0]?.error as string[] | undefined)?.[0]).toBe("net-timeout");
  });

  it("a node flooding stdout with an endless line is cut at 8 MiB and the run still ends", async () => {
    const store = tempStore();
    const r = await runFixture("flood.mjs", store);
    expect(r.exitCode).toBe(1);
    const results = readResults(store);
    expect(results.checkers.protocol.summary).toMatch(/longer than the 8 MiB limit/);
    expect(results.checkers.protocol.error_count).toBeGreaterThan(5000);
    expect(results.checkers.protocol.errors.length).toBeLessThanOrEqual(100);
  });

  it("a wrapper script that forgets exec leaves no grandchild behind", async () => {
    const store = tempStore();
    const r = await runFixture("wrapper.sh", store);
    expect(r.exitCode).toBe(0);
    const [pgid] = nodePids(store, ["n0"]);
    expect(pgid).toBeGreaterThan(0);
    expect(groupAlive(pgid as number)).toBe(false);
  });
});

describe("Ctrl-C mid-run", () => {
  it("stops the nodes, keeps a readable history, exits 3 with one line", async () => {
    const store = tempStore();
    const cli = startCli([
      "test",
      "-w",
      "echo",
      "--bin",
      join(FIXTURES, "echo.mjs"),
      "--store",
      store,
      "--time-limit",
      "60",
      "--rate",
      "50",
      "--node-count",
      "3",
    ]);
    const historyPath = join(store, "latest", "history.jsonl");
    // Wait for 21 complete lines (22 pieces when split), so that 20 survive a torn tail.
    const deadline = Date.now() + 15_000;
    while (
      Date.now() < deadline &&
      !(existsSync(historyPath) && readFileSync(historyPath, "utf8").split("\n").length > 21)
    ) {
      await new Promise((r) => setTimeout(r, 100));
    }
    cli.kill("SIGINT");
    const r = await cli;
    expect(r.exitCode).toBe(3);
    expect(String(r.stderr)).toMatch(/interrupted; the history so far is in/);
    const history = parseHistory(readFileSync(historyPath, "utf8"), { allowTornTail: true });
    expect(history.length).toBeGreaterThan(20);
    expect(readResults(store).valid).toBe("unknown");
    for (const pid of nodePids(store, ["n0", "n1", "n2"])) expect(groupAlive(pid)).toBe(false);
  });
});
