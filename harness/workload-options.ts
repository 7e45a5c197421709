// Each workload's own command-line options, generated from what its plugin declares
// (WorkloadPlugin.options): added to `faultline test` once each, grouped under the workloads
// that take them in --help, and handed back to the workload's `fromFlags` for the run.
import { type Command, Option } from "commander";
import { PLUGINS } from "../workloads/index.js";
import type { OptionSpec, WorkloadPlugin } from "../workloads/plugin.js";
import { SetupError } from "./exit-codes.js";
import { integer, number, probability } from "./option-parsers.js";
import { resolveBin } from "./target.js";

/** Each declared option once, with the workloads that declare it. */
function declaredOptions(): Array<{ spec: OptionSpec; workloads: string[] }> {
  const byFlags = new Map<string, { spec: OptionSpec; workloads: string[] }>();
  for (const plugin of Object.values(PLUGINS)) {
    for (const spec of plugin.options ?? []) {
      const entry = byFlags.get(spec.flags) ?? { spec, workloads: [] };
      entry.workloads.push(plugin.name);
      byFlags.set(spec.flags, entry);
    }
  }
  return [...byFlags.values()];
}

export function addWorkloadOptions(command: Command): Command {
  for (const { spec, workloads } of declaredOptions()) {
    for (const option of commanderOptions(spec)) {
      command.addOption(option.helpGroup(`Options of ${workloads.join(", ")}:`));
    }
  }
  return command;
}

/** A program option `--X-bin <file>` and its repeatable `--X-arg <arg>`. */
const PROGRAM_FLAGS = /^--([a-z]+)-bin <file>$/;

/** A program's arguments: `--X-arg` once per argument, in order (one may start with "-"). */
function collect(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value];
}

function commanderOptions(spec: OptionSpec): Option[] {
  const option = commanderOption(spec);
  if (spec.type !== "program") return [option];
  const role = PROGRAM_FLAGS.exec(spec.flags)?.[1];
  if (role === undefined) throw new Error(`program option ${spec.flags} is not --ROLE-bin <file>`);
  const args = new Option(
    `--${role}-arg <arg>`,
    `an argument for --${role}-bin (repeat it for each, in order)`,
  ).argParser(collect);
  return [option, args];
}

/** The parsed flag that holds a program option's arguments (`--worker-bin` → `workerArg`). */
export function programArgsKey(spec: OptionSpec): string {
  const role = PROGRAM_FLAGS.exec(spec.flags)?.[1] ?? "";
  return new Option(`--${role}-arg <arg>`).attributeName();
}

function commanderOption(spec: OptionSpec): Option {
  const option = new Option(spec.flags, spec.description);
  const { type } = spec;
  if (Array.isArray(type)) return option.choices(type);
  if (type === "integer") return option.argParser(integer(spec.min ?? 0, spec.max));
  if (type === "number") return option.argParser(number(spec.min ?? 0));
  if (type === "probability") return option.argParser(probability);
  return option;
}

/** The workload's options from the parsed flags, under the key its plugin names. */
export function workloadOptions(
  workload: string,
  flags: Readonly<Record<string, unknown>>,
): Record<string, unknown> {
  const plugin: WorkloadPlugin | undefined = PLUGINS[workload];
  if (!plugin?.options_key || !plugin.fromFlags) return {};
  const program = (file: string, args: readonly string[] = []) => resolveBin(file, args).command;
  return { [plugin.options_key]: plugin.fromFlags(flags, program) };
}

/**
 * Refuses a workload option given on the command line that the chosen workload does not take
 * (`--worker-bin` with `-w lsp` would otherwise be ignored without a word).
 */
export function assertOwnOptions(workload: string, givenOnCommandLine: (key: string) => boolean) {
  const own = new Set((PLUGINS[workload]?.options ?? []).map((spec) => spec.flags));
  for (const { spec, workloads } of declaredOptions()) {
    if (own.has(spec.flags)) continue;
    for (const option of commanderOptions(spec)) {
      if (givenOnCommandLine(option.attributeName())) {
        throw new SetupError(
          `${option.long} is an option of ${workloads.join(", ")}, not of ${workload}`,
        );
      }
    }
  }
}

/**
 * The target program given with the workload's own flag instead of --bin (mapreduce:
 * `--coordinator-bin`, with its `--coordinator-arg`s), or undefined.
 */
export function targetFromWorkloadFlags(
  workload: string,
  flags: Readonly<Record<string, unknown>>,
): { flag: string; bin: string; args: string[] } | undefined {
  const spec = PLUGINS[workload]?.options?.find(
    (s) => s.flags === PLUGINS[workload]?.target_option,
  );
  if (spec === undefined) return undefined;
  const option = new Option(spec.flags);
  const bin = flags[option.attributeName()];
  if (typeof bin !== "string") return undefined;
  const args = (flags[programArgsKey(spec)] as string[] | undefined) ?? [];
  return { flag: option.long ?? spec.flags, bin, args };
}

/** `faultline workloads`: each workload, its transport, what it does, and its own options. */
export function describeWorkloads(): string {
  const plugins = Object.values(PLUGINS);
  const width = Math.max(...plugins.map((p) => p.name.length));
  const lines: string[] = [];
  for (const plugin of plugins) {
    lines.push(`${plugin.name.padEnd(width)}  ${plugin.transport.padEnd(9)}  ${plugin.summary}`);
    for (const option of (plugin.options ?? []).flatMap(commanderOptions)) {
      lines.push(`${" ".repeat(width + 4)}${option.flags.padEnd(24)} ${option.description}`);
    }
  }
  return `${lines.join("\n")}\n`;
}
