// LSP wire format (systems/lsp/README.md "The wire format"): one message per UDP datagram, the JSON
// object {"Type","ConnID","SeqNum","Size","Checksum","Payload"} in exactly that field order,
// Payload as standard padded base64 or null, and the CMU 16-bit checksum over (ConnID, SeqNum,
// Size, payload). It lives in protocols/ because both systems/lsp and the harness's UDP proxy
// (which decodes and re-encodes datagrams with it) need it; like all of protocols/ it imports
// nothing outside it.

export const MsgType = { Connect: 0, Data: 1, Ack: 2, CAck: 3 } as const;
export type MsgType = (typeof MsgType)[keyof typeof MsgType];
export const MSG_TYPE_NAMES = ["Connect", "Data", "Ack", "CAck"] as const;

export interface LspMessage {
  type: MsgType;
  connId: number;
  seqNum: number;
  size: number;
  checksum: number;
  /** Null when absent (Connect, Ack, CAck, or a Data whose JSON said null). */
  payload: Uint8Array | null;
}

/** Receivers accept datagrams up to this size (the staff shim reads into a 2000-byte buffer). */
export const MAX_DATAGRAM_BYTES = 2000;
/**
 * Largest payload a writer should send so the JSON stays within one datagram: base64 grows
 * 4/3 and the fixed fields take under 120 bytes, so 1,000 bytes (the handout's figure) fit.
 */
export const MAX_PAYLOAD_BYTES = 1000;

const UINT32 = 0x1_0000_0000;

/** A value reduced modulo 2^32, as Go's uint32(int) conversion does (two's complement). */
function toUint32(value: number): number {
  return ((value % UINT32) + UINT32) % UINT32;
}

/**
 * The 16-bit halves of a uint32 added as a uint16: wraps, no end-around carry (the checksum of
 * systems/lsp/README.md "The wire format").
 */
function foldInt(value: number): number {
  const v = toUint32(value);
  return ((v & 0xffff) + Math.floor(v / 0x1_0000)) & 0xffff;
}

/**
 * checksum(connID, seqNum, size, payload) exactly as systems/lsp/README.md "The wire format"
 * defines it, quirks included.
 */
export function checksum(
  connId: number,
  seqNum: number,
  size: number,
  payload: Uint8Array | null,
): number {
  let sum = foldInt(connId) + foldInt(seqNum) + foldInt(size);
  if (payload) {
    // Little-endian 16-bit words; an odd trailing byte is a word with high byte 0.
    for (let i = 0; i < payload.length; i += 2) {
      sum += (payload[i] as number) | ((payload[i + 1] ?? 0) << 8);
    }
  }
  // The 32-bit accumulator cannot overflow: 2000 bytes of 0xffff words stay far below 2^32.
  while (sum > 0xffff) sum = (sum >>> 16) + (sum & 0xffff);
  return ~sum & 0xffff;
}

export function connectMessage(isn: number): LspMessage {
  return { type: MsgType.Connect, connId: 0, seqNum: isn, size: 0, checksum: 0, payload: null };
}

export function dataMessage(connId: number, seqNum: number, payload: Uint8Array): LspMessage {
  const size = payload.length;
  return {
    type: MsgType.Data,
    connId,
    seqNum,
    size,
    checksum: checksum(connId, seqNum, size, payload),
    payload,
  };
}

/** An Ack; SeqNum 0 is a heartbeat. */
export function ackMessage(connId: number, seqNum: number): LspMessage {
  return { type: MsgType.Ack, connId, seqNum, size: 0, checksum: 0, payload: null };
}

export function cackMessage(connId: number, seqNum: number): LspMessage {
  return { type: MsgType.CAck, connId, seqNum, size: 0, checksum: 0, payload: null };
}

/** The datagram body, fields in the exact order of systems/lsp/README.md "The wire format". */
export function encodeMessage(msg: LspMessage): Buffer {
  const payload =
    msg.payload === null ? "null" : `"${Buffer.from(msg.payload).toString("base64")}"`;
  return Buffer.from(
    `{"Type":${msg.type},"ConnID":${msg.connId},"SeqNum":${msg.seqNum},"Size":${msg.size},"Checksum":${msg.checksum},"Payload":${payload}}`,
  );
}

