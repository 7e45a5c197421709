import { spawn } from "node:child_process";
import { chmodSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { SetupError } from "../../harness/exit-codes.js";
import {
  assertExecutable,
  MAX_STDOUT_LINE_BYTES,
  type NodeEvents,
  type NodeExit,
  NodeProcess,
} from "../../harness/node-process.js";
import {
  killAllGroups,
  liveGroupCount,
  signalGroup,
  trackGroup,
  untrackGroup,
} from "../../harness/process-groups.js";

// A tiny node program driven by commands on stdin (one per line).
const PROGRAM = `#!/usr/bin/env node
const { spawn } = require("node:child_process");
const out = (s) => process.stdout.write(s + "\\n");
let buf = "";
process.stdin.on("data", (chunk) => {
  buf += chunk;
  let i;
  while ((i = buf.indexOf("\\n")) >= 0) {
    const line = buf.slice(0, i);
    buf = buf.slice(i + 1);
    handle(line);
  }
});
process.stdin.on("end", () => process.exit(0));
function handle(line) {
  const [cmd, ...rest] = line.split(" ");
  const arg = rest.join(" ");
  switch (cmd) {
    case "echo": out(arg); break;
    case "pid": out("pid " + process.pid); break;
    case "cwd": out("cwd " + process.cwd()); break;
    case "env": out("env " + (process.env[arg] ?? "<unset>")); break;
    case "log":
      for (let k = 0; k < Number(arg); k++) process.stderr.write("log " + k + "\\n");
      out("logged");
      break;
    case "bigerr": process.stderr.write("e".repeat(Number(arg)) + "\\nafter-big\\n"); out("bigerr-done"); break;
    case "big": process.stdout.write("x".repeat(Number(arg)) + "\\nafter-big\\n"); break;
    case "partial": process.stdout.write(arg, () => process.exit(0)); break;
    case "exit": process.stderr.write("dying with " + arg + "\\n", () => process.exit(Number(arg))); break;
    case "spawn": {
      const child = spawn("sleep", ["300"], { stdio: arg === "inherit" ? "inherit" : "ignore" });
      out("child " + child.pid);
      break;
    }
    case "ignore-term":
      process.on("SIGTERM", () => process.stderr.write("ignoring SIGTERM\\n"));
      out("ignoring");
      break;
    case "stop-reading": process.stdin.pause(); out("paused"); break;
  }
}
`;

// The same commands in sh, which starts in a millisecond instead of a few hundred: used where
// the test is about the process lifecycle rather than about a Node program.
const SH_PROGRAM = `#!/bin/sh
while IFS= read -r line; do
  cmd=\${line%% *}
  arg=\${line#* }
  case "$cmd" in
    echo) printf '%s\\n' "$arg" ;;
    pid) echo "pid $$" ;;
    spawn)
      if [ "$arg" = inherit ]; then sleep 300 & else sleep 300 </dev/null >/dev/null 2>&1 & fi
      echo "child $!" ;;
    ignore-term) trap '' TERM; echo ignoring ;;
    exit) echo "dying with $arg" >&2; exit "$arg" ;;
    partial) printf '%s' "$arg"; exit 0 ;;
    stop-reading) echo paused; exec sleep 300 ;;
  esac
done
`;

let scratch: string;
let program: string;
let shProgram: string;

beforeAll(() => {
  scratch = mkdtempSync(join(tmpdir(), "faultline-nodeproc-"));
  program = join(scratch, "node.cjs");
  writeFileSync(program, PROGRAM);
  chmodSync(program, 0o755);
  shProgram = join(scratch, "node.sh");
  writeFileSync(shProgram, SH_PROGRAM);
  chmodSync(shProgram, 0o755);
});

afterAll(() => {
  rmSync(scratch, { recursive: true, force: true });
});

/** Every pid/pgid a test learned about; all are SIGKILLed afterwards, whatever happened. */
const startedNodes: NodeProcess[] = [];
const knownGroups = new Set<number>();
const knownPids = new Set<number>();

afterEach(async () => {
  for (const node of startedNodes.splice(0)) {
    await Promise.race([node.kill(), sleep(2000)]);
    await node.close().catch(() => {});
  }
  for (const pgid of knownGroups) {
    try {
      process.kill(-pgid, "SIGKILL");
    } catch {}
  }
  for (const pid of knownPids) {
    try {
      process.kill(pid, "SIGKILL");
    } catch {}
  }
  knownGroups.clear();
  knownPids.clear();
});

/** [state, pgrp] of a process from /proc (Linux, like the harness), or undefined when it does not exist. */
function procStat(pid: number): [string, number] | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return [fields[0] as string, Number(fields[2])];
  } catch {
    return undefined;
  }
}

