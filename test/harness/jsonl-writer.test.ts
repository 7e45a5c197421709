import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import fc from "fast-check";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { type Op, parseHistory } from "../../checkers/history.js";
import type { RunClock } from "../../harness/clock.js";
import { HistoryRecorder, type OpRecord } from "../../harness/history-recorder.js";
import { JsonlWriter } from "../../harness/jsonl-writer.js";

let dir: string;
const open: Array<{ close(): void }> = [];

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "faultline-jsonl-"));
});

afterEach(() => {
  for (const w of open.splice(0)) {
    try {
      w.close();
    } catch {}
  }
  rmSync(dir, { recursive: true, force: true });
});

function writer(options: ConstructorParameters<typeof JsonlWriter>[1], name = "out.jsonl") {
  const path = join(dir, name);
  const w = new JsonlWriter(path, options);
  open.push(w);
  return { w, path, read: () => readFileSync(path, "utf8") };
}

const BIG = 1 << 30;

describe("JsonlWriter", () => {
  it("with flush_bytes 0 writes every line to the file at once", () => {
    const { w, read } = writer({ flush_bytes: 0, max_bytes: BIG });
    expect(w.write('{"a":1}')).toBe(true);
    expect(read()).toBe('{"a":1}\n');
    w.write('{"b":"é"}');
    expect(read()).toBe('{"a":1}\n{"b":"é"}\n');
  });

  it("appends to an existing file", () => {
    const path = join(dir, "out.jsonl");
    writeFileSync(path, '{"old":true}\n');
    const w = new JsonlWriter(path, { flush_bytes: 0, max_bytes: BIG });
    open.push(w);
    w.write('{"new":true}');
    expect(readFileSync(path, "utf8")).toBe('{"old":true}\n{"new":true}\n');
  });

  it("batches lines until flush_bytes are buffered", () => {
    const { w, read } = writer({ flush_bytes: 30, max_bytes: BIG });
    w.write('{"n":1}'); // 8 bytes with its newline
    w.write('{"n":2}');
    w.write('{"n":3}');
    expect(read()).toBe("");
    w.write('{"n":4}'); // 32 bytes buffered -> written
    expect(read()).toBe('{"n":1}\n{"n":2}\n{"n":3}\n{"n":4}\n');
    w.write('{"n":5}');
    expect(read()).toBe('{"n":1}\n{"n":2}\n{"n":3}\n{"n":4}\n');
  });

  it("flush() and close() write out what is buffered; close() is idempotent", () => {
    const { w, read } = writer({ flush_bytes: 1 << 20, max_bytes: BIG });
    w.write("1");
    w.flush();
    expect(read()).toBe("1\n");
    w.write("2");
    w.write("3");
    w.close();
    expect(read()).toBe("1\n2\n3\n");
    w.close();
    w.flush();
    expect(read()).toBe("1\n2\n3\n");
  });

  it("refuses writes after close", () => {
    const { w } = writer({ flush_bytes: 0, max_bytes: BIG });
    w.close();
    expect(() => w.write("x")).toThrow(/closed/);
  });

  it("with flush_interval_ms also writes a small batch out on a timer", async () => {
    const { w, read } = writer({ flush_bytes: 1 << 20, max_bytes: BIG, flush_interval_ms: 20 });
    w.write('{"t":1}');
    expect(read()).toBe("");
    const start = Date.now();
    while (read() === "" && Date.now() - start < 1000) await sleep(5);
    expect(read()).toBe('{"t":1}\n');
  });

  it("close() stops the flush timer (nothing keeps the process alive)", async () => {
    const { w, read } = writer({ flush_bytes: 1 << 20, max_bytes: BIG, flush_interval_ms: 5 });
    w.write("a");
    w.close();
    await sleep(20); // a live timer would now call flush() on a closed fd
    expect(read()).toBe("a\n");
  });

  it("property: any sequence of lines and flush sizes comes out whole and in order", () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.string({ unit: "grapheme", maxLength: 30 }).map((s) => s.replace(/\n/g, " ")),
          {
            maxLength: 40,
          },
        ),
        fc.nat(200),
        (lines, flush_bytes) => {
          const path = join(dir, `p-${Math.random()}.jsonl`);
          const w = new JsonlWriter(path, { flush_bytes, max_bytes: BIG });
          for (const line of lines) expect(w.write(line)).toBe(true);
          w.close();
          expect(readFileSync(path, "utf8")).toBe(lines.map((l) => `${l}\n`).join(""));
        },
      ),
      { numRuns: 100 },
    );
  });

  it("stops at max_bytes: writes one note line and counts the dropped lines", () => {
    const { w, read } = writer({ flush_bytes: 0, max_bytes: 20 });
    expect(w.write("0123456789")).toBe(true); // 11 bytes
    expect(w.write("abcdefgh")).toBe(true); // 20 bytes: exactly the limit
    expect(w.write("x")).toBe(false);
    expect(w.write("y")).toBe(false);
    expect(w.write("z")).toBe(false);
    expect(w.dropped_lines).toBe(3);
    const lines = read().trimEnd().split("\n");
    expect(lines.slice(0, 2)).toEqual(["0123456789", "abcdefgh"]);
    expect(lines.slice(2)).toHaveLength(1);
    expect(JSON.parse(lines[2] as string)).toEqual({ event: "truncated", max_bytes: 20 });
  });

  it("counts buffered bytes against max_bytes", () => {
    const { w, read } = writer({ flush_bytes: 1000, max_bytes: 20 });
    expect(w.write("0123456789")).toBe(true);
    expect(w.write("0123456789")).toBe(false); // 22 > 20 although nothing is on disk yet
    w.close();
    expect(read()).toBe(`0123456789\n${JSON.stringify({ event: "truncated", max_bytes: 20 })}\n`);
  });

  it("after the cut, no later line is written, even one that would still fit", () => {
    const { w, read } = writer({ flush_bytes: 0, max_bytes: 100 });
    expect(w.write("a".repeat(9))).toBe(true); // 10 bytes
    expect(w.write("b".repeat(200))).toBe(false); // too big: the cut
    // The note is 38 bytes: 48 written, so a 10-byte line would still fit under 100.
    expect(w.write("c".repeat(9))).toBe(false);
    w.close();
    const lines = read().trimEnd().split("\n");
    expect(lines.at(-1)).toBe(JSON.stringify({ event: "truncated", max_bytes: 100 }));
    expect(lines).toHaveLength(2);
    expect(w.dropped_lines).toBe(2);
  });
});

