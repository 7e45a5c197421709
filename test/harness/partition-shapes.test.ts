// Each partition shape cuts exactly the links its name promises, for 3, 5 and 7 nodes.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  MIN_NODES,
  makePartition,
  PARTITION_SHAPES,
  type Partition,
  shapeCycle,
  shapesFor,
} from "../../harness/nemesis/partition-shapes.js";
import { Random } from "../../harness/random.js";

const nodesOf = (n: number) => Array.from({ length: n }, (_, i) => `n${i}`);
const hears = (p: Partition, src: string, dest: string) =>
  !p.cut.some(([s, d]) => s === src && d === dest);

/** Groups of nodes that hear each other both ways, when the partition is a clean split. */
function components(p: Partition, nodes: string[]): string[][] {
  const groups: string[][] = [];
  for (const node of nodes) {
    const group = groups.find(
      (g) => hears(p, g[0] as string, node) && hears(p, node, g[0] as string),
    );
    if (group) group.push(node);
    else groups.push([node]);
  }
  return groups;
}

function checkComponents(p: Partition, nodes: string[]): string[][] {
  const groups = components(p, nodes);
  for (const a of nodes) {
    for (const b of nodes) {
      const same = groups.some((g) => g.includes(a) && g.includes(b));
      expect(hears(p, a, b), `${a}->${b}`).toBe(same);
    }
  }
  return groups.map((g) => g.sort()).sort((x, y) => x.length - y.length);
}

describe.each([3, 5, 7])("%i nodes", (n) => {
  const nodes = nodesOf(n);
  const seeds = fc.integer({ min: 0, max: 2 ** 31 - 1 });

  it("halves: two sides of floor(n/2) and ceil(n/2), fully cut from each other", () => {
    fc.assert(
      fc.property(seeds, (seed) => {
        const groups = checkComponents(makePartition("halves", nodes, new Random(seed)), nodes);
        expect(groups.map((g) => g.length)).toEqual([Math.floor(n / 2), Math.ceil(n / 2)]);
      }),
      { numRuns: 50 },
    );
  });

  it("majority-minority: a strict minority and a majority", () => {
    fc.assert(
      fc.property(seeds, (seed) => {
        const groups = checkComponents(
          makePartition("majority-minority", nodes, new Random(seed)),
          nodes,
        );
        expect(groups).toHaveLength(2);
        expect((groups[0] as string[]).length).toBeGreaterThanOrEqual(1);
        expect((groups[1] as string[]).length).toBeGreaterThan(n / 2);
      }),
      { numRuns: 50 },
    );
  });

  it("isolate-one: one node alone, the rest together", () => {
    fc.assert(
      fc.property(seeds, (seed) => {
        const p = makePartition("isolate-one", nodes, new Random(seed));
        expect(checkComponents(p, nodes).map((g) => g.length)).toEqual([1, n - 1]);
        expect(p.cut).toHaveLength(2 * (n - 1));
      }),
      { numRuns: 50 },
    );
  });

  it("bridge: one node hears everyone; the two halves do not hear each other", () => {
    fc.assert(
      fc.property(seeds, (seed) => {
        const p = makePartition("bridge", nodes, new Random(seed));
        const bridges = nodes.filter((b) => nodes.every((o) => hears(p, b, o) && hears(p, o, b)));
        expect(bridges).toHaveLength(1);
        const rest = nodes.filter((x) => x !== bridges[0]);
        const groups = checkComponents({ ...p, cut: p.cut }, rest);
        expect(groups.map((g) => g.length)).toEqual([
          Math.floor((n - 1) / 2),
          Math.ceil((n - 1) / 2),
        ]);
      }),
      { numRuns: 50 },
    );
  });

  it("one-way: the cut links all point one way, and every cut link's reverse is up", () => {
    fc.assert(
      fc.property(seeds, (seed) => {
        const p = makePartition("one-way", nodes, new Random(seed));
        expect(p.cut.length).toBe(Math.floor(n / 2) * Math.ceil(n / 2));
        for (const [src, dest] of p.cut) expect(hears(p, dest, src)).toBe(true);
      }),
      { numRuns: 50 },
    );
  });

  it("majorities-ring: everyone hears a majority, symmetric, no two the same (n >= 5)", () => {
    if (n < MIN_NODES["majorities-ring"]) {
      expect(() => makePartition("majorities-ring", nodes, new Random(1))).toThrow(
        /at least 5 nodes/,
      );
      expect(shapesFor(n)).not.toContain("majorities-ring");
      return;
    }
    fc.assert(
      fc.property(seeds, (seed) => {
        const p = makePartition("majorities-ring", nodes, new Random(seed));
        const views = nodes.map((node) => [...(p.sees[node] as string[])].sort().join(","));
        expect(new Set(views).size).toBe(n);
        for (const node of nodes) expect((p.sees[node] as string[]).length).toBeGreaterThan(n / 2);
        for (const [src, dest] of p.cut) expect(hears(p, dest, src)).toBe(false);
        expect(p.cut.length).toBeGreaterThan(0);
      }),
      { numRuns: 50 },
    );
  });

  it("sees and cut describe the same links; nobody is cut from itself", () => {
    for (const shape of shapesFor(n)) {
      const p = makePartition(shape, nodes, new Random(3));
      for (const dest of nodes) {
        for (const src of nodes) {
          expect((p.sees[dest] as string[]).includes(src), `${shape} ${src}->${dest}`).toBe(
            hears(p, src, dest),
          );
        }
        expect(p.sees[dest]).toContain(dest);
      }
    }
  });
});

it("every shape is known, and the same seed gives the same partition", () => {
  expect(PARTITION_SHAPES).toHaveLength(6);
  for (const shape of PARTITION_SHAPES) {
    expect(makePartition(shape, nodesOf(7), new Random(9))).toEqual(
      makePartition(shape, nodesOf(7), new Random(9)),
    );
  }
});

describe("shapeCycle: the order partitions take when no shape is fixed", () => {
  const splitting = ["halves", "isolate-one", "majority-minority"];

  it.each([2, 3, 5, 7])(
    "%i nodes: every allowed shape once, the ones that split the cluster first",
    (n) => {
      fc.assert(
        fc.property(fc.integer({ min: 0, max: 2 ** 31 - 1 }), (seed) => {
          const cycle = shapeCycle(n, new Random(seed));
          expect([...cycle].sort()).toEqual([...shapesFor(n)].sort());
          const first = shapesFor(n).filter((s) => splitting.includes(s)).length;
          expect([...cycle.slice(0, first)].sort()).toEqual(
            splitting.filter((s) => shapesFor(n).includes(s as never)),
          );
        }),
        { numRuns: 50 },
      );
    },
  );

  it("is seeded: the same seed, the same order; seeds differ in what comes first", () => {
    expect(shapeCycle(5, new Random(3))).toEqual(shapeCycle(5, new Random(3)));
    const firsts = new Set(
      Array.from({ length: 30 }, (_, seed) => shapeCycle(5, new Random(seed))[0]),
    );
    expect([...firsts].sort()).toEqual(splitting);
  });
});
