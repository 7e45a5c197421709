// `npm run bench -- detection`: detection power as a measured output. Every planted bug of every
// built-in system is swept with its defaults (`faultline sweep --system S --bug B`, the bug's
// manifest run) over DETECTION_SEEDS seeds (default 20), and every correct variant with the
// faults its manifest says it survives and with its default run over as many, all through
// `faultline sweep` itself. One table: catch rate with its 95% interval, median time to
// detection, false alarms.
// DETECTION_SEEDS, DETECTION_PARALLEL and DETECTION_SYSTEMS (a comma list) narrow it.
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { execa } from "execa";
import { loadManifest, systemNames } from "../harness/target.js";
import type { SweepSummary } from "../reports/sweep.js";

const CLI = join(import.meta.dirname, "..", "harness", "cli.js");
const DEFAULT_SEEDS = 20;
/** Runs at once inside each sweep: each is a cluster plus the harness; CI machines have two cores. */
const DEFAULT_PARALLEL = 2;
/** A whole sweep past this is killed (a run that hangs would otherwise hold the bench forever). */
const SWEEP_KILL_MS_PER_RUN = 180_000;
/** The correct variants' runs: as long as the longest bug run, so both sample as much. */
const CORRECT_TIME_LIMIT_S = 30;

interface Row {
  system: string;
  variant: string;
  /** The fault kinds swept: the bug's own run's, or those the correct variant claims to survive. */
  faults: string;
  summary?: SweepSummary;
  /** Why there is no summary. */
  failed?: string;
}

async function sweep(args: string[], seeds: number, parallel: number): Promise<SweepSummary> {
  const cwd = mkdtempSync(join(tmpdir(), "faultline-bench-detection-"));
  try {
    const r = await execa(
      process.execPath,
      [CLI, "sweep", ...args, "--seeds", `1..${seeds}`, "--parallel", String(parallel), "-q"],
      { cwd, reject: false, timeout: SWEEP_KILL_MS_PER_RUN * seeds, killSignal: "SIGKILL" },
    );
    const parent = join(cwd, "store", "sweeps");
    const [name] = readdirSync(parent);
    const [stamp] = readdirSync(join(parent, name as string));
    const file = join(parent, name as string, stamp as string, "sweep.json");
    try {
      return JSON.parse(readFileSync(file, "utf8")) as SweepSummary;
    } catch {
      throw new Error(`exit ${r.exitCode}: ${String(r.stderr).trim().split("\n").pop()}`);
    }
  } finally {
    rmSync(cwd, { recursive: true, force: true });
  }
}

function percent(x: number): string {
  return `${Math.round(x * 100)}%`;
}

function rate(summary: SweepSummary): string {
  const c = summary.catch_rate;
  if (!c) return "—";
  return `${summary.totals.invalid}/${summary.totals.completed} = ${percent(c.point)} (${percent(c.low)}–${percent(c.high)})`;
}

function row({ system, variant, faults, summary, failed }: Row): string {
  if (!summary) return `| ${system} | ${variant} | ${faults} | could not sweep: ${failed} | | | |`;
  const t = summary.totals;
  const median = summary.detection_s.median;
  const others = t.unknown + t.could_not_run + t.interrupted;
  const isBug = !variant.startsWith("(correct");
  return `| ${system} | ${variant} | ${faults} | ${isBug ? rate(summary) : "—"} | ${isBug && median !== undefined ? `${median.toFixed(1)} s` : "—"} | ${isBug ? "—" : `${t.invalid}/${t.completed}`} | ${others} |`;
}

export async function benchDetection(): Promise<string> {
  const seeds = Number(process.env.DETECTION_SEEDS ?? DEFAULT_SEEDS);
  const parallel = Number(process.env.DETECTION_PARALLEL ?? DEFAULT_PARALLEL);
  const started = Date.now();
  const rows: Row[] = [];
  const only = process.env.DETECTION_SYSTEMS?.split(",");
  for (const system of systemNames().filter((s) => !only || only.includes(s))) {
    const manifest = loadManifest(system);
    for (const [bug, entry] of Object.entries(manifest.bugs)) {
      const run = entry.run ?? "";
      const faults =
        /--nemesis-script (\S+)/.exec(run)?.[1] ?? /--nemesis (\S+)/.exec(run)?.[1] ?? "none";
      const args = ["--system", system, "--bug", bug];
      rows.push(await measured({ system, variant: bug, faults }, args, seeds, parallel));
    }
    const faults = (manifest.survives ?? []).join(",");
    const args = ["--system", system, "--time-limit", String(CORRECT_TIME_LIMIT_S)];
    if (faults) args.push("--nemesis", faults);
    const correct = { system, variant: "(correct)", faults: faults || "none" };
    rows.push(await measured(correct, args, seeds, parallel));
    // What `faultline test --system S` does: some checks (load balance, fairness) judge only
    // runs without faults, so the faulted row alone would not show their false alarms.
    const plain = { system, variant: "(correct, default run)", faults: "default" };
    rows.push(await measured(plain, ["--system", system], seeds, parallel));
  }
  const hours = ((Date.now() - started) / 3_600_000).toFixed(1);
  return [
    `Seeds 1–${seeds} per row, ${parallel} runs at a time, ${hours} h in all. Bugs: \`faultline sweep --system S --bug B\` (the bug's own run); catch rate = invalid / completed runs with its 95% Wilson interval; detection = median time to the first op (or crash) the failing checker names. Correct variants: the system's first workload with \`--nemesis\` = the faults its manifest says it survives, \`--time-limit ${CORRECT_TIME_LIMIT_S}\`, and the default run (\`faultline sweep --system S\`); a false alarm is an invalid run. "other" = unknown, could not run or interrupted runs.`,
    "",
    "| system | variant | faults | catch rate | detection | false alarms | other |",
    "|---|---|---|---|---:|---|---:|",
    ...rows.map(row),
  ].join("\n");
}

async function measured(
  what: Omit<Row, "summary" | "failed">,
  args: string[],
  seeds: number,
  parallel: number,
): Promise<Row> {
  try {
    const summary = await sweep(args, seeds, parallel);
    process.stderr.write(`detection: ${row({ ...what, summary })}\n`);
    return { ...what, summary };
  } catch (err) {
    return { ...what, failed: (err as Error).message };
  }
}
