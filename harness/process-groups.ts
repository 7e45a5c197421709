// Every process the harness starts leads its own process group, recorded here. Whatever ends
// the harness — a normal exit, SIGINT/SIGTERM, an uncaught error — kills every group still
// recorded, so no node (nor a child a wrapper script forgot to `exec`) outlives us.
//
// A harness killed with SIGKILL (or by the OOM killer) runs none of that, so a watchdog process
// holds the same list: the harness tells it each group as it starts and ends, over a pipe whose
// write end only the harness holds. However the harness dies, the kernel closes that pipe; at
// EOF the watchdog SIGKILLs every group still listed and exits. A parent-death signal would not
// do: it reaches only the direct child, not a wrapper script's children.
import { type ChildProcess, spawn } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";

const live = new Set<number>();
let installed = false;
let watchdog: ChildProcess | undefined;
/** Lines queued for a watchdog that stopped reading are dropped past this (it is stuck). */
const MAX_WATCHDOG_QUEUE_BYTES = 64 * 1024;

/**
 * The watchdog: a shell script, about 2 MB resident where `node -e` takes 42. It lives in its
 * own session and ignores SIGINT/SIGTERM/SIGHUP: Ctrl-C's signal to the terminal's group must
 * leave shutdown to the harness, and only EOF ends it. Lines are "<pgid>" (started) and
 * "-<pgid>" (ended); the list holds only groups the harness has not yet seen end.
 */
const WATCHDOG_SCRIPT = `
trap '' INT TERM HUP
groups=' '
while IFS= read -r line; do
  case $line in
    -*) g=\${line#-}; case $groups in *" $g "*) groups="\${groups%% $g *} \${groups#* $g }" ;; esac ;;
    *) groups="$groups$line " ;;
  esac
done
for g in $groups; do kill -s KILL -- "-$g" 2>/dev/null; done
`;

export function trackGroup(pgid: number): void {
  install();
  if (live.has(pgid)) return;
  live.add(pgid);
  tellWatchdog(`${pgid}`);
}

export function untrackGroup(pgid: number): void {
  if (live.delete(pgid)) tellWatchdog(`-${pgid}`);
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

/** The live (non-zombie) processes of group `pgid`, from /proc. */
export function groupPids(pgid: number): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      // /proc/<pid>/stat: "pid (comm) state ppid pgrp ..."; comm may contain spaces.
      const stat = readFileSync(`/proc/${entry}/stat`, "latin1");
      const [state, , pgrp] = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      if (Number(pgrp) === pgid && state !== "Z") pids.push(Number(entry));
    } catch {
      // the process ended while we looked
    }
  }
  return pids;
}

/** Synchronous so it can run in an `exit` handler. */
export function killAllGroups(): void {
  for (const pgid of live) {
    signalGroup(pgid, "SIGKILL");
    tellWatchdog(`-${pgid}`);
  }
  live.clear();
}

export function liveGroupCount(): number {
  return live.size;
}

function install(): void {
  if (installed) return;
  installed = true;
  process.on("exit", killAllGroups);
  watchdog = spawn("/bin/sh", ["-c", WATCHDOG_SCRIPT], {
    detached: true,
    stdio: ["pipe", "ignore", "ignore"],
  });
  // Without a watchdog the in-process handlers above still cover every death but SIGKILL.
  watchdog.on("error", () => {});
  watchdog.stdin?.on("error", () => {});
  // Neither the watchdog nor its pipe may keep the harness's event loop alive.
  watchdog.unref();
  (watchdog.stdin as unknown as { unref?: () => void } | null)?.unref?.();
}

function tellWatchdog(line: string): void {
  const stdin = watchdog?.stdin;
  if (stdin && !stdin.destroyed && stdin.writableLength < MAX_WATCHDOG_QUEUE_BYTES)
    stdin.write(`${line}\n`);
}
