// Crash points (`--crash-after`): parsing the spec and matching message bodies.
import { describe, expect, it } from "vitest";
import { crashPointMatches, parseCrashPoint } from "../../harness/nemesis/nemesis.js";

describe("crash points", () => {
  it("parses a type, and a type with one field's JSON value", () => {
    expect(parseCrashPoint("append_entries")).toEqual({ type: "append_entries" });
    expect(parseCrashPoint("request_vote_reply.granted=true")).toEqual({
      type: "request_vote_reply",
      field: { name: "granted", value: true },
    });
    expect(parseCrashPoint("put.key=7")).toEqual({ type: "put", field: { name: "key", value: 7 } });
    expect(parseCrashPoint("put.key=abc")).toEqual({
      type: "put",
      field: { name: "key", value: "abc" },
    });
  });

  it("refuses what is not TYPE or TYPE.FIELD=VALUE, saying what it wants", () => {
    for (const bad of ["", "a b", "type.=1", "type.field", ".x=1"]) {
      expect(() => parseCrashPoint(bad)).toThrow(/is not TYPE or TYPE.FIELD=VALUE/);
    }
  });

  it("matches on the body's type, and on the field's value when one is given", () => {
    const granted = parseCrashPoint("request_vote_reply.granted=true");
    expect(crashPointMatches(granted, { type: "request_vote_reply", granted: true })).toBe(true);
    expect(crashPointMatches(granted, { type: "request_vote_reply", granted: false })).toBe(false);
    expect(crashPointMatches(granted, { type: "request_vote", granted: true })).toBe(false);
    const any = parseCrashPoint("request_vote_reply");
    expect(crashPointMatches(any, { type: "request_vote_reply", granted: false })).toBe(true);
    const object = parseCrashPoint('x.v={"a":[1,2]}');
    expect(crashPointMatches(object, { type: "x", v: { a: [1, 2] } })).toBe(true);
  });
});
