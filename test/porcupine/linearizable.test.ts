// The bridge from our history.jsonl schema to the Porcupine port: value shapes per model,
// fail/info semantics, and results a student can read.

import { describe, expect, it } from "vitest";
import {
  HistoryError,
  type Op,
  type OpType,
  parseHistory,
  serializeOp,
} from "../../checkers/history.js";
import { checkLinearizable } from "../../checkers/linearizable.js";

type Line = [process: number | "nemesis", type: OpType, f: string, value: unknown];

/** A history from lines in order, 10 ns apart; round-tripped through the jsonl schema. */
function history(lines: Line[]): Op[] {
  const ops = lines.map(
    ([process, type, f, value], index): Op => ({
      index,
      time: index * 10,
      process,
      type,
      f,
      value,
    }),
  );
  return parseHistory(ops.map(serializeOp).join("\n"));
}

describe("checkLinearizable", () => {
  it("a linearizable cas-register history", async () => {
    const h = history([
      [0, "invoke", "write", 1],
      [1, "invoke", "read", null],
      [0, "ok", "write", 1],
      [1, "ok", "read", 1],
      [0, "invoke", "cas", [1, 2]],
      [0, "ok", "cas", [1, 2]],
      [1, "invoke", "read", null],
      [1, "ok", "read", 2],
    ]);
    const r = await checkLinearizable(h, { model: "cas-register" });
    expect(r.valid).toBe(true);
    expect(r.summary).toBe("All 4 operations are linearizable with the cas-register model.");
    expect(r.counts).toEqual({
      operations: 4,
      checked: 4,
      dropped: 0,
      indeterminate: 0,
      partitions: 1,
    });
  });

  it("names the op that cannot be placed, the longest prefix and the state it leaves", async () => {
    const h = history([
      [0, "invoke", "write", 1],
      [0, "ok", "write", 1],
      [0, "invoke", "write", 3],
      [0, "ok", "write", 3],
      [1, "invoke", "read", null],
      [1, "ok", "read", 1],
    ]);
    const r = await checkLinearizable(h, { model: "register" });
    expect(r.valid).toBe(false);
    expect(r.summary).toBe(
      "no linearization places op 4 (read → 1); the longest linearizable prefix is ops 0, 2, leaving the state 3.",
    );
    expect(r.ops).toEqual([0, 2, 4]);
    const failures = r.failures as { longest: unknown[]; blocked: unknown }[];
    expect(failures[0]?.longest).toEqual([
      { op: 0, describe: "write 1", state: "1" },
      { op: 2, describe: "write 3", state: "3" },
    ]);
    expect(failures[0]?.blocked).toEqual({ op: 4, describe: "read → 1", state_before: "3" });
  });

  it("fail = did not happen; info and unfinished ops may happen later; nemesis ops are skipped", async () => {
    const h = history([
      [0, "invoke", "write", 1],
      [0, "fail", "write", 1],
      ["nemesis", "info", "start-partition", "halves"],
      [1, "invoke", "cas", [null, 2]],
      [1, "fail", "cas", [null, 2]],
      [2, "invoke", "write", 5],
      [2, "info", "write", 5],
      [3, "invoke", "read", null],
      [3, "info", "read", null],
      [4, "invoke", "read", null],
      [4, "ok", "read", null],
      [5, "invoke", "read", null],
      [5, "ok", "read", 5],
      [6, "invoke", "write", 7],
    ]);
    const r = await checkLinearizable(h, { model: "cas-register" });
    expect(r.valid).toBe(true);
    // write 1 and cas failed; the info read has no effect: all three are left out.
    expect(r.counts).toEqual({
      operations: 7,
      checked: 4,
      dropped: 3,
      indeterminate: 2,
      partitions: 1,
    });
    // Had the failed write happened, the read of nil could not follow it.
    const wrong = h.map((op) => (op.index === 1 ? { ...op, type: "ok" as const } : op));
    expect((await checkLinearizable(wrong, { model: "cas-register" })).valid).toBe(false);
  });

  it("kv: partitioned by key, missing keys read null", async () => {
    const h = history([
      [0, "invoke", "write", { key: "a", value: 1 }],
      [0, "ok", "write", { key: "a", value: 1 }],
      [1, "invoke", "read", { key: "b", value: null }],
      [1, "ok", "read", { key: "b", value: null }],
      [0, "invoke", "cas", { key: "a", from: 1, to: 2 }],
      [0, "ok", "cas", { key: "a", from: 1, to: 2 }],
      [1, "invoke", "read", { key: "a", value: null }],
      [1, "ok", "read", { key: "a", value: 1 }],
    ]);
    const r = await checkLinearizable(h, { model: "kv" });
    expect(r.valid).toBe(false);
    expect(r.summary).toMatch(/^key "a": no linearization places op 6 \(read "a" → 1\)/);
    expect((r.counts as { partitions: number }).partitions).toBe(2);
  });

  it("append-kv, set and fifo-queue value shapes", async () => {
    const kv = history([
      [0, "invoke", "put", { key: 1, value: "a" }],
      [0, "ok", "put", { key: 1, value: "a" }],
      [0, "invoke", "append", { key: 1, value: "b" }],
      [0, "ok", "append", { key: 1, value: "b" }],
      [1, "invoke", "get", { key: 1, value: null }],
      [1, "ok", "get", { key: 1, value: "ab" }],
      [1, "invoke", "get", { key: 2, value: null }],
      [1, "ok", "get", { key: 2, value: "" }],
    ]);
    expect((await checkLinearizable(kv, { model: "append-kv" })).valid).toBe(true);
    const set = history([
      [0, "invoke", "add", 1],
      [0, "ok", "add", 1],
      [1, "invoke", "read", null],
      [1, "ok", "read", [1]],
      [1, "invoke", "read", null],
      [1, "ok", "read", []],
    ]);
    expect((await checkLinearizable(set, { model: "set" })).valid).toBe(false);
    const queue = history([
      [0, "invoke", "enqueue", "x"],
      [0, "ok", "enqueue", "x"],
      [0, "invoke", "enqueue", "y"],
      [0, "ok", "enqueue", "y"],
      [1, "invoke", "dequeue", null],
      [1, "ok", "dequeue", "x"],
      [1, "invoke", "dequeue", null],
      [1, "ok", "dequeue", "y"],
      [1, "invoke", "dequeue", null],
      [1, "ok", "dequeue", null],
    ]);
    expect((await checkLinearizable(queue, { model: "fifo-queue" })).valid).toBe(true);
  });

  it("unknown when the budget runs out, saying what to do", async () => {
    const lines: Line[] = [];
    for (let p = 0; p < 24; p++) lines.push([p, "invoke", "write", p]);
    for (let p = 0; p < 24; p++) lines.push([p, "ok", "write", p]);
    lines.push([99, "invoke", "read", null], [99, "ok", "read", -1]);
    const r = await checkLinearizable(history(lines), {
      model: "register",
      timeout_ms: 100,
      workers: 0,
    });
    expect(r.valid).toBe("unknown");
    expect(r.summary).toMatch(
      /ran out of its 100 ms time budget before it could decide; raise --timeout/,
    );
  });

  it("malformed values and unknown models are clear errors", async () => {
    const badCas = history([
      [0, "invoke", "cas", 3],
      [0, "ok", "cas", 3],
    ]);
    await expect(checkLinearizable(badCas, { model: "cas-register" })).rejects.toThrow(
      new HistoryError(1, "op 0 (cas): the value must be [from, to] for the cas-register model"),
    );
    await expect(checkLinearizable(badCas, { model: "register" })).rejects.toThrow(
      /check with --model cas-register/,
    );
    const badGet = history([
      [0, "invoke", "get", { key: 1, value: null }],
      [0, "ok", "get", { key: 1, value: 3 }],
    ]);
    await expect(checkLinearizable(badGet, { model: "append-kv" })).rejects.toThrow(
      /history line 1: .*"<string>"/,
    );
    await expect(checkLinearizable([], { model: "paxos" })).rejects.toThrow(
      /unknown model "paxos"; use one of register/,
    );
  });

  it("an empty history is linearizable", async () => {
    const r = await checkLinearizable([], { model: "kv" });
    expect(r.valid).toBe(true);
    expect(r.summary).toBe("All 0 operations are linearizable with the kv model.");
  });
});