/**
 * True while the process runs. A zombie counts as dead: orphaned grandchildren are reaped by
 * PID 1 whenever it gets round to it, which can take seconds in a container.
 */
function alive(pid: number): boolean {
  const stat = procStat(pid);
  return stat !== undefined && stat[0] !== "Z";
}

/** True while any non-zombie process of the group exists. */
function groupAlive(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
  } catch {
    return false; // ESRCH: no member at all
  }
  return readdirSync("/proc")
    .filter((name) => /^\d+$/.test(name))
    .some((name) => {
      const stat = procStat(Number(name));
      return stat !== undefined && stat[1] === pgid && stat[0] !== "Z";
    });
}

interface Harnessed {
  node: NodeProcess;
  lines: Array<[string, number]>;
  overflows: Array<[number, number]>;
  exits: NodeExit[];
  logPath: string;
  dataDir: string;
  /** Sends a command and resolves with the next stdout line that starts with `prefix`. */
  ask(command: string, prefix: string, timeout_ms?: number): Promise<string>;
  exited: Promise<NodeExit>;
}

let counter = 0;

async function startNode(
  env: Record<string, string> = {},
  kind: "node" | "sh" = "node",
): Promise<Harnessed> {
  const id = `n${counter++}`;
  const lines: Array<[string, number]> = [];
  const overflows: Array<[number, number]> = [];
  const exits: NodeExit[] = [];
  const waiters: Array<{ prefix: string; resolve(line: string): void }> = [];
  let onExit: (exit: NodeExit) => void = () => {};
  const exited = new Promise<NodeExit>((resolve) => {
    onExit = resolve;
  });
  const events: NodeEvents = {
    line: (line, n) => {
      lines.push([line, n]);
      const w = waiters.findIndex((x) => line.startsWith(x.prefix));
      if (w >= 0) waiters.splice(w, 1)[0]?.resolve(line);
    },
    overflow: (seen, n) => overflows.push([seen, n]),
    exit: (exit) => {
      exits.push(exit);
      onExit(exit);
    },
  };
  const logPath = join(scratch, id, "node-logs", `${id}.log`);
  const dataDir = join(scratch, id, "data");
  const node = new NodeProcess(
    id,
    { file: kind === "node" ? program : shProgram, args: [] },
    { cwd: dataDir, env: { FAULTLINE_NODE_ID: id, ...env }, logPath },
    events,
    () => Number(process.hrtime.bigint()),
  );
  startedNodes.push(node);
  await node.start();
  const ask = (command: string, prefix: string, timeout_ms = 5000) =>
    new Promise<string>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`no "${prefix}" line after "${command}"`)),
        timeout_ms,
      );
      waiters.push({
        prefix,
        resolve: (line) => {
          clearTimeout(timer);
          resolve(line);
        },
      });
      expect(node.write(command)).toBe(true);
    });
  const harnessed: Harnessed = { node, lines, overflows, exits, logPath, dataDir, ask, exited };
  const pid = Number((await ask("pid", "pid ")).split(" ")[1]);
  knownGroups.add(pid);
  return harnessed;
}

async function pidOf(h: Harnessed): Promise<number> {
  return Number((await h.ask("pid", "pid ")).split(" ")[1]);
}

async function spawnGrandchild(
  h: Harnessed,
  stdio: "ignore" | "inherit" = "ignore",
): Promise<number> {
  const pid = Number((await h.ask(`spawn ${stdio}`, "child ")).split(" ")[1]);
  knownPids.add(pid);
  expect(alive(pid)).toBe(true);
  return pid;
}

async function until(cond: () => boolean, limit_ms = 3000): Promise<void> {
  const start = Date.now();
  while (!cond()) {
    if (Date.now() - start > limit_ms) throw new Error("condition not reached in time");
    await sleep(10);
  }
}

