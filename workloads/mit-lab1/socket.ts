// The lab's RPC socket. Every Lab 1 coordinator of a user listens on the same path
// (coordinatorSock(): /var/tmp/5840-mr-<uid>) and every worker dials it, so two lab runs of one
// user at once would cross: workers of one job would take tasks from the other's coordinator,
// and each coordinator deletes the other's socket when it starts. Lab mode therefore holds a
// lock beside the socket for the whole run (`<socket>.faultline-lock`, holding its pid), and
// refuses to start while another live run holds it or while anything (the lab's own
// test-mr.sh, say) serves on the socket.
import { readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { createConnection } from "node:net";
import { SetupError } from "../plugin.js";

/** How long a connect to the socket may take to say whether something serves on it. */
const PROBE_TIMEOUT_MS = 1_000;

/** The lab's coordinatorSock() for this user (6.824 before 2023 used /var/tmp/824-mr-<uid>). */
export function labSocketPath(): string {
  return `/var/tmp/5840-mr-${process.getuid?.() ?? 0}`;
}

/** True when something accepts connections on the UNIX socket at `path`. */
export function socketServing(path: string, timeout_ms = PROBE_TIMEOUT_MS): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ path });
    const done = (serving: boolean) => {
      clearTimeout(timer);
      socket.destroy();
      resolve(serving);
    };
    const timer = setTimeout(() => done(false), timeout_ms);
    socket.once("connect", () => done(true));
    socket.once("error", () => done(false));
  });
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** The lab's socket, held by this run; `release` when the run ends. */
export class SocketLock {
  readonly lockPath: string;
  private held = false;

  constructor(readonly socketPath: string) {
    this.lockPath = `${socketPath}.faultline-lock`;
  }

  /** Takes the lock, or a one-line SetupError naming who has the socket. */
  async acquire(): Promise<void> {
    this.take();
    if (await socketServing(this.socketPath)) {
      // Someone else's live socket: give the lock back and leave their socket alone.
      this.held = false;
      rmSync(this.lockPath, { force: true });
      throw new SetupError(
        `something already serves on ${this.socketPath} (the lab's test-mr.sh or a coordinator left running?): the lab's socket is one per user, so two Lab 1 jobs at once would take each other's tasks; stop it first`,
      );
    }
  }

  private take(): void {
    for (let attempt = 0; attempt < 2; attempt++) {
      try {
        writeFileSync(this.lockPath, String(process.pid), { flag: "wx" });
        this.held = true;
        return;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
      }
      const owner = Number(readFileSafe(this.lockPath));
      if (Number.isInteger(owner) && owner > 0 && alive(owner)) {
        throw new SetupError(
          `another faultline Lab 1 run (pid ${owner}) is using ${this.socketPath}: the lab's socket is one per user, so two runs at once would take each other's tasks; wait for it to finish`,
        );
      }
      rmSync(this.lockPath, { force: true }); // left by a run that died
    }
    throw new SetupError(`could not take ${this.lockPath}: another run keeps taking it`);
  }

  /** Removes the socket the coordinator left (test-mr.sh does too) and the lock. */
  release(): void {
    if (!this.held) return;
    this.held = false;
    try {
      if (statSync(this.socketPath).isSocket()) rmSync(this.socketPath, { force: true });
    } catch {
      // no socket left
    }
    rmSync(this.lockPath, { force: true });
  }
}

function readFileSafe(path: string): string {
  try {
    return readFileSync(path, "utf8").trim();
  } catch {
    return "";
  }
}
