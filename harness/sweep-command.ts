// `faultline sweep` (ARCHITECTURE.md "Sweeps"): one test, once per seed, at most --parallel at a
// time, then one summary of every run (reports/sweep.ts): catch rate, time to detection, the
// distinct failures. Each run is a `faultline test` child process with its own store under the
// sweep's folder, not an in-process run: it keeps the lifecycle, signal handling and process
// groups `test` has, and one run's crash or leak stays its own.
import { type ChildProcess, spawn } from "node:child_process";
import { realpathSync } from "node:fs";
import { availableParallelism } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { Command, InvalidArgumentError, Option } from "commander";
import { writeStoreIndex } from "../reports/store-index.js";
import {
  findRunRecords,
  SWEEP_FILES,
  SWEEPS_FOLDER,
  type SweepRunRecord,
  type SweepSummary,
  summarizeSweep,
  sweepExitCode,
  sweepMarkdown,
  writeSweepFiles,
} from "../reports/sweep.js";
import { bugRunFor } from "./bug-run.js";
import { EXIT, SetupError } from "./exit-codes.js";
import { runSeed } from "./maelstrom-flags.js";
import { integer } from "./option-parsers.js";
import { MAX_SEED, Random } from "./random.js";
import { createRunDir } from "./store.js";
import {
  type EmitPlan,
  emitYaml,
  githubWorkflow,
  kubernetesJob,
  kubernetesMergeCommand,
} from "./sweep-emit.js";
import { addTestOptions, resolveTarget, type TestFlags } from "./test-flags.js";

/** Runs one sweep may make: a bound on the records held and the children started. */
export const MAX_SWEEP_RUNS = 100_000;
/** Tail of a child's stderr kept to explain a run that could not run. */
const MAX_STDERR_TAIL_BYTES = 8 * 1024;
const CLI = join(dirname(fileURLToPath(import.meta.url)), "cli.js");

interface SweepFlags extends TestFlags {
  seeds?: { first: number; last: number };
  runs?: number;
  parallel?: number;
  stopOnFailure?: boolean;
  emit?: "k8s" | "github";
  image?: string;
  volumeClaim?: string;
  seedsPerJob?: number;
  installCommand?: string;
}

/** Options that only shape an --emit manifest. */
const EMIT_OPTIONS = ["--image", "--volume-claim", "--seeds-per-job", "--install-command"];
/** Options of sweep itself, taken out of the arguments each run is given. */
const SWEEP_OPTIONS = [
  "--seeds",
  "--runs",
  "--parallel",
  "--stop-on-failure",
  "--emit",
  ...EMIT_OPTIONS,
];
/** Options sweep sets for each run. */
const PER_RUN_OPTIONS = ["--seed", "--store", "--quiet", "-q"];

function seedRange(text: string): { first: number; last: number } {
  const m = /^(\d+)\.\.(\d+)$/.exec(text);
  const [first, last] = [Number(m?.[1]), Number(m?.[2])];
  if (!m || first > last || last > MAX_SEED) {
    throw new InvalidArgumentError(`expected A..B with 0 ≤ A ≤ B ≤ ${MAX_SEED}, e.g. 1..20`);
  }
  if (last - first + 1 > MAX_SWEEP_RUNS) {
    throw new InvalidArgumentError(`at most ${MAX_SWEEP_RUNS} seeds in one sweep`);
  }
  return { first, last };
}

/**
 * Runs at once by default: each run's processes count, a core for each node and one for the
 * harness (its proxies and checkers), so a sweep does not starve its own runs into timeouts.
 */
export function defaultParallel(node_count: number, cores = availableParallelism()): number {
  return Math.max(1, Math.floor(cores / (node_count + 1)));
}

