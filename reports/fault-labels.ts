// Fault intervals as the report shows them: kind, start/stop and a one-line description of
// exactly what was done (which links were cut, which nodes killed, which clock offsets).
import { faultIntervals } from "../checkers/faults.js";
import type { Op } from "../checkers/history.js";
import { showValue } from "./escape.js";
import { num, record, records, str, strings } from "./stored.js";

/** Jepsen's fault colours (jepsen.checker.perf), shared by the timeline, plots and diagram. */
export const FAULT_COLOURS: Record<string, string> = {
  kill: "#E9A4A0",
  pause: "#A0B1E9",
  partition: "#E9DCA0",
  packet: "#D1E8A0",
  clock: "#A0E9E3",
};
export const OTHER_FAULT_COLOUR = "#D0D0D0";

/** Longest fault description (the full value is in history.jsonl). */
export const FAULT_LABEL_MAX_CHARS = 160;

export interface FaultView {
  kind: string;
  start_ns: number;
  /** Undefined: never stopped before the history ended. */
  stop_ns: number | undefined;
  label: string;
  /** History indexes of the nemesis events. */
  start_index: number;
  stop_index: number | undefined;
  ops_overlapping: number;
  ops_failed: number;
  ops_info: number;
}

/** Fault intervals from the history (authoritative), described for people. */
export function faultViews(history: readonly Op[]): FaultView[] {
  return faultIntervals(history).map((i) => ({
    kind: i.kind,
    start_ns: (history[i.start] as Op).time,
    stop_ns: i.stop === undefined ? undefined : (history[i.stop] as Op).time,
    label: faultLabel(i.kind, i.value),
    start_index: i.start,
    stop_index: i.stop,
    ops_overlapping: i.ops_overlapping,
    ops_failed: i.ops_failed,
    ops_info: i.ops_info,
  }));
}

/** Fault intervals from results.json, for when the history could not be loaded. */
export function faultViewsFromResults(intervals: unknown): FaultView[] {
  return records(intervals).map((i) => {
    const kind = str(i.kind) ?? "fault";
    const stop_s = num(i.stop_s);
    return {
      kind,
      start_ns: (num(i.start_s) ?? 0) * 1e9,
      stop_ns: stop_s === undefined ? undefined : stop_s * 1e9,
      label: faultLabel(kind, i.value),
      start_index: num(i.start) ?? -1,
      stop_index: num(i.stop),
      ops_overlapping: num(i.ops_overlapping) ?? 0,
      ops_failed: num(i.ops_failed) ?? 0,
      ops_info: num(i.ops_info) ?? 0,
    };
  });
}

/** "partition majority-minority: n0 | n1 n2", "kill n1, n2", "packet n1: loss 20%, …". */
export function faultLabel(kind: string, value: unknown): string {
  const v = record(value);
  let text: string | undefined;
  if (kind === "partition" && v) {
    const shape = str(v.shape) ?? "partition";
    const groups = partitionGroups(record(v.sees));
    const cut = Array.isArray(v.cut) ? v.cut.length : undefined;
    text = `partition ${shape}${groups ? `: ${groups}` : ""}${cut !== undefined ? ` (${cut} links cut)` : ""}`;
  } else if ((kind === "kill" || kind === "pause") && v) {
    text = `${kind} ${strings(v.nodes).join(", ")}`;
  } else if (kind === "packet" && v) {
    const parts: string[] = [];
    const loss = num(v.loss);
    const dup = num(v.duplicate);
    const delay = num(v.delay_ms);
    if (loss) parts.push(`loss ${Math.round(loss * 100)}%`);
    if (dup) parts.push(`duplicate ${Math.round(dup * 100)}%`);
    if (delay) parts.push(`+${delay} ms delay`);
    text = `packet faults on ${strings(v.nodes).join(", ")}${parts.length ? `: ${parts.join(", ")}` : ""}`;
  } else if (kind === "reconfigure" && v) {
    text = str(v.change);
  } else if (kind === "clock" && v) {
    const offsets = record(v.offsets_s);
    if (str(v.mode) === "bump" && offsets) {
      text = `clock bump ${Object.entries(offsets)
        .map(([node, s]) => `${node} ${signedSeconds(num(s) ?? 0)}`)
        .join(", ")}`;
    } else if (str(v.mode) === "strobe") {
      text = `clock strobe ${strings(v.nodes).join(", ")}: ±${signedSeconds(num(v.delta_s) ?? 0).slice(1)} every ${Math.round(num(v.period_ms) ?? 0)} ms`;
    }
  }
  return showLabel(text ?? `${kind} ${showValue(value, FAULT_LABEL_MAX_CHARS)}`);
}

function showLabel(text: string): string {
  return text.length <= FAULT_LABEL_MAX_CHARS
    ? text
    : `${text.slice(0, FAULT_LABEL_MAX_CHARS - 1)}…`;
}

function signedSeconds(s: number): string {
  const sign = s < 0 ? "−" : "+";
  const a = Math.abs(s);
  return `${sign}${a >= 1 ? `${a.toFixed(1)} s` : `${Math.round(a * 1000)} ms`}`;
}

/** The sides of a partition from who-hears-whom: "n0 | n1 n2"; undefined for one-way cuts. */
function partitionGroups(sees: Record<string, unknown> | undefined): string | undefined {
  if (!sees) return undefined;
  const groups = new Map<string, string[]>();
  for (const [node, heard] of Object.entries(sees)) {
    const key = strings(heard).sort().join(" ");
    groups.set(key, [...(groups.get(key) ?? []), node]);
  }
  // A clean partition: every node hears exactly its own group.
  const clean = [...groups.entries()].every(([key, nodes]) => key === [...nodes].sort().join(" "));
  if (!clean || groups.size < 2) return undefined;
  return [...groups.keys()].join(" | ");
}
