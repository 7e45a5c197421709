// The tcp transport: a proxy listener per directed link (src→dst), so programs that dial each
// other over TCP (a MapReduce worker its coordinator; gRPC and HTTP ride it too) get
// partitions, loss, delay and resets per link. Every connection and chunk is journaled.
import { join } from "node:path";
import type { FaultKind } from "../../workloads/faults.js";
import type { TcpNet } from "../../workloads/plugin.js";
import { SetupError } from "../exit-codes.js";
import { JsonlWriter } from "../jsonl-writer.js";
import { StarNemesis } from "../nemesis/star-nemesis.js";
import { STORE_FILES } from "../store.js";
import { freeTcpPort, waitListening } from "../tcp/ports.js";
import { TcpProxy } from "../tcp/proxy.js";
import type { OpenTransport, Transport, TransportRun } from "./transport.js";

/** The journal stops growing here (the run goes on; the journal says it was cut). */
const MAX_JOURNAL_BYTES = 512 * 1024 * 1024;

const TCP_FAULT_KINDS: readonly FaultKind[] = ["partition", "kill", "pause"];

export const tcpTransport: Transport<TcpNet> = {
  name: "tcp",
  fault_kinds: TCP_FAULT_KINDS,
  open: async (run) => openTcp(run),
};

function openTcp(run: TransportRun): OpenTransport<TcpNet> {
  const { options, dir, clock, random, links, history, log } = run;
  const journal = new JsonlWriter(join(dir, STORE_FILES.messages), {
    flush_bytes: 64 * 1024,
    max_bytes: MAX_JOURNAL_BYTES,
    flush_interval_ms: 200,
  });
  const proxy = new TcpProxy({ links, random: random.fork("network"), clock, journal, log });
  const net: TcpNet = {
    listen: (src, dst, dst_port, on_reply) => proxy.listen(src, dst, dst_port, on_reply),
    resetConnections: (node) => proxy.resetConnections(node),
    freePort: freeTcpPort,
    waitListening,
  };
  return {
    net,
    nemesis: (driver) => {
      if (!driver.hooks || driver.hub === undefined) {
        throw new SetupError(`${options.workload} has no process-fault hooks or hub`);
      }
      return new StarNemesis(
        options.nemesis,
        { transport: "tcp", kinds: TCP_FAULT_KINDS, hub: driver.hub },
        driver.hooks,
        links,
        history,
        random.fork("nemesis"),
        log,
      );
    },
    stats: (invokes) => {
      const tcp = proxy.stats();
      let chunks = 0;
      let resets = 0;
      for (const link of Object.values(tcp)) {
        chunks += link.chunks ?? 0;
        resets += link.resets ?? 0;
      }
      return {
        send_count: chunks,
        recv_count: chunks,
        drop_count: resets,
        clients: { send_count: chunks, recv_count: chunks },
        servers: { send_count: 0, recv_count: 0 },
        msgs_per_op: invokes ? chunks / invokes : null,
        servers_msgs_per_op: null,
        tcp,
      };
    },
    warnings: () => [],
    close: async () => {
      await proxy.close();
      journal.close();
    },
  };
}
