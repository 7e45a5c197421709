// What one gRPC call's end means for the history (workloads/grpc/README.md "Outcomes"): `ok` with
// the reply, `fail` only for statuses that say the call had no effect, `info` for everything that
// may have run on the server.
import { status } from "@grpc/grpc-js";
import type { OpHandle } from "../plugin.js";

/** Kept of a status's details (the target's text: untrusted), as the proxy's journal keeps. */
export const DETAILS_MAX_CHARS = 256;
/** A reply whose JSON is longer goes into the history as its head and length only. */
const REPLY_MAX_JSON_CHARS = 4096;

/**
 * Statuses by which a server says it refused the request as it stood (bad, unknown, not allowed,
 * not served) without changing anything. `fail` takes the server at its word. grpc-js makes some
 * of them itself: from a non-gRPC HTTP answer (401, 403, 404), which no handler saw, and from a
 * unary answer with no or two messages, which `answered` below catches.
 */
const NO_EFFECT: ReadonlySet<number> = new Set([
  status.INVALID_ARGUMENT,
  status.NOT_FOUND,
  status.ALREADY_EXISTS,
  status.PERMISSION_DENIED,
  status.FAILED_PRECONDITION,
  status.OUT_OF_RANGE,
  status.UNIMPLEMENTED,
  status.UNAUTHENTICATED,
]);

export interface CallError {
  code: number;
  /** grpc.status's name ("NOT_FOUND"), or CODE_<n> for a code outside it. */
  name: string;
  /** At most DETAILS_MAX_CHARS. */
  details: string;
}

export type Outcome<Reply = unknown> =
  | { type: "ok"; reply: Reply }
  | { type: "fail" | "info"; error: CallError };

/**
 * The outcome of a call that ended with `code` (not OK). `answered`: the handler answered (a reply
 * message arrived, or the server's status was OK) and grpc-js still ended the call with an error;
 * the handler ran, so never `fail`.
 */
export function errorOutcome(code: number, details: string, answered: boolean): Outcome<never> {
  const name = status[code] ?? `CODE_${code}`;
  const error = { code, name, details: cut(details, DETAILS_MAX_CHARS) };
  return { type: NO_EFFECT.has(code) && !answered ? "fail" : "info", error };
}

/**
 * Records the outcome as the op's completion: ok with the reply (bounded), fail or info with the
 * invoke's value and the error as the history's `[name, details]`.
 */
export function complete(op: OpHandle, outcome: Outcome): void {
  if (outcome.type === "ok") {
    op.complete("ok", boundedReply(outcome.reply));
  } else {
    op.complete(outcome.type, undefined, [outcome.error.name, outcome.error.details]);
  }
}

/** The reply itself when its JSON is short, else its head and length (replies are untrusted). */
function boundedReply(reply: unknown): unknown {
  const json = JSON.stringify(reply) ?? "null";
  if (json.length <= REPLY_MAX_JSON_CHARS) return reply;
  return { reply_head: cut(json, DETAILS_MAX_CHARS), reply_json_chars: json.length };
}

function cut(text: string, max_chars: number): string {
  return text.length <= max_chars ? text : `${text.slice(0, max_chars - 1)}…`;
}
