import { describe, expect, it } from "vitest";
import { LATENCY_DISTS, type Latency, LinkTable, sampleLatency_ms } from "../../harness/links.js";
import { Random } from "../../harness/random.js";

const NO_LATENCY: Latency = { mean_ms: 0, dist: "constant" };

function samples(latency: Latency, count: number, seed = 42): number[] {
  const random = new Random(seed);
  return Array.from({ length: count }, () => sampleLatency_ms(latency, random));
}

const mean = (xs: readonly number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;

describe("LinkTable state", () => {
  it("reports every link up until a fault is set", () => {
    const links = new LinkTable(NO_LATENCY);
    expect(links.get("n0", "n1")).toEqual({
      partitioned: false,
      loss: 0,
      duplicate: 0,
      extra_latency: undefined,
    });
    expect(links.faulty()).toEqual([]);
  });

  it("keeps links directed: setting n0->n1 leaves n1->n0 up", () => {
    const links = new LinkTable(NO_LATENCY);
    links.set("n0", "n1", { partitioned: true });
    expect(links.get("n0", "n1").partitioned).toBe(true);
    expect(links.get("n1", "n0").partitioned).toBe(false);
    expect(links.get("n0", "n2").partitioned).toBe(false);
  });

  it("merges partial changes into the link's existing faults", () => {
    const links = new LinkTable(NO_LATENCY);
    links.set("n0", "n1", { loss: 0.25 });
    links.set("n0", "n1", { duplicate: 0.5 });
    links.set("n0", "n1", { extra_latency: { mean_ms: 7, dist: "uniform" } });
    expect(links.get("n0", "n1")).toEqual({
      partitioned: false,
      loss: 0.25,
      duplicate: 0.5,
      extra_latency: { mean_ms: 7, dist: "uniform" },
    });
    links.set("n0", "n1", { loss: 0 });
    expect(links.get("n0", "n1").loss).toBe(0);
    expect(links.get("n0", "n1").duplicate).toBe(0.5);
  });

  it("never lets a change to one link leak into the shared 'up' state", () => {
    const links = new LinkTable(NO_LATENCY);
    links.set("a", "b", { partitioned: true, loss: 1 });
    const other = new LinkTable(NO_LATENCY);
    expect(other.get("a", "b").partitioned).toBe(false);
    expect(links.get("x", "y")).toEqual({
      partitioned: false,
      loss: 0,
      duplicate: 0,
      extra_latency: undefined,
    });
  });

  it("does not confuse links whose names concatenate alike", () => {
    const links = new LinkTable(NO_LATENCY);
    links.set("n1", "0n", { partitioned: true });
    expect(links.get("n10", "n").partitioned).toBe(false);
    expect(links.get("n1", "0n").partitioned).toBe(true);
  });

  it("lists the faulty links with their src, dest and faults", () => {
    const links = new LinkTable(NO_LATENCY);
    links.set("n0", "n1", { partitioned: true });
    links.set("n2", "lin-kv", { loss: 0.1 });
    const faulty = links.faulty();
    expect(faulty).toHaveLength(2);
    expect(faulty).toContainEqual({
      src: "n0",
      dest: "n1",
      faults: { partitioned: true, loss: 0, duplicate: 0, extra_latency: undefined },
    });
    expect(faulty).toContainEqual({
      src: "n2",
      dest: "lin-kv",
      faults: { partitioned: false, loss: 0.1, duplicate: 0, extra_latency: undefined },
    });
  });

  it("no longer lists a link whose faults were all set back to up", () => {
    const links = new LinkTable(NO_LATENCY);
    links.set("n0", "n1", { partitioned: true });
    links.set("n1", "n2", { loss: 0.5 });
    links.set("n0", "n1", { partitioned: false });
    expect(links.faulty().map(({ src, dest }) => `${src}->${dest}`)).toEqual(["n1->n2"]);
  });

  it("heal() returns every link to up", () => {
    const links = new LinkTable(NO_LATENCY);
    links.set("n0", "n1", { partitioned: true, loss: 0.5, duplicate: 0.5 });
    links.set("n1", "n0", { extra_latency: { mean_ms: 100, dist: "constant" } });
    links.heal();
    expect(links.faulty()).toEqual([]);
    expect(links.get("n0", "n1").partitioned).toBe(false);
    expect(links.get("n1", "n0").extra_latency).toBeUndefined();
  });

  it.each([
    { loss: -0.01 },
    { loss: 1.01 },
    { loss: Number.NaN },
    { duplicate: -1 },
    { duplicate: 2 },
    { duplicate: Number.NaN },
  ])("rejects probability %o and leaves the link unchanged", (change) => {
    const links = new LinkTable(NO_LATENCY);
    links.set("n0", "n1", { loss: 0.2 });
    expect(() => links.set("n0", "n1", change)).toThrow(/probabilities must be within \[0, 1\]/);
    expect(links.get("n0", "n1")).toEqual({
      partitioned: false,
      loss: 0.2,
      duplicate: 0,
      extra_latency: undefined,
    });
  });

  it("accepts the probability bounds 0 and 1", () => {
    const links = new LinkTable(NO_LATENCY);
    links.set("n0", "n1", { loss: 1, duplicate: 1 });
    links.set("n0", "n1", { loss: 0, duplicate: 0 });
    expect(links.get("n0", "n1").loss).toBe(0);
  });
});

describe("sampleLatency_ms", () => {
  it("is 0 for a non-positive mean, whatever the distribution", () => {
    for (const dist of LATENCY_DISTS) {
      expect(samples({ mean_ms: 0, dist }, 50)).toEqual(Array(50).fill(0));
      expect(samples({ mean_ms: -5, dist }, 10)).toEqual(Array(10).fill(0));
    }
  });

  it("constant is exactly the mean", () => {
    expect(new Set(samples({ mean_ms: 13, dist: "constant" }, 200))).toEqual(new Set([13]));
  });

  it("uniform stays within [0, 2·mean], averages the mean and spreads over the range", () => {
    const xs = samples({ mean_ms: 50, dist: "uniform" }, 20_000);
    expect(Math.min(...xs)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...xs)).toBeLessThanOrEqual(100);
    expect(mean(xs)).toBeGreaterThan(49);
    expect(mean(xs)).toBeLessThan(51);
    // Both ends of the range are reached (not a constant in disguise).
    expect(Math.min(...xs)).toBeLessThan(1);
    expect(Math.max(...xs)).toBeGreaterThan(99);
    // Roughly flat: each quarter of the range gets about a quarter of the samples.
    for (let q = 0; q < 4; q++) {
      const share = xs.filter((x) => x >= q * 25 && x < (q + 1) * 25).length / xs.length;
      expect(share).toBeGreaterThan(0.23);
      expect(share).toBeLessThan(0.27);
    }
  });

  it("exponential is non-negative with the given mean and a long tail", () => {
    const xs = samples({ mean_ms: 20, dist: "exponential" }, 20_000);
    expect(Math.min(...xs)).toBeGreaterThanOrEqual(0);
    expect(mean(xs)).toBeGreaterThan(19);
    expect(mean(xs)).toBeLessThan(21);
    // P(X > mean) = e^-1 ≈ 0.368 for an exponential; P(X > 3·mean) ≈ 0.05.
    const above = xs.filter((x) => x > 20).length / xs.length;
    expect(above).toBeGreaterThan(0.34);
    expect(above).toBeLessThan(0.4);
    const tail = xs.filter((x) => x > 60).length / xs.length;
    expect(tail).toBeGreaterThan(0.04);
    expect(tail).toBeLessThan(0.06);
  });

  it("is deterministic for a seed and differs between seeds", () => {
    for (const dist of ["uniform", "exponential"] as const) {
      const a = samples({ mean_ms: 10, dist }, 100, 7);
      const b = samples({ mean_ms: 10, dist }, 100, 7);
      const c = samples({ mean_ms: 10, dist }, 100, 8);
      expect(a).toEqual(b);
      expect(a).not.toEqual(c);
    }
  });
});

describe("LinkTable.latency_ms", () => {
  it("is the base latency on a link without faults", () => {
    const links = new LinkTable({ mean_ms: 5, dist: "constant" });
    expect(links.latency_ms("n0", "n1", new Random(1))).toBe(5);
  });

  it("adds the link's extra latency to the base", () => {
    const links = new LinkTable({ mean_ms: 5, dist: "constant" });
    links.set("n0", "n1", { extra_latency: { mean_ms: 100, dist: "constant" } });
    expect(links.latency_ms("n0", "n1", new Random(1))).toBe(105);
    expect(links.latency_ms("n1", "n0", new Random(1))).toBe(5);
  });

  it("draws base and extra from the same seeded stream, reproducibly", () => {
    const links = new LinkTable({ mean_ms: 10, dist: "uniform" });
    links.set("n0", "n1", { extra_latency: { mean_ms: 10, dist: "exponential" } });
    const run = (seed: number) => {
      const random = new Random(seed);
      return Array.from({ length: 50 }, () => links.latency_ms("n0", "n1", random));
    };
    expect(run(3)).toEqual(run(3));
    expect(run(3)).not.toEqual(run(4));
    const xs = run(3);
    expect(Math.min(...xs)).toBeGreaterThanOrEqual(0);
  });
});
