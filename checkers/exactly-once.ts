// The `exactly-once` checker for a get/put/append key-value history whose written values are
// unique and self-delimiting (workloads/kv.ts kvUniqueValue, "x <process> <seq> y"): each one
// can only occur in a read once, and exactly where it was written. It names what the
// linearizability search only implies: an append applied twice (a retry the duplicate table
// missed), a write that failed yet took effect, and an acknowledged append lost by the end.
import { type Op, type Operation, pairOperations } from "./history.js";
import type { CheckResult } from "./result.js";

/** Violations listed in the result; the count covers them all. */
export const MAX_LISTED_VIOLATIONS = 20;

export interface ExactlyOnceViolation {
  kind: "duplicated" | "failed-write-seen" | "lost";
  key: string;
  value: string;
  /** The write's invoke index. */
  write: number;
  /** The read's invoke index. */
  read: number;
  text: string;
}

interface Write {
  op: Operation;
  key: string;
  value: string;
}

const WRITES = new Set(["put", "append"]);

/** Occurrences of `value` in `text` (no overlaps: values are self-delimiting). */
function occurrences(text: string, value: string): number {
  let count = 0;
  for (let at = text.indexOf(value); at !== -1; at = text.indexOf(value, at + value.length)) {
    count++;
  }
  return count;
}

function keyed(op: Op | undefined): { key: string; value: unknown } | undefined {
  const v = op?.value as { key?: unknown; value?: unknown } | null | undefined;
  return typeof v?.key === "string" ? { key: v.key, value: v.value } : undefined;
}

export function checkExactlyOnce(history: readonly Op[]): CheckResult {
  const writesByKey = new Map<string, Write[]>();
  const reads: Array<{ op: Operation; key: string; value: string }> = [];
  for (const op of pairOperations(history)) {
    const args = keyed(op.invoke);
    if (!args) continue;
    if (WRITES.has(op.f) && typeof args.value === "string") {
      const list = writesByKey.get(args.key) ?? [];
      list.push({ op, key: args.key, value: args.value });
      writesByKey.set(args.key, list);
    } else if (op.f === "get" && op.type === "ok") {
      const got = keyed(op.complete)?.value;
      if (typeof got === "string") reads.push({ op, key: args.key, value: got });
    }
  }

  const violations: ExactlyOnceViolation[] = [];
  const flag = (kind: ExactlyOnceViolation["kind"], w: Write, read: Operation, text: string) =>
    violations.push({
      kind,
      key: w.key,
      value: w.value,
      write: w.op.invoke.index,
      read: read.invoke.index,
      text,
    });
  for (const read of reads) {
    for (const w of writesByKey.get(read.key) ?? []) {
      const n = occurrences(read.value, w.value);
      if (n > 1) {
        flag(
          "duplicated",
          w,
          read.op,
          `key "${read.key}": the get at op ${read.op.invoke.index} contains "${w.value}" ${n} times, but op ${w.op.invoke.index} (${w.op.f}, ${w.op.type}) wrote it once: it was applied more than once`,
        );
      } else if (n === 1 && w.op.type === "fail") {
        flag(
          "failed-write-seen",
          w,
          read.op,
          `key "${read.key}": the get at op ${read.op.invoke.index} contains "${w.value}", written by op ${w.op.invoke.index} (${w.op.f}), which failed definitely: a failed write took effect`,
        );
      }
    }
  }

  // The last ok final-phase get of each key.
  const finalReads = new Map<string, (typeof reads)[number]>();
  for (const read of reads) if (read.op.invoke.final) finalReads.set(read.key, read);
  let checkedAppends = 0;
  for (const [key, writes] of writesByKey) {
    const finalRead = finalReads.get(key);
    if (!finalRead) continue;
    for (const w of writes) {
      if (w.op.f !== "append" || w.op.type !== "ok") continue;
      if (!mustSurvive(w, writes)) continue;
      checkedAppends++;
      if (occurrences(finalRead.value, w.value) === 0) {
        flag(
          "lost",
          w,
          finalRead.op,
          `key "${key}": append "${w.value}" (op ${w.op.invoke.index}) was acknowledged ok but is missing from the final read (op ${finalRead.op.invoke.index}), and no put came after it: an acknowledged append was lost`,
        );
      }
    }
  }

  const unreadKeys = [...writesByKey.keys()].filter((k) => !finalReads.has(k)).sort();
  const warnings =
    unreadKeys.length > 0
      ? [
          `exactly-once: ${unreadKeys.length} written key(s) had no ok final read (e.g. "${unreadKeys[0]}"), so their acknowledged appends were not checked for loss`,
        ]
      : [];
  const counts = {
    keys: writesByKey.size,
    reads: reads.length,
    appends_checked_for_loss: checkedAppends,
    violations: violations.length,
  };
  if (violations.length === 0) {
    return {
      valid: true,
      summary: `every written value appeared at most once in each of ${reads.length} reads, no failed write was seen, and ${checkedAppends} acknowledged appends were all in their key's final read`,
      counts,
      ...(warnings.length > 0 && { warnings }),
    };
  }
  const first = violations[0] as ExactlyOnceViolation;
  return {
    valid: false,
    summary:
      violations.length === 1 ? first.text : `${first.text} (and ${violations.length - 1} more)`,
    ops: [...new Set(violations.flatMap((v) => [v.write, v.read]))].sort((a, b) => a - b),
    counts,
    violations: violations.slice(0, MAX_LISTED_VIOLATIONS),
    ...(warnings.length > 0 && { warnings }),
  };
}

/**
 * An acknowledged append must be in the final read unless a put on its key may have come after
 * it: one that did not fail and did not complete before the append began.
 */
function mustSurvive(append: Write, writes: readonly Write[]): boolean {
  return writes.every(
    (w) =>
      w.op.f !== "put" ||
      w.op.type === "fail" ||
      (w.op.complete !== undefined && w.op.complete.time < append.op.invoke.time),
  );
}
