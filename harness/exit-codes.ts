// Every command exits with one of these (ARCHITECTURE.md "The lifecycle", README.md "Exit codes").
export const EXIT = {
  valid: 0,
  invalid: 1,
  unknown: 2,
  /** The run could not be carried out: bad arguments, target would not start, missing dependency. */
  couldNotRun: 3,
} as const;

import type { Validity } from "../checkers/result.js";

export function exitCodeFor(valid: Validity): number {
  return valid === true ? EXIT.valid : valid === false ? EXIT.invalid : EXIT.unknown;
}

// Drivers throw it too, so it lives with the plugin API.
export { SetupError } from "../workloads/plugin.js";