export function registerSweepCommand(program: Command, testCommand: () => Command): void {
  const sweep = addTestOptions(
    new Command("sweep").description(
      "run one test once per seed, several at a time, and summarise them: catch rate, time to detection, distinct failures",
    ),
  )
    .option("--seeds <A..B>", "one run per seed from A to B", seedRange)
    .option(
      "--runs <n>",
      "this many runs, seeds from --seed on (default: random)",
      integer(1, MAX_SWEEP_RUNS),
    )
    .option(
      "--parallel <n>",
      `runs at once (default: the cores over each run's nodes plus one, ${defaultParallel(3)} here for 3 nodes)`,
      integer(1, 1000),
    )
    .option("--stop-on-failure", "start no run after the first invalid one (those running finish)")
    .addOption(
      new Option(
        "--emit <engine>",
        "print the sweep as a Kubernetes Job or a GitHub Actions workflow instead of running it",
      ).choices(["k8s", "github"]),
    )
    .option("--image <ref>", "--emit k8s: the image with faultline and your program in it")
    .option(
      "--volume-claim <name>",
      "--emit k8s: the PersistentVolumeClaim the runs' stores go to (default faultline-results)",
    )
    .option(
      "--seeds-per-job <n>",
      "--emit github: seeds per matrix job (default: the fewest that keep the matrix within 256 jobs)",
      integer(1, MAX_SWEEP_RUNS),
    )
    .option(
      "--install-command <cmd>",
      "--emit github: how a job installs your project with faultline (default npm ci)",
    )
    .argument("[node-args...]", "arguments passed to --bin")
    .action(async (nodeArgs: string[], flags: SweepFlags, given: Command) => {
      const run = await bugRunFor(flags.system, flags.bug, given, nodeArgs, testCommand);
      const runFlags = { ...flags, ...run.values };
      const { target, workload } = resolveTarget(runFlags, run.nodeArgs);
      const seeds = sweepSeeds(flags, given.getOptionValueSource("testCount") === "cli");
      const args = runArguments(process.argv.slice(3), given.options);
      const parallel = flags.parallel ?? defaultParallel(runFlags.nodeCount);
      const emitOnly = given.options.find(
        (o) =>
          EMIT_OPTIONS.includes(o.long ?? "") &&
          given.getOptionValueSource(o.attributeName()) === "cli",
      );
      if (emitOnly && !flags.emit) throw new SetupError(`${emitOnly.long} goes with --emit`);
      if (flags.emit) {
        process.stdout.write(
          emitManifest(flags, {
            test_args: args,
            first_seed: seeds[0] as number,
            runs: seeds.length,
            parallel,
          }),
        );
        return;
      }
      process.exitCode = await sweepRuns({
        args,
        seeds,
        parallel,
        stop_on_failure: flags.stopOnFailure === true,
        store: flags.store,
        dir: createRunDir(
          join(flags.store, SWEEPS_FOLDER),
          `${workload}-${target.name}`,
          new Date(),
          false,
        ),
        quiet: flags.quiet === true,
      });
    });
  sweep
    .command("merge")
    .description("summarise runs gathered from several machines: every run found under each DIR")
    .argument("<dirs...>", "stores or folders holding runs (each run a <test>/<stamp>/ folder)")
    .option("--out <dir>", "where the summary goes (default: <store>/sweeps/merged/<stamp>)")
    .option("--store <dir>", "the store the default --out is in", "store")
    .action(async (dirs: string[], flags: { out?: string; store: string }) => {
      let records: SweepRunRecord[];
      try {
        records = findRunRecords(dirs);
      } catch (err) {
        throw new SetupError((err as Error).message);
      }
      const out =
        flags.out ?? createRunDir(join(flags.store, SWEEPS_FOLDER), "merged", new Date(), false);
      const now = new Date().toISOString();
      const summary = summarizeSweep(records, {
        command: ["faultline", ...process.argv.slice(2)].join(" "),
        started_at: now,
        finished_at: now,
        planned_runs: records.length,
        dir: out,
      });
      process.exitCode = await finish(
        out,
        flags.out === undefined ? flags.store : undefined,
        summary,
      );
    });
  program.addCommand(sweep);
}

/** The sweep as a manifest for an engine that runs it on many machines (harness/sweep-emit.ts). */
function emitManifest(flags: SweepFlags, plan: EmitPlan): string {
  try {
    if (flags.emit === "k8s") {
      if (!flags.image)
        throw new SetupError(
          "--emit k8s needs --image: the image with faultline and your program in it",
        );
      const job = kubernetesJob(plan, {
        image: flags.image,
        ...(flags.volumeClaim && { claim: flags.volumeClaim }),
      });
      process.stderr.write(
        `faultline: when the Job is complete: ${kubernetesMergeCommand("/results")} (in a pod mounting the claim at /results)\n`,
      );
      return emitYaml(job);
    }
    return emitYaml(
      githubWorkflow(plan, {
        ...(flags.seedsPerJob && { chunk_size: flags.seedsPerJob }),
        ...(flags.installCommand && { install_command: flags.installCommand }),
      }),
    );
  } catch (err) {
    if (err instanceof RangeError) throw new SetupError(`--emit ${flags.emit}: ${err.message}`);
    throw err;
  }
}

