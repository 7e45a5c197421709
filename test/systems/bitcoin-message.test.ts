// Bitcoin messages and hash (protocols/bitcoin/message.ts; systems/bitcoin/README.md "Messages and
// the hash"): the README's hash vectors, lossless uint64 round trips (numbers above 2^53 must
// survive), Go-style decoding, and the fast minimum search against a plain BigInt search.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  type BitcoinType,
  bitcoinHash,
  decodeBitcoin,
  encodeBitcoin,
  joinMessage,
  minHash,
  parseLossless,
  requestMessage,
  resultMessage,
  UINT64_MAX,
} from "../../protocols/bitcoin/message.js";

describe("hash", () => {
  it.each([
    [0n, 13781283048668101583n],
    [1n, 4754799531757243342n],
    [2n, 5611725180048225792n],
  ])('Hash("msg", %i) = %i', (nonce, expected) => {
    expect(bitcoinHash("msg", nonce)).toBe(expected);
  });

  it('the job ("msg", 2) answers 4754799531757243342 at nonce 1', () => {
    expect(minHash("msg", 0n, 2n)).toEqual({ hash: 4754799531757243342n, nonce: 1n });
  });

  it("minHash equals a plain search, in safe and in BigInt ranges", () => {
    fc.assert(
      fc.property(
        fc.string({ maxLength: 12 }),
        fc.bigInt({ min: 0n, max: UINT64_MAX - 64n }),
        fc.integer({ min: 0, max: 40 }),
        (message, lower, span) => {
          const upper = lower + BigInt(span);
          let best = { hash: UINT64_MAX + 1n, nonce: 0n };
          for (let n = lower; n <= upper; n++) {
            const hash = bitcoinHash(message, n);
            if (hash < best.hash) best = { hash, nonce: n };
          }
          expect(minHash(message, lower, upper)).toEqual(best);
        },
      ),
      { numRuns: 60 },
    );
  });
});

describe("lossless JSON", () => {
  it("encodes Go's field order with bare integers", () => {
    expect(encodeBitcoin(joinMessage())).toBe(
      '{"Type":0,"Data":"","Lower":0,"Upper":0,"Hash":0,"Nonce":0}',
    );
    expect(encodeBitcoin(resultMessage(13781283048668101583n, 18446744073709551615n))).toBe(
      '{"Type":2,"Data":"","Lower":0,"Upper":0,"Hash":13781283048668101583,"Nonce":18446744073709551615}',
    );
  });

  it("round-trips every message, uint64 values above 2^53 exactly", () => {
    const uint64 = fc.bigInt({ min: 0n, max: UINT64_MAX });
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 2 }),
        fc.string(),
        uint64,
        uint64,
        uint64,
        uint64,
        (type, data, lower, upper, hash, nonce) => {
          const m = { type: type as BitcoinType, data, lower, upper, hash, nonce };
          expect(decodeBitcoin(encodeBitcoin(m))).toEqual(m);
        },
      ),
    );
  });

  it("reads what Go writes: any field case and order, absent zero fields, escapes", () => {
    expect(decodeBitcoin('{"nonce":1,"hash":4754799531757243342,"type":2}')).toEqual(
      resultMessage(4754799531757243342n, 1n),
    );
    expect(decodeBitcoin('{"Type":1,"Data":"a \\u003cb\\u003e \\"q\\"","Upper":99}')).toEqual(
      requestMessage('a <b> "q"', 0n, 99n),
    );
  });

  it("rejects numbers a uint64 cannot hold, and non-messages", () => {
    for (const bad of [
      '{"Type":2,"Hash":18446744073709551616}',
      '{"Type":2,"Hash":-1}',
      '{"Type":2,"Hash":1.5}',
      '{"Type":2,"Hash":1e3}',
      '{"Type":3}',
      '{"Type":1,"Data":5}',
      "[1]",
      '{"Type":1',
      '{"Type":1} x',
    ]) {
      expect(decodeBitcoin(bad), bad).toBeUndefined();
    }
  });

  it("keeps every number's text, and limits nesting", () => {
    const v = parseLossless('{"a":[1, -0, 3.25e-2, 12345678901234567890123]}') as {
      a: Array<{ text: string }>;
    };
    expect(v.a.map((n) => n.text)).toEqual(["1", "-0", "3.25e-2", "12345678901234567890123"]);
    expect(() => parseLossless(`${"[".repeat(100)}${"]".repeat(100)}`)).toThrow(/too deep/);
  });
});
