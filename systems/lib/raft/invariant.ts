// Raft's safety properties, written down as checks. A violated invariant means this node's state
// can no longer be trusted, so the program exits (`guards` below, used by every node program on
// this library) and faultline reports the crash; unit tests see the exception.

export class InvariantViolation extends Error {
  override name = "InvariantViolation";
}

/** Throws InvariantViolation with `message` unless `condition` holds. */
export function invariant(condition: unknown, message: string | (() => string)): asserts condition {
  if (!condition) {
    throw new InvariantViolation(typeof message === "string" ? message : message());
  }
}

/** Exit status when a safety invariant fails: the state can no longer be trusted. */
export const INVARIANT_EXIT_CODE = 70;

/**
 * `die` ends the process at once on a broken invariant (going on could acknowledge wrong
 * answers); `guarded` wraps a callback so an InvariantViolation anywhere below it does that.
 */
export function guards(log: (text: string) => void) {
  const die = (err: unknown): never => {
    log(`INVARIANT VIOLATED: ${(err as Error).stack ?? err}`);
    process.exit(INVARIANT_EXIT_CODE);
  };
  const guarded =
    <A extends unknown[], T>(fn: (...a: A) => T | Promise<T>) =>
    async (...a: A): Promise<T> => {
      try {
        return await fn(...a);
      } catch (err) {
        if (err instanceof InvariantViolation) die(err);
        throw err;
      }
    };
  return { die, guarded };
}