function sweepSeeds(flags: SweepFlags, gaveTestCount: boolean): number[] {
  if (flags.seeds && flags.runs !== undefined)
    throw new SetupError("give --seeds or --runs, not both");
  if (flags.seeds && flags.seed !== undefined)
    throw new SetupError("--seeds names every seed: drop --seed");
  if (gaveTestCount)
    throw new SetupError("sweep makes its own series: use --runs, not --test-count");
  if (flags.seeds) {
    const { first, last } = flags.seeds;
    return Array.from({ length: last - first + 1 }, (_, i) => first + i);
  }
  if (flags.runs === undefined) throw new SetupError("say how many runs: --seeds A..B or --runs N");
  const base = flags.seed ?? Random.freshSeed();
  return Array.from({ length: flags.runs }, (_, i) => runSeed(base, i));
}

/**
 * The arguments of each run: the sweep's own, as given, without the options sweep keeps for
 * itself or sets per run. Words after `--` go to the program and are kept as they are.
 */
export function runArguments(argv: readonly string[], options: readonly Option[]): string[] {
  const dropped = [...SWEEP_OPTIONS, ...PER_RUN_OPTIONS];
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const word = argv[i] as string;
    if (word === "--") {
      out.push(...argv.slice(i));
      break;
    }
    const flag = word.split("=")[0] as string;
    if (!dropped.includes(flag)) {
      out.push(word);
      continue;
    }
    const option = options.find((o) => o.long === flag || o.short === flag);
    if (option?.required && !word.includes("=")) i++;
  }
  return out;
}

interface SweepPlan {
  args: string[];
  seeds: number[];
  parallel: number;
  stop_on_failure: boolean;
  store: string;
  /** The sweep's folder: its summary files, and runs/<seed>/ as each run's store. */
  dir: string;
  quiet: boolean;
}

/** Why no further run starts: a signal, --stop-on-failure, or a run that could not even start. */
type Stop = "interrupted" | "stop-on-failure" | "setup";

