// Streams the history to history.jsonl as it is recorded (DESIGN.md §3) and keeps it in memory
// for the checkers. Index and time are assigned here, so the file is always in time order.
import { type Op, serializeOp } from "../checkers/history.js";
import type { RunClock } from "./clock.js";
import { JsonlWriter } from "./jsonl-writer.js";

/** Histories beyond this size stop being written (the run goes on; the result says so). */
const MAX_HISTORY_BYTES = 2 * 1024 * 1024 * 1024;

export type OpRecord = Omit<Op, "index" | "time">;

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

  get truncated(): boolean {
    return this.writer.dropped_lines > 0;
  }

  close(): void {
    this.writer.close();
  }
}
