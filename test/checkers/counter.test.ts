import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { checkCounter, inRanges, type Range, reachableSums } from "../../checkers/counter.js";
import { HistoryBuilder } from "./build-history.js";

/** Every subset sum, the slow way. */
function bruteForce(base: number, deltas: readonly number[]): Set<number> {
  let sums = new Set([base]);
  for (const d of deltas) sums = new Set([...sums, ...[...sums].map((s) => s + d)]);
  return sums;
}

function members(ranges: readonly Range[]): Set<number> {
  const out = new Set<number>();
  for (const [lo, hi] of ranges) for (let v = lo; v <= hi; v++) out.add(v);
  return out;
}

describe("reachableSums", () => {
  it("unions shifted copies and merges touching ranges", () => {
    expect(reachableSums(10, [2, -3]).ranges).toEqual([
      [7, 7],
      [9, 10],
      [12, 12],
    ]);
    expect(reachableSums(0, [1, 1, 1]).ranges).toEqual([[0, 3]]);
    expect(reachableSums(5, [0, 0]).ranges).toEqual([[5, 5]]);
  });

  it("property: equals the brute-force subset sums when the cap is not hit", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: -50, max: 50 }),
        fc.array(fc.integer({ min: -20, max: 20 }), { maxLength: 10 }),
        (base, deltas) => {
          const { ranges, approximate } = reachableSums(base, deltas, 1 << 12);
          expect(approximate).toBe(false);
          expect(members(ranges)).toEqual(bruteForce(base, deltas));
          // Sorted, disjoint, not touching.
          for (let i = 1; i < ranges.length; i++) {
            expect((ranges[i] as Range)[0]).toBeGreaterThan((ranges[i - 1] as Range)[1] + 1);
          }
        },
      ),
    );
  });

  it("property: under a small cap it keeps at most cap ranges and never drops a reachable sum", () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: -1000, max: 1000 }), { maxLength: 10 }),
        fc.integer({ min: 1, max: 4 }),
        (deltas, cap) => {
          const { ranges, approximate } = reachableSums(0, deltas, cap);
          expect(ranges.length).toBeLessThanOrEqual(cap);
          for (const sum of bruteForce(0, deltas)) expect(inRanges(ranges, sum)).toBe(true);
          if (!approximate) expect(members(ranges)).toEqual(bruteForce(0, deltas));
        },
      ),
    );
  });
});

