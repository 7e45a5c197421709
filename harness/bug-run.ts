// A built-in bug's own run: the flags its manifest names for it (`bugs.NAME.run`, command-line
// words like a script's `flags`), so `faultline test --system S --bug B` alone injects the
// faults, workload and pacing that expose B. Flags the user gives always win.
import type { Command } from "commander";
import { SetupError } from "./exit-codes.js";
import { loadManifest } from "./target.js";

export interface BugRun {
  /** The run's option values the user did not give, by commander attribute name. */
  values: Record<string, unknown>;
  /** The words of those options, for the start-up line and the repeat command. */
  words: string[];
  /** Arguments for the nodes: the user's, or the run's when the user gave none. */
  nodeArgs: string[];
  /** Whether nodeArgs came from the run (then the repeat command must spell them out). */
  nodeArgsFromRun: boolean;
}

/**
 * The options that make up a fault schedule, by commander attribute name. Naming your own faults
 * (`--nemesis`, `--nemesis-script`) replaces the run's whole schedule: the run's knobs for its
 * faults (its `--kill-targets all` beside your `--nemesis kill`) would make a third schedule
 * neither of you chose. A knob alone (`--nemesis-interval 0.4`) tunes the run's schedule.
 */
const FAULT_OPTIONS = [
  "nemesis",
  "nemesisInterval",
  "nemesisSerial",
  "nemesisScript",
  "partitionShape",
  "packetLoss",
  "packetDup",
  "packetDelay",
  "packetMutate",
  "packetSteady",
  "killTargets",
  "crashAfter",
];
const FAULT_CHOICES = ["nemesis", "nemesisScript"];

/**
 * Applies `run` (the bug's flags) under what the user gave on `given`. `fresh` makes a command
 * with the same options, which parses the words that are kept, so the manifest's flags get the
 * same validation and defaults as the user's.
 */
export async function applyBugRun(
  given: Command,
  run: string,
  userNodeArgs: string[],
  fresh: () => Command,
): Promise<BugRun> {
  const all = run.trim().split(/\s+/).filter(Boolean);
  const dashes = all.indexOf("--");
  const flagWords = dashes === -1 ? all : all.slice(0, dashes);
  const runNodeArgs = dashes === -1 ? [] : all.slice(dashes + 1);
  const words: string[] = [];
  const gave = (key: string) => given.getOptionValueSource(key) === "cli";
  const userChoseFaults = FAULT_CHOICES.some(gave);
  for (let i = 0; i < flagWords.length; i++) {
    const word = flagWords[i] as string;
    const option = given.options.find((o) => o.long === word || o.short === word);
    if (!option) throw new SetupError(`a bug's run in its manifest has an unknown flag ${word}`);
    const takesValue = option.required || option.optional;
    const chunk = takesValue ? [word, flagWords[++i] ?? ""] : [word];
    const key = option.attributeName();
    const yours = gave(key) || (FAULT_OPTIONS.includes(key) && userChoseFaults);
    if (!yours) words.push(...chunk);
  }
  const parser = fresh()
    .exitOverride()
    .action(() => {});
  await parser.parseAsync(words, { from: "user" });
  const values: Record<string, unknown> = {};
  for (const option of parser.options) {
    const key = option.attributeName();
    if (parser.getOptionValueSource(key) === "cli") values[key] = parser.getOptionValue(key);
  }
  const nodeArgsFromRun = userNodeArgs.length === 0 && runNodeArgs.length > 0;
  return {
    values,
    words,
    nodeArgs: nodeArgsFromRun ? runNodeArgs : userNodeArgs,
    nodeArgsFromRun,
  };
}

/** The bug's run when `--system S --bug B` names one that has a run; otherwise nothing added. */
export async function bugRunFor(
  system: string | undefined,
  bug: string | undefined,
  given: Command,
  userNodeArgs: string[],
  fresh: () => Command,
): Promise<BugRun> {
  const run = system && bug ? loadManifest(system).bugs[bug]?.run : undefined;
  if (run === undefined) {
    return { values: {}, words: [], nodeArgs: userNodeArgs, nodeArgsFromRun: false };
  }
  return applyBugRun(given, run, userNodeArgs, fresh);
}

/** The start-up line saying what the bug's run applied. */
export function describeBugRun(bug: string, run: BugRun): string | undefined {
  const words = [...run.words, ...(run.nodeArgsFromRun ? ["--", ...run.nodeArgs] : [])];
  if (words.length === 0) return undefined;
  return `--bug ${bug}: using its run: ${words.join(" ")} (flags you give override these)`;
}
