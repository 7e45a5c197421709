import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { checkEcho, MAX_LISTED } from "../../checkers/echo.js";
import { HistoryBuilder } from "./build-history.js";

describe("checkEcho", () => {
  it("is valid when every ok reply echoes what was sent, objects compared structurally", () => {
    const h = new HistoryBuilder();
    h.op(0, "echo", "Please echo 1", "ok", "Please echo 1", { node: "n0" });
    h.op(1, "echo", { a: 1, b: [2, { c: 3 }] }, "ok", { b: [2, { c: 3 }], a: 1 }, { node: "n1" });
    const result = checkEcho(h.ops);
    expect(result.valid).toBe(true);
    expect(result.summary).toBe("All 2 answered echoes matched what was sent.");
    expect(result).toMatchObject({ ok_count: 2, mismatch_count: 0 });
  });

  it("names the first mismatch and the ops involved", () => {
    const h = new HistoryBuilder();
    h.op(0, "echo", "Please echo 7", "ok");
    const [i, c] = h.op(1, "echo", "Please echo 101", "ok", "Please echo 10", { node: "n3" });
    const result = checkEcho(h.ops);
    expect(result.valid).toBe(false);
    expect(result.summary).toBe(
      '1 of 2 echo replies differ from what was sent, e.g. sent "Please echo 101" but got "Please echo 10" from n3.',
    );
    expect(result.ops).toEqual([i, c]);
    expect(result.mismatches).toEqual([
      { invoke: i, complete: c, node: "n3", sent: "Please echo 101", received: "Please echo 10" },
    ]);
  });

  it("does not cry wolf over errors and timeouts: they are counted, not violations", () => {
    const h = new HistoryBuilder();
    h.op(0, "echo", "a", "ok");
    h.op(1, "echo", "b", "info", null, { error: ["net-timeout", "no reply"] });
    h.op(2, "echo", "c", "fail", null, { error: ["temporarily-unavailable", "x"] });
    h.invoke(3, "echo", "d"); // still pending when the history ended
    const result = checkEcho(h.ops);
    expect(result.valid).toBe(true);
    expect(result).toMatchObject({ fail_count: 1, info_count: 2, ok_count: 1, attempt_count: 4 });
    expect(result.summary).toContain("3 requests got an error or no reply");
    expect((result.unanswered as unknown[]).length).toBe(3);
  });

  it("is unknown when nothing was answered or nothing was asked", () => {
    const h = new HistoryBuilder();
    h.op(0, "echo", "a", "info", null);
    expect(checkEcho(h.ops).valid).toBe("unknown");
    expect(checkEcho([]).valid).toBe("unknown");
    expect(checkEcho([]).summary).toContain("no echo operations");
  });

  it("counts every mismatch but lists at most MAX_LISTED", () => {
    const h = new HistoryBuilder();
    for (let k = 0; k < MAX_LISTED + 10; k++) h.op(k, "echo", `v${k}`, "ok", `w${k}`);
    const result = checkEcho(h.ops);
    expect(result.mismatch_count).toBe(MAX_LISTED + 10);
    expect((result.mismatches as unknown[]).length).toBe(MAX_LISTED);
  });

  it("property: invalid exactly when some ok reply differs", () => {
    const opArb = fc.record({
      sent: fc.jsonValue(),
      type: fc.constantFrom("ok", "fail", "info") as fc.Arbitrary<"ok" | "fail" | "info">,
      corrupt: fc.boolean(),
    });
    fc.assert(
      fc.property(fc.array(opArb, { maxLength: 30 }), (ops) => {
        const h = new HistoryBuilder();
        let corrupted = false;
        ops.forEach((o, p) => {
          const received = o.corrupt ? { corrupted: o.sent } : o.sent;
          if (o.type === "ok" && o.corrupt) corrupted = true;
          h.op(p, "echo", o.sent, o.type, received);
        });
        const result = checkEcho(h.ops);
        if (corrupted) expect(result.valid).toBe(false);
        else expect(result.valid).toBe(ops.some((o) => o.type === "ok") ? true : "unknown");
      }),
    );
  });
});
