// Options of the tcp transport's `mapreduce` workload (its flags in ./index.ts; documented in
// harness/tcp/README.md "MapReduce") and the programs that play each role.
import { type DriverContext, type NodeCommand, type RunSettings, SetupError } from "../plugin.js";
import { MR_DEFAULTS, type MrApp } from "./job.js";

export interface MapReduceOptions {
  /** --mr-app: the application every worker runs. */
  app?: MrApp;
  /** --mr-files: input files (= map tasks). */
  files?: number;
  /** --mr-file-kib: size of each generated input file. */
  file_kib?: number;
  /** --n-reduce: reduce tasks. */
  n_reduce?: number;
  /** --task-timeout-ms: the coordinator re-assigns a task silent this long. */
  task_timeout_ms?: number;
  /** --worker-bin: the worker program (default: the manifest's roles.worker, else ours). */
  worker_command?: NodeCommand;
  /** --mr-time-scale: FAULTLINE_MR_TIME_SCALE for the programs (default: inherited). */
  time_scale?: number;
}

export type ResolvedMapReduceOptions = Required<
  Omit<MapReduceOptions, "worker_command" | "time_scale">
> &
  Pick<MapReduceOptions, "time_scale">;

export function resolveMapReduceOptions(given: MapReduceOptions = {}): ResolvedMapReduceOptions {
  const options = {
    app: given.app ?? MR_DEFAULTS.app,
    files: given.files ?? MR_DEFAULTS.files,
    file_kib: given.file_kib ?? MR_DEFAULTS.file_kib,
    n_reduce: given.n_reduce ?? MR_DEFAULTS.n_reduce,
    task_timeout_ms: given.task_timeout_ms ?? MR_DEFAULTS.task_timeout_ms,
    ...(given.time_scale !== undefined && { time_scale: given.time_scale }),
  };
  if (!(Number.isInteger(options.files) && options.files >= 1)) {
    throw new SetupError("--mr-files must be at least 1");
  }
  if (!(Number.isInteger(options.n_reduce) && options.n_reduce >= 1)) {
    throw new SetupError("--n-reduce must be at least 1");
  }
  if (!(options.file_kib > 0)) throw new SetupError("--mr-file-kib must be positive");
  if (!(options.task_timeout_ms > 0)) throw new SetupError("--task-timeout-ms must be positive");
  return options;
}

export interface MapReduceRoles {
  coordinator: NodeCommand;
  worker: NodeCommand;
}

const DEFAULT_WORKER = ["node", "dist/systems/mapreduce/worker.js"];

/**
 * The coordinator is the target's command (`--system X`, or `--bin`); the worker is
 * `--worker-bin`, else the system manifest's `roles.worker`, else faultline's reference worker.
 */
export function resolveMapReduceRoles(
  target: RunSettings["target"],
  given: MapReduceOptions | undefined,
  role: DriverContext["role"],
): MapReduceRoles {
  const worker = given?.worker_command ?? role("worker", DEFAULT_WORKER);
  if (!worker) throw new SetupError("workload mapreduce needs a worker program");
  if (target.bug !== undefined) {
    // target.ts appended `--bug NAME` to the coordinator; the worker gets it too.
    return {
      coordinator: target.command,
      worker: { ...worker, args: [...worker.args, "--bug", target.bug] },
    };
  }
  return { coordinator: target.command, worker };
}
