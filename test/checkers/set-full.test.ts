import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { checkSetFull } from "../../checkers/set-full.js";
import { HistoryBuilder } from "./build-history.js";

const finalRead = (h: HistoryBuilder, p: number, node: string, value: unknown[]) =>
  h.op(p, "read", null, "ok", value, { node, final: true });

describe("checkSetFull", () => {
  it("is valid when every acknowledged value is in every final read", () => {
    const h = new HistoryBuilder();
    h.op(0, "broadcast", 1, "ok", 1, { node: "n0" });
    h.op(1, "broadcast", 2, "ok", 2, { node: "n1" });
    h.op(0, "read", null, "ok", [1], { node: "n0" }); // a partial read along the way is fine
    finalRead(h, 0, "n0", [2, 1]);
    finalRead(h, 1, "n1", [1, 2]);
    const result = checkSetFull(h.ops, { addF: "broadcast" });
    expect(result.valid).toBe(true);
    expect(result.summary).toBe(
      "All 2 acknowledged broadcasts are in every one of the 2 final reads on n0, n1.",
    );
    expect(result).toMatchObject({ acknowledged_count: 2, final_read_count: 2, lost_count: 0 });
  });

  it("names the values a final read lost and the node", () => {
    const h = new HistoryBuilder();
    for (let v = 1; v <= 5; v++) h.op(0, "broadcast", v, "ok", v, { node: "n0" });
    finalRead(h, 0, "n0", [1, 2, 3, 4, 5]);
    const [, c] = finalRead(h, 1, "n2", [1, 3, 5]);
    const result = checkSetFull(h.ops, { addF: "broadcast" });
    expect(result.valid).toBe(false);
    expect(result.summary).toBe(
      "2 of 5 acknowledged broadcasts are missing from n2's final read: 2, 4.",
    );
    expect(result.lost).toEqual([
      { value: 2, acknowledged: true, known_index: 3, missing_from: [{ node: "n2", op: c }] },
      { value: 4, acknowledged: true, known_index: 7, missing_from: [{ node: "n2", op: c }] },
    ]);
    expect(result.ops).toEqual([3, c, 7]); // where each lost value became known, and the read

    finalRead(h, 2, "n4", [5]);
    expect(checkSetFull(h.ops, { addF: "broadcast" }).summary).toBe(
      "4 of 5 acknowledged broadcasts are missing from final reads (n2 lacks 2, n4 lacks 4): 1, 2, 3, 4.",
    );
  });

  it("lets an indeterminate add appear or not, but not vanish once read", () => {
    const h = new HistoryBuilder();
    h.op(0, "add", 1, "ok", 1, { node: "n0" });
    h.op(1, "add", 2, "info", null, { node: "n1" });
    h.op(2, "add", 3, "info", null, { node: "n2" });
    finalRead(h, 0, "n0", [1, 3]);
    finalRead(h, 1, "n1", [1, 3]);
    expect(checkSetFull(h.ops, { addF: "add" }).valid).toBe(true);
    finalRead(h, 2, "n2", [1]); // 3 was seen by earlier final reads, then this one misses it
    const result = checkSetFull(h.ops, { addF: "add" });
    expect(result.valid).toBe(false);
    expect(result.summary).toBe(
      "1 value that was acknowledged or already read is missing from n2's final read: 3.",
    );
  });

  it("does not count a final read concurrent with the moment a value became known", () => {
    const h = new HistoryBuilder();
    h.op(0, "broadcast", 1, "ok", 1, { node: "n0" });
    h.invoke(1, "broadcast", 2, { node: "n1" });
    h.invoke(2, "read", null, { node: "n2", final: true }); // invoked before 2 was acknowledged
    h.complete(1, "ok", "broadcast", 2);
    h.complete(2, "ok", "read", [1], { final: true });
    finalRead(h, 3, "n3", [1, 2]);
    expect(checkSetFull(h.ops, { addF: "broadcast" }).valid).toBe(true);
  });

  it("flags values nobody added, and values whose only add failed", () => {
    const h = new HistoryBuilder();
    h.op(0, "broadcast", 1, "ok", 1, { node: "n0" });
    h.op(1, "broadcast", 2, "fail", 2, { node: "n0", error: ["temporarily-unavailable", ""] });
    const [, c] = h.op(0, "read", null, "ok", [1, 99], { node: "n0" });
    finalRead(h, 0, "n0", [1, 2]);
    const result = checkSetFull(h.ops, { addF: "broadcast" });
    expect(result.valid).toBe(false);
    expect(result.summary).toBe(
      `A read at history index ${c + 2} returned 2, whose every add failed (2 such values).`,
    );
    expect(result.unexpected).toEqual([
      { value: 2, reason: "every add failed", ops: [c + 2] },
      { value: 99, reason: "never added", ops: [c] },
    ]);
  });

  it("flags a read listing a value twice", () => {
    const h = new HistoryBuilder();
    h.op(0, "add", 1, "ok", 1, { node: "n0" });
    h.op(0, "add", 1, "ok", 1, { node: "n0" }); // adding twice is fine; reading twice is not
    const [, c] = finalRead(h, 0, "n0", [1, 1]);
    const result = checkSetFull(h.ops, { addF: "add" });
    expect(result.valid).toBe(false);
    expect(result.summary).toBe(`A read on n0 at history index ${c} lists 1 more than once.`);
    expect(result.duplicated).toEqual([{ node: "n0", op: c, values: [1] }]);
  });

  it("is unknown without a successful final read, and says whether any was tried", () => {
    const h = new HistoryBuilder();
    h.op(0, "broadcast", 1, "ok", 1, { node: "n0" });
    h.op(0, "read", null, "ok", [1], { node: "n0" });
    expect(checkSetFull(h.ops, { addF: "broadcast" })).toMatchObject({
      valid: "unknown",
      summary:
        "The history has no final reads, so whether every acknowledged broadcast reached every node is unknown.",
    });
    h.op(0, "read", null, "fail", null, { node: "n0", final: true });
    expect(checkSetFull(h.ops, { addF: "broadcast" }).summary).toContain(
      "None of the 1 final read succeeded",
    );
  });

  it("mentions a node that gave no final read", () => {
    const h = new HistoryBuilder();
    h.op(0, "broadcast", 1, "ok", 1, { node: "n0" });
    h.op(1, "broadcast", 2, "ok", 2, { node: "n1" });
    finalRead(h, 0, "n0", [1, 2]);
    h.op(1, "read", null, "info", null, { node: "n1", final: true });
    const result = checkSetFull(h.ops, { addF: "broadcast" });
    expect(result.valid).toBe(true);
    expect(result.nodes_without_final_read).toEqual(["n1"]);
    expect(result.summary).toContain("n1 gave no successful final read and was not checked");
  });

  it("reports stale reads and stable latency, and fails on them only when asked to", () => {
    const h = new HistoryBuilder();
    h.op(0, "broadcast", 1, "ok", 1, { node: "n0" }); // known at t=2 ms
    h.op(1, "read", null, "ok", [], { node: "n1" }); // invoked at t=3 ms: stale
    h.op(1, "read", null, "ok", [1], { node: "n1" });
    finalRead(h, 0, "n0", [1]);
    const result = checkSetFull(h.ops, { addF: "broadcast" });
    expect(result.valid).toBe(true);
    expect(result).toMatchObject({
      stable_count: 1,
      stale_count: 1,
      never_read_count: 0,
      worst_stale: [{ value: 1, stale_ms: 1, last_missed_by: 2 }],
      stable_latency_ms: { min: 1, p50: 1, p95: 1, p99: 1, max: 1 },
    });
    const strict = checkSetFull(h.ops, { addF: "broadcast", linearizable: true });
    expect(strict.valid).toBe(false);
    expect(strict.summary).toBe(
      "1 element was missed by a read after becoming known (stale reads).",
    );
  });

  it("agrees in number with one acknowledged value and one final read", () => {
    const h = new HistoryBuilder();
    h.op(0, "broadcast", 1, "ok", 1, { node: "n0" });
    finalRead(h, 0, "n0", [1]);
    expect(checkSetFull(h.ops, { addF: "broadcast" }).summary).toBe(
      "The 1 acknowledged broadcast is in the final read on n0.",
    );
  });

  it("never counts a lost value as stable, nor in the stable latency", () => {
    const h = new HistoryBuilder();
    h.op(0, "broadcast", 1, "ok", 1, { node: "n0" });
    h.op(1, "broadcast", 2, "ok", 2, { node: "n1" });
    for (let k = 0; k < 50; k++) h.op(2, "read", null, "ok", [1, 2], { node: "n2" });
    finalRead(h, 0, "n0", [2]); // lacks 1 ...
    finalRead(h, 1, "n1", [1, 2]); // ... though the latest read has it
    const result = checkSetFull(h.ops, { addF: "broadcast" });
    expect(result).toMatchObject({ attempt_count: 2, lost_count: 1, stable_count: 1 });
    expect(result.lost).toMatchObject([{ value: 1 }]);
    // Only value 2 is stable, at once (every read after its ack saw it); value 1's "latency"
    // would have run to the last final read.
    expect(result.stable_latency_ms).toEqual({ min: 0, p50: 0, p95: 0, p99: 0, max: 0 });
  });

  it("lists the stable latency quantiles in numeric order, also through JSON", () => {
    const h = new HistoryBuilder();
    for (let v = 0; v < 10; v++) {
      h.op(0, "broadcast", v, "ok", v, { node: "n0" });
      h.op(1, "read", null, "ok", [], { node: "n1" }); // each value is stale for a while
    }
    finalRead(h, 0, "n0", [...Array(10).keys()]);
    const stored = JSON.parse(JSON.stringify(checkSetFull(h.ops, { addF: "broadcast" })));
    expect(Object.keys(stored.stable_latency_ms)).toEqual(["min", "p50", "p95", "p99", "max"]);
    const values = Object.values(stored.stable_latency_ms) as number[];
    expect(values).toEqual([...values].sort((a, b) => a - b));
    expect(values[0]).toBeLessThan(values[4] as number);
  });

  it("property: a correct system passes; dropping one acknowledged value from one final read fails", () => {
    const addArb = fc.record({
      type: fc.constantFrom("ok", "info", "fail") as fc.Arbitrary<"ok" | "info" | "fail">,
      applied: fc.boolean(),
    });
    fc.assert(
      fc.property(
        fc.array(addArb, { minLength: 1, maxLength: 20 }),
        fc.integer({ min: 1, max: 5 }),
        fc.nat(),
        (adds, nodes, pick) => {
          const h = new HistoryBuilder();
          const present: number[] = [];
          adds.forEach((a, v) => {
            h.op(v % nodes, "add", v, a.type, v, { node: `n${v % nodes}` });
            if (a.type === "ok" || (a.type === "info" && a.applied)) present.push(v);
          });
          for (let n = 0; n < nodes; n++) finalRead(h, 100 + n, `n${n}`, [...present].reverse());
          expect(checkSetFull(h.ops, { addF: "add" }).valid).toBe(true);

          const acked = adds.flatMap((a, v) => (a.type === "ok" ? [v] : []));
          if (acked.length === 0) return;
          const victim = acked[pick % acked.length] as number;
          finalRead(
            h,
            200,
            "n0",
            present.filter((v) => v !== victim),
          );
          const result = checkSetFull(h.ops, { addF: "add" });
          expect(result.valid).toBe(false);
          expect(result.lost).toEqual([expect.objectContaining({ value: victim })]);
        },
      ),
    );
  });

  it('keeps the number 1 and the string "1" apart', () => {
    const h = new HistoryBuilder();
    h.op(0, "add", 1, "ok", 1, { node: "n0" });
    finalRead(h, 0, "n0", ["1"]);
    const result = checkSetFull(h.ops, { addF: "add" });
    expect(result).toMatchObject({ lost_count: 1, unexpected_count: 1 });
  });

  it("property: the timeline's stable/stale/never-read counts match a brute-force count", () => {
    // Adds of 0..k-1 (all ok), interleaved with reads returning random subsets of the values.
    const stepArb = fc.oneof(
      fc.record({ add: fc.constant(true) }),
      fc.record({ read: fc.array(fc.nat({ max: 7 }), { maxLength: 8 }) }),
    );
    fc.assert(
      fc.property(fc.array(stepArb, { maxLength: 30 }), (steps) => {
        const h = new HistoryBuilder();
        let next = 0;
        const knownAt = new Map<number, number>();
        const reads: Array<{ invoke: number; values: Set<number> }> = [];
        for (const step of steps) {
          if ("add" in step) {
            const [, c] = h.op(0, "add", next, "ok", next, { node: "n0" });
            knownAt.set(next++, c);
          } else {
            const values = [...new Set(step.read.filter((v) => v < next))];
            const [i, c] = h.op(1, "read", null, "ok", values, { node: "n1" });
            reads.push({ invoke: i, values: new Set(values) });
            for (const v of values)
              if (!knownAt.has(v) || (knownAt.get(v) as number) > c) knownAt.set(v, c);
          }
        }
        let stable = 0;
        let stale = 0;
        let neverRead = 0;
        for (const [v, known] of knownAt) {
          const after = reads.filter((r) => r.invoke > known);
          if (after.length === 0) neverRead++;
          else if ((after.at(-1) as { values: Set<number> }).values.has(v)) {
            stable++;
            if (after.some((r) => !r.values.has(v))) stale++;
          }
        }
        const result = checkSetFull(h.ops, { addF: "add" });
        expect(result).toMatchObject({
          stable_count: stable,
          stale_count: stale,
          never_read_count: neverRead,
        });
      }),
    );
  });
});
