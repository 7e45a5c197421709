#!/usr/bin/env node
// The MapReduce coordinator (README.md "The interface"): serves tasks to workers over
// HTTP/JSON (rpc.ts), re-assigns a task not reported finished within --task-timeout-ms
// (tasks.ts), and exits (code 0) EXIT_DELAY_MS after the job is done: every reduce task reported
// finished and every mr-out-Y present. Runs with cwd = the job directory; FILE... are the inputs,
// passed to Map exactly as given. Logs go to stderr; the first line is
// "coordinator listening on 127.0.0.1:<port>" (--port 0 picks a free port).
//   node dist/systems/mapreduce/coordinator.js --port PORT [--n-reduce R] [--task-timeout-ms T]
//        [--bug NAME] FILE...
import assert from "node:assert/strict";
import { accessSync, constants, existsSync } from "node:fs";
import type { AddressInfo } from "node:net";
import { parseArgs } from "node:util";
import { COORDINATOR_BUGS, pickBug } from "./bugs.js";
import {
  fields,
  jsonServer,
  type ReportReply,
  type ReportRequest,
  type TaskReply,
  type TaskRequest,
} from "./rpc.js";
import { intermediateName, outputName } from "./storage.js";
import { type TaskKind, TaskTable } from "./tasks.js";

const USAGE =
  "usage: coordinator --port PORT [--n-reduce R] [--task-timeout-ms T] [--bug NAME] FILE...";
const DEFAULT_N_REDUCE = 10;
const DEFAULT_TASK_TIMEOUT_MS = 10_000;
/** A worker with nothing to do asks again after this. */
const WAIT_MS = 200;
/** The coordinator exits this long after the job is done, telling workers "done" meanwhile. */
const EXIT_DELAY_MS = 1_000;
/** Workers whose last /task reply is remembered (for retries); the oldest is forgotten first. */
const MAX_REMEMBERED_WORKERS = 10_000;

const log = (text: string) => process.stderr.write(`${new Date().toISOString()} ${text}\n`);

function usage(problem: string): never {
  process.stderr.write(`coordinator: ${problem}\n${USAGE}\n`);
  process.exit(2);
}

function integer(name: string, raw: string | undefined, fallback: number, min: number): number {
  if (raw === undefined) return fallback;
  const n = Number(raw);
  if (!Number.isSafeInteger(n) || n < min) usage(`--${name} must be an integer >= ${min}`);
  return n;
}

let parsed: ReturnType<typeof parse>;
function parse() {
  return parseArgs({
    options: {
      port: { type: "string" },
      "n-reduce": { type: "string" },
      "task-timeout-ms": { type: "string" },
      bug: { type: "string" },
    },
    allowPositionals: true,
  });
}
try {
  parsed = parse();
} catch (err) {
  usage((err as Error).message);
}
const { values, positionals: files } = parsed;
const port = integer("port", values.port ?? usage("--port is required"), 0, 0);
const n_reduce = integer("n-reduce", values["n-reduce"], DEFAULT_N_REDUCE, 1);
const task_timeout_ms = integer(
  "task-timeout-ms",
  values["task-timeout-ms"],
  DEFAULT_TASK_TIMEOUT_MS,
  1,
);
let bug: ReturnType<typeof pickBug<(typeof COORDINATOR_BUGS)[number]>>;
try {
  bug = pickBug(values.bug, COORDINATOR_BUGS);
} catch (err) {
  usage((err as Error).message);
}
if (files.length === 0) usage("no input files");
for (const file of files) {
  try {
    accessSync(file, constants.R_OK);
  } catch {
    usage(`cannot read input file ${file} (from ${process.cwd()})`);
  }
}

const table = new TaskTable({
  files,
  n_reduce,
  task_timeout_ms,
  no_reassign: bug === "no-reassign",
  done_when_assigned: bug === "early-exit",
});
const started_ms = Date.now();
const last_task_reply = new Map<string, { seq: number; reply: TaskReply }>();
let finished = false;

