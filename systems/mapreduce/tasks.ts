// The coordinator's task table, with no I/O and no clock of its own (the caller passes the time):
// which task to hand out next, when a silent task is re-assigned, and when the job is done.
// Read this first.
//
// One map task per input file, then nReduce reduce tasks, which are handed out only once every
// map task has finished. A task handed out and not reported finished within task_timeout_ms is
// handed out again to the next worker that asks (the first report wins; later ones are
// duplicates: every attempt writes the same files atomically, so it does not matter which one
// lands last).
import assert from "node:assert/strict";

export type TaskKind = "map" | "reduce";
export type TaskState = "idle" | "in-progress" | "finished";

export interface Task {
  kind: TaskKind;
  index: number;
  state: TaskState;
  /** How many times it was handed out. */
  attempts: number;
  /** When it was last handed out (caller's clock, ms). */
  assigned_at_ms: number;
  /** Who it was last handed to. */
  worker: string;
}

export type Assignment =
  | { kind: "map"; task: number; file: string; n_map: number; n_reduce: number; attempt: number }
  | { kind: "reduce"; task: number; n_map: number; n_reduce: number; attempt: number }
  | { kind: "wait" }
  | { kind: "done" };

export interface TaskTableOptions {
  files: readonly string[];
  n_reduce: number;
  /** A task not reported finished this long after it was handed out is handed out again. */
  task_timeout_ms: number;
  /** Bug no-reassign: never hand out a task a second time. */
  no_reassign?: boolean;
  /** Bug early-exit: the job counts as done once every reduce task is handed out. */
  done_when_assigned?: boolean;
}

export type ReportOutcome = "accepted" | "duplicate" | "unknown";

export class TaskTable {
  readonly maps: Task[];
  readonly reduces: Task[];

  constructor(private readonly options: TaskTableOptions) {
    assert(options.files.length > 0, "a job needs at least one input file");
    assert(Number.isSafeInteger(options.n_reduce) && options.n_reduce > 0, "n_reduce must be > 0");
    assert(options.task_timeout_ms > 0, "task_timeout_ms must be > 0");
    const make = (kind: TaskKind, index: number): Task => ({
      kind,
      index,
      state: "idle",
      attempts: 0,
      assigned_at_ms: 0,
      worker: "",
    });
    this.maps = options.files.map((_, i) => make("map", i));
    this.reduces = Array.from({ length: options.n_reduce }, (_, i) => make("reduce", i));
  }

  get phase(): "map" | "reduce" | "done" {
    if (this.maps.some((t) => t.state !== "finished")) return "map";
    return this.done() ? "done" : "reduce";
  }

  /** The next task for `worker` at `now_ms`: an idle one first, else the longest-silent one. */
  next(worker: string, now_ms: number): Assignment {
    if (this.done()) return { kind: "done" };
    const phase = this.phase;
    const tasks = phase === "map" ? this.maps : this.reduces;
    const task = tasks.find((t) => t.state === "idle") ?? this.oldestExpired(tasks, now_ms);
    if (!task) return { kind: "wait" };
    assert(task.state !== "finished");
    assert(task.kind === "map" || this.maps.every((t) => t.state === "finished"));
    task.state = "in-progress";
    task.attempts++;
    task.assigned_at_ms = now_ms;
    task.worker = worker;
    const n_map = this.maps.length;
    const n_reduce = this.reduces.length;
    const attempt = task.attempts;
    if (task.kind === "map") {
      const file = this.options.files[task.index] as string;
      return { kind: "map", task: task.index, file, n_map, n_reduce, attempt };
    }
    return { kind: "reduce", task: task.index, n_map, n_reduce, attempt };
  }

  /** A worker says it finished a task (the caller has checked its files exist). */
  report(kind: TaskKind, index: number): ReportOutcome {
    const task = (kind === "map" ? this.maps : this.reduces)[index];
    if (!task || task.state === "idle") return "unknown"; // never handed out: not from this job
    if (task.state === "finished") return "duplicate";
    task.state = "finished";
    return "accepted";
  }

  /** A finished task's output is gone: run it again. */
  reopen(kind: TaskKind, index: number): void {
    const task = (kind === "map" ? this.maps : this.reduces)[index];
    assert(task, `no ${kind} task ${index}`);
    task.state = "idle";
  }

  /** Every reduce task finished (with the early-exit bug: handed out). */
  done(): boolean {
    const over = (t: Task) =>
      t.state === "finished" || (this.options.done_when_assigned === true && t.attempts > 0);
    return this.maps.every((t) => t.state === "finished") && this.reduces.every(over);
  }

  private oldestExpired(tasks: Task[], now_ms: number): Task | undefined {
    if (this.options.no_reassign) return undefined;
    let oldest: Task | undefined;
    for (const t of tasks) {
      if (t.state !== "in-progress") continue;
      if (now_ms - t.assigned_at_ms < this.options.task_timeout_ms) continue;
      if (!oldest || t.assigned_at_ms < oldest.assigned_at_ms) oldest = t;
    }
    return oldest;
  }
}
