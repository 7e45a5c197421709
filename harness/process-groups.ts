// Every process the harness starts leads its own process group, recorded here. Whatever ends
// the harness — a normal exit, SIGINT/SIGTERM, an uncaught error — kills every group still
// recorded, so no node (nor a child a wrapper script forgot to `exec`) outlives us.

const live = new Set<number>();
let installed = false;

export function trackGroup(pgid: number): void {
  install();
  live.add(pgid);
}

export function untrackGroup(pgid: number): void {
  live.delete(pgid);
}

/** Sends a signal to a whole process group; false when the group no longer exists. */
export function signalGroup(pgid: number, signal: NodeJS.Signals): boolean {
  try {
    process.kill(-pgid, signal);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ESRCH") return false;
    throw err;
  }
}

/** Synchronous so it can run in an `exit` handler. */
export function killAllGroups(): void {
  for (const pgid of live) signalGroup(pgid, "SIGKILL");
  live.clear();
}

export function liveGroupCount(): number {
  return live.size;
}

function install(): void {
  if (installed) return;
  installed = true;
  process.on("exit", killAllGroups);
}
