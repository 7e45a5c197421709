// The fault vocabulary a workload, a transport and the nemesis share: the kinds of fault and
// the node sets a kill or pause picks from (ARCHITECTURE.md "Faults").
import type { Rng } from "./workload.js";

export const FAULT_KINDS = [
  "partition",
  "packet",
  "kill",
  "pause",
  "clock",
  "crash",
  "reconfigure",
] as const;
export type FaultKind = (typeof FAULT_KINDS)[number];

/**
 * Kinds the nemesis carries out through the workload's driver (`Driver.reconfigure`), because
 * only the workload knows how to change the system's configuration: a run gets one only when
 * its plugin lists it in `faults`, whatever its transport could do.
 */
export const DRIVER_FAULT_KINDS: readonly FaultKind[] = ["reconfigure"];

/** The kinds a workload without its own `faults` list takes from its transport. */
export function transportFaultKinds(kinds: readonly FaultKind[]): FaultKind[] {
  return kinds.filter((kind) => !DRIVER_FAULT_KINDS.includes(kind));
}

export const TARGETS = ["one", "minority", "all"] as const;
export type Targets = (typeof TARGETS)[number];

/** One random item, a random minority (at least one), or all of them; sorted. */
export function pickTargets(items: readonly string[], targets: Targets, random: Rng): string[] {
  const order = random.shuffle(items);
  const count =
    targets === "one"
      ? 1
      : targets === "all"
        ? order.length
        : Math.max(1, Math.floor((order.length - 1) / 2));
  return order.slice(0, count).sort();
}
