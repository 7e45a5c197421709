// Jepsen's unique-ids checker (systems/gossip/README.md "The interface, per workload"): no id may
// be acknowledged twice. Only `ok` generates have an id; `fail` and `info` ones are counted as
// attempts and otherwise ignored.
import { canonicalKey, listSome, plural, show } from "./canonical.js";
import { type Op, pairOperations } from "./history.js";
import type { CheckResult } from "./result.js";

/** Jepsen lists the 48 most duplicated ids; all are counted. */
export const MAX_LISTED = 48;

export interface DuplicatedId {
  id: unknown;
  /** How many acknowledged generates returned it. */
  count: number;
  /** History indexes of those ok completions. */
  ops: number[];
  /** The nodes that handed it out, where the history says. */
  nodes: string[];
}

export function checkUniqueIds(history: readonly Op[]): CheckResult {
  const operations = pairOperations(history).filter((o) => o.f === "generate");
  const seen = new Map<string, DuplicatedId>();
  const ids: unknown[] = [];
  for (const o of operations) {
    if (o.type !== "ok" || !o.complete) continue;
    const id = o.complete.value;
    ids.push(id);
    const key = canonicalKey(id);
    let entry = seen.get(key);
    if (!entry) {
      entry = { id, count: 0, ops: [], nodes: [] };
      seen.set(key, entry);
    }
    entry.count++;
    entry.ops.push(o.complete.index);
    const node = o.invoke.node;
    if (node !== undefined && !entry.nodes.includes(node)) entry.nodes.push(node);
  }

  const duplicates = [...seen.values()]
    .filter((d) => d.count > 1)
    .sort((a, b) => b.count - a.count);
  const listed = duplicates.slice(0, MAX_LISTED);
  const details = {
    attempted_count: operations.length,
    acknowledged_count: ids.length,
    duplicated_count: duplicates.length,
    duplicated: listed,
    ...idRange(ids),
  };

  if (duplicates.length > 0) {
    const first = listed[0] as DuplicatedId;
    const by = first.nodes.length > 0 ? `, by ${listSome(first.nodes, 5)}` : "";
    return {
      valid: false,
      summary:
        `${plural(duplicates.length, "id was", "ids were")} handed out more than once among ` +
        `${ids.length} acknowledged generate calls, e.g. ${show(first.id)} (${first.count} times${by}).`,
      ops: listed.flatMap((d) => d.ops),
      ...details,
    };
  }
  if (ids.length === 0) {
    return {
      valid: "unknown",
      summary:
        operations.length === 0
          ? "The history has no generate operations, so there was nothing to check."
          : `None of the ${plural(operations.length, "generate call")} was acknowledged, so no id could be checked.`,
      ...details,
    };
  }
  return {
    valid: true,
    summary: `All ${ids.length} acknowledged ids are distinct (${operations.length} generate calls attempted).`,
    ...details,
  };
}

/** Jepsen's `range`: smallest and largest id, when all ids are numbers or all are strings. */
function idRange(ids: readonly unknown[]): { range?: [unknown, unknown] } {
  const first = ids[0];
  if (typeof first !== "number" && typeof first !== "string") return {};
  if (!ids.every((id) => typeof id === typeof first)) return {};
  let lo = first;
  let hi = first;
  for (const id of ids as Array<number | string>) {
    if (id < lo) lo = id;
    if (id > hi) hi = id;
  }
  return { range: [lo, hi] };
}
