// Every workload by the name `--workload` takes: the registry the lifecycle and the CLI read.
// Adding a workload is a line here (ARCHITECTURE.md "Adding a workload").
import { broadcast } from "./broadcast.js";
import { gCounter, pnCounter } from "./counter.js";
import { echo } from "./echo.js";
import { gSet } from "./g-set.js";
import { kv } from "./kv.js";
import { linKv } from "./lin-kv.js";
import type { UdpOptions } from "./lsp/common.js";
import { lspPlugin } from "./lsp/index.js";
import { maelstromPlugin } from "./maelstrom/plugin.js";
import { mapreducePlugin } from "./mapreduce/index.js";
import type { MapReduceOptions } from "./mapreduce/options.js";
import { miningPlugin } from "./mining/index.js";
import { mitLab1Plugin } from "./mit-lab1/index.js";
import type { LabOptions } from "./mit-lab1/options.js";
import { SetupError, type WorkloadPlugin } from "./plugin.js";
import { type ShardKvOptions, shardKvPlugin } from "./shard-kv/index.js";
import { uniqueIds } from "./unique-ids.js";
import type { WorkloadFactory } from "./workload.js";

/** The Maelstrom workloads: a generator, a client adaptor and checkers each. */
export const WORKLOADS: Readonly<Record<string, WorkloadFactory>> = {
  echo,
  "unique-ids": uniqueIds,
  broadcast,
  "g-set": gSet,
  "g-counter": gCounter,
  "pn-counter": pnCounter,
  "lin-kv": linKv,
  kv,
};

/** What each Maelstrom workload asks of a node, for `faultline workloads`. */
const SUMMARIES: Readonly<Record<keyof typeof WORKLOADS, string>> = {
  echo: "every request comes back unchanged",
  "unique-ids": "ids unique across the whole cluster, partitions or not",
  broadcast: "every broadcast value reaches every node over --topology; final reads see them all",
  "g-set": "a grow-only set: every acknowledged add is in every node's final read",
  "g-counter": "a grow-only counter: final reads equal a sum the acknowledged adds allow",
  "pn-counter": "a counter that also decrements: final reads within what the adds allow",
  "lin-kv": "a linearizable register per key (read, write, cas), checked by our Porcupine port",
  kv: "MIT-style Get/Put/Append per key, linearizable (workloads/kv.md)",
};

/** Our system that passes each Maelstrom workload under its faults (WorkloadPlugin.reference). */
const REFERENCES: Readonly<Record<keyof typeof WORKLOADS, string>> = {
  echo: "gossip",
  "unique-ids": "gossip",
  broadcast: "gossip",
  "g-set": "gossip",
  "g-counter": "gossip",
  "pn-counter": "gossip",
  // raft-kv, not lin-kv (which loses every value when its primary is killed) or paxos-kv and
  // pb-kv: the one that survives every fault kind the maelstrom transport injects.
  "lin-kv": "raft-kv",
  kv: "raft-kv",
};

export const PLUGINS: Readonly<Record<string, WorkloadPlugin>> = {
  ...Object.fromEntries(
    Object.entries(WORKLOADS).map(([name, factory]) => [
      name,
      maelstromPlugin(name, factory, SUMMARIES[name] ?? name, REFERENCES[name]),
    ]),
  ),
  lsp: lspPlugin,
  mining: miningPlugin,
  mapreduce: mapreducePlugin,
  "mit-lab1": mitLab1Plugin as WorkloadPlugin,
  "shard-kv": shardKvPlugin as WorkloadPlugin,
};

/** Each workload's own options, under the key its plugin names (TestOptions carries them). */
export interface WorkloadOptionBags {
  udp?: UdpOptions;
  mapreduce?: MapReduceOptions;
  mit_lab1?: LabOptions;
  shard_kv?: ShardKvOptions;
}

export function workloadPlugin(name: string): WorkloadPlugin {
  const plugin = PLUGINS[name];
  if (!plugin) {
    throw new SetupError(
      `unknown workload "${name}"; choose one of ${Object.keys(PLUGINS).join(", ")}`,
    );
  }
  return plugin;
}