async function sweepRuns(plan: SweepPlan): Promise<number> {
  const started_at = new Date().toISOString();
  const records: SweepRunRecord[] = [];
  const running = new Map<number, ChildProcess>();
  const progress = new SweepProgress(plan.seeds.length, plan.quiet);
  let stop: Stop | undefined;
  let signals = 0;
  // Runs are their own process groups (detached), so a terminal's Ctrl-C reaches them only
  // through here, once: the first asks each to stop and keep its history, a second kills them
  // (each run's watchdog then kills its nodes).
  const onSignal = () => {
    signals++;
    stop ??= "interrupted";
    progress.say(
      signals === 1
        ? "stopping every run; each keeps its history (Ctrl-C again to kill them)"
        : "killing every run",
    );
    for (const child of running.values()) child.kill(signals === 1 ? "SIGINT" : "SIGKILL");
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  try {
    await new Promise<void>((resolve) => {
      let next = 0;
      const launch = () => {
        while (stop === undefined && running.size < plan.parallel && next < plan.seeds.length) {
          start(plan.seeds[next++] as number);
        }
        if (running.size === 0) resolve();
      };
      const start = (seed: number) => {
        const started_ms = Date.now();
        const store = join(plan.dir, "runs", String(seed));
        const args = [
          CLI,
          "test",
          ...plan.args,
          "--seed",
          String(seed),
          "--store",
          store,
          "--quiet",
        ];
        const child = spawn(process.execPath, args, {
          stdio: ["ignore", "ignore", "pipe"],
          detached: true,
        });
        let stderr = "";
        child.stderr?.on("data", (chunk: Buffer) => {
          stderr = (stderr + chunk.toString()).slice(-MAX_STDERR_TAIL_BYTES);
        });
        child.on("error", () => {}); // reported by "close" as a run without an exit code
        running.set(seed, child);
        child.on("close", (code) => {
          running.delete(seed);
          const record = runRecord(seed, store, code, stderr, Date.now() - started_ms);
          records.push(record);
          if (code === EXIT.invalid && plan.stop_on_failure) stop ??= "stop-on-failure";
          // A run that stopped before making its folder: every other would stop the same way.
          if (code === EXIT.couldNotRun && record.run_dir === undefined) stop ??= "setup";
          progress.finished(record);
          launch();
        });
      };
      launch();
    });
  } finally {
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
    progress.done();
  }
  if (stop === "setup") {
    const failed = records.find((r) => r.run_dir === undefined);
    process.stderr.write(
      `faultline: a run could not start, so the sweep stopped: ${failed?.note ?? "no reason given"}\n`,
    );
  }
  const order = new Map(plan.seeds.map((seed, i) => [seed, i]));
  records.sort((a, b) => (order.get(a.seed) ?? 0) - (order.get(b.seed) ?? 0));
  const summary = summarizeSweep(records, {
    command: ["faultline", ...process.argv.slice(2)].join(" "),
    started_at,
    finished_at: new Date().toISOString(),
    planned_runs: plan.seeds.length,
    parallel: plan.parallel,
    ...(stop === "interrupted" && { interrupted: true }),
    dir: plan.dir,
  });
  return finish(plan.dir, plan.store, summary);
}

/** What one child left: its run folder (the store's `latest`), exit code and last words. */
function runRecord(
  seed: number,
  store: string,
  code: number | null,
  stderr: string,
  wall_ms: number,
): SweepRunRecord {
  let run_dir: string | undefined;
  try {
    run_dir = realpathSync(join(store, "latest"));
  } catch {}
  const last = stderr
    .trim()
    .split("\n")
    .pop()
    ?.replace(/^faultline: /, "");
  const note = code === null ? "the run was killed" : code === EXIT.couldNotRun ? last : undefined;
  return {
    seed,
    ...(run_dir && { run_dir }),
    ...(code !== null && { exit_code: code }),
    ...(note && { note }),
    wall_ms,
  };
}

/** Writes the summary files and the store's index, prints the table and the page; the exit code. */
async function finish(
  dir: string,
  store: string | undefined,
  summary: SweepSummary,
): Promise<number> {
  writeSweepFiles(dir, summary);
  if (store !== undefined) await writeStoreIndex(store);
  process.stdout.write(`${sweepMarkdown(summary)}\nsweep: ${join(dir, SWEEP_FILES.page)}\n`);
  return sweepExitCode(summary);
}

/** The live line on a terminal (runs done, invalid, unknown, ETA); elsewhere a line per run. */
class SweepProgress {
  private done_count = 0;
  private readonly counts = { invalid: 0, unknown: 0, "could not run": 0 };
  private readonly started_ms = Date.now();
  private readonly tty: boolean;

  constructor(
    private readonly total: number,
    private readonly quiet: boolean,
  ) {
    this.tty = !quiet && process.stderr.isTTY === true;
  }

  finished(record: SweepRunRecord): void {
    this.done_count++;
    const word = outcomeWord(record.exit_code);
    if (word in this.counts) this.counts[word as keyof typeof this.counts]++;
    if (this.quiet) return;
    if (this.tty) {
      process.stderr.write(`\r\x1b[K${this.line()}`);
    } else {
      const secs = ((record.wall_ms ?? 0) / 1000).toFixed(1);
      process.stderr.write(
        `faultline: seed ${record.seed}: ${word} (${secs} s)${record.note ? `: ${record.note}` : ""}\n`,
      );
    }
  }

  say(message: string): void {
    if (this.quiet) return;
    process.stderr.write(`${this.tty ? "\r\x1b[K" : ""}faultline: ${message}\n`);
  }

  done(): void {
    if (this.tty) process.stderr.write("\n");
  }

  private line(): string {
    const left = this.total - this.done_count;
    // Wall time per finished run so far already reflects how many run at once.
    const eta_s = Math.round((((Date.now() - this.started_ms) / this.done_count) * left) / 1000);
    const counts = Object.entries(this.counts)
      .map(([k, v]) => `${k} ${v}`)
      .join(" · ");
    return `sweep: ${this.done_count}/${this.total} runs · ${counts}${left > 0 ? ` · ETA ${eta_s} s` : ""}`;
  }
}

function outcomeWord(code: number | undefined): string {
  switch (code) {
    case EXIT.valid:
      return "valid";
    case EXIT.invalid:
      return "invalid";
    case EXIT.unknown:
      return "unknown";
    default:
      return "could not run";
  }
}
