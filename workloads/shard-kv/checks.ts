// shard-kv's checkers over the history alone (so `faultline check` can repeat them):
// `linearizable` per key with the append-kv model over the client ops, `exactly-once` (appends
// applied once, none lost), and `shard-availability` (a warning when a shard no change touched
// stalled).
import { checkExactlyOnce } from "../../checkers/exactly-once.js";
import type { Op } from "../../checkers/history.js";
import { checkLinearizable } from "../../checkers/linearizable.js";
import type { CheckResult } from "../../checkers/result.js";
import { checkShardAvailability } from "../../checkers/shard-availability.js";

const CLIENT_FS = new Set(["get", "put", "append"]);

/** The client ops (and nemesis events) without the controller's query/join/leave/move ops. */
export function clientOps(ops: readonly Op[]): Op[] {
  return ops.filter((op) => op.process === "nemesis" || CLIENT_FS.has(op.f));
}

export async function checkShardKv(ops: readonly Op[]): Promise<Record<string, CheckResult>> {
  const client = clientOps(ops);
  return {
    linearizable: await checkLinearizable(client, { model: "append-kv" }),
    "exactly-once": checkExactlyOnce(client),
    "shard-availability": checkShardAvailability(ops),
  };
}
