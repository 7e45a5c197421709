// The deliberate bug variants (`--bug NAME`). The harness appends the same --bug to both
// programs; each acts on its own bugs and ignores the other's.
export const COORDINATOR_BUGS = ["no-reassign", "early-exit"] as const;
export const WORKER_BUGS = ["non-atomic-output", "double-count"] as const;
export const BUGS: readonly string[] = [...COORDINATOR_BUGS, ...WORKER_BUGS];

export type CoordinatorBug = (typeof COORDINATOR_BUGS)[number];
export type WorkerBug = (typeof WORKER_BUGS)[number];

/** The bug of `mine` named by --bug, if any; an unknown name is an error. */
export function pickBug<T extends string>(
  name: string | undefined,
  mine: readonly T[],
): T | undefined {
  if (name === undefined) return undefined;
  if (!BUGS.includes(name)) throw new Error(`unknown --bug ${name}; bugs: ${BUGS.join(", ")}`);
  return (mine as readonly string[]).includes(name) ? (name as T) : undefined;
}
