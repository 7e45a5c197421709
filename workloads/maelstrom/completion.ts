// Maps a reply (or its absence) to the op's completion (README.md "Workloads"): ok, fail
// (definitely did not happen) or info (unknown).

import type { MalformedReply } from "../plugin.js";
import { type Body, describeErrorCode, ReplyError } from "../protocol.js";
import type { Completion, OpSpec, Workload } from "../workload.js";

export type { MalformedReply };

export function completionFor(
  workload: Workload,
  op: OpSpec,
  requestType: string,
  reply: Body | undefined,
): Completion & { malformed?: string } {
  // An op without effect cannot have happened unseen, so not knowing its outcome is a `fail`.
  const unsure = (error: unknown): Completion =>
    workload.idempotent(op.f)
      ? { type: "fail", value: op.value, error }
      : { type: "info", value: op.value, error };

  if (reply === undefined) {
    return unsure(["net-timeout", `no reply within ${workload.timeout_ms} ms`]);
  }
  if (reply.type === "error") {
    const code = reply.code;
    if (!Number.isSafeInteger(code)) {
      const malformed = `error reply without an integer "code"`;
      return { type: "info", value: op.value, error: ["malformed-reply", malformed], malformed };
    }
    const override = workload.mapError?.(op, code as number, reply);
    if (override) return override;
    const known = describeErrorCode(code as number);
    const error = [known.name, typeof reply.text === "string" ? reply.text.slice(0, 1024) : null];
    if (known.definite && !workload.errorsIndefinite)
      return { type: "fail", value: op.value, error };
    return unsure(error);
  }
  if (reply.type !== `${requestType}_ok`) {
    const malformed = `answered ${requestType} with "${String(reply.type).slice(0, 64)}", expected ${requestType}_ok or error`;
    return { type: "info", value: op.value, error: ["malformed-reply", malformed], malformed };
  }
  try {
    return { type: "ok", value: workload.okValue(op, reply) };
  } catch (err) {
    if (!(err instanceof ReplyError)) throw err;
    return {
      type: "info",
      value: op.value,
      error: ["malformed-reply", err.message],
      malformed: err.message,
    };
  }
}
