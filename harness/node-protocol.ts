// Validation of what a node writes on stdout (README.md "The node protocol", "The network"): strict
// envelope; src and dest are participants of the run. As in Maelstrom, src need not be the writer:
// a node may forward a client's request unchanged (the router applies the writer's links, see
// Network.send).
import type { Body, Envelope } from "../workloads/protocol.js";

const ENVELOPE_KEYS = new Set(["src", "dest", "body", "id"]);

export type ParsedLine =
  | { ok: true; envelope: Envelope }
  /** `no_src` (`null`, `missing` or `""`) when the line names no sender at all. */
  | { ok: false; reason: string; no_src?: string };

export function parseNodeLine(line: string, exists: (id: string) => boolean): ParsedLine {
  let raw: unknown;
  try {
    raw = JSON.parse(line);
  } catch {
    return { ok: false, reason: "stdout line is not JSON (log to stderr, not stdout)" };
  }
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) {
    return { ok: false, reason: "stdout line is not a JSON object" };
  }
  const msg = raw as Record<string, unknown>;
  for (const key of Object.keys(msg)) {
    if (!ENVELOPE_KEYS.has(key)) return { ok: false, reason: `unknown top-level key "${key}"` };
  }
  if (typeof msg.src !== "string" || !exists(msg.src)) {
    const reason =
      typeof msg.src === "string"
        ? `"src" ${JSON.stringify(msg.src)} does not exist`
        : `"src" must be a string`;
    // What a node writes before it knows its own id (null, nil, None, Go's "").
    const no_src =
      msg.src === undefined
        ? "missing"
        : msg.src === null || msg.src === ""
          ? JSON.stringify(msg.src)
          : undefined;
    return no_src === undefined ? { ok: false, reason } : { ok: false, reason, no_src };
  }
  if (typeof msg.dest !== "string") return { ok: false, reason: `"dest" must be a string` };
  if (!exists(msg.dest))
    return { ok: false, reason: `"dest" ${JSON.stringify(msg.dest)} does not exist` };
  if (msg.id !== undefined && !Number.isSafeInteger(msg.id)) {
    return { ok: false, reason: `"id" must be an integer` };
  }
  const body = msg.body;
  if (typeof body !== "object" || body === null || Array.isArray(body)) {
    return { ok: false, reason: `"body" must be a JSON object` };
  }
  if (typeof (body as Body).type !== "string") {
    return { ok: false, reason: `"body.type" must be a string` };
  }
  return { ok: true, envelope: { src: msg.src, dest: msg.dest, body: body as Body } };
}
