#!/usr/bin/env node
// The `faultline` command. Every non-zero exit prints one line saying why (ARCHITECTURE.md "The
// lifecycle").
import { Command, CommanderError } from "commander";
import { workloadPlugin } from "../workloads/index.js";
import { type BugRun, bugRunFor, describeBugRun } from "./bug-run.js";
import { registerCheckCommand } from "./check-command.js";
import { EXIT, SetupError } from "./exit-codes.js";
import { Logger } from "./logger.js";
import { maelstromRunOptions, repeatRuns, runSeed } from "./maelstrom-flags.js";
import { findLibfaketime } from "./nemesis/clock-control.js";
import { defaultNemesisInterval, type NemesisScript } from "./nemesis/nemesis.js";
import { loadNemesisScript } from "./nemesis/script-loader.js";
import { killAllGroups } from "./process-groups.js";
import { referenceOptions, referenceTarget } from "./reference.js";
import { registerReportCommands } from "./report-command.js";
import { type Progress, runTest } from "./run.js";
import { shellQuote } from "./shell-quote.js";
import { printSummary } from "./summary.js";
import { registerSweepCommand } from "./sweep-command.js";
import { addTestOptions, resolveTarget, type TestFlags } from "./test-flags.js";
import { assertOwnOptions, describeWorkloads, workloadOptions } from "./workload-options.js";

function testCommand(): Command {
  return addTestOptions(
    new Command("test").description(
      "start a system's nodes, drive a workload at them, check the history",
    ),
  )
    .argument("[node-args...]", "arguments passed to --bin")
    .action(async (nodeArgs: string[], flags: TestFlags, given: Command) => {
      const run = await bugRunFor(flags.system, flags.bug, given, nodeArgs, testCommand);
      process.exitCode = await test(run.nodeArgs, { ...flags, ...run.values }, given, run);
    });
}

