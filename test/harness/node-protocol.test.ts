import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { parseNodeLine } from "../../harness/node-protocol.js";

const KNOWN = new Set(["n0", "n1", "n2", "c4", "lin-kv"]);
const exists = (id: string) => KNOWN.has(id);

function parse(line: string) {
  return parseNodeLine(line, exists);
}

function reason(line: string): string {
  const parsed = parse(line);
  if (parsed.ok) throw new Error(`expected ${line} to be rejected`);
  return parsed.reason;
}

describe("parseNodeLine accepts", () => {
  it("a valid envelope without id", () => {
    const parsed = parse(
      '{"src":"n1","dest":"c4","body":{"type":"echo_ok","in_reply_to":1,"echo":"x"}}',
    );
    expect(parsed).toEqual({
      ok: true,
      envelope: { src: "n1", dest: "c4", body: { type: "echo_ok", in_reply_to: 1, echo: "x" } },
    });
  });

  it("a valid envelope with an integer id (which is ignored)", () => {
    const parsed = parse('{"id":17,"src":"n1","dest":"n2","body":{"type":"gossip"}}');
    expect(parsed.ok).toBe(true);
    if (parsed.ok)
      expect(parsed.envelope).toEqual({ src: "n1", dest: "n2", body: { type: "gossip" } });
  });

  it("messages to services and other nodes, keys in any order, surrounding whitespace", () => {
    expect(
      parse('  {"body":{"type":"read","key":1,"msg_id":"uuid-1"},"dest":"lin-kv","src":"n1"} ').ok,
    ).toBe(true);
    expect(parse('{"dest":"n0","src":"n1","body":{"type":"x"}}').ok).toBe(true);
  });

  it("bodies with nested, opaque data and non-integer msg_ids", () => {
    const parsed = parse(
      '{"src":"n1","dest":"n0","body":{"type":"x","msg_id":1.5,"seen":{"9":true},"list":[1,[2]]}}',
    );
    expect(parsed.ok).toBe(true);
    if (parsed.ok) expect(parsed.envelope.body.seen).toEqual({ "9": true });
  });

  it("a src that is another participant: a client's request forwarded unchanged, a relayed reply", () => {
    // Maelstrom accepts any registered src; the router applies the writer's links.
    expect(parse('{"id":9,"src":"c4","dest":"n0","body":{"type":"read","msg_id":1}}')).toEqual({
      ok: true,
      envelope: { src: "c4", dest: "n0", body: { type: "read", msg_id: 1 } },
    });
    expect(parse('{"src":"n0","dest":"c4","body":{"type":"read_ok","in_reply_to":1}}').ok).toBe(
      true,
    );
    expect(parse('{"src":"lin-kv","dest":"n2","body":{"type":"x"}}').ok).toBe(true);
  });

  it("property: every well-formed envelope round-trips", () => {
    fc.assert(
      fc.property(
        fc.constantFrom("n0", "n2", "c4", "lin-kv"),
        fc.option(fc.integer({ min: -1e9, max: 1e9 }), { nil: undefined }),
        fc.string({ minLength: 1, maxLength: 10 }),
        fc.dictionary(
          fc.string({ maxLength: 5 }).filter((k) => k !== "type" && k !== "__proto__"),
          fc.jsonValue({ maxDepth: 2 }),
          { maxKeys: 4 },
        ),
        (dest, id, type, rest) => {
          const body = { ...rest, type };
          const line = JSON.stringify({ ...(id !== undefined && { id }), src: "n1", dest, body });
          const parsed = parse(line);
          expect(parsed.ok).toBe(true);
          if (parsed.ok)
            expect(parsed.envelope).toEqual({
              src: "n1",
              dest,
              body: JSON.parse(JSON.stringify(body)),
            });
        },
      ),
      { numRuns: 200 },
    );
  });
});

