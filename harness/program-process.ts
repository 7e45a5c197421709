// The lifecycle every transport's program shares on top of NodeProcess: its own process group,
// stderr to node-logs/<id>.log, started once, stopped, killed, paused and resumed by signal, and an
// exit callers can wait for. Subclasses only say what a stdout line means.
import { join } from "node:path";
import type { RunClock } from "./clock.js";
import { type NodeCommand, type NodeExit, NodeProcess } from "./node-process.js";

export const STOP_GRACE_MS = 1_000;
/** Stop rounds before giving up on programs that exit handlers keep replacing. */
const MAX_STOP_ROUNDS = 10;

export interface ProgramExit extends NodeExit {
  id: string;
}

export interface ProgramProcessOptions {
  id: string;
  command: NodeCommand;
  /** The run directory (node-logs/ goes there). */
  runDir: string;
  clock: RunClock;
  onExit?: (exit: ProgramExit) => void;
}

export abstract class ProgramProcess {
  readonly id: string;
  exit: ProgramExit | undefined;
  protected readonly process: NodeProcess;
  private started = false;
  private readonly exit_waiters: Array<(exit: ProgramExit) => void> = [];
  private readonly notifyExit: ((exit: ProgramExit) => void) | undefined;

  constructor(options: ProgramProcessOptions, cwd: string, env: Record<string, string> = {}) {
    this.id = options.id;
    this.notifyExit = options.onExit;
    this.process = new NodeProcess(
      options.id,
      options.command,
      {
        cwd,
        env: { FAULTLINE_NODE_ID: options.id, ...env },
        logPath: join(options.runDir, "node-logs", `${options.id}.log`),
      },
      {
        line: (line, n) => this.onLine(line, n),
        overflow: (seen, n) => this.onOverflow(seen, n),
        exit: (exit) => this.onNodeExit(exit),
      },
      () => options.clock.now_ns(),
    );
  }

  /** One complete stdout line (`line_number` counts from 1). */
  protected abstract onLine(line: string, line_number: number): void;

  /** A stdout line longer than the limit, dropped; ignored unless a subclass cares. */
  protected onOverflow(_seen_bytes: number, _line_number: number): void {}

  /** Runs once the exit is recorded, before exit waiters and `onExit` hear of it. */
  protected onExited(_exit: ProgramExit): void {}

  get running(): boolean {
    return this.started && this.exit === undefined;
  }

  async start(): Promise<void> {
    this.started = true;
    await this.process.start();
  }

  /** Resolves with the exit (at once if it already exited); undefined after `timeout_ms`. */
  waitExit(timeout_ms: number): Promise<ProgramExit | undefined> {
    if (this.exit || !this.started) return Promise.resolve(this.exit);
    return new Promise((resolve) => {
      const timer = setTimeout(() => resolve(undefined), timeout_ms);
      this.exit_waiters.push((exit) => {
        clearTimeout(timer);
        resolve(exit);
      });
    });
  }

  async kill(): Promise<void> {
    await this.process.kill();
  }

  async stop(grace_ms = STOP_GRACE_MS): Promise<void> {
    await this.process.stop(grace_ms);
  }

  pause(): boolean {
    return this.process.signal("SIGSTOP");
  }

  resume(): boolean {
    return this.process.signal("SIGCONT");
  }

  get stderrTail(): string[] {
    return this.process.stderrTail;
  }

  /** The pid while it runs (it leads its own process group). */
  get pid(): number | undefined {
    return this.running ? this.process.group : undefined;
  }

  async close(): Promise<void> {
    await this.process.close();
  }

  private onNodeExit(exit: NodeExit): void {
    this.exit = { id: this.id, ...exit };
    this.onExited(this.exit);
    for (const resolve of this.exit_waiters.splice(0)) resolve(this.exit);
    this.notifyExit?.(this.exit);
  }
}

/** What stopPrograms needs of a program (a ProgramProcess, or a driver's handle to one). */
interface Stoppable {
  readonly running: boolean;
  kill(): Promise<void>;
  stop(): Promise<void>;
  close(): Promise<void>;
}

/**
 * Stops every program in `records` still running (SIGKILL when `kill`, else SIGTERM then SIGKILL
 * after the grace period), marking each ended by us, then closes them all. `records` is the
 * runner's live list: rounds repeat in case an exit handler started a replacement meanwhile, so
 * nothing outlives the run.
 */
export async function stopPrograms(
  records: ReadonlyArray<{ program: Stoppable; ended_by_us: boolean }>,
  kill: boolean,
): Promise<void> {
  for (let round = 0; round < MAX_STOP_ROUNDS; round++) {
    const running = records.filter((r) => r.program.running);
    if (running.length === 0) break;
    await Promise.all(
      running.map(async (r) => {
        r.ended_by_us = true;
        if (kill) await r.program.kill();
        else await r.program.stop();
      }),
    );
  }
  await Promise.all(records.map((r) => r.program.close()));
}
