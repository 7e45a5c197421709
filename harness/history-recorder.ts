// Streams the history to history.jsonl as it is recorded (ARCHITECTURE.md "The store") and keeps it
// in memory for the checkers. Index and time are assigned here, so the file is always in time
// order.
import { type CompletionType, type Op, serializeOp } from "../checkers/history.js";
import type { RunClock } from "./clock.js";
import { JsonlWriter } from "./jsonl-writer.js";

/** Histories beyond this size stop being written (the run goes on; the result says so). */
const MAX_HISTORY_BYTES = 2 * 1024 * 1024 * 1024;

export type OpRecord = Omit<Op, "index" | "time">;

/** An invoked op, waiting for its completion. */
export interface OpHandle {
  /**
   * Completes the op (with the invoke's value unless given); later calls are ignored (a reply
   * that races a timeout).
   */
  complete(type: CompletionType, value?: unknown, error?: unknown): void;
  readonly done: boolean;
}

export class HistoryRecorder {
  readonly ops: Op[] = [];
  private readonly writer: JsonlWriter;

  constructor(
    path: string,
    private readonly clock: RunClock,
  ) {
    this.writer = new JsonlWriter(path, {
      flush_bytes: 0,
      max_bytes: MAX_HISTORY_BYTES,
      truncation_note: false, // the history stays a valid history; results.json says it was cut
    });
  }

  record(record: OpRecord): Op {
    const op: Op = { index: this.ops.length, time: this.clock.now_ns(), ...record };
    this.ops.push(op);
    this.writer.write(serializeOp(op));
    return op;
  }

  /** Records an invoke now; the handle records its one completion and tells `onComplete`. */
  invoke(
    process: number,
    f: string,
    value: unknown,
    node: string | undefined,
    onComplete: (type: CompletionType) => void,
  ): OpHandle {
    this.record({ process, type: "invoke", f, value, ...(node !== undefined && { node }) });
    let done = false;
    return {
      complete: (type, completion = value, error) => {
        if (done) return;
        done = true;
        this.record({
          process,
          type,
          f,
          value: completion,
          ...(error !== undefined && { error }),
        });
        onComplete(type);
      },
      get done() {
        return done;
      },
    };
  }

  get truncated(): boolean {
    return this.writer.dropped_lines > 0;
  }

  close(): void {
    this.writer.close();
  }
}
