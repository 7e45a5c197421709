// Bitcoin miner messages and hash (systems/bitcoin/README.md "Messages and the hash"). Lower,
// Upper, Hash and Nonce are full-range uint64, so these messages are parsed with a small lossless
// JSON reader (numbers become BigInt) and written with bare integer literals — JSON.parse/stringify
// would round 13781283048668101583 to a double. The harness's mining oracle imports the hash from
// here.
import * as crypto from "node:crypto";

export const BitcoinType = { Join: 0, Request: 1, Result: 2 } as const;
export type BitcoinType = (typeof BitcoinType)[keyof typeof BitcoinType];

export interface BitcoinMessage {
  type: BitcoinType;
  data: string;
  lower: bigint;
  upper: bigint;
  hash: bigint;
  nonce: bigint;
}

export const UINT64_MAX = (1n << 64n) - 1n;

export function joinMessage(): BitcoinMessage {
  return { type: BitcoinType.Join, data: "", lower: 0n, upper: 0n, hash: 0n, nonce: 0n };
}

export function requestMessage(data: string, lower: bigint, upper: bigint): BitcoinMessage {
  return { type: BitcoinType.Request, data, lower, upper, hash: 0n, nonce: 0n };
}

export function resultMessage(hash: bigint, nonce: bigint): BitcoinMessage {
  return { type: BitcoinType.Result, data: "", lower: 0n, upper: 0n, hash, nonce };
}

/** Go's field order; integers written bare, never quoted or in exponent form. */
export function encodeBitcoin(m: BitcoinMessage): string {
  return `{"Type":${m.type},"Data":${JSON.stringify(m.data)},"Lower":${m.lower},"Upper":${m.upper},"Hash":${m.hash},"Nonce":${m.nonce}}`;
}

/**
 * Parses a bitcoin message; undefined when it is not one. Field names match case-insensitively
 * (as Go's decoder does), absent fields are zero, unknown fields are ignored; the four uint64
 * fields must be integers in [0, 2^64).
 */
export function decodeBitcoin(text: string): BitcoinMessage | undefined {
  let value: LosslessValue;
  try {
    value = parseLossless(text);
  } catch {
    return undefined;
  }
  if (!isObject(value)) return undefined;
  const fields = new Map<string, LosslessValue>();
  for (const [key, v] of Object.entries(value)) fields.set(key.toLowerCase(), v);
  const uint = (name: string, max: bigint): bigint | undefined => {
    const v = fields.get(name);
    if (v === undefined || v === null) return 0n;
    if (!(v instanceof LosslessNumber) || !/^-?(0|[1-9][0-9]*)$/.test(v.text)) return undefined;
    const n = BigInt(v.text);
    return n >= 0n && n <= max ? n : undefined;
  };
  const type = uint("type", 2n);
  const lower = uint("lower", UINT64_MAX);
  const upper = uint("upper", UINT64_MAX);
  const hash = uint("hash", UINT64_MAX);
  const nonce = uint("nonce", UINT64_MAX);
  const data = fields.get("data") ?? "";
  if (
    type === undefined ||
    lower === undefined ||
    upper === undefined ||
    hash === undefined ||
    nonce === undefined ||
    (typeof data !== "string" && data !== null)
  ) {
    return undefined;
  }
  return { type: Number(type) as BitcoinType, data: data ?? "", lower, upper, hash, nonce };
}

/**
 * Hash(msg, nonce): SHA-256 of "<msg> <nonce>", first 8 bytes big-endian (systems/bitcoin/README.md
 * "Messages and the hash").
 */
export function bitcoinHash(message: string, nonce: bigint): bigint {
  return digest(`${message} ${nonce}`).readBigUInt64BE(0);
}

const hasOneShotHash = typeof (crypto as { hash?: unknown }).hash === "function";

function digest(text: string): Buffer {
  // crypto.hash (Node >= 20.12) is about three times faster than createHash for short inputs.
  return hasOneShotHash
    ? (crypto as unknown as { hash(alg: string, data: string, enc: "buffer"): Buffer }).hash(
        "sha256",
        text,
        "buffer",
      )
    : crypto.createHash("sha256").update(text).digest();
}

export interface MinHash {
  hash: bigint;
  nonce: bigint;
}

/**
 * The minimum Hash(message, n) over n in [lower, upper] (inclusive), the smallest such nonce on
 * ties. Compares the two 32-bit halves as numbers and makes one BigInt at the end: far faster
 * than a BigInt per nonce.
 */
