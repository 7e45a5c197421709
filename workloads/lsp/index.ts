// The `lsp` workload on the udp transport: delivery through an LSP server under faults
// (driver.ts), or with --conformance the server's wire behaviour against the spec
// (conformance.ts).
import type { UdpNet, WorkloadPlugin } from "../plugin.js";
import {
  CONFORMANCE_OPTION,
  LSP_PARAM_OPTIONS,
  prepareUdp,
  UDP_OPTIONS,
  type UdpOptions,
  udpOptions,
} from "./common.js";
import { ConformanceDriver } from "./conformance.js";
import { LSP_CLIENT, LspDriver } from "./driver.js";

export const lspPlugin: WorkloadPlugin<UdpNet, UdpOptions> = {
  name: "lsp",
  transport: "udp",
  summary:
    "LSP clients stream payloads through your server and close with data pending (--conformance: its wire behaviour against the spec)",
  faults: ["partition", "packet", "kill", "pause"],
  options_key: "udp",
  options: [...LSP_PARAM_OPTIONS, CONFORMANCE_OPTION, ...UDP_OPTIONS],
  fromFlags: udpOptions,
  prepare: (settings, options) => prepareUdp(settings, options, { client: LSP_CLIENT }),
  create: (ctx, options = {}) =>
    options.conformance ? new ConformanceDriver(ctx, options) : new LspDriver(ctx, options),
};
