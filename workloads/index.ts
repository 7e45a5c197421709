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
import { SetupError, type WorkloadPlugin } from "./plugin.js";
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

export const PLUGINS: Readonly<Record<string, WorkloadPlugin>> = {
  ...Object.fromEntries(
    Object.entries(WORKLOADS).map(([name, factory]) => [name, maelstromPlugin(name, factory)]),
  ),
  lsp: lspPlugin,
  mining: miningPlugin,
  mapreduce: mapreducePlugin,
};

/** Each workload's own options, under the key its plugin names (TestOptions carries them). */
export interface WorkloadOptionBags {
  udp?: UdpOptions;
  mapreduce?: MapReduceOptions;
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