describe("process-groups", () => {
  it("signalGroup signals a whole group and reports a group that is gone", async () => {
    const child = spawn("sleep", ["300"], { detached: true, stdio: "ignore" });
    const pgid = child.pid as number;
    knownGroups.add(pgid);
    const done = new Promise((resolve) => child.on("exit", resolve));
    expect(signalGroup(pgid, "SIGKILL")).toBe(true);
    await done;
    await until(() => !groupAlive(pgid));
    expect(signalGroup(pgid, "SIGKILL")).toBe(false);
  });

  it("tracks groups and killAllGroups kills every tracked group", async () => {
    const before = liveGroupCount();
    const children = [0, 1].map(() => spawn("sleep", ["300"], { detached: true, stdio: "ignore" }));
    const pgids = children.map((c) => c.pid as number);
    for (const pgid of pgids) {
      knownGroups.add(pgid);
      trackGroup(pgid);
    }
    expect(liveGroupCount()).toBe(before + 2);
    untrackGroup(pgids[1] as number);
    expect(liveGroupCount()).toBe(before + 1);
    trackGroup(pgids[1] as number);
    const exits = children.map(
      (c) => new Promise((resolve) => c.on("exit", (_code, signal) => resolve(signal))),
    );
    killAllGroups();
    expect(liveGroupCount()).toBe(0);
    expect(await Promise.all(exits)).toEqual(["SIGKILL", "SIGKILL"]);
  });

  it("installs an exit handler that kills tracked groups", () => {
    const before = process.listeners("exit").length;
    const child = spawn("sleep", ["300"], { detached: true, stdio: "ignore" });
    knownGroups.add(child.pid as number);
    trackGroup(child.pid as number);
    trackGroup(child.pid as number);
    const after = process.listeners("exit");
    expect(after.length).toBeLessThanOrEqual(before + 1); // installed once at most
    expect(after).toContain(killAllGroups);
    untrackGroup(child.pid as number);
  });
});

describe("assertExecutable", () => {
  it("accepts an executable file", () => {
    expect(() => assertExecutable(program)).not.toThrow();
  });

  it("names a missing file", () => {
    expect(() => assertExecutable(join(scratch, "nope"))).toThrow(SetupError);
    expect(() => assertExecutable(join(scratch, "nope"))).toThrow(/does not exist/);
  });

  it("suggests chmod +x for a file that is not executable", () => {
    const plain = join(scratch, "plain.js");
    writeFileSync(plain, "");
    chmodSync(plain, 0o644);
    expect(() => assertExecutable(plain)).toThrow(/not executable \(try chmod \+x\)/);
  });
});

describe("NodeProcess: a running Node program", () => {
  // One node serves these tests (starting a Node program costs a few hundred ms); each test
  // looks only at what its own commands produced.
  let h: Harnessed;
  beforeAll(async () => {
    h = await startNode({ FAULTLINE_TEST_VAR: "v42" });
    // This node outlives afterEach's cleanup; afterAll kills it.
    startedNodes.splice(startedNodes.indexOf(h.node), 1);
    knownGroups.clear();
  });
  afterAll(async () => {
    await h.node.kill();
    await h.node.close();
  });

  it("delivers stdout lines through events, numbered from 1", async () => {
    const before = h.lines.length;
    await h.ask("echo hello", "hello");
    await h.ask('echo {"src":"n0"}', "{");
    expect(h.lines[0]).toEqual([expect.stringMatching(/^pid \d+$/), 1]);
    expect(h.lines.slice(before)).toEqual([
      ["hello", before + 1],
      ['{"src":"n0"}', before + 2],
    ]);
    expect(h.node.running).toBe(true);
  });

  it("runs in its cwd with the given environment", async () => {
    expect(await h.ask("cwd", "cwd ")).toBe(`cwd ${h.dataDir}`);
    expect(await h.ask("env FAULTLINE_TEST_VAR", "env ")).toBe("env v42");
    expect(await h.ask("env FAULTLINE_NODE_ID", "env ")).toMatch(/^env n\d+$/);
  });

  it("leads its own process group", async () => {
    const pid = await pidOf(h);
    expect(procStat(pid)?.[1]).toBe(pid);
    expect(procStat(process.pid)?.[1]).not.toBe(pid);
  });

  it("writes stderr to the log file and keeps the last 20 lines as stderrTail", async () => {
    await h.ask("log 30", "logged");
    await until(() => h.node.stderrTail.at(-1) === "log 29");
    expect(h.node.stderrTail).toEqual(Array.from({ length: 20 }, (_, k) => `log ${k + 10}`));
    // The returned tail is a copy.
    h.node.stderrTail.push("mutated");
    expect(h.node.stderrTail).toHaveLength(20);
    await until(() => readFileSync(h.logPath, "utf8").includes("log 29\n"));
    const log = readFileSync(h.logPath, "utf8");
    expect(log).toMatch(/^--- faultline: started n\d+ pid \d+\n/);
    for (let k = 0; k < 30; k++) expect(log).toContain(`\nlog ${k}\n`);
  });

  it("notes an over-long stderr line in the tail instead of keeping it", async () => {
    await h.ask("bigerr 70000", "bigerr-done");
    await until(() => h.node.stderrTail.at(-1) === "after-big");
    expect(h.node.stderrTail.slice(-2)).toEqual([
      "[faultline: a 70000-byte stderr line was cut]",
      "after-big",
    ]);
  });

  it("reports a stdout line over the limit as an overflow and recovers", async () => {
    const size = MAX_STDOUT_LINE_BYTES + 10;
    const before = h.lines.length;
    const numbered = h.lines.at(-1)?.[1] as number;
    expect(h.node.write(`big ${size}`)).toBe(true);
    await until(() => h.lines.slice(before).some(([l]) => l === "after-big"), 2500);
    expect(h.overflows).toEqual([[size, numbered + 1]]);
    expect(h.lines.slice(before)).toEqual([["after-big", numbered + 2]]);
  });

  it("refuses to start twice", async () => {
    await expect(h.node.start()).rejects.toThrow(/already running/);
    expect(h.node.running).toBe(true);
  });
});

