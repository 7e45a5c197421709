// The message (Lamport) diagram's data, from messages.jsonl (README.md "What a run leaves behind"):
// one column per participant (clients numerically, then nodes, then services), one row per journal
// event (event order, not wall time), one arrow per delivered message from its send row to its
// receive row, dropped messages as dashed arrows ending where the drop happened. Labels are the
// body's type plus its other fields, cut to LABEL_MAX_CHARS; hover shows the body. On the tcp
// transport's HTTP/2 connections, gRPC calls replace the data chunks (lamport-calls.ts).

import { SERVICE_NAMES } from "../protocols/maelstrom.js";
import { printable, showValue, truncate } from "./escape.js";
import type { FaultView } from "./fault-labels.js";
import {
  type CallArrow,
  callEnd,
  callStart,
  http2Connections,
  isCallChunk,
} from "./lamport-calls.js";
import { compareNodeNames, type JournalLoad } from "./load-run.js";

export const LABEL_MAX_CHARS = 48;
export const TITLE_MAX_CHARS = 400;
/** A note is drawn whole beside its line, so the reason it gives is kept short. */
export const NOTE_REASON_MAX_CHARS = 80;

/** Arrow styles: low bits are the colour class, DROPPED is or-ed in. */
export const ARROW = { server: 0, client: 1, error: 2, DROPPED: 4 } as const;

export interface LamportPayload {
  participants: string[];
  /** Journal events drawn: the diagram has this many rows. */
  rows: number;
  /** Per arrow: from, to, send row, receive/drop row, style. Flattened, 5 numbers each. */
  arrows: number[];
  labels: string[];
  titles: string[];
  /** Per fault: kind, first row, last row, description. */
  faults: Array<[string, number, number, string]>;
  /** Protocol errors: participant column, row, text. */
  errors: Array<[number, number, string]>;
  /** Other marks on a participant's line (an HTTP/2 connection shown as bytes): column, row, text. */
  notes: Array<[number, number, string]>;
  /** gRPC call arrows drawn (requests and answers). */
  call_arrows: number;
  /** The row the window is centred on and what is there ("the lost value 117"), if any. */
  focus: { row: number; text: string } | null;
  skipped: number;
  /** Wall time (seconds from run start) of every 50th row, for the axis. */
  ticks: Array<[number, number]>;
}

interface Sent {
  src: string;
  dest: string;
  row: number;
  style: number;
  label: string;
  title: string;
  /** A data chunk of a decoded HTTP/2 connection: drawn only as the calls it carried. */
  hidden: boolean;
}

const CALL_MAX = { label: LABEL_MAX_CHARS, title: TITLE_MAX_CHARS };

