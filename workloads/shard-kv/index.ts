// The shard-kv workload (systems/shard-kv/README.md): MIT 6.5840 Lab 5's sharded key-value
// service behind a shard controller, on the maelstrom transport, with its own driver (clerks that
// follow the config, not one node per worker) and the `reconfigure` fault only it can make.

import { CONTROLLER_COUNT, GROUP_SIZE, groupCount } from "../../protocols/shard-kv.js";
import { FAULT_KINDS } from "../faults.js";
import { nodeNames } from "../maelstrom/plugin.js";
import { type MaelstromNet, SetupError, type WorkloadPlugin } from "../plugin.js";
import { checkShardKv } from "./checks.js";
import { ShardKvDriver } from "./driver.js";

/** The node count with `groups` replica groups: the controller's replicas, then the groups. */
export function shardKvNodeCount(groups: number): number {
  return CONTROLLER_COUNT + GROUP_SIZE * groups;
}

export interface ShardKvOptions {
  /** No GC phase (gc.ts), so no shard-gc verdict: a shorter run. */
  skip_gc: boolean;
}

export const shardKvPlugin: WorkloadPlugin<MaelstromNet, ShardKvOptions> = {
  name: "shard-kv",
  transport: "maelstrom",
  // The controller and two groups: the smallest cluster where a shard can move.
  default_node_count: 9,
  summary:
    "MIT-style sharded Get/Put/Append behind a shard controller: linearizable, exactly-once, through reconfigurations",
  // Every maelstrom kind, and reconfigure, which only this driver can carry out.
  faults: FAULT_KINDS,
  reference: "shard-kv",
  options_key: "shard_kv",
  options: [
    {
      flags: "--skip-gc",
      description:
        "shard-kv: no GC phase after the final reads, so no shard-gc verdict (the phase moves 1.25 MiB through every group: a few seconds, up to 15 s more when old shards are kept)",
      type: "flag",
    },
  ],
  fromFlags: (flags) => ({ skip_gc: flags.skipGc === true }),
  prepare: (settings) => {
    const nodes = nodeNames(settings);
    if (groupCount(nodes.length) === undefined) {
      const near = Math.max(1, Math.round((nodes.length - CONTROLLER_COUNT) / GROUP_SIZE));
      throw new SetupError(
        `shard-kv needs ${CONTROLLER_COUNT} controller nodes plus groups of ${GROUP_SIZE}, got ${nodes.length} nodes; use --node-count ${shardKvNodeCount(near)} (${near} group${near === 1 ? "" : "s"})`,
      );
    }
    return { extra: { nodes } };
  },
  create: (ctx, options) => new ShardKvDriver(ctx, options?.skip_gc === true),
  rechecker: (test) => (ops) => checkShardKv(ops, { strict: test.strict === true }),
};
