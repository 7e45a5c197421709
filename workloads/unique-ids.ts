// Maelstrom's unique-ids workload: every `generate` must return an id no other call returned.
import { checkUniqueIds } from "../checkers/unique-ids.js";
import { ReplyError } from "./protocol.js";
import type { WorkloadFactory } from "./workload.js";

export const uniqueIds: WorkloadFactory = () => ({
  name: "unique-ids",
  timeout_ms: 5_000,
  generate: () => ({ f: "generate", value: null }),
  request: () => ({ type: "generate" }),
  okValue: (_op, reply) => {
    if (reply.id === undefined || reply.id === null)
      throw new ReplyError(`generate_ok has no "id"`);
    return reply.id;
  },
  idempotent: () => false,
  check: async (history) => ({ "unique-ids": checkUniqueIds(history) }),
});
