// The LSP wire format and checksum (systems/lsp/README.md "The wire format"): its checksum vectors,
// the exact field order, Go-compatible decoding, and the receive-side size/checksum rules.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  ackMessage,
  cackMessage,
  checkData,
  checksum,
  connectMessage,
  dataMessage,
  decodeMessage,
  encodeMessage,
  MsgType,
} from "../../protocols/lsp/message.js";

const text = (s: string) => Buffer.from(s);

describe("checksum", () => {
  it.each([
    [1, 1, 5, text("hello"), 11701],
    [1, 101, 3, text("abc"), 40146],
    [70000, 65536, 0, Buffer.alloc(0), 61069],
    [3, 257, 2, Buffer.from([0xff, 0xff]), 65273],
    [1, 43, 5, text("hello"), 11659],
  ])("checksum(%i, %i, %i, …) = %i", (id, seq, size, payload, expected) => {
    expect(checksum(id, seq, size, payload)).toBe(expected);
  });

  it("reads the payload as little-endian words and adds int halves without carry", () => {
    // "ab" little-endian is 0x6261; big-endian would be 0x6162.
    expect(checksum(0, 0, 0, text("ab"))).toBe(~0x6261 & 0xffff);
    // 0xffffffff splits into 0xffff + 0xffff = 0x1fffe, wrapped as uint16 to 0xfffe.
    expect(checksum(0xffff_ffff, 0, 0, null)).toBe(~0xfffe & 0xffff);
    // Values are taken modulo 2^32 first (Go's uint32 conversion), negatives two's complement.
    expect(checksum(2 ** 32 + 5, 0, 0, null)).toBe(checksum(5, 0, 0, null));
    expect(checksum(-1, 0, 0, null)).toBe(checksum(0xffff_ffff, 0, 0, null));
  });

  it("always detects the proxy's corruption (first payload byte inverted)", () => {
    fc.assert(
      fc.property(
        fc.nat(1 << 20),
        fc.nat(1 << 20),
        fc.uint8Array({ minLength: 1, maxLength: 1000 }),
        (id, seq, payload) => {
          const corrupted = Uint8Array.from(payload);
          corrupted[0] = ~(corrupted[0] as number) & 0xff;
          return (
            checksum(id, seq, payload.length, payload) !==
            checksum(id, seq, payload.length, corrupted)
          );
        },
      ),
    );
  });
});

describe("encoding", () => {
  it("emits exactly the spec's field order and base64 payloads", () => {
    expect(encodeMessage(connectMessage(42)).toString()).toBe(
      '{"Type":0,"ConnID":0,"SeqNum":42,"Size":0,"Checksum":0,"Payload":null}',
    );
    expect(encodeMessage(ackMessage(1, 0)).toString()).toBe(
      '{"Type":2,"ConnID":1,"SeqNum":0,"Size":0,"Checksum":0,"Payload":null}',
    );
    expect(encodeMessage(dataMessage(1, 43, text("hello"))).toString()).toBe(
      '{"Type":1,"ConnID":1,"SeqNum":43,"Size":5,"Checksum":11659,"Payload":"aGVsbG8="}',
    );
    expect(encodeMessage(cackMessage(7, 9)).toString()).toBe(
      '{"Type":3,"ConnID":7,"SeqNum":9,"Size":0,"Checksum":0,"Payload":null}',
    );
  });

  it("round-trips every message", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 3 }),
        fc.nat(),
        fc.nat(),
        fc.option(fc.uint8Array({ maxLength: 1000 }), { nil: null }),
        (type, id, seq, payload) => {
          const message =
            type === MsgType.Data
              ? dataMessage(id, seq, payload ?? new Uint8Array(0))
              : {
                  type: type as MsgType,
                  connId: id,
                  seqNum: seq,
                  size: 0,
                  checksum: 0,
                  payload: null,
                };
          const decoded = decodeMessage(encodeMessage(message));
          expect(decoded).toEqual({
            ...message,
            payload: message.payload === null ? null : Buffer.from(message.payload),
          });
        },
      ),
    );
  });
});

describe("decoding", () => {
  it("accepts what Go's decoder accepts: any case, absent fields, null or empty payloads", () => {
    expect(decodeMessage(text('{"type":2,"connid":3,"seqnum":4}'))).toEqual(ackMessage(3, 4));
    const empty = decodeMessage(
      text('{"Type":1,"ConnID":1,"SeqNum":2,"Size":0,"Checksum":0,"Payload":""}'),
    );
    expect(empty?.payload).toEqual(Buffer.alloc(0));
    expect(decodeMessage(text('{"Type":0,"Extra":"ignored","SeqNum":9}'))).toEqual(
      connectMessage(9),
    );
  });

  it("rejects datagrams that are not LSP messages", () => {
    for (const bad of [
      "",
      "hello",
      "[1,2]",
      '{"Type":7}',
      '{"Type":1.5}',
      '{"Type":"1"}',
      '{"Type":1,"Payload":"not base64!"}',
      '{"Type":1,"Checksum":70000}',
    ]) {
      expect(decodeMessage(text(bad)), bad).toBeUndefined();
    }
  });
});

describe("receive-side checks", () => {
  const message = dataMessage(1, 43, text("hello"));

  it("accepts an intact message", () => {
    expect(checkData(message)).toEqual({ ok: true, payload: text("hello") });
  });

  it("drops a payload shorter than Size", () => {
    expect(checkData({ ...message, payload: text("he") })).toEqual({ ok: false, reason: "short" });
  });

  it("cuts a longer payload to Size, then verifies the checksum", () => {
    const longer = { ...message, payload: Buffer.concat([text("hello"), Buffer.from([2, 3, 4])]) };
    expect(checkData(longer)).toEqual({ ok: true, payload: text("hello") });
  });

  it("drops a checksum mismatch unless verification is off (the no-checksum bug)", () => {
    const corrupted = { ...message, payload: text("jello") };
    expect(checkData(corrupted)).toEqual({ ok: false, reason: "checksum" });
    expect(checkData(corrupted, false)).toEqual({ ok: true, payload: text("jello") });
  });
});
