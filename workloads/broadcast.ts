// Maelstrom's broadcast workload: topology first, then broadcasts of 0, 1, 2, … mixed with
// reads; after the recovery wait every node is read once more and must hold every
// acknowledged value.
import { checkSetFull } from "../checkers/set-full.js";
import { ReplyError } from "./protocol.js";
import { buildTopology } from "./topology.js";
import type { WorkloadFactory } from "./workload.js";

export const broadcast: WorkloadFactory = ({ nodes, rng, topology }) => {
  const links = buildTopology(topology, nodes);
  let next = 0;
  return {
    name: "broadcast",
    timeout_ms: 5_000,
    setup: () => [{ type: "topology", topology: links }],
    generate: () =>
      rng.chance(0.5) ? { f: "broadcast", value: next++ } : { f: "read", value: null },
    final: () => [{ f: "read", value: null, final: true }],
    request: (op) =>
      op.f === "broadcast" ? { type: "broadcast", message: op.value } : { type: "read" },
    okValue: (op, reply) => {
      if (op.f === "broadcast") return op.value;
      if (!Array.isArray(reply.messages))
        throw new ReplyError(`read_ok "messages" must be an array`);
      return reply.messages;
    },
    idempotent: (f) => f === "read",
    check: async (history) => ({ "set-full": checkSetFull(history, { addF: "broadcast" }) }),
  };
};
