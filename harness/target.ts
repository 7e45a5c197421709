// What to test: a built-in reference system from systems/<name>/manifest.json, or the user's
// own program given with --bin.
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { isAbsolute, join, resolve } from "node:path";
import type { TransportName } from "../workloads/plugin.js";
import { SetupError } from "./exit-codes.js";
import type { NodeCommand } from "./node-process.js";
import { assertExecutable } from "./node-process.js";
import { packageRoot } from "./paths.js";

export interface Manifest {
  name: string;
  transport: TransportName;
  /** argv; "node" means this Node binary, other relative paths are from the package root. */
  command: string[];
  workloads: string[];
  /** A flag that tells the program which workload it serves, e.g. "--workload". */
  workload_flag?: string;
  /** Programs for other roles (udp transport: "client", "miner"), argv like `command`. */
  roles?: Record<string, string[]>;
  bugs: Record<
    string,
    {
      description: string;
      workloads?: string[];
      caught_by?: string;
      /** Fault kinds that expose it. */
      nemesis?: string[];
      /** The flags of a run that catches it, used when `--bug` comes without them. */
      run?: string;
    }
  >;
  /** Nemesis scripts it ships, by name (`--nemesis-script NAME`). */
  scripts?: Record<string, ManifestScript>;
  /** Fault kinds the correct variant claims to survive (`npm run bench -- detection` holds it to that). */
  survives?: string[];
}

// Here beside Manifest rather than in nemesis/script-loader.ts, which reads Manifest: no cycle.
/** A script a system ships: the compiled module (from the package root) and its export. */
export interface ManifestScript {
  module: string;
  export: string;
  description: string;
  /** The run it needs, as flags (e.g. node count, rate, node args after --). */
  flags?: string;
}

export interface Target {
  /** Short name for the store path and the report: the system name, or the binary's name. */
  name: string;
  command: NodeCommand;
  bug?: string;
  manifest?: Manifest;
}

export function systemNames(): string[] {
  const dir = join(packageRoot(), "systems");
  return readdirSync(dir, { withFileTypes: true })
    .filter((entry) => entry.isDirectory() && existsSync(join(dir, entry.name, "manifest.json")))
    .map((entry) => entry.name)
    .sort();
}

export function loadManifest(system: string): Manifest {
  const path = join(packageRoot(), "systems", system, "manifest.json");
  if (!/^[a-z0-9-]+$/.test(system) || !existsSync(path)) {
    throw new SetupError(
      `unknown system "${system}"; built-in systems: ${systemNames().join(", ")}`,
    );
  }
  return JSON.parse(readFileSync(path, "utf8")) as Manifest;
}

/** A built-in system's target; `extraArgs` (after `--` on the command line) go to every node. */
export function resolveSystem(
  system: string,
  workload: string,
  bug: string | undefined,
  extraArgs: readonly string[] = [],
): Target {
  const manifest = loadManifest(system);
  if (!manifest.workloads.includes(workload)) {
    throw new SetupError(
      `system ${system} does not serve workload ${workload}; it serves: ${manifest.workloads.join(", ")}`,
    );
  }
  if (bug !== undefined && !(bug in manifest.bugs)) {
    const known = Object.keys(manifest.bugs);
    throw new SetupError(
      `system ${system} has no bug "${bug}"; its bugs: ${known.join(", ") || "none"}`,
    );
  }
  const root = packageRoot();
  const [first, ...rest] = manifest.command;
  if (!first) throw new SetupError(`systems/${system}/manifest.json has an empty command`);
  const file = first === "node" ? process.execPath : resolve(root, first);
  const args = rest.map((arg) =>
    !isAbsolute(arg) && existsSync(join(root, arg)) ? join(root, arg) : arg,
  );
  for (const arg of args) {
    if (arg.startsWith(join(root, "dist")) && !existsSync(arg)) {
      throw new SetupError(`${arg} is missing: run "npm run build" first`);
    }
  }
  if (manifest.workload_flag) args.push(manifest.workload_flag, workload);
  if (bug !== undefined) args.push("--bug", bug);
  args.push(...extraArgs);
  return {
    name: bug ? `${system}-${bug}` : system,
    command: { file, args },
    manifest,
    ...(bug && { bug }),
  };
}

export function resolveBin(bin: string, args: readonly string[]): Target {
  const file = resolve(bin);
  assertExecutable(file);
  const name = file.split("/").at(-1) ?? "bin";
  return { name, command: { file, args: [...args] } };
}

/** argv from a manifest: "node" is this Node binary; relative paths are from the package root. */
function commandFrom(argv: readonly string[]): NodeCommand {
  const root = packageRoot();
  const [first, ...rest] = argv;
  if (!first) throw new SetupError("empty role command in a manifest");
  const file = first === "node" ? process.execPath : resolve(root, first);
  const args = rest.map((arg) =>
    !isAbsolute(arg) && (arg.startsWith("dist/") || existsSync(join(root, arg)))
      ? join(root, arg)
      : arg,
  );
  const missing = args.find((arg) => arg.startsWith(join(root, "dist")) && !existsSync(arg));
  if (missing) throw new SetupError(`${missing} is missing: run "npm run build" first`);
  return { file, args };
}

/**
 * The command for one of a system's other roles (DriverContext.role): the manifest's
 * `roles[role]`, else `fallback`, an argv of faultline's own reference program.
 */
export function roleCommand(
  target: Target,
  role: string,
  fallback?: readonly string[],
): NodeCommand | undefined {
  const argv = target.manifest?.roles?.[role] ?? fallback;
  return argv ? commandFrom(argv) : undefined;
}
