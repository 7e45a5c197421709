#!/usr/bin/env node
// A MapReduce worker (README.md "The interface"): asks the coordinator for a task, runs it
// with the chosen app, writes its files atomically (storage.ts), reports, and asks again. It
// exits 0 when the coordinator says the job is done, or when the coordinator cannot be reached
// for --give-up-ms (it is gone, or cut off for that long). Runs with cwd = the job directory.
// Logs go to stderr.
//   node dist/systems/mapreduce/worker.js --coordinator HOST:PORT --app APP [--bug NAME]
//        [--give-up-ms MS]
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { setTimeout as sleep } from "node:timers/promises";
import { parseArgs } from "node:util";
import {
  APP_NAMES,
  APPS,
  type App,
  type AppName,
  ihash,
  isAppName,
  type KeyValue,
} from "../../protocols/mapreduce/apps/index.js";
import { Grouper } from "../../protocols/mapreduce/group.js";
import { pickBug, WORKER_BUGS, type WorkerBug } from "./bugs.js";
import { call, type ReportReply, type TaskReply, Unreachable } from "./rpc.js";
import {
  appendFileDurable,
  encodePairs,
  InPlaceLineWriter,
  intermediateName,
  outputName,
  readPairsInto,
  writeFileAtomic,
} from "./storage.js";

const USAGE =
  "usage: worker --coordinator HOST:PORT --app APP [--bug NAME] [--give-up-ms MS]\n" +
  `  APP: ${APP_NAMES.join(", ")}`;
/** Calls failing for this long in a row mean the coordinator is gone: the worker exits. */
const DEFAULT_GIVE_UP_MS = 5_000;
/** The longest "wait" the worker honours, whatever the coordinator asks. */
const MAX_WAIT_MS = 1_000;

const log = (text: string) =>
  process.stderr.write(`${new Date().toISOString()} worker ${process.pid} ${text}\n`);

function usage(problem: string): never {
  process.stderr.write(`worker: ${problem}\n${USAGE}\n`);
  process.exit(2);
}

let parsed: ReturnType<typeof parse>;
function parse() {
  return parseArgs({
    options: {
      coordinator: { type: "string" },
      app: { type: "string" },
      bug: { type: "string" },
      "give-up-ms": { type: "string" },
    },
    allowPositionals: false,
  });
}
try {
  parsed = parse();
} catch (err) {
  usage((err as Error).message);
}
const { values } = parsed;
const hostport = values.coordinator ?? usage("--coordinator is required");
const colon = hostport.lastIndexOf(":");
const host = hostport.slice(0, colon);
const port = Number(hostport.slice(colon + 1));
if (colon <= 0 || !Number.isSafeInteger(port) || port <= 0) usage(`bad --coordinator ${hostport}`);
const app_name = values.app ?? usage("--app is required");
if (!isAppName(app_name)) usage(`unknown app ${app_name}`);
const app: App = APPS[app_name as AppName];
const give_up_ms = Number(values["give-up-ms"] ?? DEFAULT_GIVE_UP_MS);
if (!Number.isSafeInteger(give_up_ms) || give_up_ms < 0)
  usage("--give-up-ms must be an integer >= 0");
let bug: WorkerBug | undefined;
try {
  bug = pickBug(values.bug, WORKER_BUGS);
} catch (err) {
  usage((err as Error).message);
}

/** Exits 0, logging why and the CPU time this worker used (the benchmark reads it). */
function exit(why: string): never {
  const { user, system } = process.cpuUsage();
  log(`${why}; exiting (cpu ${Math.round((user + system) / 1000)} ms)`);
  process.exit(0);
}

const me = `w-${process.pid}-${randomBytes(2).toString("hex")}`;

async function rpc(path: string, body: unknown): Promise<unknown> {
  try {
    return await call(host, port, path, body, give_up_ms, log);
  } catch (err) {
    if (!(err instanceof Unreachable)) throw err;
    exit(`coordinator unreachable (${err.message})`);
  }
}

async function runMap(task: number, file: string, n_reduce: number): Promise<void> {
  const pairs = await app.map(file, readFileSync(file, "utf8"));
  const buckets: KeyValue[][] = Array.from({ length: n_reduce }, () => []);
  const partition = new Map<string, number>();
  for (const kv of pairs) {
    let r = partition.get(kv.key);
    if (r === undefined) {
      r = ihash(kv.key) % n_reduce;
      partition.set(kv.key, r);
    }
    (buckets[r] as KeyValue[]).push(kv);
  }
  for (let r = 0; r < n_reduce; r++) {
    const data = encodePairs(buckets[r] as KeyValue[]);
    if (bug === "double-count") appendFileDurable(intermediateName(task, r), data);
    else writeFileAtomic(intermediateName(task, r), data);
  }
}

async function runReduce(task: number, n_map: number): Promise<void> {
  const grouper = new Grouper();
  const add = (key: string, value: string) => grouper.add(key, value);
  for (let m = 0; m < n_map; m++) readPairsInto(intermediateName(m, task), add);
  const groups = grouper.sorted();
  if (bug === "non-atomic-output") {
    const out = new InPlaceLineWriter(outputName(task));
    for (const [key, vals] of groups) out.line(`${key} ${await app.reduce(key, vals)}`);
    out.close();
    return;
  }
  let text = "";
  for (const [key, vals] of groups) text += `${key} ${await app.reduce(key, vals)}\n`;
  writeFileAtomic(outputName(task), text);
}

function isCount(n: unknown): n is number {
  return typeof n === "number" && Number.isSafeInteger(n) && n >= 0;
}

log(`${me} app ${app_name} coordinator ${hostport}${bug ? ` bug ${bug}` : ""}`);
for (let seq = 1; ; seq++) {
  const reply = (await rpc("/task", { worker: me, seq })) as TaskReply;
  assert(typeof reply === "object" && reply !== null, "the /task reply is not an object");
  switch (reply.kind) {
    case "done":
      exit("job done");
      break;
    case "wait":
      await sleep(Math.min(isCount(reply.ms) ? reply.ms : MAX_WAIT_MS, MAX_WAIT_MS));
      continue;
    case "map":
    case "reduce": {
      assert(isCount(reply.task) && isCount(reply.n_map) && isCount(reply.n_reduce));
      assert(reply.n_reduce > 0, "n_reduce must be > 0");
      const started_ms = Date.now();
      if (reply.kind === "map") {
        assert(typeof reply.file === "string", "a map task needs a file");
        await runMap(reply.task, reply.file, reply.n_reduce);
      } else {
        await runReduce(reply.task, reply.n_map);
      }
      const took_ms = Date.now() - started_ms;
      const report = (await rpc("/report", {
        worker: me,
        kind: reply.kind,
        task: reply.task,
        attempt: isCount(reply.attempt) ? reply.attempt : 0,
      })) as ReportReply;
      log(`${reply.kind} ${reply.task} done in ${took_ms} ms: ${report.outcome}`);
      continue;
    }
    default:
      throw new Error(`unknown task kind in ${JSON.stringify(reply)}`);
  }
}
