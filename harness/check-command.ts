// `faultline check FILE --model NAME`: re-check a stored or imported history for
// linearizability; `faultline check RUN_DIR`: judge a stored run again with its workload's
// checkers (harness/recheck-run.ts). Exit 0 valid, 1 invalid, 2 unknown, 3 could not run (one
// line on stderr).

import { existsSync, readFileSync, statSync } from "node:fs";
import { dirname, join } from "node:path";
import { Command, InvalidArgumentError, Option } from "commander";
import { HistoryError } from "../checkers/history.js";
import {
  checkLinearizable,
  checkLinearizableOperations,
  DEFAULT_TIMEOUT_MS,
} from "../checkers/linearizable.js";
import { MODELS, type ModelName } from "../checkers/porcupine/index.js";
import type { CheckResult } from "../checkers/result.js";
import { validity, verdictWord } from "../reports/stored.js";
import { EXIT, exitCodeFor } from "./exit-codes.js";
import {
  detectFormat,
  FORMATS,
  type Format,
  type Imported,
  importHistory,
} from "./import/index.js";
import { fromIndependentTuples, nilReadsAsUnknown } from "./import/jepsen-edn.js";
import { CannotRecheck, PENDING_ERROR, type Recheck, recheckRun } from "./recheck-run.js";
import { STORE_FILES } from "./store.js";

interface CheckFlags {
  model?: ModelName;
  format?: Format;
  timeout: number;
  json?: boolean;
  strictNilReads?: boolean;
}

/** Models whose Jepsen EDN reads of nil are Knossos' "value unknown" (see nilReadsAsUnknown). */
const NIL_READ_MODELS: readonly ModelName[] = ["register", "cas-register", "kv"];

/** Longest prefix shown in the human output; longer ones show their last steps. */
const MAX_STEPS_SHOWN = 20;

/** A failure to run the check: printed as one line, exit 3. */
class CannotCheck extends Error {}

function seconds(text: string): number {
  const n = Number(text);
  if (!Number.isFinite(n) || n <= 0)
    throw new InvalidArgumentError("expected a number of seconds > 0");
  return n;
}

export function registerCheckCommand(program: Command): void {
  program.addCommand(
    new Command("check")
      .description(
        "check a history for linearizability (our Porcupine port), or judge a stored run again",
      )
      .argument(
        "<file>",
        "history.jsonl, a Jepsen history.edn, a Porcupine etcd/kv log, or a run directory (store/latest)",
      )
      .addOption(
        new Option(
          "-m, --model <name>",
          "the model to check against (implied for Porcupine logs)",
        ).choices(Object.keys(MODELS)),
      )
      .addOption(
        new Option(
          "-f, --format <format>",
          "input format (default: from the name and content)",
        ).choices(FORMATS),
      )
      .option(
        "-t, --timeout <s>",
        "time budget in seconds; past it the verdict is unknown",
        seconds,
        DEFAULT_TIMEOUT_MS / 1000,
      )
      .option(
        "--strict-nil-reads",
        "Jepsen EDN, register models: read an ok read of nil as reading nil (absent), not as Knossos' unknown value",
      )
      .option("--json", 'print the result as JSON ({"valid": true|false|"unknown", ...}) on stdout')
      .addHelpText(
        "after",
        `
Exit codes: 0 linearizable, 1 not linearizable, 2 unknown (budget ran out), 3 could not check.

A run directory (store/<test>/<timestamp>, store/latest) is judged again with its workload's
own checkers, read from its test.json; ops pending where history.jsonl ends are indeterminate.
The verdict goes to results.json (and the reports) when the run has none, else to recheck.json.
Runs of mining, mapreduce and lsp --conformance cannot be re-checked.

Value shapes in history.jsonl, per model:
  register, cas-register  read (ok value = the value, null = absent), write v, cas [from, to]
  kv                      read {key, value}, write {key, value}, cas {key, from, to};
                          in Jepsen EDN also [key value] tuples, as Maelstrom's lin-kv writes
  In Jepsen EDN an ok read of nil (register, cas-register, kv) is a read of unknown value, as in
  Knossos: it fits any state. --strict-nil-reads reads it as nil (the register is empty).
  append-kv               get {key, value: "<string>"}, put/append {key, value}
  set                     add v, read [v, ...];   fifo-queue  enqueue v, dequeue v (null = empty)
A fail op did not happen (left out); an info op may take effect at any later time.
`,
      )
      .action(async (file: string, flags: CheckFlags) => {
        process.exitCode = await runCheck(file, flags);
      }),
  );
}