export function minHash(message: string, lower: bigint, upper: bigint): MinHash {
  if (upper < lower) throw new RangeError(`empty range [${lower}, ${upper}]`);
  let bestHi = Number.POSITIVE_INFINITY;
  let bestLo = 0;
  let bestNonce = lower;
  const prefix = `${message} `;
  if (upper <= BigInt(Number.MAX_SAFE_INTEGER)) {
    const to = Number(upper);
    let best = Number(lower);
    for (let n = Number(lower); n <= to; n++) {
      const d = digest(prefix + n);
      const hi = d.readUInt32BE(0);
      const lo = d.readUInt32BE(4);
      if (hi < bestHi || (hi === bestHi && lo < bestLo)) {
        bestHi = hi;
        bestLo = lo;
        best = n;
      }
    }
    bestNonce = BigInt(best);
  } else {
    for (let n = lower; n <= upper; n++) {
      const d = digest(prefix + n);
      const hi = d.readUInt32BE(0);
      const lo = d.readUInt32BE(4);
      if (hi < bestHi || (hi === bestHi && lo < bestLo)) {
        bestHi = hi;
        bestLo = lo;
        bestNonce = n;
      }
    }
  }
  return { hash: (BigInt(bestHi) << 32n) | BigInt(bestLo), nonce: bestNonce };
}

/** The smaller of two results; on equal hashes the smaller nonce. */
export function better(a: MinHash, b: MinHash): MinHash {
  if (a.hash !== b.hash) return a.hash < b.hash ? a : b;
  return a.nonce <= b.nonce ? a : b;
}

// ---- a small lossless JSON reader ------------------------------------------------------------

/** A JSON number kept as its source text. */
export class LosslessNumber {
  constructor(readonly text: string) {}
}

export type LosslessValue =
  | null
  | boolean
  | string
  | LosslessNumber
  | LosslessValue[]
  | { [key: string]: LosslessValue };

function isObject(v: LosslessValue): v is { [key: string]: LosslessValue } {
  return typeof v === "object" && v !== null && !Array.isArray(v) && !(v instanceof LosslessNumber);
}

/** Deepest nesting accepted: bitcoin messages are flat; this bounds recursion on hostile input. */
const MAX_DEPTH = 32;

/** Parses JSON (RFC 8259), keeping every number's text; throws SyntaxError on bad input. */
export function parseLossless(text: string): LosslessValue {
  let i = 0;
  const fail = (what: string): never => {
    throw new SyntaxError(`${what} at offset ${i}`);
  };
  const ws = () => {
    while (i < text.length && " \t\n\r".includes(text[i] as string)) i++;
  };
  const value = (depth: number): LosslessValue => {
    if (depth > MAX_DEPTH) fail("nesting too deep");
    ws();
    const c = text[i];
    if (c === "{") {
      i++;
      const out: { [key: string]: LosslessValue } = {};
      ws();
      if (text[i] === "}") {
        i++;
        return out;
      }
      for (;;) {
        ws();
        if (text[i] !== '"') fail("expected a key");
        const key = string();
        ws();
        if (text[i++] !== ":") fail("expected ':'");
        out[key] = value(depth + 1);
        ws();
        if (text[i] === ",") {
          i++;
          continue;
        }
        if (text[i++] !== "}") fail("expected ',' or '}'");
        return out;
      }
    }
    if (c === "[") {
      i++;
      const out: LosslessValue[] = [];
      ws();
      if (text[i] === "]") {
        i++;
        return out;
      }
      for (;;) {
        out.push(value(depth + 1));
        ws();
        if (text[i] === ",") {
          i++;
          continue;
        }
        if (text[i++] !== "]") fail("expected ',' or ']'");
        return out;
      }
    }
    if (c === '"') return string();
    if (text.startsWith("true", i)) {
      i += 4;
      return true;
    }
    if (text.startsWith("false", i)) {
      i += 5;
      return false;
    }
    if (text.startsWith("null", i)) {
      i += 4;
      return null;
    }
    const m = /^-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?/.exec(text.slice(i, i + 400));
    if (!m) return fail("unexpected character");
    i += m[0].length;
    return new LosslessNumber(m[0]);
  };
  const string = (): string => {
    // Find the closing quote, honouring escapes, then let JSON.parse decode the escapes.
    const start = i;
    i++;
    while (i < text.length && text[i] !== '"') {
      if (text[i] === "\\") i++;
      i++;
    }
    if (i >= text.length) fail("unterminated string");
    i++;
    return JSON.parse(text.slice(start, i)) as string;
  };
  const result = value(0);
  ws();
  if (i !== text.length) fail("trailing characters");
  return result;
}