class FakeClock {
  ns = 0;
  now_ns(): number {
    return this.ns;
  }
}

describe("HistoryRecorder", () => {
  function recorder() {
    const clock = new FakeClock();
    const path = join(dir, "history.jsonl");
    const r = new HistoryRecorder(path, clock as unknown as RunClock);
    open.push(r);
    return { r, clock, path };
  }

  it("assigns dense indexes from 0 and the clock's time", () => {
    const { r, clock } = recorder();
    clock.ns = 100;
    const a = r.record({ process: 0, type: "invoke", f: "read", value: null, node: "n0" });
    clock.ns = 250;
    const b = r.record({ process: 0, type: "ok", f: "read", value: 4 });
    const c = r.record({
      process: "nemesis",
      type: "info",
      f: "start-partition",
      value: { grudge: "one" },
    });
    expect([a.index, b.index, c.index]).toEqual([0, 1, 2]);
    expect([a.time, b.time, c.time]).toEqual([100, 250, 250]);
    expect(r.ops).toEqual([a, b, c]);
    expect(r.truncated).toBe(false);
  });

  it("streams each op to the file as it is recorded (a crash keeps the history)", () => {
    const { r, path } = recorder();
    r.record({ process: 1, type: "invoke", f: "add", value: 3 });
    expect(readFileSync(path, "utf8")).toBe(`${JSON.stringify(r.ops[0])}\n`);
  });

  it("keeps index and time as the first fields, so the file reads in order", () => {
    const { r, path } = recorder();
    r.record({ process: 2, type: "invoke", f: "cas", value: { key: 1, from: 1, to: 2 } });
    expect(readFileSync(path, "utf8")).toMatch(
      /^\{"index":0,"time":0,"process":2,"type":"invoke","f":"cas"/,
    );
  });

  it("records times that never decrease with the real clock", async () => {
    const { RunClock } = await import("../../harness/clock.js");
    const path = join(dir, "real.jsonl");
    const r = new HistoryRecorder(path, new RunClock());
    open.push(r);
    for (let i = 0; i < 200; i++)
      r.record({ process: i % 3, type: i % 2 ? "ok" : "invoke", f: "x", value: i });
    for (let i = 1; i < r.ops.length; i++) {
      expect((r.ops[i] as Op).time).toBeGreaterThanOrEqual((r.ops[i - 1] as Op).time);
      expect((r.ops[i] as Op).index).toBe(i);
    }
    r.close();
    expect(parseHistory(readFileSync(path, "utf8"))).toEqual(r.ops);
  });

  it("property: parseHistory reads the file back identical to recorder.ops", () => {
    const record = fc.record(
      {
        process: fc.oneof(fc.nat(50), fc.constant("nemesis" as const)),
        type: fc.constantFrom("invoke", "ok", "fail", "info" as const),
        f: fc.string({ minLength: 1, maxLength: 8 }),
        value: fc.jsonValue({ maxDepth: 3 }),
        node: fc.constantFrom("n0", "n1", "n2"),
        error: fc.jsonValue({ maxDepth: 2 }),
        final: fc.boolean(),
      },
      { requiredKeys: ["process", "type", "f", "value"] },
    );
    fc.assert(
      fc.property(fc.array(fc.tuple(record, fc.nat(1000)), { maxLength: 30 }), (entries) => {
        const clock = new FakeClock();
        const path = join(dir, `h-${Math.random()}.jsonl`);
        const r = new HistoryRecorder(path, clock as unknown as RunClock);
        for (const [rec, dt] of entries) {
          clock.ns += dt;
          // Values arrive as JSON from the wire; JSON has no -0, which fast-check may generate.
          r.record(JSON.parse(JSON.stringify(rec)) as OpRecord);
        }
        r.close();
        expect(parseHistory(readFileSync(path, "utf8"))).toStrictEqual(r.ops);
      }),
      { numRuns: 100 },
    );
  });

  it("the history file stays readable after close", () => {
    const { r, path } = recorder();
    r.record({ process: 0, type: "invoke", f: "read", value: null });
    r.close();
    expect(parseHistory(readFileSync(path, "utf8"))).toHaveLength(1);
  });
});
