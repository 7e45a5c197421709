import { describe, expect, it } from "vitest";
import { checkAvailability } from "../../checkers/availability.js";
import { HistoryBuilder } from "./build-history.js";

/** 2 of 5 client ops ok: one fail, one info, one pending; the nemesis does not count. */
function sample(): HistoryBuilder {
  const h = new HistoryBuilder();
  h.op(0, "add", 1, "ok");
  h.nemesis("start-partition", { grudge: {} });
  h.op(1, "add", 2, "info", null, { error: ["net-timeout", ""] });
  h.op(0, "read", null, "ok", 3);
  h.op(6, "read", null, "fail", null);
  h.invoke(1, "add", 3);
  return h;
}

describe("checkAvailability (Maelstrom's --availability)", () => {
  it("passes when the ok fraction reaches the required one, naming the op counts", () => {
    const result = checkAvailability(sample().ops, 0.4);
    expect(result).toMatchObject({ valid: true, count: 5, ok_count: 2, ok_fraction: 0.4 });
    expect(result.summary).toBe(
      "2 of 5 client operations ok (1 failed, 2 indeterminate): availability 40.0%, meets the required 40.0%.",
    );
  });

  it("fails below the required fraction, and total needs every op ok", () => {
    expect(checkAvailability(sample().ops, 0.5)).toMatchObject({ valid: false });
    const total = checkAvailability(sample().ops, "total");
    expect(total.valid).toBe(false);
    expect(total.summary).toContain("below the required total (every op ok)");
    const h = new HistoryBuilder();
    h.op(0, "generate", null, "ok", 1);
    expect(checkAvailability(h.ops, "total").valid).toBe(true);
  });

  it("counts a history without client ops as available, and rejects a bad fraction", () => {
    expect(checkAvailability(new HistoryBuilder().ops, "total").valid).toBe(true);
    expect(() => checkAvailability(sample().ops, 2)).toThrow(RangeError);
  });
});