describe("NodeProcess: stopping and crashing", () => {
  it("stop() ends the whole process group of a Node program, grandchildren included", async () => {
    const h = await startNode();
    const pid = await pidOf(h);
    const grandchild = await spawnGrandchild(h);
    const exit = await h.node.stop(2000);
    expect(exit).toMatchObject({ expected: true, signal: "SIGTERM" });
    expect(h.exits).toEqual([exit]);
    expect(h.node.running).toBe(false);
    await until(() => !alive(grandchild));
    expect(groupAlive(pid)).toBe(false);
    await h.node.close(); // the log is written asynchronously; close() ends it
    expect(readFileSync(h.logPath, "utf8")).toMatch(
      /exited \(code null, signal SIGTERM, stopped by faultline\)/,
    );
  });

  it("stop() on a paused (SIGSTOPped) node still ends it promptly", async () => {
    const h = await startNode({}, "sh");
    const pid = await pidOf(h);
    process.kill(-pid, "SIGSTOP");
    const started = Date.now();
    const exit = await h.node.stop(5000);
    expect(Date.now() - started).toBeLessThan(2000);
    expect(exit).toMatchObject({ expected: true, signal: "SIGTERM" });
  });

  it("signal() pauses and resumes the whole group, and is refused when not running", async () => {
    const h = await startNode({}, "sh");
    const pid = await pidOf(h);
    const grandchild = await spawnGrandchild(h);
    expect(h.node.signal("SIGSTOP")).toBe(true);
    await until(() => procStat(pid)?.[0] === "T" && procStat(grandchild)?.[0] === "T");
    // A paused node does not answer.
    await expect(h.ask("echo paused?", "paused?", 150)).rejects.toThrow(/no "paused\?" line/);
    expect(h.node.signal("SIGCONT")).toBe(true);
    await until(() => procStat(pid)?.[0] === "S" || procStat(pid)?.[0] === "R");
    await until(() => h.lines.some(([l]) => l === "paused?")); // the queued line is handled now
    await h.node.kill();
    expect(h.node.signal("SIGCONT")).toBe(false);
  });

  it("kill() SIGKILLs the group at once", async () => {
    const h = await startNode({}, "sh");
    const pid = await pidOf(h);
    const grandchild = await spawnGrandchild(h);
    const exit = await h.node.kill();
    expect(exit).toMatchObject({ expected: true, signal: "SIGKILL", code: null });
    await until(() => !alive(grandchild));
    expect(groupAlive(pid)).toBe(false);
  });

  it("SIGKILLs a node that ignores SIGTERM once the grace period is over", async () => {
    const h = await startNode({}, "sh");
    const pid = await pidOf(h);
    await h.ask("ignore-term", "ignoring");
    const grandchild = await spawnGrandchild(h); // inherits the ignored SIGTERM
    const started = Date.now();
    const exit = await h.node.stop(200);
    const took = Date.now() - started;
    expect(exit).toMatchObject({ expected: true, signal: "SIGKILL" });
    expect(took).toBeGreaterThanOrEqual(190);
    expect(took).toBeLessThan(2000);
    await until(() => !alive(grandchild));
    expect(groupAlive(pid)).toBe(false);
  });

  it("reports an exit it did not cause with expected: false, the code and the stderr tail", async () => {
    const h = await startNode({}, "sh");
    expect(h.node.write("exit 3")).toBe(true);
    const exit = await h.exited;
    expect(exit).toMatchObject({ expected: false, code: 3, signal: null });
    expect(exit.stderr_tail).toEqual(["dying with 3"]);
    expect(typeof exit.time_ns).toBe("number");
    expect(h.node.running).toBe(false);
    expect(h.exits).toHaveLength(1);
    await h.node.close();
    expect(readFileSync(h.logPath, "utf8")).toMatch(/exited \(code 3, signal null, on its own\)/);
  });

  it("write() returns false after the node has exited; stop() and kill() are then no-ops", async () => {
    const h = await startNode({}, "sh");
    h.node.write("exit 0");
    await h.exited;
    expect(h.node.write("echo late")).toBe(false);
    expect(await h.node.stop(100)).toBeUndefined();
    expect(await h.node.kill()).toBeUndefined();
    expect(h.exits).toHaveLength(1);
  });

  it("emits a last stdout line without a newline before the exit when it is whole JSON", async () => {
    const h = await startNode({}, "sh");
    h.node.write('partial {"src":"n1"}');
    await h.exited;
    expect(h.lines.at(-1)?.[0]).toBe('{"src":"n1"}');
  });

  it("logs and drops a last stdout fragment that is not JSON (a write cut off by the exit)", async () => {
    const h = await startNode({}, "sh");
    h.node.write('partial {"src":"n1","body":');
    await h.exited;
    expect(h.lines.map(([line]) => line)).not.toContain('{"src":"n1","body":');
    await until(() => readFileSync(h.logPath, "utf8").includes("stdout ended inside a line"));
  });

  it("kills the rest of the group when the node exits on its own (wrapper without exec)", async () => {
    const h = await startNode({}, "sh");
    const pid = await pidOf(h);
    const grandchild = await spawnGrandchild(h, "ignore");
    h.node.write("exit 1");
    const exit = await h.exited;
    expect(exit.expected).toBe(false);
    await until(() => !alive(grandchild));
    expect(groupAlive(pid)).toBe(false);
  });

  it("notices its own exit even when a grandchild keeps stdout/stderr open", async () => {
    const h = await startNode({}, "sh");
    const pid = await pidOf(h);
    const grandchild = await spawnGrandchild(h, "inherit");
    h.node.write("exit 4");
    await until(() => procStat(pid) === undefined || procStat(pid)?.[0] === "Z");
    const exit = await Promise.race([h.exited, sleep(1000).then(() => undefined)]);
    expect(exit, "the exit was never reported").toMatchObject({ expected: false, code: 4 });
    await until(() => !alive(grandchild));
    expect(groupAlive(pid)).toBe(false);
  });

  it("write() refuses once a node that is not reading has 16 MiB queued", async () => {
    const h = await startNode({}, "sh");
    await h.ask("stop-reading", "paused");
    const chunk = "q".repeat(1024 * 1024);
    let accepted = 0;
    while (h.node.write(chunk)) {
      accepted++;
      if (accepted > 40) break;
    }
    expect(accepted).toBeGreaterThanOrEqual(16);
    expect(accepted).toBeLessThanOrEqual(18);
  });

  it("can be started again after it stopped, and says so in its log", async () => {
    const h = await startNode({}, "sh");
    const first = await pidOf(h);
    await h.node.stop(1000);
    await h.node.start();
    const second = await pidOf(h);
    knownGroups.add(second);
    expect(second).not.toBe(first);
    expect(h.node.running).toBe(true);
    await until(
      () => readFileSync(h.logPath, "utf8").match(/--- faultline: started/g)?.length === 2,
    );
  });

  it("rejects with a SetupError when the program cannot be started", async () => {
    const node = new NodeProcess(
      "nx",
      { file: join(scratch, "missing-binary"), args: [] },
      { cwd: join(scratch, "nx"), env: {}, logPath: join(scratch, "nx", "nx.log") },
      { line: () => {}, overflow: () => {}, exit: () => {} },
      () => 0,
    );
    startedNodes.push(node);
    await expect(node.start()).rejects.toThrow(SetupError);
    expect(node.running).toBe(false);
  });

  it("stop() and kill() before start are no-ops", async () => {
    const node = new NodeProcess(
      "ny",
      { file: shProgram, args: [] },
      { cwd: join(scratch, "ny"), env: {}, logPath: join(scratch, "ny", "ny.log") },
      { line: () => {}, overflow: () => {}, exit: () => {} },
      () => 0,
    );
    startedNodes.push(node);
    expect(await node.stop(10)).toBeUndefined();
    expect(await node.kill()).toBeUndefined();
    expect(node.write("x")).toBe(false);
  });
});
