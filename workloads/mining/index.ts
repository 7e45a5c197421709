// The `mining` workload on the udp transport: the distributed bitcoin miner (driver.ts), its
// jobs and checks (workload.ts).
import {
  LSP_PARAM_OPTIONS,
  prepareUdp,
  UDP_OPTIONS,
  type UdpOptions,
  udpOptions,
} from "../lsp/common.js";
import type { OptionSpec, UdpNet, WorkloadPlugin } from "../plugin.js";
import { MINING_ROLES, MiningDriver } from "./driver.js";

const MINING_OPTIONS: readonly OptionSpec[] = [
  {
    flags: "--miner-bin <file>",
    description: "mining: your miner program (default: ours)",
    type: "program",
  },
  {
    flags: "--job-timeout <s>",
    description: "mining: seconds before a job's client is given up on",
    type: "number",
    min: 0.1,
  },
];

export const miningPlugin: WorkloadPlugin<UdpNet, UdpOptions> = {
  name: "mining",
  transport: "udp",
  reference: "bitcoin",
  summary:
    "clients submit jobs to your bitcoin server while miners join, fail and come back: correct minima, fairness, load balance",
  options_key: "udp",
  options: [...LSP_PARAM_OPTIONS, ...UDP_OPTIONS, ...MINING_OPTIONS],
  fromFlags: udpOptions,
  prepare: (settings, options, role) => prepareUdp(settings, options, MINING_ROLES, role),
  create: (ctx, options = {}) => new MiningDriver(ctx, options),
};
