// Shared helpers for tests that run the real `faultline` binary in a subprocess.
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { execa, type ResultPromise } from "execa";
import { onTestFinished } from "vitest";
import { groupPids } from "../harness/process-groups.js";

export const ROOT = resolve(import.meta.dirname, "..");
export const CLI = join(ROOT, "dist", "harness", "cli.js");
export const FIXTURES = join(ROOT, "test", "fixtures", "nodes");

export interface CliResult {
  exitCode: number | undefined;
  stdout: string;
  stderr: string;
}

/**
 * A fresh store directory, removed when the calling test finishes. Concurrent tests must pass
 * their own context's `onTestFinished`: the global one cannot tell which test is calling.
 */
export function tempStore(onFinished: (fn: () => void) => void = onTestFinished): string {
  const dir = mkdtempSync(join(tmpdir(), "faultline-test-"));
  onFinished(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** Where and with what the CLI runs: its working directory, and environment beyond ours. */
export interface CliPlace {
  cwd?: string;
  env?: Record<string, string>;
}

/** Starts the CLI; it is SIGKILLed (its whole group) if it outlives `timeout_ms`. */
export function startCli(
  args: readonly string[],
  timeout_ms = 60_000,
  place: CliPlace = {},
): ResultPromise<{
  reject: false;
  timeout: number;
  killSignal: "SIGKILL";
  cwd: string | undefined;
  env: Record<string, string>;
}> {
  return execa(process.execPath, [CLI, ...args], {
    reject: false,
    timeout: timeout_ms,
    killSignal: "SIGKILL",
    cwd: place.cwd,
    env: { FORCE_COLOR: "0", ...place.env },
  });
}

export async function runCli(
  args: readonly string[],
  timeout_ms = 60_000,
  place: CliPlace = {},
): Promise<CliResult> {
  const result = await startCli(args, timeout_ms, place);
  return {
    exitCode: result.exitCode,
    stdout: String(result.stdout),
    stderr: String(result.stderr),
  };
}

/** Runs `faultline <line>` (words split on spaces) quietly against `store`. */
export function runLine(line: string, store: string, timeout_ms = 60_000): Promise<CliResult> {
  return runCli([...line.trim().split(/\s+/), "--store", store, "-q"], timeout_ms);
}

/**
 * Runs `faultline <line>` quietly as a user does: from `cwd`, with the default store, which is
 * then `<cwd>/store`.
 */
export function runLineIn(cwd: string, line: string, timeout_ms = 60_000): Promise<CliResult> {
  return runCli([...line.trim().split(/\s+/), "-q"], timeout_ms, { cwd });
}

// biome-ignore lint/suspicious/noExplicitAny: tests poke at results.json freely
export function readResults(store: string): Record<string, any> {
  return JSON.parse(readFileSync(join(store, "latest", "results.json"), "utf8"));
}

/** Pids the harness recorded for its nodes ("--- faultline: started n0 pid 123" in node logs). */
export function nodePids(store: string, nodes: readonly string[]): number[] {
  return nodes.flatMap((node) => {
    const log = readFileSync(join(store, "latest", "node-logs", `${node}.log`), "utf8");
    return [...log.matchAll(/started \S+ pid (\d+)/g)].map((m) => Number(m[1]));
  });
}

/**
 * True while any live (non-zombie) process belongs to group `pgid`. Zombies count as dead:
 * this container's PID 1 can take seconds to reap orphans, and kill(-pgid, 0) still finds them.
 */
export function groupAlive(pgid: number): boolean {
  return groupPids(pgid).length > 0;
}

/**
 * A limit of `n` at once: `use` runs when a slot is free, others wait in order. Concurrent
 * tests that each start a cluster share two cores through this.
 */
export function slots(n: number): <T>(use: () => Promise<T>) => Promise<T> {
  let busy = 0;
  const waiting: Array<() => void> = [];
  return async (use) => {
    if (busy >= n) await new Promise<void>((resolve) => waiting.push(resolve));
    busy++;
    try {
      return await use();
    } finally {
      busy--;
      waiting.shift()?.();
    }
  };
}
