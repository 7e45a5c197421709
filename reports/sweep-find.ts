// `faultline sweep merge DIR...`: the runs stored under some folders (stores, sweep folders, run
// directories), found by their files alone (ARCHITECTURE.md "The store"), as sweep records.
import { type Dirent, readdirSync, readFileSync, realpathSync, statSync } from "node:fs";
import { join, resolve } from "node:path";
import { RUN_FILES } from "./load-run.js";
import { num, record } from "./stored.js";
import type { SweepRunRecord } from "./sweep-summary.js";

/**
 * How deep below a DIR runs are looked for: <store>/sweeps/<test>/<stamp>/runs/<seed>/<test>/
 * <stamp> is 7 levels, and a store may sit in a folder or two.
 */
export const MAX_FIND_DEPTH = 10;
/** Folders read at most per DIR, so a DIR such as / ends instead of walking the disk. */
export const MAX_FIND_FOLDERS = 100_000;
/** test.json / results.json above this size are not read for the seed. */
const MAX_SEED_FILE_BYTES = 32 * 1024 * 1024;

/**
 * Every run directory (a folder holding test.json or results.json) under each DIR, at most
 * MAX_FIND_DEPTH below it, without following symlinks (`latest`, `reference`) or descending into
 * a run. Its seed comes from results.json, else test.json; a run with neither is left out. A
 * run reached through two DIRs is listed once. Throws a one-line Error naming the first DIR
 * holding no run with a seed.
 */
export function findRunRecords(dirs: readonly string[]): SweepRunRecord[] {
  const seen = new Set<string>();
  const found: SweepRunRecord[] = [];
  for (const dir of dirs) {
    if (!isFolder(dir)) throw new Error(`${oneLine(dir)} is not a folder`);
    const runs = runDirsUnder(resolve(dir)).flatMap((run_dir) => {
      const seed = runSeed(run_dir);
      return seed === undefined ? [] : [{ seed, run_dir }];
    });
    if (runs.length === 0) {
      throw new Error(
        `${oneLine(dir)} holds no faultline run (no test.json or results.json with a seed)`,
      );
    }
    for (const run of runs) {
      const real = realpathSync(run.run_dir);
      if (seen.has(real)) continue;
      seen.add(real);
      found.push(run);
    }
  }
  return found;
}

function runDirsUnder(root: string): string[] {
  const runs: string[] = [];
  let folders = 0;
  const visit = (dir: string, depth: number): void => {
    if (folders++ >= MAX_FIND_FOLDERS) return;
    let entries: Dirent[];
    try {
      entries = readdirSync(dir, { withFileTypes: true });
    } catch {
      return; // gone, or not a folder we may read
    }
    if (
      entries.some((e) => e.isFile() && (e.name === RUN_FILES.test || e.name === RUN_FILES.results))
    ) {
      runs.push(dir);
      return;
    }
    if (depth >= MAX_FIND_DEPTH) return;
    // Dirent.isDirectory() is false for a symlink, so links are never followed.
    const subfolders = entries
      .filter((e) => e.isDirectory())
      .map((e) => e.name)
      .sort();
    for (const name of subfolders) visit(join(dir, name), depth + 1);
  };
  visit(root, 0);
  return runs;
}

function isFolder(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

function runSeed(runDir: string): number | undefined {
  for (const file of [RUN_FILES.results, RUN_FILES.test]) {
    const path = join(runDir, file);
    try {
      if (statSync(path).size > MAX_SEED_FILE_BYTES) continue;
      const seed = num(record(JSON.parse(readFileSync(path, "utf8")))?.seed);
      if (seed !== undefined) return seed;
    } catch {
      // missing or unreadable: try the other file
    }
  }
  return undefined;
}

/** A path in a one-line message: line breaks in a folder name would split it. */
function oneLine(path: string): string {
  return JSON.stringify(path).slice(1, -1);
}
