// The package root, found from this file so it works from source (vitest: reports/) and from
// dist/ (dist/reports/) alike. It lives in reports/ because reports read their assets through it
// and must not import the engine; harness/paths.ts imports it from here.
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
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
