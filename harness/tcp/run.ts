// `faultline test` for the tcp transport. Its workload, `mapreduce`, is a plugin now
// (workloads/mapreduce/); it runs once the one run lifecycle (harness/run.ts) drives plugins.

import { TCP_WORKLOADS } from "../../workloads/index.js";
import type { MapReduceOptions } from "../../workloads/mapreduce/options.js";
import { SetupError } from "../exit-codes.js";
import type { RunOutcome, TestOptions } from "../run.js";

export { TCP_WORKLOADS };
export type TcpWorkload = (typeof TCP_WORKLOADS)[number];

export function isTcpWorkload(name: string): name is TcpWorkload {
  return (TCP_WORKLOADS as readonly string[]).includes(name);
}

export type TcpTestOptions = TestOptions & { mapreduce?: MapReduceOptions };

export async function runTcpTest(options: TcpTestOptions): Promise<RunOutcome> {
  throw new SetupError(
    `workload "${options.workload}" needs the plugin run lifecycle (harness/run.ts), not merged yet`,
  );
}
