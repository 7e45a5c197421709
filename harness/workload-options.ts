// Each workload's own command-line options, generated from what its plugin declares
// (WorkloadPlugin.options): added to `faultline test` once each, grouped under the workloads
// that take them in --help, and handed back to the workload's `fromFlags` for the run.
import { type Command, Option } from "commander";
import { PLUGINS } from "../workloads/index.js";
import type { OptionSpec, WorkloadPlugin } from "../workloads/plugin.js";
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
    command.addOption(commanderOption(spec).helpGroup(`Options of ${workloads.join(", ")}:`));
  }
  return command;
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
  const program = (file: string) => resolveBin(file, []).command;
  return { [plugin.options_key]: plugin.fromFlags(flags, program) };
}

/** `faultline workloads`: each workload, its transport, what it does, and its own options. */
export function describeWorkloads(): string {
  const plugins = Object.values(PLUGINS);
  const width = Math.max(...plugins.map((p) => p.name.length));
  const lines: string[] = [];
  for (const plugin of plugins) {
    lines.push(`${plugin.name.padEnd(width)}  ${plugin.transport.padEnd(9)}  ${plugin.summary}`);
    for (const spec of plugin.options ?? []) {
      lines.push(`${" ".repeat(width + 4)}${spec.flags.padEnd(24)} ${spec.description}`);
    }
  }
  return `${lines.join("\n")}\n`;
}
