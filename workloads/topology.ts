// Broadcast topologies, exactly as Maelstrom builds them (systems/gossip/README.md
// "The interface, per workload").
export const TOPOLOGIES = ["grid", "line", "tree", "tree2", "tree3", "tree4", "total"] as const;
export type TopologyName = (typeof TOPOLOGIES)[number];

export function buildTopology(name: string, nodes: readonly string[]): Record<string, string[]> {
  const n = nodes.length;
  const at = (i: number) => nodes[i] as string;
  const topology: Record<string, string[]> = {};
  switch (name) {
    case "total":
      for (const node of nodes) topology[node] = nodes.filter((other) => other !== node);
      return topology;
    case "line":
      if (n < 2) return {};
      for (let i = 0; i < n; i++) {
        topology[at(i)] = [i - 1, i + 1].filter((j) => j >= 0 && j < n).map(at);
      }
      return topology;
    case "grid": {
      const side = Math.ceil(Math.sqrt(n));
      for (let k = 0; k < n; k++) {
        const i = Math.floor(k / side);
        const j = k % side;
        const neighbours: string[] = [];
        for (const [di, dj] of [
          [1, 0],
          [-1, 0],
          [0, 1],
          [0, -1],
        ] as const) {
          const ni = i + di;
          const nj = j + dj;
          const index = ni * side + nj;
          if (ni >= 0 && nj >= 0 && nj < side && index < n) neighbours.push(at(index));
        }
        topology[at(k)] = neighbours;
      }
      return topology;
    }
    case "tree":
    case "tree2":
    case "tree3":
    case "tree4": {
      const branching = name === "tree" ? 2 : Number(name.slice(4));
      for (const node of nodes) topology[node] = [];
      // Tiers of size 1, b, b², …: node k's children are b·k+1 … b·k+b (heap layout).
      for (let k = 1; k < n; k++) {
        const parent = Math.floor((k - 1) / branching);
        (topology[at(k)] as string[]).unshift(at(parent));
        (topology[at(parent)] as string[]).push(at(k));
      }
      return topology;
    }
    default:
      throw new RangeError(`unknown topology "${name}"; choose one of ${TOPOLOGIES.join(", ")}`);
  }
}
