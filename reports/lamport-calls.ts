// gRPC (HTTP/2) calls in the message diagram (lamport-data.ts): the tcp proxy journals each call's
// start and end as notes naming the chunk whose bytes completed them (harness/tcp/README.md
// "HTTP/2 and gRPC calls"). On a connection it decoded, the diagram draws a call as one arrow from
// that chunk's send to its delivery, labelled with the method, and the answer likewise, labelled
// with how it ended, instead of the connection's data chunks. From the chunk where the observer
// gave up ("undecodable"), the connection's chunks are drawn as bytes again.
import { createRequire } from "node:module";
import { printable, truncate } from "./escape.js";
import type { JournalEvent } from "./load-run.js";

/** From this chunk id on, a connection's chunks are drawn as bytes; before it, its calls. */
export type Http2Connections = Map<number, { bytes_from_id: number }>;

/**
 * Connections of the window that the proxy followed as HTTP/2: those with a call line. One given
 * up on before any call is all bytes; one whose lines all fall outside the window keeps its
 * chunks.
 */
export function http2Connections(events: readonly JournalEvent[]): Http2Connections {
  const conns: Http2Connections = new Map();
  for (const e of events) {
    if (typeof e.conn !== "number") continue;
    if (e.event === "h2-call-start" || e.event === "h2-call-end") {
      if (!conns.has(e.conn)) conns.set(e.conn, { bytes_from_id: Number.POSITIVE_INFINITY });
    } else if (e.event === "h2-undecodable") {
      const known = conns.get(e.conn);
      if (known && typeof e.chunk === "number") known.bytes_from_id = e.chunk;
      else conns.delete(e.conn);
    }
  }
  return conns;
}

/** A data chunk a call arrow stands for: on a decoded HTTP/2 connection, before any give-up. */
export function isCallChunk(e: JournalEvent, conns: Http2Connections): boolean {
  const body = e.body as { type?: unknown } | undefined;
  if (body?.type !== "data" || typeof e.conn !== "number" || typeof e.id !== "number") return false;
  const conn = conns.get(e.conn);
  return conn !== undefined && e.id < conn.bytes_from_id;
}

/** A call arrow waiting for its chunk's recv or drop. */
export interface CallArrow {
  label: string;
  /** Hover text, without the "src → dest" the chunk gives it. */
  title: string;
  /** An answer that says the call failed (a non-OK status, a reset): drawn as an error. */
  failed: boolean;
}

/** The request arrow of an `h2-call-start` line. */
export function callStart(e: JournalEvent, max: { label: number; title: number }): CallArrow {
  const method = text(e.method);
  return {
    label: printable(truncate(method, max.label)),
    title: printable(truncate(`gRPC call ${method} (stream ${text(e.stream_id)})`, max.title)),
    failed: false,
  };
}

/** The answer arrow of an `h2-call-end` line: how it ended, with the status name if any. */
export function callEnd(e: JournalEvent, max: { label: number; title: number }): CallArrow {
  const outcome = callOutcome(e);
  const message = typeof e.grpc_message === "string" ? `: ${e.grpc_message}` : "";
  const http = typeof e.http_status === "number" ? `, HTTP ${e.http_status}` : "";
  const title =
    `${text(e.method)} (stream ${text(e.stream_id)}) ended ${outcome.detail}${message}; ` +
    `request ${text(e.request_bytes)} B, response ${text(e.response_bytes)} B${http}`;
  return {
    label: printable(truncate(outcome.label, max.label)),
    title: printable(truncate(title, max.title)),
    failed: outcome.failed,
  };
}

function callOutcome(e: JournalEvent): { label: string; detail: string; failed: boolean } {
  const how = (field: unknown) => field as { code?: unknown; by?: unknown } | undefined;
  const reset = how(e.reset);
  if (reset) {
    const name = `reset ${errorCodeName(reset.code)}`;
    return { label: name, detail: `${name} by ${text(reset.by)}`, failed: true };
  }
  const refused = how(e.refused);
  if (refused) {
    const detail = `refused by ${text(refused.by)}'s GOAWAY ${errorCodeName(refused.code)}`;
    return { label: "refused", detail, failed: true };
  }
  if (e.aborted !== undefined) {
    const label = `aborted (${text(e.aborted)})`;
    return { label, detail: `${label}: the connection went with the call open`, failed: true };
  }
  if (typeof e.grpc_status === "number") {
    const name = grpcStatusName(e.grpc_status);
    return { label: name, detail: `${name} (${e.grpc_status})`, failed: e.grpc_status !== 0 };
  }
  const http = typeof e.http_status === "number" ? `HTTP ${e.http_status}` : "without a status";
  return { label: http, detail: http, failed: (e.http_status ?? 0) >= 400 };
}

/** gRPC's status names come from grpc-js, loaded only when a run has gRPC calls to draw. */
let grpcStatus: Record<number, string> | undefined;
function grpcStatusName(code: number): string {
  grpcStatus ??= (createRequire(import.meta.url)("@grpc/grpc-js") as typeof import("@grpc/grpc-js"))
    .status as unknown as Record<number, string>;
  return grpcStatus[code] ?? `status ${code}`;
}

/** HTTP/2 error codes (RFC 9113 §7), as RST_STREAM and GOAWAY carry them. */
const HTTP2_ERROR_CODES = [
  "NO_ERROR",
  "PROTOCOL_ERROR",
  "INTERNAL_ERROR",
  "FLOW_CONTROL_ERROR",
  "SETTINGS_TIMEOUT",
  "STREAM_CLOSED",
  "FRAME_SIZE_ERROR",
  "REFUSED_STREAM",
  "CANCEL",
  "COMPRESSION_ERROR",
  "CONNECT_ERROR",
  "ENHANCE_YOUR_CALM",
  "INADEQUATE_SECURITY",
  "HTTP_1_1_REQUIRED",
];

function errorCodeName(code: unknown): string {
  return (typeof code === "number" && HTTP2_ERROR_CODES[code]) || `code ${text(code)}`;
}

/** A journal field as text: the journal is untrusted, so anything may be there. */
function text(value: unknown): string {
  return typeof value === "string" ? value : typeof value === "number" ? String(value) : "?";
}
