// Where things are, independent of whether code runs from source (vitest) or from dist/.
import { existsSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

/** The faultline package root: the nearest folder upward holding package.json. */
export function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (existsSync(join(dir, "package.json"))) return dir;
    const parent = dirname(dir);
    if (parent === dir)
      throw new Error(`faultline: cannot find package.json above ${import.meta.url}`);
    dir = parent;
  }
}

/** The team's shared folder (specs and test data) beside the checkout; FAULTLINE_SHARED overrides. */
export function sharedDir(): string {
  return process.env.FAULTLINE_SHARED ?? resolve(packageRoot(), "..", "shared");
}

/** A compiled program inside dist/, e.g. distFile("systems/gossip/node.js"). */
export function distFile(relative: string): string {
  return join(packageRoot(), "dist", relative);
}