async function test(
  nodeArgs: string[],
  flags: TestFlags,
  command: Command,
  run: BugRun,
): Promise<number> {
  const { target, workload } = resolveTarget(flags, nodeArgs);
  assertOwnOptions(workload, (key) => command.getOptionValueSource(key) === "cli");
  const reference =
    flags.againstReference === undefined
      ? undefined
      : referenceTarget(workload, flags.againstReference);
  const maelstrom = maelstromRunOptions(flags, workload, command);
  if (flags.nemesis.includes("clock") && !findLibfaketime()) {
    throw new SetupError(
      "--nemesis clock needs libfaketime, which is not installed: run `apt-get install libfaketime`",
    );
  }
  if (flags.crashAfter && !flags.nemesis.includes("crash")) {
    throw new SetupError("--crash-after says when crash faults strike: add crash to --nemesis");
  }
  if (flags.nemesis.includes("crash") && !flags.crashAfter) {
    throw new SetupError(
      "--nemesis crash needs --crash-after TYPE[.FIELD=VALUE] (which messages a node crashes right after)",
    );
  }
  let script: NemesisScript | undefined;
  if (flags.nemesisScript !== undefined) {
    if (workloadPlugin(workload).transport !== "maelstrom") {
      throw new SetupError(
        `--nemesis-script drives maelstrom-protocol nodes; ${workload} runs on another transport`,
      );
    }
    script = await loadNemesisScript(flags.nemesisScript, target.manifest);
  }
  const concurrencyCount = flags.concurrency.endsWith("n")
    ? Number(flags.concurrency.slice(0, -1)) * maelstrom.node_count
    : Number(flags.concurrency);
  const showProgress = !flags.quiet && process.stderr.isTTY === true;
  const clearLine = () => {
    if (showProgress) process.stderr.write("\r\x1b[K");
  };
  // One logger per run: it attaches to that run's faultline.log.
  let log = new Logger(flags.quiet === true, clearLine);
  const applied = flags.bug && describeBugRun(flags.bug, run);

  const controller = new AbortController();
  let signals = 0;
  const onSignal = (name: NodeJS.Signals) => {
    signals++;
    if (signals === 1) {
      log.info(`${name}: stopping nodes and keeping the history (press Ctrl-C again to force)`);
      controller.abort();
    } else {
      killAllGroups();
      process.stderr.write(`faultline: ${name} again: killed every node; exiting\n`);
      process.exit(EXIT.couldNotRun);
    }
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  const once = async (index: number): Promise<number> => {
    const seed = runSeed(flags.seed, index);
    if (index > 0) log = new Logger(flags.quiet === true, clearLine);
    if (maelstrom.test_count > 1) log.info(`run ${index + 1} of ${maelstrom.test_count}`);
    log.info(`seed ${seed}`);
    if (applied) log.info(applied);
    const repeat = repeatCommand(seed, run);
    const outcome = await runTest(
      {
        workload,
        target,
        node_count: maelstrom.node_count,
        time_limit_s: flags.timeLimit,
        rate: flags.rate,
        concurrency: concurrencyCount,
        latency: { mean_ms: flags.latency, dist: flags.latencyDist },
        topology: flags.topology,
        recovery_s: flags.recoveryTime,
        ...(flags.strict && { strict: true }),
        seed,
        store: flags.store,
        command: repeat,
        nemesis: {
          faults: flags.nemesis,
          interval_s: flags.nemesisInterval ?? defaultNemesisInterval(flags.timeLimit),
          ...(flags.nemesisSerial && { serial: true }),
          ...(script && { script }),
          ...(flags.partitionShape && { partition_shape: flags.partitionShape }),
          packet: {
            loss: flags.packetLoss,
            duplicate: flags.packetDup,
            delay_ms: flags.packetDelay,
          },
          ...(flags.killTargets && { targets: flags.killTargets }),
          ...(flags.crashAfter && { crash_points: flags.crashAfter }),
        },
        ...workloadOptions(workload, flags as unknown as Record<string, unknown>),
        ...(maelstrom.nodes && { nodes: maelstrom.nodes }),
        ...(maelstrom.availability !== undefined && { availability: maelstrom.availability }),
        ...(maelstrom.log && { log: maelstrom.log }),
      },
      log,
      controller.signal,
      showProgress ? (p) => process.stderr.write(`\r\x1b[K${progressLine(p)}`) : undefined,
      reference &&
        ((options) => ({
          options: referenceOptions(
            options,
            reference,
            flags as unknown as Record<string, unknown>,
          ),
          log: new Logger(flags.quiet === true, clearLine),
        })),
    );
    clearLine();
    printSummary(outcome, repeat);
    if (controller.signal.aborted) {
      const interrupted = outcome.results.reference?.status === "interrupted" ? "reference/" : "";
      process.stderr.write(
        `faultline: interrupted; the history so far is in ${outcome.dir}/${interrupted}history.jsonl\n`,
      );
    }
    return outcome.exitCode;
  };
  try {
    return await repeatRuns(maelstrom.test_count, once);
  } finally {
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
  }
}

function progressLine(p: Progress): string {
  return `[${p.elapsed_s.toFixed(1)}/${p.time_limit_s} s] ${p.phase} · ok ${p.ok} fail ${p.fail} info ${p.info} · faults: ${p.faults.join("; ") || "none"}`;
}

/** Flags (with their value) the repeat command drops: it repeats one run, with its own seed. */
const ONE_RUN_FLAGS = ["--seed", "--test-count"];

/** The command line that repeats this run, with its seed and the bug run's flags spelt out. */
function repeatCommand(seed: number, run: BugRun): string {
  const args = process.argv
    .slice(2)
    .filter(
      (arg, i, all) => !ONE_RUN_FLAGS.includes(arg) && !ONE_RUN_FLAGS.includes(all[i - 1] ?? ""),
    );
  const dashes = args.indexOf("--");
  const head = dashes === -1 ? args : args.slice(0, dashes);
  const tail = run.nodeArgsFromRun
    ? ["--", ...run.nodeArgs]
    : dashes === -1
      ? []
      : args.slice(dashes);
  return ["faultline", ...head, ...run.words, "--seed", String(seed), ...tail]
    .map(shellQuote)
    .join(" ");
}

export function buildProgram(): Command {
  const program = new Command("faultline")
    .description(
      "Jepsen-style fault injection and linearizability checking for local distributed systems",
    )
    .version("0.1.0")
    .exitOverride()
    .showHelpAfterError(false);
  program.addCommand(testCommand().exitOverride());
  program.addCommand(
    new Command("workloads")
      .description("list the workloads: transport, what each does, and its own options")
      .action(() => {
        process.stdout.write(describeWorkloads());
      }),
  );
  registerSweepCommand(program, testCommand);
  registerCheckCommand(program);
  registerReportCommands(program);
  for (const sub of program.commands) sub.exitOverride();
  return program;
}

async function main(): Promise<void> {
  process.on("uncaughtException", (err) => {
    killAllGroups();
    process.stderr.write(`faultline: internal error: ${err.stack ?? err.message}\n`);
    process.exit(EXIT.couldNotRun);
  });
  try {
    await buildProgram().parseAsync(process.argv);
  } catch (err) {
    if (err instanceof CommanderError) {
      const done =
        err.code === "commander.helpDisplayed" ||
        err.code === "commander.version" ||
        err.code === "commander.help";
      process.exitCode = done ? EXIT.valid : EXIT.couldNotRun;
      return;
    }
    if (err instanceof SetupError) {
      process.stderr.write(`faultline: ${err.message}\n`);
      process.exitCode = EXIT.couldNotRun;
      return;
    }
    throw err;
  }
}

await main();
