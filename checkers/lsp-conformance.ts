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

/** The `conformance` checker's result: every check run (`names`), what deviated, the params. */
export function conformanceResult(
  names: readonly string[],
  deviations: readonly Deviation[],
  params: unknown,
): CheckResult {
  if (deviations.length === 0) {
    return {
      valid: true,
      summary: `The server passed all ${names.length} wire-conformance checks (${names.join(", ")}).`,
      checks: names.map((name) => ({ name, passed: true })),
      deviations,
      params,
    };
  }
  const deviationNames = [...new Set(deviations.map((d) => d.name))];
  return {
    valid: false,
    summary: `${deviationNames.length} deviation${deviationNames.length === 1 ? "" : "s"} from the LSP spec: ${deviations.map((d) => `${d.name} (expected ${d.expected}; observed ${d.observed})`).join("; ")}`,
    deviation_names: deviationNames,
    checks: names.map((name) => ({ name, passed: !deviations.some((d) => d.check === name) })),
    deviations,
    params,
  };
}