function onTask(body: unknown): TaskReply {
  const req = fields<TaskRequest>(body, { worker: "string", seq: "integer" });
  const last = last_task_reply.get(req.worker);
  if (last && req.seq === last.seq) return last.reply; // a retry: its first reply was lost
  if (last && req.seq < last.seq) return { kind: "wait", ms: WAIT_MS }; // a stale request
  const assignment = table.next(req.worker, Date.now());
  const reply: TaskReply = assignment.kind === "wait" ? { kind: "wait", ms: WAIT_MS } : assignment;
  if (reply.kind === "map" || reply.kind === "reduce") {
    const what = reply.kind === "map" ? ` (${reply.file})` : "";
    log(`assign ${reply.kind} ${reply.task}${what} to ${req.worker}, attempt ${reply.attempt}`);
  }
  last_task_reply.delete(req.worker);
  last_task_reply.set(req.worker, { seq: req.seq, reply });
  if (last_task_reply.size > MAX_REMEMBERED_WORKERS) {
    last_task_reply.delete(last_task_reply.keys().next().value as string);
  }
  maybeFinish();
  return reply;
}

/** The files a finished task must have left behind. */
function outputsOf(kind: TaskKind, task: number): string[] {
  if (kind === "reduce") return [outputName(task)];
  return Array.from({ length: n_reduce }, (_, r) => intermediateName(task, r));
}

function onReport(body: unknown): ReportReply {
  const req = fields<ReportRequest>(body, {
    worker: "string",
    kind: "string",
    task: "integer",
    attempt: "integer",
  });
  if (req.kind !== "map" && req.kind !== "reduce") return { outcome: "unknown" };
  const missing = outputsOf(req.kind, req.task).filter((f) => !existsSync(f));
  if (missing.length > 0) {
    log(`${req.worker} reports ${req.kind} ${req.task} finished but ${missing[0]} is missing`);
    return { outcome: "missing-files" };
  }
  const outcome = table.report(req.kind, req.task);
  log(`${req.worker} finished ${req.kind} ${req.task} attempt ${req.attempt}: ${outcome}`);
  maybeFinish();
  return { outcome };
}

/** Once the job is done (and, without the early-exit bug, every output exists): exit soon. */
function maybeFinish(): void {
  if (finished || !table.done()) return;
  if (bug !== "early-exit") {
    for (let r = 0; r < n_reduce; r++) {
      if (existsSync(outputName(r))) continue;
      log(`${outputName(r)} vanished after reduce ${r} finished; running it again`);
      table.reopen("reduce", r);
    }
    if (!table.done()) return;
    assert(table.reduces.every((t) => t.state === "finished"));
  }
  finished = true;
  const attempts = [...table.maps, ...table.reduces].reduce((n, t) => n + t.attempts, 0);
  log(
    `job done in ${Date.now() - started_ms} ms: ${files.length} map and ${n_reduce} reduce tasks, ` +
      `${attempts} attempts; exiting in ${EXIT_DELAY_MS} ms`,
  );
  setTimeout(() => {
    server.close();
    const { user, system } = process.cpuUsage();
    log(`exiting (cpu ${Math.round((user + system) / 1000)} ms)`);
    process.exit(0);
  }, EXIT_DELAY_MS);
}

const server = jsonServer({ "/task": onTask, "/report": onReport });
server.on("error", (err) => {
  log(`cannot listen on 127.0.0.1:${port}: ${err.message}`);
  process.exit(1);
});
server.listen(port, "127.0.0.1", () => {
  const actual = (server.address() as AddressInfo).port;
  log(
    `coordinator listening on 127.0.0.1:${actual}: ${files.length} files, n-reduce ${n_reduce}, ` +
      `task timeout ${task_timeout_ms} ms${bug ? `, bug ${bug}` : ""}`,
  );
});
