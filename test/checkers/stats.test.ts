import { describe, expect, it } from "vitest";
import { checkStats } from "../../checkers/stats.js";
import { HistoryBuilder } from "./build-history.js";

function sample(): HistoryBuilder {
  const h = new HistoryBuilder();
  h.op(0, "add", 1, "ok");
  h.nemesis("start-partition", { grudge: {} });
  h.op(1, "add", 2, "info", null, { error: ["net-timeout", ""] });
  h.op(0, "read", null, "ok", 3);
  h.op(6, "read", null, "fail", null);
  h.invoke(1, "add", 3); // pending at the end
  return h;
}

describe("checkStats", () => {
  it("counts ok/fail/info overall and per f, ignoring the nemesis", () => {
    const result = checkStats(sample().ops);
    expect(result.valid).toBe(true);
    expect(result).toMatchObject({
      count: 5,
      ok_count: 2,
      fail_count: 1,
      info_count: 2,
      pending_count: 1,
      ok_fraction: 0.4,
      by_f: {
        add: { count: 3, ok_count: 1, fail_count: 0, info_count: 2, pending_count: 1 },
        read: { count: 2, ok_count: 1, fail_count: 1, info_count: 0, pending_count: 0 },
      },
    });
    expect(result.summary).toBe("5 client operations: 2 ok, 1 failed, 2 indeterminate.");
  });

  it("mentions an f that never succeeded without calling it a violation", () => {
    const h = new HistoryBuilder();
    h.op(0, "read", null, "ok", 1);
    h.op(0, "cas", [1, 2], "fail", [1, 2]);
    const result = checkStats(h.ops);
    expect(result.valid).toBe(true);
    expect(result.summary).toContain("no cas op succeeded");
  });

  it("is unknown when there are no client ops or none succeeded", () => {
    const h = new HistoryBuilder();
    h.nemesis("start-partition", null);
    expect(checkStats(h.ops).valid).toBe("unknown");
    h.op(0, "read", null, "fail", null);
    const result = checkStats(h.ops);
    expect(result.valid).toBe("unknown");
    expect(result.summary).toContain("not one succeeded");
  });
});