async function runCheck(file: string, flags: CheckFlags): Promise<number> {
  try {
    if (isDirectory(file)) return await runRecheck(file, flags);
    const { imported, result, nilReadsUnknown } = await check(file, flags);
    if (flags.json) {
      const extra = {
        ...(nilReadsUnknown !== undefined && { nil_reads_unknown: nilReadsUnknown }),
        ...(imported.kind === "history" &&
          imported.retimedAt !== undefined && { retimed_at_op: imported.retimedAt.op }),
      };
      process.stdout.write(
        `${JSON.stringify({ ...result, file, format: imported.format, ...extra })}\n`,
      );
    } else {
      process.stdout.write(render(file, imported, result, nilReadsUnknown));
    }
    return exitCodeFor(result.valid);
  } catch (err) {
    // Anything else is a bug in faultline; still one line and exit 3, never a verdict's code.
    const message =
      err instanceof CannotCheck || err instanceof CannotRecheck
        ? err.message
        : `internal error: ${(err as Error).stack ?? String(err)}`;
    process.stderr.write(`faultline check: ${message.split("\n")[0]}\n`);
    return EXIT.couldNotRun;
  }
}

async function check(
  file: string,
  flags: CheckFlags,
): Promise<{ imported: Imported; result: CheckResult; nilReadsUnknown?: number }> {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new CannotCheck(
      code === "ENOENT"
        ? `${file} does not exist; check the path`
        : `cannot read ${file} (${(err as Error).message})`,
    );
  }
  const format = flags.format ?? detectFormat(file, text);
  if (!format) {
    throw new CannotCheck(
      `cannot tell the format of ${file}; pass --format (${FORMATS.join(", ")})`,
    );
  }
  let imported: Imported;
  try {
    imported = importHistory(text, format);
  } catch (err) {
    if (err instanceof HistoryError) {
      throw new CannotCheck(
        `${file} line ${err.line}: ${reasonOf(err)} (read as ${format}; pass --format if that is wrong)`,
      );
    }
    throw err;
  }
  const model = flags.model ?? imported.model;
  if (!model) {
    // A run's own history: its workload's checkers need no model.
    const runDir = dirname(file);
    const hint = existsSync(join(runDir, STORE_FILES.test))
      ? `; or give the run directory (faultline check ${runDir}) to judge it with its workload's checkers`
      : "";
    throw new CannotCheck(
      `--model is required for ${format} histories; one of ${Object.keys(MODELS).join(", ")}${hint}`,
    );
  }
  if (imported.kind === "operations" && model !== imported.model) {
    throw new CannotCheck(
      `${format} logs are checked with the ${imported.model} model, not ${model}; drop --model`,
    );
  }
  if (imported.kind === "history" && format === "jepsen-edn" && model === "kv") {
    try {
      imported = { ...imported, ...fromIndependentTuples(imported) };
    } catch (err) {
      if (err instanceof HistoryError)
        throw new CannotCheck(`${file} line ${err.line}: ${reasonOf(err)}`);
      throw err;
    }
  }
  let nilReadsUnknown: number | undefined;
  if (
    imported.kind === "history" &&
    format === "jepsen-edn" &&
    NIL_READ_MODELS.includes(model) &&
    !flags.strictNilReads
  ) {
    const r = nilReadsAsUnknown(imported, model === "kv");
    imported = { ...imported, ...r.imported };
    nilReadsUnknown = r.count;
  }
  const timeout_ms = flags.timeout * 1000;
  try {
    const result =
      imported.kind === "operations"
        ? await checkLinearizableOperations(model, imported.operations, imported.refs, {
            timeout_ms,
          })
        : await checkLinearizable(imported.history, { model, timeout_ms });
    return { imported, result, nilReadsUnknown };
  } catch (err) {
    if (err instanceof HistoryError && imported.kind === "history") {
      // Check-time errors name the op (index + 1); say which line of the file it came from.
      const line = imported.lines[err.line - 1] ?? err.line;
      throw new CannotCheck(`${file} line ${line}: ${reasonOf(err)}`);
    }
    throw err;
  }
}

function isDirectory(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false; // a missing file is reported by check()
  }
}

/** Flags that only make sense for a single history, not for a run judged by its workload. */
const HISTORY_ONLY_FLAGS = {
  model: "--model",
  format: "--format",
  strictNilReads: "--strict-nil-reads",
} as const;