const FIELDS = ["type", "connid", "seqnum", "size", "checksum", "payload"] as const;
/** Which char codes are in the standard base64 alphabet (no padding). */
const BASE64_CHAR = new Uint8Array(128);
for (const c of "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/") {
  BASE64_CHAR[c.charCodeAt(0)] = 1;
}

/** Standard padded base64, as Go writes it (a char loop: several times faster than a regex). */
export function isPaddedBase64(text: string): boolean {
  const n = text.length;
  if (n % 4 !== 0) return false;
  const pad = n > 0 && text.charCodeAt(n - 1) === 61 ? (text.charCodeAt(n - 2) === 61 ? 2 : 1) : 0;
  for (let i = 0; i < n - pad; i++) {
    const c = text.charCodeAt(i);
    if (c >= 128 || BASE64_CHAR[c] === 0) return false;
  }
  return true;
}

/**
 * Parses a datagram as an LSP message, or returns undefined when it is not one. Like Go's
 * encoding/json, field names match case-insensitively, absent fields are zero, unknown fields
 * are ignored; numbers must be integers and Payload a padded base64 string or null.
 */
export function decodeMessage(datagram: Uint8Array): LspMessage | undefined {
  if (datagram.length === 0 || datagram.length > MAX_DATAGRAM_BYTES * 4) return undefined;
  // Not a JSON object: skip JSON.parse, whose exception is the slow path for raw datagrams.
  let first = 0;
  while (
    first < datagram.length &&
    (datagram[first] === 0x20 ||
      datagram[first] === 0x0a ||
      datagram[first] === 0x0d ||
      datagram[first] === 0x09)
  )
    first++;
  if (datagram[first] !== 0x7b) return undefined;
  let raw: unknown;
  try {
    raw = JSON.parse(Buffer.from(datagram.buffer, datagram.byteOffset, datagram.length).toString());
  } catch {
    return undefined;
  }
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) return undefined;
  const fields: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(raw)) {
    const lower = key.toLowerCase();
    if ((FIELDS as readonly string[]).includes(lower)) fields[lower] = value;
  }
  const ints: number[] = [];
  for (const name of ["type", "connid", "seqnum", "size", "checksum"]) {
    const value = fields[name] ?? 0;
    if (typeof value !== "number" || !Number.isSafeInteger(value)) return undefined;
    ints.push(value);
  }
  const [type, connId, seqNum, size, sum] = ints as [number, number, number, number, number];
  if (type < 0 || type > 3 || sum < 0 || sum > 0xffff) return undefined;
  const text = fields.payload ?? null;
  let payload: Uint8Array | null = null;
  if (text !== null) {
    if (typeof text !== "string" || !isPaddedBase64(text)) return undefined;
    payload = Buffer.from(text, "base64");
  }
  return { type: type as MsgType, connId, seqNum, size, checksum: sum, payload };
}

/**
 * The outcome of the receive-side checks (systems/lsp/README.md "The wire format") on a Data
 * message.
 */
export type DataVerdict =
  | { ok: true; payload: Uint8Array }
  | { ok: false; reason: "short" | "checksum" };

/**
 * systems/lsp/README.md "The wire format": a payload shorter than Size is dropped; a longer one is
 * cut to Size; then the checksum must match. `verifyChecksum` false is only for the no-checksum bug
 * variant.
 */
export function checkData(msg: LspMessage, verifyChecksum = true): DataVerdict {
  const payload = msg.payload ?? new Uint8Array(0);
  if (msg.size < 0 || payload.length < msg.size) return { ok: false, reason: "short" };
  const cut = payload.length > msg.size ? payload.subarray(0, msg.size) : payload;
  if (verifyChecksum && checksum(msg.connId, msg.seqNum, msg.size, cut) !== msg.checksum) {
    return { ok: false, reason: "checksum" };
  }
  return { ok: true, payload: cut };
}

/** A short human-readable form, e.g. "(Data, 3, 44, 5, 11659)", for logs. */
export function describeMessage(msg: LspMessage): string {
  const name = MSG_TYPE_NAMES[msg.type];
  if (msg.type === MsgType.Data) {
    return `(${name}, ${msg.connId}, ${msg.seqNum}, ${msg.size}, ${msg.checksum})`;
  }
  return `(${name}, ${msg.connId}, ${msg.seqNum})`;
}
