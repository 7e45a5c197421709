// Maelstrom's g-counter and pn-counter workloads: adds of small deltas, reads, and final reads
// that must equal a sum reachable from the acknowledged and the indeterminate adds.
import { checkCounter } from "../checkers/counter.js";
import { ReplyError } from "./protocol.js";
import type { Workload, WorkloadFactory } from "./workload.js";

function counter(name: string, minDelta: number, maxDelta: number): WorkloadFactory {
  return ({ rng }): Workload => ({
    name,
    timeout_ms: 5_000,
    errorsIndefinite: true,
    generate: () =>
      rng.chance(0.5)
        ? { f: "add", value: rng.int(minDelta, maxDelta) }
        : { f: "read", value: null },
    final: () => [{ f: "read", value: null, final: true }],
    request: (op) => (op.f === "add" ? { type: "add", delta: op.value } : { type: "read" }),
    okValue: (op, reply) => {
      if (op.f === "add") return op.value;
      if (!Number.isSafeInteger(reply.value))
        throw new ReplyError(`read_ok "value" must be an integer`);
      return reply.value;
    },
    idempotent: (f) => f === "read",
    check: async (history) => ({ counter: checkCounter(history) }),
  });
}

export const gCounter = counter("g-counter", 0, 4);
export const pnCounter = counter("pn-counter", -5, 4);
