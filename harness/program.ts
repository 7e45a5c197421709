// A program a driver starts (DriverContext.spawn): a ProgramProcess working in data/<id>/ of the
// run directory unless given a directory. Two flavours of stdout: a JSON-lines control channel
// (commands with ids, replies with in_reply_to, events; the LSP programs' contract), or plain
// text lines (the bitcoin client's one line of output, a MapReduce program's log).
import { join } from "node:path";
import { ProgramProcess, type ProgramProcessOptions } from "./program-process.js";

/** Stdout lines kept per text-mode program (the bitcoin client prints exactly one). */
const MAX_TEXT_LINES = 100;
/** Malformed control lines kept per program for the report (all are counted). */
const MAX_KEPT_PROTOCOL_ERRORS = 20;
/** Timed-out call ids remembered so their late replies are recognised. */
const MAX_ABANDONED = 10_000;

import type { Json, ProtocolProblem } from "../workloads/plugin.js";

export type { ProgramExit } from "./program-process.js";
export type { Json, ProtocolProblem };

export interface ProgramOptions extends ProgramProcessOptions {
  /** "control": JSON lines (systems/lsp/README.md "The control channel"); "text": plain lines. */
  mode: "control" | "text";
  /** Called for every JSON event line (no in_reply_to) in control mode. */
  onEvent?: (event: Json) => void;
  /** Working directory; default data/<id>/ of the run directory. */
  cwd?: string;
  env?: Record<string, string>;
}

interface PendingCall {
  resolve(reply: Json | undefined): void;
  timer: NodeJS.Timeout | undefined;
}

export class Program extends ProgramProcess {
  readonly lines: string[] = [];
  readonly problems: ProtocolProblem[] = [];
  problem_count = 0;
  private readonly pending = new Map<number, PendingCall>();
  private readonly event_waiters = new Set<{
    match(e: Json): boolean;
    resolve(e: Json | undefined): void;
  }>();
  private next_id = 1;
  /** Ids of calls that timed out: a late reply to one is not the program's fault. */
  private readonly abandoned = new Set<number>();
  late_replies = 0;

  constructor(private readonly options: ProgramOptions) {
    super(options, options.cwd ?? join(options.runDir, "data", options.id), options.env);
  }

  /**
   * Sends a control-channel command (systems/lsp/README.md "The control channel") and waits for its
   * reply; undefined when `timeout_ms` passes first (0 = no limit) or the program exits without
   * replying.
   */
  call(command: Json, timeout_ms = 0): Promise<Json | undefined> {
    const id = this.next_id++;
    return new Promise((resolve) => {
      if (!this.running || !this.process.write(JSON.stringify({ id, ...command }))) {
        resolve(undefined);
        return;
      }
      const timer =
        timeout_ms > 0
          ? setTimeout(() => {
              this.pending.delete(id);
              if (this.abandoned.size < MAX_ABANDONED) this.abandoned.add(id);
              resolve(undefined);
            }, timeout_ms)
          : undefined;
      this.pending.set(id, { resolve, timer });
    });
  }

  /** Waits for an event line matching `match`; undefined on timeout or exit. */
  waitEvent(match: (event: Json) => boolean, timeout_ms: number): Promise<Json | undefined> {
    return new Promise((resolve) => {
      if (!this.running) {
        resolve(undefined);
        return;
      }
      const waiter = {
        match,
        resolve: (event: Json | undefined) => {
          clearTimeout(timer);
          this.event_waiters.delete(waiter);
          resolve(event);
        },
      };
      const timer = setTimeout(() => waiter.resolve(undefined), timeout_ms);
      this.event_waiters.add(waiter);
    });
  }

  protected override onLine(line: string, n: number): void {
    if (this.options.mode === "text") {
      if (this.lines.length < MAX_TEXT_LINES) this.lines.push(line);
      return;
    }
    if (line.trim() === "") return;
    let parsed: unknown;
    try {
      parsed = JSON.parse(line);
    } catch {
      this.problem(n, "stdout line is not JSON (logs belong on stderr)", line);
      return;
    }
    if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
      this.problem(n, "stdout line is not a JSON object", line);
      return;
    }
    const json = parsed as Json;
    if ("in_reply_to" in json) {
      const id = json.in_reply_to;
      const call = typeof id === "number" ? this.pending.get(id) : undefined;
      if (!call && this.abandoned.delete(id as number)) {
        this.late_replies++;
        return;
      }
      if (!call) {
        this.problem(
          n,
          `reply to unknown or already answered command id ${JSON.stringify(id)}`,
          line,
        );
        return;
      }
      this.pending.delete(id as number);
      if (call.timer) clearTimeout(call.timer);
      call.resolve(json);
      return;
    }
    if (typeof json.event !== "string") {
      this.problem(n, `line has neither "in_reply_to" nor "event"`, line);
      return;
    }
    this.options.onEvent?.(json);
    for (const waiter of [...this.event_waiters]) if (waiter.match(json)) waiter.resolve(json);
  }

  protected override onOverflow(seen_bytes: number, n: number): void {
    this.problem(n, `stdout line longer than the limit (${seen_bytes} bytes)`, "");
  }

  private problem(line: number, reason: string, raw: string): void {
    this.problem_count++;
    if (this.problems.length < MAX_KEPT_PROTOCOL_ERRORS) {
      this.problems.push({
        program: this.id,
        line,
        reason,
        raw: raw.length > 512 ? `${raw.slice(0, 512)}…` : raw,
      });
    }
  }

  /** A program that exits answers nothing more: its pending calls and event waits end unanswered. */
  protected override onExited(): void {
    for (const call of this.pending.values()) {
      if (call.timer) clearTimeout(call.timer);
      call.resolve(undefined);
    }
    this.pending.clear();
    for (const waiter of [...this.event_waiters]) waiter.resolve(undefined);
  }
}
