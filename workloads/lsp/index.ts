// The `lsp` workload on the udp transport: delivery through an LSP server under faults
// (driver.ts), or with --conformance the server's wire behaviour against the spec
// (conformance.ts).
import type { UdpNet, WorkloadPlugin } from "../plugin.js";
import {
  CONFORMANCE_OPTION,
  LSP_PARAM_OPTIONS,
  lspParams,
  prepareUdp,
  UDP_OPTIONS,
  type UdpOptions,
  udpOptions,
} from "./common.js";
import { ConformanceDriver } from "./conformance.js";
import { LSP_CLIENT, LspDriver } from "./driver.js";
import { checkLsp, lspCheckOptions } from "./workload.js";

export const lspPlugin: WorkloadPlugin<UdpNet, UdpOptions> = {
  name: "lsp",
  transport: "udp",
  reference: "lsp",
  summary:
    "LSP clients stream payloads through your server and close with data pending (--conformance: its wire behaviour against the spec)",
  options_key: "udp",
  options: [...LSP_PARAM_OPTIONS, CONFORMANCE_OPTION, ...UDP_OPTIONS],
  fromFlags: udpOptions,
  prepare: (settings, options, role) => prepareUdp(settings, options, { client: LSP_CLIENT }, role),
  create: (ctx, options = {}) =>
    options.conformance ? new ConformanceDriver(ctx, options) : new LspDriver(ctx, options),
  // The delivery checker reads the history alone; the conformance verdict needs what the
  // scripted peers saw on their sockets.
  rechecker: (test) => {
    const udp = test.udp as UdpOptions | undefined;
    if (udp?.conformance) return undefined;
    const requested = (test.nemesis as { faults?: unknown } | undefined)?.faults;
    const faults = Array.isArray(requested) ? (requested as string[]) : [];
    return async (ops) =>
      checkLsp(ops, lspCheckOptions(lspParams(udp), faults, test.strict === true));
  },
};
