import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { MAX_SEED, Random } from "../../harness/random.js";

const draw = (r: Random, n = 20) => Array.from({ length: n }, () => r.float());

describe("Random", () => {
  it("repeats the same sequence for the same seed, across every kind of draw", () => {
    const sequence = (seed: number) => {
      const r = new Random(seed);
      return [
        r.float(),
        r.int(0, 1000),
        r.chance(0.5),
        r.pick(["a", "b", "c", "d"]),
        r.exponential(10),
        r.shuffle([1, 2, 3, 4, 5, 6]),
        r.float(),
      ];
    };
    expect(sequence(123)).toEqual(sequence(123));
    expect(sequence(123)).not.toEqual(sequence(124));
  });

  it("gives different sequences for neighbouring seeds", () => {
    const seen = new Set<string>();
    for (let seed = 0; seed < 50; seed++) seen.add(JSON.stringify(draw(new Random(seed), 3)));
    expect(seen.size).toBe(50);
  });

  it("keeps its seed", () => {
    expect(new Random(99).seed).toBe(99);
  });

  it.each([-1, MAX_SEED + 1, 1.5, Number.NaN, Number.POSITIVE_INFINITY, 2 ** 53])(
    "rejects seed %s",
    (seed) => {
      expect(() => new Random(seed)).toThrow(RangeError);
      expect(() => new Random(seed)).toThrow(/seed must be an integer/);
    },
  );

  it("accepts the seed bounds 0 and MAX_SEED", () => {
    expect(() => new Random(0)).not.toThrow();
    expect(() => new Random(MAX_SEED)).not.toThrow();
  });

  it("freshSeed() is always a valid seed", () => {
    for (let i = 0; i < 100; i++) {
      const seed = Random.freshSeed();
      expect(Number.isSafeInteger(seed)).toBe(true);
      expect(() => new Random(seed)).not.toThrow();
    }
  });

  it("float() is in [0, 1) and roughly uniform", () => {
    const xs = draw(new Random(5), 10_000);
    for (const x of xs) {
      expect(x).toBeGreaterThanOrEqual(0);
      expect(x).toBeLessThan(1);
    }
    const avg = xs.reduce((a, b) => a + b, 0) / xs.length;
    expect(avg).toBeGreaterThan(0.48);
    expect(avg).toBeLessThan(0.52);
  });

  it("int(from, to) includes both bounds and nothing outside them", () => {
    const r = new Random(11);
    const seen = new Set<number>();
    for (let i = 0; i < 2000; i++) {
      const x = r.int(-2, 3);
      expect(Number.isInteger(x)).toBe(true);
      seen.add(x);
    }
    expect([...seen].sort((a, b) => a - b)).toEqual([-2, -1, 0, 1, 2, 3]);
    expect(r.int(7, 7)).toBe(7);
  });

  it("property: int stays within any bounds", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: MAX_SEED }),
        fc.integer({ min: -1e9, max: 1e9 }),
        fc.nat(1e6),
        (seed, from, width) => {
          const r = new Random(seed);
          for (let i = 0; i < 5; i++) {
            const x = r.int(from, from + width);
            expect(x).toBeGreaterThanOrEqual(from);
            expect(x).toBeLessThanOrEqual(from + width);
          }
        },
      ),
      { numRuns: 200 },
    );
  });

  it("chance(p) is never true for p <= 0, always true for p = 1, about p otherwise", () => {
    const r = new Random(3);
    for (let i = 0; i < 500; i++) {
      expect(r.chance(0)).toBe(false);
      expect(r.chance(-1)).toBe(false);
      expect(r.chance(1)).toBe(true);
    }
    let hits = 0;
    for (let i = 0; i < 10_000; i++) if (r.chance(0.3)) hits++;
    expect(hits / 10_000).toBeGreaterThan(0.28);
    expect(hits / 10_000).toBeLessThan(0.32);
  });

  it("pick() returns each element sometimes and rejects an empty list", () => {
    const r = new Random(9);
    const items = ["a", "b", "c"] as const;
    const seen = new Set<string>();
    for (let i = 0; i < 300; i++) seen.add(r.pick(items));
    expect(seen).toEqual(new Set(items));
    expect(() => r.pick([])).toThrow(RangeError);
  });

  it("shuffle() returns a permutation, leaves its input alone, and visits many orders", () => {
    const r = new Random(21);
    const input = [1, 2, 3, 4] as const;
    const orders = new Set<string>();
    for (let i = 0; i < 500; i++) {
      const out = r.shuffle(input);
      expect([...out].sort()).toEqual([1, 2, 3, 4]);
      orders.add(out.join(","));
    }
    expect(input).toEqual([1, 2, 3, 4]);
    expect(orders.size).toBe(24); // all 4! orders appear
    expect(r.shuffle([])).toEqual([]);
    expect(r.shuffle(["x"])).toEqual(["x"]);
  });

  it("exponential(mean) is non-negative with the given mean", () => {
    const r = new Random(4);
    const xs = Array.from({ length: 20_000 }, () => r.exponential(5));
    expect(Math.min(...xs)).toBeGreaterThanOrEqual(0);
    const avg = xs.reduce((a, b) => a + b, 0) / xs.length;
    expect(avg).toBeGreaterThan(4.8);
    expect(avg).toBeLessThan(5.2);
  });
});

describe("Random.fork", () => {
  it("is deterministic: same parent seed and label, same stream", () => {
    expect(draw(new Random(77).fork("network"))).toEqual(draw(new Random(77).fork("network")));
  });

  it("gives different streams for different labels and different parent seeds", () => {
    const a = draw(new Random(77).fork("network"));
    expect(draw(new Random(77).fork("workload"))).not.toEqual(a);
    expect(draw(new Random(78).fork("network"))).not.toEqual(a);
    expect(a).not.toEqual(draw(new Random(77)));
  });

  it("does not depend on, or disturb, how much the parent has drawn", () => {
    const fresh = new Random(5);
    const used = new Random(5);
    draw(used, 100);
    expect(draw(used.fork("x"))).toEqual(draw(fresh.fork("x")));

    const parent = new Random(5);
    const before = draw(new Random(5), 10);
    const child = parent.fork("nemesis");
    draw(child, 100);
    expect(draw(parent, 10)).toEqual(before);
  });

  it("forks are independent: drawing from one does not change another", () => {
    const root = new Random(1234);
    const a1 = root.fork("a");
    const b1 = root.fork("b");
    const expectedB = draw(new Random(1234).fork("b"));
    draw(a1, 1000);
    expect(draw(b1)).toEqual(expectedB);
  });

  it("always yields a valid seed, for any parent seed and label", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: MAX_SEED }),
        fc.string({ maxLength: 30 }),
        (seed, label) => {
          const child = new Random(seed).fork(label);
          expect(child.seed).toBeGreaterThanOrEqual(0);
          expect(child.seed).toBeLessThanOrEqual(MAX_SEED);
          expect(new Random(seed).fork(label).seed).toBe(child.seed);
        },
      ),
      { numRuns: 300 },
    );
  });

  it("spreads labels over distinct seeds", () => {
    const seeds = new Set<number>();
    for (let i = 0; i < 200; i++) seeds.add(new Random(1).fork(`worker-${i}`).seed);
    expect(seeds.size).toBe(200);
  });
});
