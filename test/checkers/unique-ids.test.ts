import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { checkUniqueIds, MAX_LISTED } from "../../checkers/unique-ids.js";
import { HistoryBuilder } from "./build-history.js";

describe("checkUniqueIds", () => {
  it("is valid for distinct ids and reports counts and range", () => {
    const h = new HistoryBuilder();
    h.op(0, "generate", null, "ok", "n0-a-0", { node: "n0" });
    h.op(1, "generate", null, "ok", "n1-b-0", { node: "n1" });
    h.op(2, "generate", null, "info", null, { node: "n2" });
    const result = checkUniqueIds(h.ops);
    expect(result.valid).toBe(true);
    expect(result).toMatchObject({
      attempted_count: 3,
      acknowledged_count: 2,
      duplicated_count: 0,
      range: ["n0-a-0", "n1-b-0"],
    });
    expect(result.summary).toBe(
      "All 2 acknowledged ids are distinct (3 generate calls attempted).",
    );
  });

  it("finds duplicates across nodes and names the ops and nodes", () => {
    const h = new HistoryBuilder();
    const [, a] = h.op(0, "generate", null, "ok", 0, { node: "n0" });
    const [, b] = h.op(1, "generate", null, "ok", 0, { node: "n1" });
    h.op(2, "generate", null, "ok", 1, { node: "n2" });
    const result = checkUniqueIds(h.ops);
    expect(result.valid).toBe(false);
    expect(result.ops).toEqual([a, b]);
    expect(result.duplicated).toEqual([{ id: 0, count: 2, ops: [a, b], nodes: ["n0", "n1"] }]);
    expect(result.summary).toBe(
      "1 id was handed out more than once among 3 acknowledged generate calls, e.g. 0 (2 times, by n0, n1).",
    );
    expect(result.range).toEqual([0, 1]);
  });

  it("compares structured ids by value", () => {
    const h = new HistoryBuilder();
    h.op(0, "generate", null, "ok", { node: "n0", seq: 1 });
    h.op(1, "generate", null, "ok", { seq: 1, node: "n0" });
    expect(checkUniqueIds(h.ops).valid).toBe(false);
  });

  it("lists the MAX_LISTED most duplicated ids, most frequent first", () => {
    const h = new HistoryBuilder();
    let p = 0;
    for (let id = 0; id < MAX_LISTED + 5; id++) {
      h.op(p++, "generate", null, "ok", id);
      h.op(p++, "generate", null, "ok", id);
    }
    h.op(p++, "generate", null, "ok", 999);
    h.op(p++, "generate", null, "ok", 999);
    h.op(p++, "generate", null, "ok", 999);
    const result = checkUniqueIds(h.ops);
    expect(result.duplicated_count).toBe(MAX_LISTED + 6);
    const listed = result.duplicated as Array<{ id: unknown; count: number }>;
    expect(listed).toHaveLength(MAX_LISTED);
    expect(listed[0]).toMatchObject({ id: 999, count: 3 });
  });

  it("is unknown when no id was acknowledged", () => {
    const h = new HistoryBuilder();
    h.op(0, "generate", null, "fail", null);
    expect(checkUniqueIds(h.ops).valid).toBe("unknown");
    expect(checkUniqueIds([]).valid).toBe("unknown");
  });

  it("property: valid exactly when the acknowledged ids are distinct", () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 0, max: 40 }), { minLength: 1, maxLength: 30 }),
        (ids) => {
          const h = new HistoryBuilder();
          for (const [p, id] of ids.entries()) h.op(p, "generate", null, "ok", id);
          const result = checkUniqueIds(h.ops);
          expect(result.valid).toBe(new Set(ids).size === ids.length);
        },
      ),
    );
  });
});
