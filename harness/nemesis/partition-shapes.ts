// Partition shapes (README.md "Faults", Jepsen's grudges): each returns the exact set of directed
// links (src -> dest) whose messages are dropped. Only node<->node links are ever cut.
import type { Rng } from "../../workloads/workload.js";

export const PARTITION_SHAPES = [
  "halves",
  "majority-minority",
  "isolate-one",
  "majorities-ring",
  "bridge",
  "one-way",
] as const;
export type PartitionShape = (typeof PARTITION_SHAPES)[number];

export interface Partition {
  shape: PartitionShape;
  /** Directed links cut: messages from [0] to [1] are dropped. */
  cut: Array<[string, string]>;
  /** What each node can still hear from (itself included), for the report. */
  sees: Record<string, string[]>;
}

/** The fewest nodes a shape needs to mean anything. */
export const MIN_NODES: Record<PartitionShape, number> = {
  halves: 2,
  "majority-minority": 3,
  "isolate-one": 2,
  "majorities-ring": 5,
  bridge: 3,
  "one-way": 2,
};

export function shapesFor(node_count: number): PartitionShape[] {
  return PARTITION_SHAPES.filter((shape) => node_count >= MIN_NODES[shape]);
}

/**
 * Shapes that leave some node unable to reach another even through others. The rest
 * (majorities-ring, bridge) keep every pair connected via a third node, which a system that
 * relays (gossip, forwarding to a leader) survives without noticing.
 */
const DISCONNECTING: readonly PartitionShape[] = ["halves", "majority-minority", "isolate-one"];

/**
 * The order in which partitions draw their shapes when none is fixed: every shape the cluster
 * allows once per cycle, the disconnecting ones first (each part shuffled), so a short run with
 * only one or two partitions still splits the cluster.
 */
export function shapeCycle(node_count: number, rng: Rng): PartitionShape[] {
  const shapes = shapesFor(node_count);
  const first = shapes.filter((shape) => DISCONNECTING.includes(shape));
  const rest = shapes.filter((shape) => !DISCONNECTING.includes(shape));
  return [...shuffle(first, rng), ...shuffle(rest, rng)];
}

export function makePartition(
  shape: PartitionShape,
  nodes: readonly string[],
  rng: Rng,
): Partition {
  if (nodes.length < MIN_NODES[shape]) {
    throw new RangeError(`partition shape ${shape} needs at least ${MIN_NODES[shape]} nodes`);
  }
  const order = shuffle(nodes, rng);
  const half = Math.floor(order.length / 2);
  switch (shape) {
    case "halves":
      return fromComponents(shape, nodes, [order.slice(0, half), order.slice(half)]);
    case "majority-minority": {
      const minority = rng.int(1, Math.floor((order.length - 1) / 2));
      return fromComponents(shape, nodes, [order.slice(0, minority), order.slice(minority)]);
    }
    case "isolate-one":
      return fromComponents(shape, nodes, [order.slice(0, 1), order.slice(1)]);
    case "bridge": {
      // One node hears both halves; the halves do not hear each other.
      const [bridge, ...rest] = order as [string, ...string[]];
      const left = rest.slice(0, Math.floor(rest.length / 2));
      return fromVisibility(
        shape,
        nodes,
        (a, b) => a === bridge || b === bridge || sameSide(a, b, left),
      );
    }
    case "majorities-ring": {
      // Nodes on a ring each hear the r nearest on either side: 2r+1 is a majority, and no
      // two nodes hear the same set.
      const majority = Math.floor(order.length / 2) + 1;
      const radius = Math.ceil((majority - 1) / 2);
      const position = new Map(order.map((node, i) => [node, i]));
      return fromVisibility(shape, nodes, (a, b) => {
        const d = Math.abs((position.get(a) as number) - (position.get(b) as number));
        return Math.min(d, order.length - d) <= radius;
      });
    }
    case "one-way": {
      // One half stops hearing the other; the other still hears it (asymmetric).
      const deaf = new Set(order.slice(0, half));
      return fromVisibility(shape, nodes, (src, dest) => !(deaf.has(dest) && !deaf.has(src)));
    }
  }
}

function sameSide(a: string, b: string, left: readonly string[]): boolean {
  return left.includes(a) === left.includes(b);
}

function fromComponents(
  shape: PartitionShape,
  nodes: readonly string[],
  components: string[][],
): Partition {
  const component = new Map<string, number>();
  components.forEach((members, i) => {
    for (const node of members) component.set(node, i);
  });
  return fromVisibility(shape, nodes, (a, b) => component.get(a) === component.get(b));
}

/** `hears(src, dest)`: whether dest receives what src sends. */
function fromVisibility(
  shape: PartitionShape,
  nodes: readonly string[],
  hears: (src: string, dest: string) => boolean,
): Partition {
  const cut: Array<[string, string]> = [];
  const sees: Record<string, string[]> = {};
  for (const dest of nodes) {
    sees[dest] = [];
    for (const src of nodes) {
      if (src === dest || hears(src, dest)) (sees[dest] as string[]).push(src);
      else cut.push([src, dest]);
    }
  }
  return { shape, cut, sees };
}

function shuffle<T>(items: readonly T[], rng: Rng): T[] {
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = rng.int(0, i);
    [out[i], out[j]] = [out[j] as T, out[i] as T];
  }
  return out;
}
