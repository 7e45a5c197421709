// Judging LSP wire conformance (systems/lsp/README.md "The wire format", "How it works"): the
// deviations the scripted checks (workloads/lsp/conformance.ts) can report, the retransmission
// schedule they hold a server to, and the verdict over what they found.
import type { CheckResult } from "./result.js";

export const DEVIATIONS = [
  "handshake-ack",
  "duplicate-connect",
  "data-ack",
  "delivery",
  "server-first-seq",
  "server-checksum",
  "checksum-verification",
  "size-short",
  "size-truncate",
  "duplicate-ack",
  "duplicate-delivery",
  "in-order-delivery",
  "retransmission",
  "backoff",
  "window-limit",
  "window-progress",
  "cack-accepted",
  "heartbeat",
  "loss-detection",
  /** A check could not run to its end (e.g. the server stopped answering the control channel). */
  "check-error",
  /** After a check's stimulus the server exited, or a new Connect got no Ack within K epochs. */
  "stopped-answering",
] as const;
export type DeviationName = (typeof DEVIATIONS)[number];

export interface Deviation {
  name: DeviationName;
  check: string;
  expected: string;
  observed: string;
}

/**
 * Epochs (from the first send at 0) at which a never-acknowledged message is sent
 * (systems/lsp/README.md "How it works").
 */
export function sendEpochs(cap: number, until_epoch: number): number[] {
  const out = [0];
  let backoff = 0;
  let at = 0;
  for (;;) {
    at += backoff + 1;
    if (at > until_epoch) return out;
    out.push(at);
    backoff = Math.min(backoff === 0 ? 1 : 2 * backoff, cap);
  }
}

/**
 * Sends seen in the first `epochs` epochs after the first one: the first tick comes up to one
 * epoch after the Write, so the count lies between the schedule's at epochs−1 and at epochs.
 */
export function expectedSends(cap: number, epochs: number): [number, number] {
  return [sendEpochs(cap, epochs - 1).length, sendEpochs(cap, epochs).length];
}

export function scheduleText(cap: number): string {
  return `${sendEpochs(cap, 20).join(", ")}, …`;
}

/** How each check ended: a check after which the server stopped answering ends the run. */
export type CheckStatus = "passed" | "failed" | "not run";

/** What the scripted checks found, for the verdict. */
export interface ConformanceFindings {
  /** Every check, in the order they run. */
  names: readonly string[];
  /** What the checks themselves observed. */
  deviations: readonly Deviation[];
  /**
   * How the server stopped answering while the checks ran concurrently (exited, or a new Connect
   * went unanswered), which names no cause: the checks were then run one at a time.
   */
  concurrent_stop?: string;
  /** Run one at a time: the check after which the server stopped answering, and how. */
  stop?: { after: string; how: string };
}

/** The deviation's check when the server stopped only while the checks ran concurrently. */
const ALL_AT_ONCE = "all-at-once";

/** The `conformance` checker's result: every check's status, what deviated, the params. */
export function conformanceResult(findings: ConformanceFindings, params: unknown): CheckResult {
  const { names, stop, concurrent_stop } = findings;
  const stopped = stopDeviation(findings);
  const deviations = [...(stopped ? [stopped] : []), ...findings.deviations];
  const checks = names.map((name, i) => checkStatus(findings, deviations, name, i));
  const notRun = checks.filter((c) => c.status === "not run").map((c) => c.name);
  const details = {
    checks,
    deviations,
    params,
    ...(concurrent_stop !== undefined && { concurrent_stop }),
    ...(stop && { stopped_after: stop.after, not_run: notRun }),
  };
  if (deviations.length === 0) {
    return {
      valid: true,
      summary: `The server passed all ${names.length} wire-conformance checks (${names.join(", ")}).`,
      ...details,
    };
  }
  const deviationNames = [...new Set(deviations.map((d) => d.name))];
  const others = findings.deviations;
  const headline = stop
    ? `The server stopped answering after check ${stop.after} (${stop.how}), so ${plural(notRun.length, "check")} did not run${notRun.length > 0 ? ` (${notRun.join(", ")})` : ""}.`
    : undefined;
  const listed = headline ? others : deviations;
  const list =
    listed.length > 0
      ? `${plural(new Set(listed.map((d) => d.name)).size, "deviation")} from the LSP spec: ${listed.map((d) => `${d.name} (expected ${d.expected}; observed ${d.observed})`).join("; ")}`
      : undefined;
  return {
    valid: false,
    summary: [headline, list].filter((part) => part !== undefined).join(" "),
    deviation_names: deviationNames,
    ...details,
  };
}

/** The server stopping is a deviation of its own: of the check before it, or of concurrency. */
function stopDeviation(findings: ConformanceFindings): Deviation | undefined {
  const { names, stop, concurrent_stop } = findings;
  if (stop) {
    return {
      name: "stopped-answering",
      check: stop.after,
      expected: "the server still acknowledges a new Connect after the check",
      observed: stop.how,
    };
  }
  if (concurrent_stop === undefined) return undefined;
  return {
    name: "stopped-answering",
    check: ALL_AT_ONCE,
    expected: `the server keeps answering while the ${names.length} checks run at once, one connection each`,
    observed: `${concurrent_stop}; one at a time, it answered after every check`,
  };
}

function checkStatus(
  findings: ConformanceFindings,
  deviations: readonly Deviation[],
  name: string,
  index: number,
): { name: string; status: CheckStatus; reason?: string } {
  const { names, stop } = findings;
  if (stop && index > names.indexOf(stop.after)) {
    return {
      name,
      status: "not run",
      reason: `the server stopped answering after check ${stop.after}`,
    };
  }
  return { name, status: deviations.some((d) => d.check === name) ? "failed" : "passed" };
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? "" : "s"}`;
}
