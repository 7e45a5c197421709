// The udp transport: a proxy between the server (the hub) and each client-side participant,
// which has a frontend of its own, so partitions, loss, duplication, delay and LSP Data
// mutations apply per link. Every datagram is journaled, decoded when it is LSP JSON.
import { join } from "node:path";
import type { UdpNet } from "../../workloads/plugin.js";
import { SetupError } from "../exit-codes.js";
import { STORE_FILES } from "../store.js";
import { UDP_FAULT_KINDS, UdpNemesis } from "../udp/nemesis.js";
import { UdpProxy } from "../udp/proxy.js";
import type { OpenTransport, Transport, TransportRun } from "./transport.js";

export const udpTransport: Transport<UdpNet> = {
  name: "udp",
  fault_kinds: UDP_FAULT_KINDS,
  open: async (run) => openUdp(run),
};

function openUdp(run: TransportRun): OpenTransport<UdpNet> {
  const { options, dir, clock, random, links, history, log } = run;
  const proxy = UdpProxy.create({
    clock,
    random: random.fork("network"),
    links,
    journalPath: join(dir, STORE_FILES.messages),
  });
  return {
    net: proxy,
    nemesis: (driver) => {
      if (!driver.hooks) throw new SetupError(`${options.workload} has no process-fault hooks`);
      return new UdpNemesis(
        {
          ...options.nemesis,
          mutate: driver.packet_options?.mutate ?? 0,
          steady_packet: driver.packet_options?.steady === true,
        },
        proxy.server,
        driver.hooks,
        links,
        proxy,
        history,
        random.fork("nemesis"),
        log,
      );
    },
    stats: (invokes) => {
      const to = proxy.totals.total("to-server");
      const from = proxy.totals.total("from-server");
      const sent = to.sent + from.sent;
      return {
        send_count: sent,
        recv_count: to.delivered + from.delivered,
        drop_count: to.dropped + from.dropped,
        clients: { send_count: sent, recv_count: to.delivered + from.delivered },
        servers: { send_count: 0, recv_count: 0 },
        msgs_per_op: invokes ? sent / invokes : null,
        servers_msgs_per_op: null,
        udp: {
          "to-server": to,
          "from-server": from,
          peers: Object.fromEntries(proxy.totals.counts),
        },
      };
    },
    warnings: () => [],
    close: async () => proxy.close(),
  };
}
