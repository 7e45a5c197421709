// One node of the system under test: a subprocess in its own process group, stdout split into
// protocol lines, stderr appended to node-logs/<node>.log with its last lines kept for error
// messages, and an exit that is noticed whether we caused it or not.
import { accessSync, constants, createWriteStream, mkdirSync, type WriteStream } from "node:fs";
import { dirname } from "node:path";
import { execa, type ResultPromise } from "execa";
import { SetupError } from "./exit-codes.js";
import { LineSplitter } from "./line-splitter.js";
import { signalGroup, trackGroup, untrackGroup } from "./process-groups.js";

export const MAX_STDOUT_LINE_BYTES = 8 * 1024 * 1024;
const STDERR_TAIL_LINES = 20;
const MAX_STDERR_LINE_BYTES = 64 * 1024;
/** A node's log file stops growing here; the rest of its stderr is counted, not kept. */
const MAX_LOG_BYTES = 256 * 1024 * 1024;
/** Bytes queued on a node's stdin beyond which we stop writing (it is not reading). */
export const MAX_STDIN_QUEUE_BYTES = 16 * 1024 * 1024;

export interface NodeCommand {
  file: string;
  args: readonly string[];
}

export interface NodeExit {
  code: number | null;
  signal: string | null;
  /** True when the harness stopped or killed it; false when it died on its own. */
  expected: boolean;
  time_ns: number;
  stderr_tail: string[];
}

export interface NodeEvents {
  line(line: string, line_number: number): void;
  overflow(seen_bytes: number, line_number: number): void;
  exit(exit: NodeExit): void;
  /** Each stderr line as it arrives (--log-stderr). */
  stderr?(line: string): void;
}

/** Fails with a one-line SetupError unless `file` is an executable file. */
export function assertExecutable(file: string): void {
  try {
    accessSync(file, constants.X_OK);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === "ENOENT" ? "does not exist" : "is not executable (try chmod +x)";
    throw new SetupError(`--bin ${file} ${why}`);
  }
}

export class NodeProcess {
  private child: ResultPromise | undefined;
  private pgid: number | undefined;
  private log: WriteStream;
  private log_bytes = 0;
  private readonly tail: string[] = [];
  private stdout_lines = 0;
  private expectExit = false;
  private exited: Promise<NodeExit> | undefined;

  constructor(
    readonly id: string,
    private readonly command: NodeCommand,
    private readonly options: { cwd: string; env: Record<string, string>; logPath: string },
    private readonly events: NodeEvents,
    private readonly now_ns: () => number,
  ) {
    mkdirSync(dirname(options.logPath), { recursive: true });
    mkdirSync(options.cwd, { recursive: true });
    this.log = createWriteStream(options.logPath, { flags: "a" });
  }

  get running(): boolean {
    return this.child !== undefined;
  }

  get stderrTail(): string[] {
    return [...this.tail];
  }

  /** The process group it leads while running. */
  get group(): number | undefined {
    return this.child ? this.pgid : undefined;
  }