async function runRecheck(dir: string, flags: CheckFlags): Promise<number> {
  for (const [key, flag] of Object.entries(HISTORY_ONLY_FLAGS)) {
    if (flags[key as keyof typeof HISTORY_ONLY_FLAGS] !== undefined) {
      throw new CannotCheck(
        `${dir} is a run directory, judged with its workload's own checkers; drop ${flag} (or give ${join(dir, STORE_FILES.history)} to check it against a model)`,
      );
    }
  }
  const recheck = await recheckRun(dir);
  if (flags.json) {
    process.stdout.write(`${JSON.stringify({ ...recheck.results, dir, wrote: recheck.wrote })}\n`);
  } else {
    process.stdout.write(renderRecheck(dir, recheck));
  }
  if (recheck.reportError) {
    process.stderr.write(
      `faultline check: warning: reports not written: ${recheck.reportError.split("\n")[0]}\n`,
    );
  }
  return exitCodeFor(recheck.results.valid);
}

function renderRecheck(dir: string, { workload, results, wrote, reportError }: Recheck): string {
  const out = [
    `${verdictWord(results.valid).toUpperCase()}  ${dir} (${workload}, judged again from ${STORE_FILES.history})`,
    results.summary,
  ];
  for (const [name, c] of Object.entries(results.checkers)) {
    out.push(`  ${name}: ${verdictWord(validity(c.valid))} — ${c.summary}`);
  }
  const besides = !wrote.endsWith(STORE_FILES.results)
    ? ` (${STORE_FILES.results} kept as it was)`
    : reportError === undefined
      ? " and the reports"
      : "";
  out.push(
    `${results.pending} op${results.pending === 1 ? "" : "s"} ${PENDING_ERROR}, taken as indeterminate (info).`,
    `Wrote ${wrote}${besides}.`,
  );
  return `${out.join("\n")}\n`;
}

function reasonOf(err: HistoryError): string {
  return err.message.replace(/^history line \d+: /, "");
}

// ---------------------------------------------------------------------------------------
// Human output.

interface Step {
  op: number;
  describe: string;
  state: string;
}

function render(
  file: string,
  imported: Imported,
  result: CheckResult,
  nilReadsUnknown: number | undefined,
): string {
  const verdict =
    result.valid === true
      ? "LINEARIZABLE"
      : result.valid === false
        ? "NOT LINEARIZABLE"
        : "UNKNOWN";
  const out: string[] = [
    `${verdict}  ${file} (${imported.format}, model ${String(result.model)})`,
    result.summary,
  ];
  const lineOf = (op: number): string => {
    const line = imported.kind === "history" ? imported.lines[op] : op + 1;
    return line === undefined ? "" : ` (line ${line})`;
  };
  const failures = (result.failures ?? []) as Record<string, unknown>[];
  for (const f of failures) {
    const steps = (f.longest ?? []) as Step[];
    const key = f.key === null || f.key === undefined ? "" : ` for key ${String(f.key)}`;
    out.push("");
    if (f.result === "unknown") {
      out.push(
        `Unfinished${key} (${String(f.reason)}); the longest linearizable prefix found has ${steps.length} ops.`,
      );
      continue;
    }
    out.push(
      `Longest linearizable prefix${key} (${steps.length} ops), with the state after each op:`,
    );
    if (steps.length > MAX_STEPS_SHOWN)
      out.push(`  … ${steps.length - MAX_STEPS_SHOWN} earlier ops`);
    for (const s of steps.slice(-MAX_STEPS_SHOWN)) {
      out.push(`  op ${s.op}${lineOf(s.op)}: ${s.describe}  →  ${s.state}`);
    }
    const blocked = f.blocked as { op: number; describe: string; state_before: string } | undefined;
    if (blocked) {
      out.push(
        `Then op ${blocked.op}${lineOf(blocked.op)}, ${blocked.describe}, cannot go next in state ${blocked.state_before}, and no other order of the concurrent ops gets further.`,
      );
    }
  }
  const counts = result.counts as Record<string, number> | undefined;
  if (counts) {
    out.push(
      "",
      `Checked ${counts.checked} of ${counts.operations} ops (${counts.indeterminate} indeterminate, ${counts.dropped} left out) in ${counts.partitions} partition(s), ${String(result.elapsed_ms)} ms.`,
    );
  }
  if (imported.kind === "history" && imported.retimedAt !== undefined) {
    out.push(
      `:time goes backwards at op ${imported.retimedAt.op} (line ${imported.retimedAt.line}); ops taken in the order of the file, as Knossos does.`,
    );
  }
  if (nilReadsUnknown !== undefined && nilReadsUnknown > 0) {
    out.push(
      `${nilReadsUnknown} ok read${nilReadsUnknown === 1 ? "" : "s"} of nil taken as unknown value (Knossos' reading); --strict-nil-reads reads them as nil.`,
    );
  }
  return `${out.join("\n")}\n`;
}