describe("parseNodeLine rejects, with a readable reason", () => {
  it("a line that is not JSON, suggesting stderr for logs", () => {
    expect(reason("starting node n1...")).toMatch(/not JSON.*stderr/);
    expect(reason('{"src":"n1",')).toMatch(/not JSON/);
    expect(reason("")).toMatch(/not JSON/);
  });

  it.each([
    "[1,2]",
    "null",
    "42",
    '"str"',
    "true",
    '[{"src":"n1","dest":"n0","body":{"type":"x"}}]',
  ])("JSON that is not an object: %s", (line) => {
    expect(reason(line)).toMatch(/not a JSON object/);
  });

  it("an unknown top-level key, naming it", () => {
    expect(reason('{"src":"n1","dest":"n0","body":{"type":"x"},"type":"x"}')).toBe(
      'unknown top-level key "type"',
    );
    expect(reason('{"src":"n1","dest":"n0","body":{"type":"x"},"in_reply_to":1}')).toMatch(
      /"in_reply_to"/,
    );
  });

  it("a missing or non-string src, saying when it names no sender (a node before init)", () => {
    expect(parse('{"dest":"n0","body":{"type":"x"}}')).toEqual({
      ok: false,
      reason: '"src" must be a string',
      no_src: "missing",
    });
    expect(parse('{"src":null,"dest":"n0","body":{"type":"x"}}')).toEqual({
      ok: false,
      reason: '"src" must be a string',
      no_src: "null",
    });
    expect(parse('{"src":1,"dest":"n0","body":{"type":"x"}}')).toEqual({
      ok: false,
      reason: '"src" must be a string',
    });
  });

  it("a src that is no participant of the run; an empty one names no sender", () => {
    expect(parse('{"src":"n9","dest":"n0","body":{"type":"x"}}')).toEqual({
      ok: false,
      reason: '"src" "n9" does not exist',
    });
    expect(parse('{"src":"","dest":"n0","body":{"type":"x"}}')).toEqual({
      ok: false,
      reason: '"src" "" does not exist',
      no_src: '""',
    });
  });

  it("a missing, non-string or unknown dest", () => {
    expect(reason('{"src":"n1","body":{"type":"x"}}')).toMatch(/"dest" must be a string/);
    expect(reason('{"src":"n1","dest":3,"body":{"type":"x"}}')).toMatch(/"dest" must be a string/);
    const why = reason('{"src":"n1","dest":"n9","body":{"type":"x"}}');
    expect(why).toMatch(/"dest" "n9" does not exist/);
  });

  it.each([
    ['{"src":"n1","dest":"n0"}', "missing"],
    ['{"src":"n1","dest":"n0","body":null}', "null"],
    ['{"src":"n1","dest":"n0","body":"x"}', "string"],
    ['{"src":"n1","dest":"n0","body":[{"type":"x"}]}', "array"],
    ['{"src":"n1","dest":"n0","body":5}', "number"],
  ])("a body that is not an object: %s (%s)", (line) => {
    expect(reason(line)).toMatch(/"body" must be a JSON object/);
  });

  it.each([
    ['{"src":"n1","dest":"n0","body":{}}'],
    ['{"src":"n1","dest":"n0","body":{"msg_id":1}}'],
    ['{"src":"n1","dest":"n0","body":{"type":null}}'],
    ['{"src":"n1","dest":"n0","body":{"type":7}}'],
  ])("a body without a string type: %s", (line) => {
    expect(reason(line)).toMatch(/"body.type" must be a string/);
  });

  it.each([['"17"'], ["1.5"], ["null"], ["1e300"], ["true"], ["{}"]])(
    "a non-integer id: %s",
    (id) => {
      expect(reason(`{"id":${id},"src":"n1","dest":"n0","body":{"type":"x"}}`)).toMatch(
        /"id" must be an integer/,
      );
    },
  );

  it("asks `exists` about the src and the dest, and nothing is created", () => {
    const asked: string[] = [];
    parseNodeLine('{"src":"n1","dest":"n0","body":{"type":"x"}}', (id) => {
      asked.push(id);
      return true;
    });
    expect(asked).toEqual(["n1", "n0"]);
  });
});
