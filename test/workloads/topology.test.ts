import { describe, expect, it } from "vitest";
import { buildTopology, TOPOLOGIES } from "../../workloads/topology.js";

const nodes = (n: number) => Array.from({ length: n }, (_, i) => `n${i}`);
const SIZES = [1, 2, 5, 9, 25] as const;

/** Edges whose reverse is missing. */
function asymmetric(topology: Record<string, string[]>): string[] {
  return Object.entries(topology).flatMap(([node, neighbours]) =>
    neighbours
      .filter((other) => !topology[other]?.includes(node))
      .map((other) => `${node}->${other}`),
  );
}

function expectSymmetric(topology: Record<string, string[]>): void {
  expect(asymmetric(topology)).toEqual([]);
}

/** Unknown names, self loops and repeated neighbours. */
function malformed(topology: Record<string, string[]>, names: readonly string[]): string[] {
  const known = new Set(names);
  return Object.entries(topology).flatMap(([node, neighbours]) => [
    ...(known.has(node) ? [] : [`unknown node ${node}`]),
    ...(neighbours.includes(node) ? [`${node} is its own neighbour`] : []),
    ...(new Set(neighbours).size === neighbours.length ? [] : [`${node} repeats a neighbour`]),
    ...neighbours.filter((o) => !known.has(o)).map((o) => `${node} has unknown neighbour ${o}`),
  ]);
}

function expectWellFormed(topology: Record<string, string[]>, names: readonly string[]): void {
  expect(malformed(topology, names)).toEqual([]);
}

/** Every cluster size from 1 to 64: exhaustive where a random sample would only be likely. */
const ALL_SIZES = Array.from({ length: 64 }, (_, i) => i + 1);

/** Nodes reachable from the first node. */
function reachable(topology: Record<string, string[]>, from: string): Set<string> {
  const seen = new Set([from]);
  const todo = [from];
  while (todo.length > 0) {
    for (const next of topology[todo.pop() as string] ?? []) {
      if (!seen.has(next)) {
        seen.add(next);
        todo.push(next);
      }
    }
  }
  return seen;
}

