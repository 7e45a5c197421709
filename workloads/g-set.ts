// Maelstrom's g-set workload (grow-only set). Unlike Maelstrom (issue #95) some adds repeat an
// earlier element, so a set that mishandles duplicates is caught.
import { checkSetFull } from "../checkers/set-full.js";
import { ReplyError } from "./protocol.js";
import type { WorkloadFactory } from "./workload.js";

const REPEAT_P = 0.1;

export const gSet: WorkloadFactory = ({ rng }) => {
  let next = 0;
  const element = () => (next > 0 && rng.chance(REPEAT_P) ? rng.int(0, next - 1) : next++);
  return {
    name: "g-set",
    timeout_ms: 5_000,
    errorsIndefinite: true,
    generate: () => (rng.chance(0.5) ? { f: "add", value: element() } : { f: "read", value: null }),
    final: () => [{ f: "read", value: null, final: true }],
    request: (op) => (op.f === "add" ? { type: "add", element: op.value } : { type: "read" }),
    okValue: (op, reply) => {
      if (op.f === "add") return op.value;
      // The schema's key is `value` (Maelstrom's prose says `elements`; its code says `value`).
      if (!Array.isArray(reply.value)) throw new ReplyError(`read_ok "value" must be an array`);
      return reply.value;
    },
    idempotent: (f) => f === "read",
    check: async (history) => ({ "set-full": checkSetFull(history, { addF: "add" }) }),
  };
};
