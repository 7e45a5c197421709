// The run store (ARCHITECTURE.md "The store"): store/<test-name>/<timestamp>/ with store/latest
// pointing at the newest run.
import {
  mkdirSync,
  readFileSync,
  renameSync,
  symlinkSync,
  unlinkSync,
  writeFileSync,
} from "node:fs";
import { join, relative, resolve } from "node:path";
import type { Op } from "../checkers/history.js";
import { parseHistory } from "../checkers/history.js";

// The layout is reports/'s (it reads stored runs without the engine); re-exported for the writers.
export { STORE_FILES } from "../reports/store-files.js";

/**
 * Creates a fresh run directory and points `<store>/latest` at it, unless `moveLatest` is false
 * (a reference run beside the user's, which stays the latest). The path returned is absolute:
 * every path below it is handed to targets, which run in their own working directories.
 */
export function createRunDir(
  store: string,
  testName: string,
  now = new Date(),
  moveLatest = true,
): string {
  const storeRoot = resolve(store);
  const cleaned = testName.replace(/[^A-Za-z0-9._-]+/g, "_");
  // ".", ".." and "latest" would land outside the store or inside the latest link.
  const safe = /^\.*$/.test(cleaned) || cleaned === "latest" ? `_${cleaned}` : cleaned;
  const parent = join(storeRoot, safe);
  mkdirSync(parent, { recursive: true });
  const stamp = now.toISOString().replace(/:/g, "").replace(/\..*/, "");
  const MAX_SAME_SECOND = 1000;
  for (let n = 0; n < MAX_SAME_SECOND; n++) {
    const dir = join(parent, n === 0 ? stamp : `${stamp}-${n}`);
    try {
      mkdirSync(dir);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "EEXIST") continue;
      throw err;
    }
    if (moveLatest) pointLatest(storeRoot, dir);
    return dir;
  }
  throw new Error(`more than ${MAX_SAME_SECOND} runs of ${testName} in one second`);
}

function pointLatest(storeRoot: string, dir: string): void {
  const link = join(storeRoot, "latest");
  const tmp = `${link}.${process.pid}`;
  try {
    unlinkSync(tmp);
  } catch {}
  symlinkSync(relative(storeRoot, dir), tmp);
  renameSync(tmp, link); // atomic replace, so `latest` always points somewhere valid
}

export function writeJson(path: string, value: unknown): void {
  const tmp = `${path}.tmp`;
  writeFileSync(tmp, `${JSON.stringify(value, null, 2)}\n`);
  renameSync(tmp, path);
}

/** Reads a stored history; a torn last line (harness crash mid-write) is tolerated. */
export function readHistory(path: string): Op[] {
  return parseHistory(readFileSync(path, "utf8"), { allowTornTail: true });
}