describe("buildTopology", () => {
  it("knows exactly the spec's topologies", () => {
    expect([...TOPOLOGIES]).toEqual(["grid", "line", "tree", "tree2", "tree3", "tree4", "total"]);
  });

  it.each(["", "ring", "tree5", "tree1", "Grid", "star"])(
    "throws on the unknown name %j, listing the choices",
    (name) => {
      expect(() => buildTopology(name, nodes(3))).toThrow(RangeError);
      expect(() => buildTopology(name, nodes(3))).toThrow(
        /grid, line, tree, tree2, tree3, tree4, total/,
      );
    },
  );

  it("uses the given node names, whatever they are", () => {
    expect(buildTopology("line", ["a", "b", "c"])).toEqual({ a: ["b"], b: ["a", "c"], c: ["b"] });
  });

  it("does not modify the node list", () => {
    const list = nodes(5);
    for (const name of TOPOLOGIES) buildTopology(name, list);
    expect(list).toEqual(nodes(5));
  });

  describe("total", () => {
    it.each(SIZES)("%i nodes: everyone except self, in node order", (n) => {
      const t = buildTopology("total", nodes(n));
      expect(Object.keys(t)).toEqual(nodes(n));
      for (const node of nodes(n)) expect(t[node]).toEqual(nodes(n).filter((x) => x !== node));
    });

    it("gives fresh arrays per node", () => {
      const t = buildTopology("total", nodes(3));
      t.n0?.push("zzz");
      expect(t.n1).toEqual(["n0", "n2"]);
    });
  });

  describe("line", () => {
    it("fewer than 2 nodes gives {}", () => {
      expect(buildTopology("line", [])).toEqual({});
      expect(buildTopology("line", nodes(1))).toEqual({});
    });

    it("2 nodes", () => {
      expect(buildTopology("line", nodes(2))).toEqual({ n0: ["n1"], n1: ["n0"] });
    });

    it("5 nodes: a chain, predecessor first", () => {
      expect(buildTopology("line", nodes(5))).toEqual({
        n0: ["n1"],
        n1: ["n0", "n2"],
        n2: ["n1", "n3"],
        n3: ["n2", "n4"],
        n4: ["n3"],
      });
    });

    it.each([9, 25])("%i nodes: ends have one neighbour, the rest two, all connected", (n) => {
      const t = buildTopology("line", nodes(n));
      expect(t.n0).toEqual(["n1"]);
      expect(t[`n${n - 1}`]).toEqual([`n${n - 2}`]);
      for (let i = 1; i < n - 1; i++) expect(t[`n${i}`]).toEqual([`n${i - 1}`, `n${i + 1}`]);
      expectSymmetric(t);
      expect(reachable(t, "n0").size).toBe(n);
    });
  });

  describe("grid", () => {
    it("1 node: no neighbours", () => {
      expect(buildTopology("grid", nodes(1))).toEqual({ n0: [] });
    });

    it("2 nodes: side 2, one row", () => {
      expect(buildTopology("grid", nodes(2))).toEqual({ n0: ["n1"], n1: ["n0"] });
    });

    it("5 nodes: side 3, a partial second row", () => {
      // n0 n1 n2
      // n3 n4
      expect(buildTopology("grid", nodes(5))).toEqual({
        n0: ["n3", "n1"],
        n1: ["n4", "n2", "n0"],
        n2: ["n1"],
        n3: ["n0", "n4"],
        n4: ["n1", "n3"],
      });
    });

    it("9 nodes: a full 3×3 grid, neighbours ordered down, up, right, left", () => {
      // n0 n1 n2
      // n3 n4 n5
      // n6 n7 n8
      expect(buildTopology("grid", nodes(9))).toEqual({
        n0: ["n3", "n1"],
        n1: ["n4", "n2", "n0"],
        n2: ["n5", "n1"],
        n3: ["n6", "n0", "n4"],
        n4: ["n7", "n1", "n5", "n3"],
        n5: ["n8", "n2", "n4"],
        n6: ["n3", "n7"],
        n7: ["n4", "n8", "n6"],
        n8: ["n5", "n7"],
      });
    });

    it("25 nodes: a 5×5 grid with 4 corners of 2, 12 edges of 3, 9 inner of 4", () => {
      const t = buildTopology("grid", nodes(25));
      const degrees = Object.values(t).map((ns) => ns.length);
      expect(degrees.filter((d) => d === 2)).toHaveLength(4);
      expect(degrees.filter((d) => d === 3)).toHaveLength(12);
      expect(degrees.filter((d) => d === 4)).toHaveLength(9);
      expect(t.n12).toEqual(["n17", "n7", "n13", "n11"]); // the centre
      expect(t.n4).toEqual(["n9", "n3"]); // top right: no wrap to n5
      expect(t.n5).toEqual(["n10", "n0", "n6"]); // left edge: no wrap to n4
    });

    it("for every size up to 64: symmetric, ≤ 4 neighbours, connected, adjacent cells only", () => {
      for (const n of ALL_SIZES) {
        const t = buildTopology("grid", nodes(n));
        const side = Math.ceil(Math.sqrt(n));
        expect(Object.keys(t)).toEqual(nodes(n));
        expectWellFormed(t, nodes(n));
        expectSymmetric(t);
        expect(reachable(t, "n0").size).toBe(n);
        const wrong: string[] = [];
        for (let k = 0; k < n; k++) {
          const neighbours = t[`n${k}`] as string[];
          if (neighbours.length > 4) wrong.push(`n${k} has ${neighbours.length} neighbours`);
          for (const other of neighbours) {
            const m = Number(other.slice(1));
            const [i, j, oi, oj] = [Math.floor(k / side), k % side, Math.floor(m / side), m % side];
            if (Math.abs(i - oi) + Math.abs(j - oj) !== 1)
              wrong.push(`n${k}-${other} are not adjacent`);
          }
        }
        expect(wrong, `${n} nodes`).toEqual([]);
      }
    });
  });

  describe("tree", () => {
    it("tree and tree2 are the same binary tree", () => {
      for (const n of SIZES)
        expect(buildTopology("tree", nodes(n))).toEqual(buildTopology("tree2", nodes(n)));
    });

    it.each(["tree", "tree2", "tree3", "tree4"])("%s with 1 node has no neighbours", (name) => {
      expect(buildTopology(name, nodes(1))).toEqual({ n0: [] });
    });

    it.each(["tree2", "tree3", "tree4"])("%s with 2 nodes is one edge", (name) => {
      expect(buildTopology(name, nodes(2))).toEqual({ n0: ["n1"], n1: ["n0"] });
    });

    it("tree2, 5 nodes: parent first, then children", () => {
      //      n0
      //    n1  n2
      //  n3 n4
      expect(buildTopology("tree2", nodes(5))).toEqual({
        n0: ["n1", "n2"],
        n1: ["n0", "n3", "n4"],
        n2: ["n0"],
        n3: ["n1"],
        n4: ["n1"],
      });
    });

    it("tree3, 5 nodes", () => {
      expect(buildTopology("tree3", nodes(5))).toEqual({
        n0: ["n1", "n2", "n3"],
        n1: ["n0", "n4"],
        n2: ["n0"],
        n3: ["n0"],
        n4: ["n1"],
      });
    });

    it("tree4, 5 nodes: a star", () => {
      expect(buildTopology("tree4", nodes(5))).toEqual({
        n0: ["n1", "n2", "n3", "n4"],
        n1: ["n0"],
        n2: ["n0"],
        n3: ["n0"],
        n4: ["n0"],
      });
    });

    it("tree3, 9 nodes: tiers of 1, 3, 5", () => {
      expect(buildTopology("tree3", nodes(9))).toEqual({
        n0: ["n1", "n2", "n3"],
        n1: ["n0", "n4", "n5", "n6"],
        n2: ["n0", "n7", "n8"],
        n3: ["n0"],
        n4: ["n1"],
        n5: ["n1"],
        n6: ["n1"],
        n7: ["n2"],
        n8: ["n2"],
      });
    });

    it("tree4, 25 nodes: tiers of 1, 4, 16, 4", () => {
      const t = buildTopology("tree4", nodes(25));
      expect(t.n0).toEqual(["n1", "n2", "n3", "n4"]);
      expect(t.n1).toEqual(["n0", "n5", "n6", "n7", "n8"]);
      expect(t.n4).toEqual(["n0", "n17", "n18", "n19", "n20"]);
      expect(t.n5).toEqual(["n1", "n21", "n22", "n23", "n24"]);
      expect(t.n6).toEqual(["n1"]);
      expect(t.n24).toEqual(["n5"]);
    });

    it.each([
      ["tree2", 2],
      ["tree3", 3],
      ["tree4", 4],
    ] as const)(
      "%s for every size up to 64: a heap-ordered tree, symmetric and connected",
      (name, b) => {
        for (const n of ALL_SIZES) {
          const t = buildTopology(name, nodes(n));
          expect(Object.keys(t)).toEqual(nodes(n));
          expectWellFormed(t, nodes(n));
          expectSymmetric(t);
          expect(reachable(t, "n0").size).toBe(n);
          // A tree has n - 1 edges: the degrees sum to 2(n - 1).
          expect(Object.values(t).reduce((sum, ns) => sum + ns.length, 0)).toBe(2 * (n - 1));
          const expected = Object.fromEntries(
            nodes(n).map((node, k) => {
              const parent = k === 0 ? [] : [`n${Math.floor((k - 1) / b)}`];
              const children = Array.from({ length: b }, (_, c) => b * k + 1 + c)
                .filter((c) => c < n)
                .map((c) => `n${c}`);
              return [node, [...parent, ...children]];
            }),
          );
          expect(t, `${n} nodes`).toEqual(expected);
        }
      },
    );
  });

  it.each(TOPOLOGIES)(
    "%s: every node of a multi-node cluster has a neighbour and all are connected",
    (name) => {
      for (const n of SIZES.filter((s) => s > 1)) {
        const t = buildTopology(name, nodes(n));
        expect(Object.keys(t).sort()).toEqual(nodes(n).sort());
        expectWellFormed(t, nodes(n));
        expectSymmetric(t);
        expect(reachable(t, "n0").size).toBe(n);
      }
    },
  );
});