describe("checkCounter", () => {
  function run(reads: Array<{ value: number; node: string }>): HistoryBuilder {
    const h = new HistoryBuilder();
    h.op(0, "add", 3, "ok");
    h.op(1, "add", 4, "ok");
    h.op(2, "add", 100, "fail", 100); // definitely did not happen
    reads.forEach((r, i) => {
      h.op(10 + i, "read", null, "ok", r.value, { node: r.node, final: true });
    });
    return h;
  }

  it("is valid when every final read equals the sum of the acknowledged adds", () => {
    const result = checkCounter(
      run([
        { value: 7, node: "n0" },
        { value: 7, node: "n1" },
      ]).ops,
    );
    expect(result.valid).toBe(true);
    expect(result.summary).toBe(
      "All 2 final reads returned 7, the sum of the 2 acknowledged adds.",
    );
    expect(result).toMatchObject({ ok_add_sum: 7, fail_add_count: 1, possible: [[7, 7]] });
  });

  it("flags a final read that over-counts, naming the node and what was possible", () => {
    const h = run([
      { value: 7, node: "n0" },
      { value: 14, node: "n1" },
    ]);
    const result = checkCounter(h.ops);
    expect(result.valid).toBe(false);
    expect(result.summary).toBe(
      "n1's final read returned 14, but the acknowledged adds sum to 7, so it had to be 7 (1 of 2 final reads is wrong).",
    );
    expect(result.ops).toEqual([h.ops.length - 2, h.ops.length - 1]);
  });

  it("counts the final reads that timed out or failed in its summary", () => {
    const timeout = { final: true, error: ["net-timeout", "no reply within 1000 ms"] };
    const h = run([{ value: 14, node: "n0" }]);
    h.op(20, "read", null, "fail", null, { node: "n1", ...timeout });
    h.op(21, "read", null, "fail", null, { node: "n2", ...timeout });
    const result = checkCounter(h.ops);
    expect(result.summary).toBe(
      "n0's final read returned 14, but the acknowledged adds sum to 7, so it had to be 7 (1 of 3 final reads is wrong; 2 timed out).",
    );
    expect(result).toMatchObject({
      final_read_count: 1,
      final_read_timed_out_count: 2,
      final_read_failed_count: 0,
    });

    h.op(22, "read", null, "ok", 15, { node: "n3", final: true });
    h.op(23, "read", null, "fail", null, { node: "n4", final: true, error: ["crash", null] });
    expect(checkCounter(h.ops).summary).toContain(
      "(2 of 5 final reads are wrong; 2 timed out and 1 failed).",
    );

    const fine = run([{ value: 7, node: "n0" }]);
    fine.op(20, "read", null, "fail", null, { node: "n1", ...timeout });
    fine.op(21, "read", null, "fail", null, { node: "n2", ...timeout });
    expect(checkCounter(fine.ops).summary).toBe(
      "The 1 final read returned 7, the sum of the 2 acknowledged adds; 2 more final reads timed out.",
    );
  });

  it("accepts any subset of indeterminate adds, and only those", () => {
    const h = new HistoryBuilder();
    h.op(0, "add", 5, "ok");
    h.op(1, "add", 2, "info", null);
    h.op(2, "add", -3, "info", null);
    for (const [i, value] of [4, 5, 7].entries()) {
      h.op(10 + i, "read", null, "ok", value, { node: `n${i}`, final: true });
    }
    const valid = checkCounter(h.ops);
    expect(valid.valid).toBe(true);
    expect(valid.summary).toContain("4..5 or 7");
    expect(valid.summary).toContain("plus any subset of 2 indeterminate adds");
    h.op(20, "read", null, "ok", 6, { node: "n3", final: true });
    expect(checkCounter(h.ops).valid).toBe(false);
  });

  it("checks non-final reads against what could have been added by then, allowing stale reads", () => {
    const h = new HistoryBuilder();
    h.op(0, "add", 3, "ok");
    h.op(1, "read", null, "ok", 0, { node: "n1" }); // stale: fine for a gossip counter
    h.op(1, "read", null, "ok", 3, { node: "n1" });
    h.op(0, "add", 4, "ok");
    h.op(2, "read", null, "ok", 7, { node: "n0", final: true });
    expect(checkCounter(h.ops).valid).toBe(true);

    const bad = new HistoryBuilder();
    bad.op(0, "add", 3, "ok");
    const [i, c] = bad.op(1, "read", null, "ok", 6, { node: "n1" }); // more than was ever added
    bad.op(2, "read", null, "ok", 3, { node: "n0", final: true });
    const result = checkCounter(bad.ops);
    expect(result.valid).toBe(false);
    expect(result.ops).toEqual([i, c]);
    expect(result.summary).toContain(`n1's read at history index ${c} returned 6`);
    expect(result.summary).toContain("(0..3)");
  });

  it("does not let a concurrent add make a non-final read impossible", () => {
    const h = new HistoryBuilder();
    h.invoke(0, "add", 5);
    h.op(1, "read", null, "ok", 5, { node: "n1" }); // the add was invoked before this read returned
    h.complete(0, "ok", "add", 5);
    h.op(1, "read", null, "ok", 5, { node: "n1", final: true });
    expect(checkCounter(h.ops).valid).toBe(true);
  });

  it("is unknown without a successful final read", () => {
    const h = new HistoryBuilder();
    h.op(0, "add", 1, "ok");
    h.op(0, "read", null, "info", null, { final: true });
    const result = checkCounter(h.ops);
    expect(result.valid).toBe("unknown");
    expect(result.summary).toContain("No final read succeeded");
  });

  it("flags a non-integer read value as wrong", () => {
    const h = new HistoryBuilder();
    h.op(0, "add", 1, "ok");
    h.op(0, "read", null, "ok", "1", { final: true });
    expect(checkCounter(h.ops).valid).toBe(false);
  });

  it("property: a correct counter's final reads always pass; an off-by-one read always fails", () => {
    const addArb = fc.record({
      delta: fc.integer({ min: -5, max: 4 }),
      type: fc.constantFrom("ok", "fail", "info") as fc.Arbitrary<"ok" | "fail" | "info">,
      applied: fc.boolean(),
    });
    fc.assert(
      fc.property(fc.array(addArb, { maxLength: 12 }), fc.boolean(), (adds, corrupt) => {
        const h = new HistoryBuilder();
        let truth = 0;
        adds.forEach((a, p) => {
          h.op(p, "add", a.delta, a.type, a.delta);
          if (a.type === "ok" || (a.type === "info" && a.applied)) truth += a.delta;
        });
        const sums = bruteForce(
          adds.filter((a) => a.type === "ok").reduce((s, a) => s + a.delta, 0),
          adds.filter((a) => a.type === "info").map((a) => a.delta),
        );
        const read = corrupt ? Math.max(...sums) + 1 : truth;
        h.op(100, "read", null, "ok", read, { final: true });
        expect(checkCounter(h.ops).valid).toBe(!corrupt);
      }),
    );
  });
});
