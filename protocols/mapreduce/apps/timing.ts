// mtiming and rtiming: detect whether maps (resp. reduces) run in parallel. Each call writes a
// marker file mr-worker-<phase>-<pid> in the cwd, counts the marker files whose pid is alive
// (kill(pid, 0)), sleeps 1 s, and deletes its marker (MIT's nparallel()).
import { readdirSync, rmSync, writeFileSync } from "node:fs";
import type { App, KeyValue } from "./app.js";
import { scaledSleep } from "./time.js";

/** How long each timing call holds its marker, before FAULTLINE_MR_TIME_SCALE. */
export const PARALLEL_SLEEP_MS = 1_000;

/** True when `pid` is a live process we may signal (Go's syscall.Kill(pid, 0) == nil). */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false; // ESRCH (gone) or EPERM (not ours): Go counts both as not alive
  }
}

/** Counts the workers in `phase` right now, this one included. */
async function nparallel(phase: "map" | "reduce"): Promise<number> {
  const mine = `mr-worker-${phase}-${process.pid}`;
  writeFileSync(mine, "x");
  const pattern = new RegExp(`^mr-worker-${phase}-(\\d+)$`);
  let count = 0;
  for (const name of readdirSync(".")) {
    const m = pattern.exec(name);
    if (m && alive(Number(m[1]))) count++;
  }
  await scaledSleep(PARALLEL_SLEEP_MS);
  rmSync(mine, { force: true });
  return count;
}

function sortedJoin(values: string[]): string {
  return [...values].sort().join(" ");
}

export const mtiming: App = {
  async map(): Promise<KeyValue[]> {
    const start_s = Date.now() / 1000;
    const n = await nparallel("map");
    return [
      { key: `times-${process.pid}`, value: start_s.toFixed(1) },
      { key: `parallel-${process.pid}`, value: String(n) },
    ];
  },
  reduce(_key: string, values: string[]): string {
    return sortedJoin(values);
  },
};

export const rtiming: App = {
  map(): KeyValue[] {
    return [..."abcdefghij"].map((key) => ({ key, value: "1" }));
  },
  async reduce(): Promise<string> {
    return String(await nparallel("reduce"));
  },
};
