// Where the message diagram looks when the journal has more events than a report embeds: at
// what a failing checker names (a lost value's broadcast, the op no linearization can place, a
// crash, a protocol error, an op), else at the fault that disturbed the most operations, else
// at the start.
import type { Op } from "../checkers/history.js";
import { showValue } from "./escape.js";
import type { FaultView } from "./fault-labels.js";
import { num, record, records, type StoredResults, str } from "./stored.js";

/** A lost value in the "what was cut" sentence is cut to this many characters. */
const FOCUS_VALUE_MAX_CHARS = 40;

export interface JournalFocus {
  /** Run time (ns, the journal's and the history's clock) to centre the diagram on. */
  time_ns: number;
  /** What is there, after "around": "the lost value 117". */
  why: string;
}

export function journalFocus(
  results: StoredResults | undefined,
  history: readonly Op[] | undefined,
  faults: readonly FaultView[],
): JournalFocus | undefined {
  const timeOf = (index: unknown): number | undefined => {
    const i = num(index);
    return i === undefined ? undefined : history?.[i]?.time;
  };
  for (const [name, raw] of Object.entries(results?.checkers ?? {})) {
    if (raw?.valid !== false) continue;
    const lost = records(raw.lost)[0];
    const lostAt = timeOf(lost?.known_index);
    if (lost && lostAt !== undefined) {
      return {
        time_ns: lostAt,
        why: `the lost value ${showValue(lost.value, FOCUS_VALUE_MAX_CHARS)}`,
      };
    }
    const blocked = num(record(records(raw.failures)[0]?.blocked)?.op);
    const blockedAt = timeOf(blocked);
    if (blockedAt !== undefined) {
      return { time_ns: blockedAt, why: `op ${blocked}, which no linearization can place` };
    }
    const crash = records(raw.crashes)[0];
    const crashAt = num(crash?.time_ns);
    if (crashAt !== undefined) {
      return { time_ns: crashAt, why: `${str(crash?.node) ?? "a node"}'s crash` };
    }
    const error = records(raw.errors)[0];
    const errorAt = num(error?.time_ns);
    if (errorAt !== undefined) {
      return { time_ns: errorAt, why: `${str(error?.node) ?? "a node"}'s first ${name} error` };
    }
    const named = Array.isArray(raw.ops) ? num(raw.ops[0]) : undefined;
    const namedAt = timeOf(named);
    if (namedAt !== undefined) {
      return { time_ns: namedAt, why: `op ${named}, which the ${name} checker names` };
    }
  }
  let busiest: FaultView | undefined;
  const disturbed = (f: FaultView) => f.ops_failed + f.ops_info;
  for (const f of faults) if (!busiest || disturbed(f) > disturbed(busiest)) busiest = f;
  if (busiest && disturbed(busiest) > 0) {
    return {
      time_ns: busiest.start_ns,
      why: `the ${busiest.kind} fault at ${(busiest.start_ns / 1e9).toFixed(1)} s, which failed or left unknown the most operations`,
    };
  }
  return undefined;
}
