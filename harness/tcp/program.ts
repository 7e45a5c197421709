// A program of the tcp transport (a MapReduce coordinator or worker) on top of NodeProcess: its
// own process group, a working directory the runner chooses (the job directory every program of
// the job shares), stderr and stdout to node-logs/<id>.log, and its exit noticed.
import { join } from "node:path";
import type { RunClock } from "../clock.js";
import { type NodeCommand, type NodeExit, NodeProcess } from "../node-process.js";

export const STOP_GRACE_MS = 1_000;
const MAX_STDOUT_LINES = 20;

export interface TcpProgramExit extends NodeExit {
  id: string;
}

export interface TcpProgramOptions {
  id: string;
  command: NodeCommand;
  /** The run directory (node-logs/ goes there). */
  runDir: string;
  cwd: string;
  clock: RunClock;
  env?: Record<string, string>;
  onExit?: (exit: TcpProgramExit) => void;
}

export class TcpProgram {
  readonly id: string;
  exit: TcpProgramExit | undefined;
  /** The last stdout lines (the programs log on stderr; stdout is kept for error messages). */
  readonly stdout: string[] = [];
  private readonly process: NodeProcess;
  private started = false;
  private readonly waiters: Array<(exit: TcpProgramExit) => void> = [];

  constructor(private readonly options: TcpProgramOptions) {
    this.id = options.id;
    this.process = new NodeProcess(
      options.id,
      options.command,
      {
        cwd: options.cwd,
        env: { FAULTLINE_NODE_ID: options.id, ...options.env },
        logPath: join(options.runDir, "node-logs", `${options.id}.log`),
      },
      {
        line: (line) => {
          this.stdout.push(line);
          if (this.stdout.length > MAX_STDOUT_LINES) this.stdout.shift();
        },
        overflow: () => {},
        exit: (exit) => this.onExit(exit),
      },
      () => options.clock.now_ns(),
    );
  }

  get running(): boolean {
    return this.started && this.exit === undefined;
  }

  async start(): Promise<void> {
    this.started = true;
    await this.process.start();
  }

  /** Resolves with the exit (at once if it already exited); undefined after `timeout_ms`. */
  waitExit(timeout_ms: number): Promise<TcpProgramExit | undefined> {
    if (this.exit || !this.started) return Promise.resolve(this.exit);
    return new Promise((resolve) => {
      const timer = setTimeout(() => resolve(undefined), timeout_ms);
      this.waiters.push((exit) => {
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

  async close(): Promise<void> {
    await this.process.close();
  }

  private onExit(exit: NodeExit): void {
    this.exit = { id: this.id, ...exit };
    for (const resolve of this.waiters.splice(0)) resolve(this.exit);
    this.options.onExit?.(this.exit);
  }
}
