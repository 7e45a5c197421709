// Every workload by the name `--workload` takes.
import { broadcast } from "./broadcast.js";
import { gCounter, pnCounter } from "./counter.js";
import { echo } from "./echo.js";
import { gSet } from "./g-set.js";
import { kv } from "./kv.js";
import { linKv } from "./lin-kv.js";
import { uniqueIds } from "./unique-ids.js";
import type { WorkloadFactory } from "./workload.js";

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

/**
 * Workloads of the tcp transport (processes and a job, not a stream of client ops).
 * `mapreduce`: workloads/mapreduce/.
 */
export const TCP_WORKLOADS = ["mapreduce"] as const;
