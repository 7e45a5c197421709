// The sweep's statistics: the Wilson score interval of the catch rate, and quantiles.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { quantile, wilsonInterval } from "../../reports/sweep-stats.js";

describe("wilsonInterval", () => {
  it("matches published values", () => {
    // 0/10 and 10/10: the interval is one-sided, [0, 0.2775] and [0.7225, 1].
    const none = wilsonInterval(0, 10);
    expect(none?.low).toBe(0);
    expect(none?.high).toBeCloseTo(0.2775, 4);
    const all = wilsonInterval(10, 10);
    expect(all?.low).toBeCloseTo(0.7225, 4);
    expect(all?.high).toBe(1);
    const half = wilsonInterval(5, 10);
    expect(half?.low).toBeCloseTo(0.2366, 4);
    expect(half?.high).toBeCloseTo(0.7634, 4);
    const some = wilsonInterval(81, 263);
    expect(some?.point).toBeCloseTo(0.308, 3);
    expect(some?.low).toBeCloseTo(0.2553, 4);
    expect(some?.high).toBeCloseTo(0.3662, 4);
  });

  it("has no interval without trials", () => {
    expect(wilsonInterval(0, 0)).toBeUndefined();
  });

  const counts = fc.integer({ min: 1, max: 100_000 }).chain((n) =>
    fc.tuple(
      // None and all caught are where rounding bites; draw them often.
      fc.oneof(fc.constant(0), fc.constant(n), fc.integer({ min: 0, max: n })),
      fc.constant(n),
    ),
  );

  it("stays within [0, 1] and contains the point estimate", () => {
    fc.assert(
      fc.property(counts, ([k, n]) => {
        const w = wilsonInterval(k, n);
        expect(w).toBeDefined();
        if (!w) return;
        expect(w.point).toBe(k / n);
        expect(0).toBeLessThanOrEqual(w.low);
        expect(w.low).toBeLessThanOrEqual(w.point);
        expect(w.point).toBeLessThanOrEqual(w.high);
        expect(w.high).toBeLessThanOrEqual(1);
      }),
    );
  });

  it("narrows as the trials grow at the same rate", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 50 }),
        fc.integer({ min: 1, max: 50 }),
        fc.integer({ min: 2, max: 20 }),
        (k0, extra, factor) => {
          const n = k0 + extra;
          const small = wilsonInterval(k0, n);
          const large = wilsonInterval(k0 * factor, n * factor);
          if (!small || !large) throw new Error("no interval");
          expect(large.high - large.low).toBeLessThan(small.high - small.low);
        },
      ),
    );
  });

  it("is symmetric: k of n caught mirrors n - k of n", () => {
    fc.assert(
      fc.property(counts, ([k, n]) => {
        const w = wilsonInterval(k, n);
        const mirror = wilsonInterval(n - k, n);
        if (!w || !mirror) throw new Error("no interval");
        expect(w.low).toBeCloseTo(1 - mirror.high, 12);
      }),
    );
  });
});

describe("quantile", () => {
  it("interpolates between ranks", () => {
    expect(quantile([], 0.5)).toBeUndefined();
    expect(quantile([7], 0.9)).toBe(7);
    expect(quantile([1, 2, 3, 4], 0.5)).toBe(2.5);
    expect(quantile([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 0.9)).toBeCloseTo(9.1, 10);
  });
});
