// Where things are, independent of whether code runs from source (vitest) or from dist/.
import { join, resolve } from "node:path";
import { packageRoot } from "../reports/package-root.js";

// Owned by reports/ (its assets need it and it may not import the engine); re-exported for harness.
export { packageRoot };

/** The team's shared folder (specs and test data) beside the checkout; FAULTLINE_SHARED overrides. */
export function sharedDir(): string {
  return process.env.FAULTLINE_SHARED ?? resolve(packageRoot(), "..", "shared");
}

/** A compiled program inside dist/, e.g. distFile("systems/gossip/node.js"). */
export function distFile(relative: string): string {
  return join(packageRoot(), "dist", relative);
}
