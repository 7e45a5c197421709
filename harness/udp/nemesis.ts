// The nemesis of the udp transport: the star nemesis (harness/nemesis/star-nemesis.ts) around the
// server, with the UDP proxy's datagram mutations (corruption, shortening, lengthening) added to
// packet faults.

import type { ProcessHooks } from "../../workloads/plugin.js";
import type { HistoryRecorder } from "../history-recorder.js";
import type { LinkTable } from "../links.js";
import type { Logger } from "../logger.js";
import type { FaultKind } from "../nemesis/nemesis.js";
import {
  type PacketExtras,
  StarNemesis,
  type StarNemesisOptions,
} from "../nemesis/star-nemesis.js";
import type { Random } from "../random.js";
import type { UdpProxy } from "./proxy.js";

export const UDP_FAULT_KINDS: readonly FaultKind[] = ["partition", "packet", "kill", "pause"];

export interface UdpNemesisOptions extends StarNemesisOptions {
  /** Per-datagram probability of each LSP Data mutation (shorten, lengthen, corrupt). */
  mutate: number;
}

/** The UDP proxy's mutations as packet-fault extras: each with probability `m` per datagram. */
function mutations(proxy: UdpProxy, m: number): PacketExtras {
  return {
    set: (src, dest, on) =>
      proxy.setExtras(
        src,
        dest,
        on ? { shorten: m, lengthen: m, corrupt: m } : { shorten: 0, lengthen: 0, corrupt: 0 },
      ),
    faultyCount: () => proxy.faultyExtras().length,
    heal: () => proxy.healExtras(),
    describe: () => ({ shorten: m, lengthen: m, corrupt: m }),
  };
}

export class UdpNemesis extends StarNemesis {
  constructor(
    options: UdpNemesisOptions,
    server: string,
    hooks: ProcessHooks,
    links: LinkTable,
    proxy: UdpProxy,
    history: HistoryRecorder,
    random: Random,
    log: Logger,
  ) {
    super(
      options,
      {
        transport: "udp",
        kinds: UDP_FAULT_KINDS,
        hub: server,
        packet_extras: mutations(proxy, options.mutate),
      },
      hooks,
      links,
      history,
      random,
      log,
    );
  }
}
