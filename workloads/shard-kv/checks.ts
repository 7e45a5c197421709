// shard-kv's checkers over the history alone (so `faultline check` can repeat them):
// `linearizable` per key with the append-kv model over the client ops, `exactly-once` (appends
// applied once, none lost), `shard-controller` (the controller's configs, from every query
// answer), `shard-availability` (a warning when a shard no change touched stalled) and
// `shard-gc` (given-away shards deleted; a warning unless --strict).
import { checkExactlyOnce } from "../../checkers/exactly-once.js";
import type { Op } from "../../checkers/history.js";
import { checkLinearizable } from "../../checkers/linearizable.js";
import type { CheckResult } from "../../checkers/result.js";
import { checkShardAvailability } from "../../checkers/shard-availability.js";
import { type ConfigObservation, checkShardConfigs } from "../../checkers/shard-controller.js";
import { checkShardGc } from "../../checkers/shard-gc.js";
import { parseConfig } from "../../protocols/shard-kv.js";

const CLIENT_FS = new Set(["get", "put", "append"]);

/** The client ops (and nemesis events) without the controller's query/join/leave/move ops. */
export function clientOps(ops: readonly Op[]): Op[] {
  return ops.filter((op) => op.process === "nemesis" || CLIENT_FS.has(op.f));
}

/**
 * Every config an ok `query` got, under the num it answers for: the one asked, or the config's
 * own for −1 and for a num past the latest (both mean "the latest", README "Controller RPCs").
 */
export function configObservations(ops: readonly Op[]): ConfigObservation[] {
  const out: ConfigObservation[] = [];
  for (const op of ops) {
    if (op.process === "nemesis" || op.f !== "query" || op.type !== "ok") continue;
    const value = op.value as { num?: unknown; config?: unknown } | null;
    const config = parseConfig(value?.config);
    if (!config || op.node === undefined) continue;
    const asked = typeof value?.num === "number" ? value.num : -1;
    const num = asked < 0 || asked > config.num ? config.num : asked;
    out.push({ num, config, node: op.node, op_index: op.index });
  }
  return out;
}

export async function checkShardKv(
  ops: readonly Op[],
  options: { strict: boolean },
): Promise<Record<string, CheckResult>> {
  const client = clientOps(ops);
  return {
    linearizable: await checkLinearizable(client, { model: "append-kv" }),
    "exactly-once": checkExactlyOnce(client),
    "shard-controller": checkShardConfigs(configObservations(ops)),
    "shard-availability": checkShardAvailability(ops),
    "shard-gc": checkShardGc(ops, options),
  };
}
