// --against-reference (ARCHITECTURE.md "The lifecycle"): faultline's own system for the workload,
// run after the user's with the same options and seed, so a course sees whether a test is fair
// before it grades with it. A schedule the reference cannot pass fails students for nothing.
import { Option } from "commander";
import { PLUGINS } from "../workloads/index.js";
import type { WorkloadPlugin } from "../workloads/plugin.js";
import { SetupError } from "./exit-codes.js";
import { resolveSystem, type Target } from "./target.js";
import type { ReferenceVerdict, TestOptions } from "./test-options.js";
import { programArgsKey, workloadOptions } from "./workload-options.js";

/** The system `--against-reference [SYSTEM]` runs: the one named, else the workload's own. */
export function referenceSystem(
  workload: string,
  asked: true | string,
  plugins: Readonly<Record<string, WorkloadPlugin>> = PLUGINS,
): string {
  if (typeof asked === "string") return asked;
  const own = plugins[workload]?.reference;
  if (own !== undefined) return own;
  const having = Object.values(plugins).filter((p) => p.reference !== undefined);
  throw new SetupError(
    `--against-reference: workload ${workload} has no reference system of ours; ${
      having.length > 0 ? `these have one: ${having.map((p) => p.name).join(", ")}` : "none has"
    } (or name a system that serves it: --against-reference SYSTEM)`,
  );
}

/** The reference's target, checked before the user's run starts (it must serve the workload). */
export function referenceTarget(workload: string, asked: true | string): Target {
  return resolveSystem(referenceSystem(workload, asked), workload, undefined);
}

/**
 * The user's options for the reference run: the same in every respect but the target, whose
 * programs play every role. The user's own programs for other roles (`--client-bin`,
 * `--worker-bin` …: options of type "program", with their `--ROLE-arg`s) are left out, so the
 * reference brings its own.
 */
export function referenceOptions(
  options: TestOptions,
  target: Target,
  flags: Readonly<Record<string, unknown>>,
): TestOptions {
  const programs = new Set(
    (PLUGINS[options.workload]?.options ?? [])
      .filter((spec) => spec.type === "program")
      .flatMap((spec) => [new Option(spec.flags).attributeName(), programArgsKey(spec)]),
  );
  const kept = Object.fromEntries(Object.entries(flags).filter(([key]) => !programs.has(key)));
  return { ...options, target, ...workloadOptions(options.workload, kept) };
}

/** What the user is told when the reference's verdict puts the test itself in doubt. */
export function referenceWarnings(reference: ReferenceVerdict, seed: number): string[] {
  const { system, valid, status } = reference;
  if (valid === true || status === "interrupted") return [];
  if (status === "could-not-run") {
    return [
      `the reference system ${system} could not run with these options, so whether this test is fair is not known`,
    ];
  }
  if (valid === false) {
    return [
      `the reference system ${system} also fails this test with seed ${seed}: the schedule may be too harsh to grade with (fewer or shorter faults, or a longer time limit, until the reference passes)`,
    ];
  }
  return [
    `the reference system ${system} could not be judged either with seed ${seed} (its verdict is unknown): this test may not be able to decide for anyone`,
  ];
}
