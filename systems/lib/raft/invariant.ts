// Raft's safety properties, written down as checks. A violated invariant means this node's state
// can no longer be trusted, so the program exits (see node.ts) and faultline reports the crash;
// unit tests see the exception.

export class InvariantViolation extends Error {
  override name = "InvariantViolation";
}

/** Throws InvariantViolation with `message` unless `condition` holds. */
export function invariant(condition: unknown, message: string | (() => string)): asserts condition {
  if (!condition) {
    throw new InvariantViolation(typeof message === "string" ? message : message());
  }
}
