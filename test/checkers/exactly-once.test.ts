import { describe, expect, it } from "vitest";
import { checkExactlyOnce } from "../../checkers/exactly-once.js";
import { HistoryBuilder } from "./build-history.js";

const A = "x 1 1 y";
const B = "x 2 1 y";

describe("exactly-once", () => {
  it("passes appends applied once and all in the final read", () => {
    const h = new HistoryBuilder();
    h.op(1, "append", { key: "k", value: A }, "ok");
    h.op(2, "append", { key: "k", value: B }, "info");
    h.op(3, "get", { key: "k", value: null }, "ok", { key: "k", value: A + B });
    h.op(4, "get", { key: "k", value: null }, "ok", { key: "k", value: A }, { final: true });
    const r = checkExactlyOnce(h.ops);
    expect(r.valid).toBe(true);
    expect(r.counts).toMatchObject({ appends_checked_for_loss: 1, violations: 0 });
  });

  it("names an append applied twice", () => {
    const h = new HistoryBuilder();
    const [w] = h.op(1, "append", { key: "k", value: A }, "ok");
    const [r] = h.op(3, "get", { key: "k", value: null }, "ok", { key: "k", value: A + A });
    const result = checkExactlyOnce(h.ops);
    expect(result.valid).toBe(false);
    expect(result.summary).toBe(
      `key "k": the get at op ${r} contains "${A}" 2 times, but op ${w} (append, ok) wrote it once: it was applied more than once`,
    );
    expect(result.ops).toEqual([w, r]);
  });

  it("names a failed write that took effect", () => {
    const h = new HistoryBuilder();
    h.op(1, "put", { key: "k", value: A }, "fail");
    h.op(3, "get", { key: "k", value: null }, "ok", { key: "k", value: A });
    const result = checkExactlyOnce(h.ops);
    expect(result.valid).toBe(false);
    expect(result.summary).toMatch(/which failed definitely: a failed write took effect$/);
  });

  it("names an acknowledged append missing from the final read", () => {
    const h = new HistoryBuilder();
    const [w] = h.op(1, "append", { key: "k", value: A }, "ok");
    h.op(2, "append", { key: "k", value: B }, "ok");
    const [r] = h.op(
      4,
      "get",
      { key: "k", value: null },
      "ok",
      { key: "k", value: B },
      { final: true },
    );
    const result = checkExactlyOnce(h.ops);
    expect(result.valid).toBe(false);
    expect(result.summary).toBe(
      `key "k": append "${A}" (op ${w}) was acknowledged ok but is missing from the final read (op ${r}), and no put came after it: an acknowledged append was lost`,
    );
  });

  it("lets a later put overwrite an append, and warns about keys with no final read", () => {
    const h = new HistoryBuilder();
    h.op(1, "append", { key: "k", value: A }, "ok");
    h.op(2, "put", { key: "k", value: B }, "info");
    h.op(4, "get", { key: "k", value: null }, "ok", { key: "k", value: B }, { final: true });
    h.op(1, "append", { key: "other", value: "x 1 2 y" }, "ok");
    const result = checkExactlyOnce(h.ops);
    expect(result.valid).toBe(true);
    expect(result.warnings).toEqual([
      `exactly-once: 1 written key(s) had no ok final read (e.g. "other"), so their acknowledged appends were not checked for loss`,
    ]);
  });
});
