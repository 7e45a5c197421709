// Whether the run's partitions cut anything that mattered: a partition whose every pair of
// talking nodes still reaches each other through others (majorities-ring, bridge) tests nothing
// a relaying system (gossip, forwarding to a leader) could get wrong, and the run should say so.
import type { Op } from "./history.js";

/** Who sent node-to-node messages to whom during the run: src -> its destinations. */
export type TalkGraph = ReadonlyMap<string, ReadonlySet<string>>;

interface PartitionEvent {
  shape: string;
  cut: Array<[string, string]>;
}

/**
 * A warning when the run's scheduled partitions (a script's own cuts are deliberate and left
 * out) left every pair that exchanged messages with a directed path over links that were up and
 * carried traffic; undefined when one cut such a pair off, or when there was no partition.
 */
export function partitionReachWarning(
  history: readonly Op[],
  talked: TalkGraph,
): string | undefined {
  const partitions = history
    .filter((op) => op.process === "nemesis" && op.f === "start-partition")
    .map((op) => op.value as PartitionEvent)
    .filter((p) => p.shape !== "script" && Array.isArray(p.cut));
  if (partitions.length === 0) return undefined;
  if (partitions.some((p) => disconnectsTalkers(p.cut, talked))) return undefined;
  if ([...talked.values()].every((dests) => dests.size === 0)) {
    return `no partition cut anything the run used: its nodes sent each other no messages (partitions cut only node-to-node links)`;
  }
  const counts = new Map<string, number>();
  for (const p of partitions) counts.set(p.shape, (counts.get(p.shape) ?? 0) + 1);
  const shapes = [...counts].map(([shape, n]) => `${shape} ×${n}`).join(", ");
  return `no partition disconnected nodes that talked: ${shapes} kept every pair that exchanged messages connected through others`;
}

function disconnectsTalkers(cut: ReadonlyArray<[string, string]>, talked: TalkGraph): boolean {
  const down = new Set(cut.map(([src, dest]) => `${src}\0${dest}`));
  const up = (src: string, dest: string) => !down.has(`${src}\0${dest}`);
  for (const [src, dests] of talked) {
    const reached = reachable(src, talked, up);
    for (const dest of dests) if (!reached.has(dest)) return true;
  }
  return false;
}

function reachable(
  from: string,
  talked: TalkGraph,
  up: (src: string, dest: string) => boolean,
): Set<string> {
  const seen = new Set([from]);
  const stack = [from];
  for (let node = stack.pop(); node !== undefined; node = stack.pop()) {
    for (const next of talked.get(node) ?? []) {
      if (!seen.has(next) && up(node, next)) {
        seen.add(next);
        stack.push(next);
      }
    }
  }
  return seen;
}