  /** Spawns the node; rejects with a SetupError if the OS cannot start it. */
  async start(): Promise<void> {
    if (this.child) throw new Error(`${this.id} is already running`);
    this.expectExit = false;
    const child = execa(this.command.file, this.command.args, {
      cwd: this.options.cwd,
      env: this.options.env,
      detached: true, // its own process group, so we can signal the whole group
      cleanup: false, // process-groups.ts kills groups, including grandchildren
      buffer: false,
      reject: false,
      stdin: "pipe",
      stdout: "pipe",
      stderr: "pipe",
    });
    await new Promise<void>((resolve, reject) => {
      child.once("spawn", () => resolve());
      child.once("error", (err: NodeJS.ErrnoException) =>
        reject(
          new SetupError(`cannot start node ${this.id} (${this.command.file}): ${err.message}`),
        ),
      );
    });
    const pid = child.pid;
    if (pid === undefined) throw new SetupError(`cannot start node ${this.id}: no pid`);
    this.child = child;
    this.pgid = pid;
    trackGroup(pid);
    this.logLine(`--- faultline: started ${this.id} pid ${pid}`);

    const stdout = new LineSplitter(
      MAX_STDOUT_LINE_BYTES,
      (line) => this.events.line(line, ++this.stdout_lines),
      (seen) => this.events.overflow(seen, ++this.stdout_lines),
    );
    const stderr = new LineSplitter(
      MAX_STDERR_LINE_BYTES,
      (line) => {
        this.keepStderr(line);
        this.events.stderr?.(line);
      },
      (seen) => this.keepStderr(`[faultline: a ${seen}-byte stderr line was cut]`),
    );
    child.stdout?.on("data", (chunk: Buffer) => stdout.push(chunk));
    // A node stopped or killed while writing a line leaves a fragment: no protocol error for
    // that, unless the fragment is a whole JSON message (then it was one without its newline).
    child.stdout?.on("end", () =>
      stdout.end((fragment) => {
        if (isJsonText(fragment)) this.events.line(fragment, ++this.stdout_lines);
        else {
          this.logLine(
            `--- faultline: ${this.id}'s stdout ended inside a line (${Buffer.byteLength(fragment)} bytes, not JSON): cut off by its exit, ignored`,
          );
        }
      }),
    );
    child.stderr?.on("data", (chunk: Buffer) => {
      this.writeLog(chunk);
      stderr.push(chunk);
    });
    child.stderr?.on("end", () => stderr.end());
    // A node that exits closes its stdin; writes after that must not crash the harness.
    child.stdin?.on("error", () => {});

    // execa settles only once stdout/stderr close; a grandchild holding them open would hide
    // the exit, so the moment the leader exits the rest of its group goes too.
    child.once("exit", () => signalGroup(pid, "SIGKILL"));
    this.exited = child.then((result) => {
      const exit: NodeExit = {
        code: result.exitCode ?? null,
        signal: result.signal ?? null,
        expected: this.expectExit,
        time_ns: this.now_ns(),
        stderr_tail: this.stderrTail,
      };
      this.child = undefined;
      // Kill the rest of the group: children of a wrapper script that did not `exec`.
      signalGroup(pid, "SIGKILL");
      untrackGroup(pid);
      this.logLine(
        `--- faultline: ${this.id} exited (code ${exit.code}, signal ${exit.signal}, ${exit.expected ? "stopped by faultline" : "on its own"})`,
      );
      this.events.exit(exit);
      return exit;
    });
  }

  /** Writes one protocol line to stdin; false if the node is gone or not reading. */
  write(line: string): boolean {
    const stdin = this.child?.stdin;
    if (!stdin || stdin.destroyed || !stdin.writable) return false;
    if (stdin.writableLength > MAX_STDIN_QUEUE_BYTES) return false;
    // Messages routed in the same event-loop turn leave in one writev, not a syscall each.
    if (stdin.writableCorked === 0) {
      stdin.cork();
      setImmediate(() => stdin.uncork());
    }
    stdin.write(`${line}\n`);
    return true;
  }

  /** SIGTERM the group, then SIGKILL after `grace_ms`. Resolves when the node has exited. */
  async stop(grace_ms: number): Promise<NodeExit | undefined> {
    const exited = this.exited;
    if (!this.child || this.pgid === undefined || !exited) return undefined;
    this.expectExit = true;
    signalGroup(this.pgid, "SIGCONT"); // a paused node cannot handle SIGTERM
    signalGroup(this.pgid, "SIGTERM");
    let timer: NodeJS.Timeout | undefined;
    const killed = new Promise<void>((resolve) => {
      timer = setTimeout(() => {
        if (this.pgid !== undefined) signalGroup(this.pgid, "SIGKILL");
        resolve();
      }, grace_ms);
    });
    await Promise.race([exited, killed]);
    const exit = await exited;
    clearTimeout(timer);
    return exit;
  }

  /** SIGKILL the group at once (crash faults, emergencies). */
  async kill(): Promise<NodeExit | undefined> {
    const exited = this.exited;
    if (!this.child || this.pgid === undefined || !exited) return undefined;
    this.expectExit = true;
    signalGroup(this.pgid, "SIGKILL");
    return exited;
  }

  /** SIGSTOP / SIGCONT the whole group (pause faults). */
  signal(signal: "SIGSTOP" | "SIGCONT"): boolean {
    return this.pgid !== undefined && this.child !== undefined && signalGroup(this.pgid, signal);
  }

  /** The log file is closed once the node has stopped for good. */
  async close(): Promise<void> {
    await new Promise<void>((resolve) => this.log.end(resolve));
  }

  private keepStderr(line: string): void {
    this.tail.push(line);
    if (this.tail.length > STDERR_TAIL_LINES) this.tail.shift();
  }

  private logLine(text: string): void {
    this.writeLog(Buffer.from(`${text}\n`));
  }

  private writeLog(chunk: Buffer): void {
    if (this.log_bytes >= MAX_LOG_BYTES) return;
    this.log_bytes += chunk.length;
    this.log.write(chunk);
    if (this.log_bytes >= MAX_LOG_BYTES) {
      this.log.write(`\n--- faultline: log cut at ${MAX_LOG_BYTES} bytes\n`);
    }
  }
}

function isJsonText(text: string): boolean {
  try {
    JSON.parse(text);
    return true;
  } catch {
    return false;
  }
}
