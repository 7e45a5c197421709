import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { LineSplitter } from "../../harness/line-splitter.js";

interface Collected {
  lines: string[];
  overflows: number[];
  /** Both kinds of event in the order they happened. */
  events: string[];
  splitter: LineSplitter;
}

function collect(max_line_bytes = 1024): Collected {
  const lines: string[] = [];
  const overflows: number[] = [];
  const events: string[] = [];
  const splitter = new LineSplitter(
    max_line_bytes,
    (line) => {
      lines.push(line);
      events.push(`line:${line}`);
    },
    (seen) => {
      overflows.push(seen);
      events.push(`overflow:${seen}`);
    },
  );
  return { lines, overflows, events, splitter };
}

/** Cuts `bytes` at the given (sorted, deduplicated) positions. */
function chunksAt(bytes: Buffer, cuts: readonly number[]): Buffer[] {
  const points = [...new Set(cuts.filter((c) => c > 0 && c < bytes.length))].sort((a, b) => a - b);
  const out: Buffer[] = [];
  let start = 0;
  for (const p of points) {
    out.push(bytes.subarray(start, p));
    start = p;
  }
  out.push(bytes.subarray(start));
  return out;
}

function feed(c: Collected, chunks: readonly Buffer[], end = true): void {
  for (const chunk of chunks) c.splitter.push(chunk);
  if (end) c.splitter.end();
}

