// DESIGN.md §2: every command exits with one of these.
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

/** An error that ends the command with exit 3 and one line saying why and what to do. */
export class SetupError extends Error {
  override name = "SetupError";
}
