// Maelstrom's echo workload: `echo` -> `echo_ok` carrying the same value.
import { checkEcho } from "../checkers/echo.js";
import { ReplyError } from "./protocol.js";
import type { WorkloadFactory } from "./workload.js";

export const echo: WorkloadFactory = ({ rng }) => ({
  name: "echo",
  timeout_ms: 5_000,
  generate: () => ({ f: "echo", value: `Please echo ${rng.int(0, 127)}` }),
  request: (op) => ({ type: "echo", echo: op.value }),
  okValue: (_op, reply) => {
    if (!("echo" in reply)) throw new ReplyError(`echo_ok has no "echo" field`);
    return reply.echo;
  },
  idempotent: () => true,
  check: async (history) => ({ echo: checkEcho(history) }),
});
