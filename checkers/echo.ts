// The echo checker (systems/gossip/README.md "The interface, per workload"): every acknowledged
// echo must carry exactly what was sent.
//
// Maelstrom counts an error or a timeout as a mismatch too. We do not: a `fail` or `info`
// completion says the reply did not arrive (a paused node, a killed node, a lossy client
// link), not that the node echoed something wrong, and calling that a violation would cry wolf
// under every fault. Those ops are counted and listed separately; the verdict is false only
// when an `ok` reply's echo differs from the request, and "unknown" when no echo was answered
// at all (nothing was proven).
import { canonicalKey, plural, show } from "./canonical.js";
import { type Op, pairOperations } from "./history.js";
import type { CheckResult } from "./result.js";

/** How many mismatches and unanswered ops the result lists (all are counted). */
export const MAX_LISTED = 48;

export interface EchoMismatch {
  /** History indexes of the invoke and of the ok completion. */
  invoke: number;
  complete: number;
  node?: string;
  sent: unknown;
  received: unknown;
}

export interface EchoUnanswered {
  invoke: number;
  /** Undefined when the history ended with the op still pending. */
  complete?: number;
  type: "fail" | "info";
  error?: unknown;
}

export function checkEcho(history: readonly Op[]): CheckResult {
  const operations = pairOperations(history).filter((o) => o.f === "echo");
  const mismatches: EchoMismatch[] = [];
  const unanswered: EchoUnanswered[] = [];
  let mismatchCount = 0;
  let okCount = 0;
  let failCount = 0;
  let infoCount = 0;

  for (const o of operations) {
    if (o.type === "ok" && o.complete) {
      okCount++;
      const sent = o.invoke.value;
      const received = o.complete.value;
      if (canonicalKey(sent) === canonicalKey(received)) continue;
      mismatchCount++;
      if (mismatches.length < MAX_LISTED) {
        mismatches.push({
          invoke: o.invoke.index,
          complete: o.complete.index,
          ...(o.invoke.node !== undefined && { node: o.invoke.node }),
          sent,
          received,
        });
      }
      continue;
    }
    if (o.type === "fail") failCount++;
    else infoCount++;
    if (unanswered.length < MAX_LISTED) {
      const type = o.type === "fail" ? "fail" : "info";
      unanswered.push({
        invoke: o.invoke.index,
        ...(o.complete && { complete: o.complete.index }),
        type,
        ...(o.complete?.error !== undefined && { error: o.complete.error }),
      });
    }
  }

  const counts = {
    attempt_count: operations.length,
    ok_count: okCount,
    mismatch_count: mismatchCount,
    fail_count: failCount,
    info_count: infoCount,
    mismatches,
    unanswered,
  };
  const unansweredCount = failCount + infoCount;
  const noReply =
    unansweredCount === 0
      ? ""
      : ` (${plural(unansweredCount, "request")} got an error or no reply, which proves nothing either way)`;

  if (mismatchCount > 0) {
    const first = mismatches[0] as EchoMismatch;
    const where = first.node === undefined ? "" : ` from ${first.node}`;
    return {
      valid: false,
      summary:
        `${mismatchCount} of ${okCount} echo replies differ from what was sent, e.g. sent ` +
        `${show(first.sent)} but got ${show(first.received)}${where}.`,
      ops: mismatches.flatMap((m) => [m.invoke, m.complete]),
      ...counts,
    };
  }
  if (okCount === 0) {
    return {
      valid: "unknown",
      summary:
        operations.length === 0
          ? "The history has no echo operations, so there was nothing to check."
          : `None of the ${plural(operations.length, "echo request")} was answered, so nothing could be checked.`,
      ...counts,
    };
  }
  return {
    valid: true,
    summary: `All ${plural(okCount, "answered echo", "answered echoes")} matched what was sent${noReply}.`,
    ...counts,
  };
}