export function lamportPayload(journal: JournalLoad, faults: readonly FaultView[]): LamportPayload {
  const sent = new Map<number, Sent>();
  const names = new Set<string>();
  const out: LamportPayload = {
    participants: [],
    rows: 0,
    arrows: [],
    labels: [],
    titles: [],
    faults: [],
    errors: [],
    notes: [],
    call_arrows: 0,
    focus: null,
    skipped: journal.skipped,
    ticks: [],
  };
  const pending: Array<[string, string, number, number, number, string, string]> = [];
  const errorRows: Array<[string, number, string]> = [];
  const noteRows: Array<[string, number, string]> = [];
  const h2 = http2Connections(journal.events);
  // Call arrows by the chunk that carries them, drawn at that chunk's recv or drop. The proxy
  // writes a call line after its chunk's send and before its recv, so they are known in time.
  const calls = new Map<number, CallArrow[]>();
  const addCall = (chunk: unknown, arrow: CallArrow) => {
    if (typeof chunk !== "number") return;
    const list = calls.get(chunk);
    if (list) list.push(arrow);
    else calls.set(chunk, [arrow]);
  };
  const times: number[] = [];
  for (const e of journal.events) {
    const row = times.length;
    times.push(e.time);
    if (row % 50 === 0) out.ticks.push([row, e.time / 1e9]);
    if (e.event === "send" && typeof e.id === "number" && e.src && e.dest) {
      // A forwarded message is drawn from the node that wrote it: that is the link it took.
      const via = typeof e.via === "string" ? e.via : undefined;
      const from = via ?? e.src;
      names.add(from).add(e.dest);
      const body =
        e.body ?? lspBody(e.lsp) ?? (e.raw === undefined ? undefined : { type: "datagram" });
      const isError = isRecord(body) && body.type === "error";
      const involvesClient = isClient(from) || isClient(e.dest);
      const forwarded = via === undefined ? "" : ` (written by ${printable(via)})`;
      sent.set(e.id, {
        src: from,
        dest: e.dest,
        row,
        style: isError ? ARROW.error : involvesClient ? ARROW.client : ARROW.server,
        label: label(body),
        title: `${printable(e.src)} → ${printable(e.dest)}${forwarded} #${e.id}: ${printable(showValue(body, TITLE_MAX_CHARS))}`,
        hidden: isCallChunk(e, h2),
      });
    } else if ((e.event === "recv" || e.event === "drop") && typeof e.id === "number") {
      const m = sent.get(e.id);
      if (!m) continue; // its send was before the journal's start or unreadable
      const dropped = e.event === "drop";
      const how = dropped ? ` — dropped (${printable(String(e.reason ?? "?"))})` : "";
      const flag = dropped ? ARROW.DROPPED : 0;
      for (const call of calls.get(e.id) ?? []) {
        const style = (call.failed ? ARROW.error : m.style) | flag;
        const title = `${printable(m.src)} → ${printable(m.dest)} #${e.id}: ${call.title}${how}`;
        pending.push([m.src, m.dest, m.row, row, style, call.label, title]);
        out.call_arrows++;
      }
      calls.delete(e.id);
      if (!m.hidden)
        pending.push([m.src, m.dest, m.row, row, m.style | flag, m.label, m.title + how]);
    } else if (e.event === "h2-call-start") {
      addCall(e.chunk, callStart(e, CALL_MAX));
    } else if (e.event === "h2-call-end" && e.chunk !== undefined) {
      addCall(e.chunk, callEnd(e, CALL_MAX));
    } else if (e.event === "h2-call-end" && e.src && e.dest) {
      // Aborted with the connection: no bytes answered, so a dropped answer at this row.
      const call = callEnd(e, CALL_MAX);
      names.add(e.src).add(e.dest);
      const title = `${printable(e.dest)} → ${printable(e.src)}: ${call.title}`;
      pending.push([e.dest, e.src, row, row, ARROW.error | ARROW.DROPPED, call.label, title]);
      out.call_arrows++;
    } else if (e.event === "h2-undecodable" && e.src) {
      names.add(e.src);
      const reason = printable(truncate(String(e.reason ?? "?"), NOTE_REASON_MAX_CHARS));
      noteRows.push([e.src, row, `undecodable: ${reason}, showing bytes`]);
    } else if (e.event === "protocol-error" && e.node) {
      names.add(e.node);
      errorRows.push([
        e.node,
        row,
        `protocol error: ${printable(String(e.reason ?? ""))} — ${printable(truncate(String(e.raw ?? ""), TITLE_MAX_CHARS))}`,
      ]);
    }
  }
  out.rows = times.length;
  out.participants = [...names].sort(compareParticipants);
  const column = new Map(out.participants.map((name, i) => [name, i]));
  for (const [src, dest, y0, y1, style, text, title] of pending) {
    out.arrows.push(column.get(src) as number, column.get(dest) as number, y0, y1, style);
    out.labels.push(text);
    out.titles.push(title);
  }
  for (const [node, row, text] of errorRows)
    out.errors.push([column.get(node) as number, row, text]);
  for (const [node, row, text] of noteRows) out.notes.push([column.get(node) as number, row, text]);
  if (journal.focus && times.length > 0) {
    const row = Math.min(lowerBound(times, journal.focus.time_ns), times.length - 1);
    out.focus = { row, text: printable(journal.focus.why) };
  }
  for (const f of faults) {
    const first = lowerBound(times, f.start_ns);
    const last = f.stop_ns === undefined ? times.length : lowerBound(times, f.stop_ns);
    if (first >= times.length || last <= first) continue; // outside the rows drawn
    out.faults.push([f.kind, first, last, f.label]);
  }
  return out;
}

const LSP_TYPES = ["connect", "data", "ack", "cack"];

/** An LSP message (udp journal) labelled like a Maelstrom body: "data conn=1 seq=4". */
function lspBody(lsp: unknown): Record<string, unknown> | undefined {
  if (!isRecord(lsp)) return undefined;
  const type = LSP_TYPES[Number(lsp.Type)] ?? `lsp-${String(lsp.Type)}`;
  return { type, conn: lsp.ConnID, seq: lsp.SeqNum, ...(lsp.Size ? { size: lsp.Size } : {}) };
}

/** "read_ok value=3" — the type, then the body's other fields, cut short. */
function label(body: unknown): string {
  if (!isRecord(body))
    return printable(truncate(showValue(body, LABEL_MAX_CHARS), LABEL_MAX_CHARS));
  const type = typeof body.type === "string" ? body.type : "?";
  if (type === "error") {
    const text = typeof body.text === "string" ? body.text : showValue(body.code, 12);
    return printable(truncate(`error ${text}`, LABEL_MAX_CHARS));
  }
  const rest = Object.entries(body)
    .filter(([k]) => k !== "type" && k !== "msg_id" && k !== "in_reply_to")
    .map(([k, v]) => `${k}=${showValue(v, LABEL_MAX_CHARS)}`)
    .join(" ");
  return printable(truncate(rest ? `${type} ${rest}` : type, LABEL_MAX_CHARS));
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** Clients are named c<N> by the harness (network.ts). */
function isClient(id: string): boolean {
  return /^c\d+$/.test(id);
}

/** Nodes may have any name (--nodes), so a node is what is neither a client nor a service. */
function isNode(id: string): boolean {
  return !isClient(id) && !SERVICE_NAMES.includes(id);
}

/** Clients numerically, then nodes numerically, then services by name. */
function compareParticipants(a: string, b: string): number {
  const rank = (id: string) => (isClient(id) ? 0 : isNode(id) ? 1 : 2);
  return rank(a) - rank(b) || compareNodeNames(a, b);
}

/** The first position whose time is >= t. */
function lowerBound(times: readonly number[], t: number): number {
  let lo = 0;
  let hi = times.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if ((times[mid] as number) < t) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
