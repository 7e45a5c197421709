// Workload `lsp` (workloads/lsp/README.md; systems/lsp/README.md "What faultline checks"): many
// concurrent LSP connections each stream payloads to an echo server through the UDP proxy; at the
// end, half the clients close with data still pending and the server closes the other half's
// connections with data pending. The driver is workloads/lsp/driver.ts; this module holds what it
// generates and how it is checked.
import { checkDelivery, type DeliveryOptions } from "../../checkers/delivery.js";
import type { Op } from "../../checkers/history.js";
import type { CheckResult } from "../../checkers/result.js";
import type { LspParams } from "../../protocols/lsp/params.js";
import type { Rng } from "../workload.js";
import { PROCESS_SLACK_MS } from "./common.js";

/** Messages each side sends in the final phase right before its Close / CloseConn. */
export const FINAL_MESSAGES = 5;
/** Largest payload the workload writes (LSP carries up to about 1,000 bytes per message). */
export const MAX_PAYLOAD_BYTES = 600;

const PAD = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";

/**
 * Payload number `k` of a writer: "<client>:<k>:" then random padding, so every payload of a run
 * is unique (the checker matches reads to writes by content) and sizes vary (0–600 bytes).
 * Mostly small, sometimes large: a quarter of them are 200–600 bytes.
 */
export function lspPayload(writer: string, k: number, rng: Rng): Buffer {
  const head = `${writer}:${k}:`;
  const pad = rng.chance(0.25) ? rng.int(200, MAX_PAYLOAD_BYTES) : rng.int(0, 48);
  let text = head;
  for (let i = 0; i < pad - head.length; i++) text += PAD[rng.int(0, PAD.length - 1)];
  return Buffer.from(text, "latin1");
}

/** The delivery checker's bounds for a run with these LSP parameters, faults and --strict. */
export function lspCheckOptions(
  params: LspParams,
  faults: readonly string[],
  strict: boolean,
): DeliveryOptions {
  return {
    epoch_limit: params.epochLimit,
    epoch_ms: params.epochMillis,
    slack_ms: 2 * params.epochMillis + PROCESS_SLACK_MS,
    faults_injected: faults.length > 0,
    strict,
  };
}

export function checkLsp(
  history: readonly Op[],
  options: DeliveryOptions,
): Record<string, CheckResult> {
  return { delivery: checkDelivery(history, options) };
}