describe("LineSplitter", () => {
  it("rejects a non-positive limit", () => {
    expect(
      () =>
        new LineSplitter(
          0,
          () => {},
          () => {},
        ),
    ).toThrow(RangeError);
    expect(
      () =>
        new LineSplitter(
          -1,
          () => {},
          () => {},
        ),
    ).toThrow(RangeError);
    expect(
      () =>
        new LineSplitter(
          Number.NaN,
          () => {},
          () => {},
        ),
    ).toThrow(RangeError);
  });

  it("emits each complete line once, without its newline", () => {
    const c = collect();
    feed(c, [Buffer.from("a\nbb\n\nccc\n")], false);
    expect(c.lines).toEqual(["a", "bb", "", "ccc"]);
    c.splitter.end();
    expect(c.lines).toEqual(["a", "bb", "", "ccc"]); // a trailing newline leaves nothing pending
  });

  it("holds a partial line until its newline arrives", () => {
    const c = collect();
    c.splitter.push(Buffer.from('{"src":'));
    expect(c.lines).toEqual([]);
    c.splitter.push(Buffer.from('"n0"}'));
    expect(c.lines).toEqual([]);
    c.splitter.push(Buffer.from("\nnext"));
    expect(c.lines).toEqual(['{"src":"n0"}']);
  });

  it("splits a line at every byte position into the same line", () => {
    const text = '{"src":"n1","dest":"c0","body":{"type":"echo_ok","echo":"héllo ✓ 🙂"}}\nsecond\n';
    const bytes = Buffer.from(text);
    for (let cut = 0; cut <= bytes.length; cut++) {
      const c = collect();
      feed(c, [bytes.subarray(0, cut), bytes.subarray(cut)]);
      expect(c.lines, `cut at byte ${cut}`).toEqual([
        '{"src":"n1","dest":"c0","body":{"type":"echo_ok","echo":"héllo ✓ 🙂"}}',
        "second",
      ]);
    }
  });

  it("decodes a multi-byte UTF-8 character split across one-byte chunks", () => {
    const bytes = Buffer.from("€🙂é\n");
    const c = collect();
    feed(
      c,
      [...bytes].map((b) => Buffer.from([b])),
    );
    expect(c.lines).toEqual(["€🙂é"]);
  });

  it("property: any chunking of any list of lines yields the same lines", () => {
    const line = fc
      .string({ unit: "grapheme", maxLength: 40 })
      .map((s) => s.replace(/[\r\n]/g, ""));
    fc.assert(
      fc.property(
        fc.array(line, { maxLength: 12 }),
        fc.boolean(),
        fc.array(fc.nat(), { maxLength: 30 }),
        (lines, crlf, rawCuts) => {
          const text = lines.map((l) => `${l}${crlf ? "\r\n" : "\n"}`).join("");
          const bytes = Buffer.from(text, "utf8");
          const cuts = rawCuts.map((c) => (bytes.length === 0 ? 0 : c % bytes.length));
          const c = collect(4096);
          feed(c, chunksAt(bytes, cuts));
          expect(c.lines).toEqual(lines);
          expect(c.overflows).toEqual([]);
        },
      ),
      { numRuns: 300 },
    );
  });

  it("strips the \\r of a CRLF line ending, but only at the end of a line", () => {
    const c = collect();
    feed(c, [Buffer.from("one\r"), Buffer.from("\ntwo\r\n\r\nin\rside\n")]);
    expect(c.lines).toEqual(["one", "two", "", "in\rside"]);
  });

  it("end() emits a last line that has no newline, once", () => {
    const c = collect();
    feed(c, [Buffer.from("first\nla"), Buffer.from("st")], false);
    expect(c.lines).toEqual(["first"]);
    c.splitter.end();
    expect(c.lines).toEqual(["first", "last"]);
    c.splitter.end();
    expect(c.lines).toEqual(["first", "last"]);
  });

  it("end() on an empty stream emits nothing", () => {
    const c = collect();
    c.splitter.end();
    expect(c.lines).toEqual([]);
    expect(c.overflows).toEqual([]);
  });

  it("accepts a line of exactly max_line_bytes (the newline does not count)", () => {
    const c = collect(8);
    feed(c, [Buffer.from("12345678\n123456789\nok\n")]);
    expect(c.lines).toEqual(["12345678", "ok"]);
    expect(c.overflows).toEqual([9]);
  });

  it("reports an over-long line once, with its size, and recovers at the next line", () => {
    const c = collect(10);
    const long = "x".repeat(25);
    // The long line arrives in several chunks, none of which alone exceeds the limit.
    feed(c, [
      Buffer.from("before\nxxxxxxx"),
      Buffer.from("xxxxxxxxx"),
      Buffer.from(`${long.slice(16)}\nafter\n`),
    ]);
    expect(c.events).toEqual(["line:before", "overflow:25", "line:after"]);
  });

  it("reports an over-long line in a single chunk and keeps the lines around it", () => {
    const c = collect(4);
    feed(c, [Buffer.from("ab\nabcdefghij\ncd\n")]);
    expect(c.events).toEqual(["line:ab", "overflow:10", "line:cd"]);
  });

  it("reports an over-long last line without a newline on end()", () => {
    const c = collect(4);
    feed(c, [Buffer.from("ok\n"), Buffer.from("toolong"), Buffer.from("still")], false);
    expect(c.events).toEqual(["line:ok"]);
    c.splitter.end();
    expect(c.events).toEqual(["line:ok", "overflow:12"]);
  });

  it("counts the \\r of an over-long CRLF line in its size", () => {
    const c = collect(4);
    feed(c, [Buffer.from("abcde\r\nok\r\n")]);
    expect(c.events).toEqual(["overflow:6", "line:ok"]);
  });

  it("end(onFragment): an unterminated last line goes to onFragment, not onLine", () => {
    const c = collect();
    feed(c, [Buffer.from('{"a":1}\n{"b":')], false);
    const fragments: string[] = [];
    c.splitter.end((f) => fragments.push(f));
    expect(c.events).toEqual(['line:{"a":1}']);
    expect(fragments).toEqual(['{"b":']);
    // Nothing pending: onFragment is not called.
    c.splitter.end((f) => fragments.push(f));
    expect(fragments).toHaveLength(1);
  });

  it("property: over-long lines are each reported once and short lines survive any chunking", () => {
    const max = 16;
    const entry = fc.oneof(
      fc.string({ unit: fc.constantFrom("a", "b", "é"), maxLength: 8 }), // ≤ 16 bytes
      fc.integer({ min: max + 1, max: 200 }).map((n) => "z".repeat(n)),
    );
    fc.assert(
      fc.property(
        fc.array(entry, { maxLength: 10 }),
        fc.array(fc.nat(), { maxLength: 20 }),
        (entries, rawCuts) => {
          const bytes = Buffer.from(entries.map((e) => `${e}\n`).join(""));
          const cuts = rawCuts.map((c) => (bytes.length === 0 ? 0 : c % bytes.length));
          const c = collect(max);
          feed(c, chunksAt(bytes, cuts));
          const expected = entries.map((e) =>
            Buffer.byteLength(e) > max ? `overflow:${Buffer.byteLength(e)}` : `line:${e}`,
          );
          expect(c.events).toEqual(expected);
        },
      ),
      { numRuns: 200 },
    );
  });
});
