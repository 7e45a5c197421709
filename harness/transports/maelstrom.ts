// The maelstrom transport: Maelstrom's message router between nodes that speak its JSON-lines
// protocol on stdin/stdout, its built-in services (lin-kv, seq-kv, lww-kv, lin-tso), the
// harness's clients, and the nodes themselves (the init handshake is part of the protocol).
// It can inject every fault kind, clock skew and crash points included.
import { join } from "node:path";
import type { Op } from "../../checkers/history.js";
import { partitionReachWarning } from "../../checkers/partition-reach.js";
import type { CheckResult } from "../../checkers/result.js";
import { truncate } from "../../reports/escape.js";
import { FAULT_KINDS } from "../../workloads/faults.js";
import { nodeNames } from "../../workloads/maelstrom/plugin.js";
import type { MaelstromNet, MalformedReply, NodeRecord } from "../../workloads/plugin.js";
import { ClientFactory } from "../client.js";
import { Cluster, type Crash, nodeDataDir } from "../cluster.js";
import { ClockControl } from "../nemesis/clock-control.js";
import { Nemesis } from "../nemesis/nemesis.js";
import { Network } from "../network.js";
import { createServices } from "../services.js";
import { STORE_FILES } from "../store.js";
import type { OpenTransport, Transport, TransportRun } from "./transport.js";

/** A line quoted in the protocol summary is cut to this many characters. */
const EXAMPLE_LINE_CHARS = 120;

export const maelstromTransport: Transport<MaelstromNet> = {
  name: "maelstrom",
  fault_kinds: FAULT_KINDS,
  open: async (run) => openMaelstrom(run),
};

function openMaelstrom(run: TransportRun): OpenTransport<MaelstromNet> {
  const { options, dir, clock, random, links, log } = run;
  const nodeIds = nodeNames(options);
  const network = routerWithServices(run);
  const clients = new ClientFactory(network);
  const clock_control = options.nemesis.faults.includes("clock")
    ? ClockControl.create(dir)
    : undefined;
  const cluster = new Cluster(
    {
      ids: nodeIds,
      command: options.target.command,
      runDir: dir,
      ...(clock_control && { env: (node: string) => clock_control.envFor(node) }),
      ...(options.log?.stderr && {
        onStderr: (node: string, line: string) => log.echo(`${node}: ${line}`),
      }),
    },
    network,
    clients,
    clock,
  );
  // Who sent to whom: a partition between nodes that never talk tested nothing.
  const talked = new Map<string, Set<string>>();
  network.onNodeMessage((src, dest) => {
    const dests = talked.get(src) ?? talked.set(src, new Set()).get(src);
    dests?.add(dest);
  });
  return {
    net: maelstromNet(run, nodeIds, cluster, clients, network),
    nemesis: (driver) => {
      const nemesis = new Nemesis(
        options.nemesis,
        nodeIds,
        cluster,
        links,
        run.history,
        random.fork("nemesis"),
        log,
        clock_control,
        driver.reconfigure,
      );
      network.onNodeMessage((src, dest, body) => nemesis.observe(src, dest, body));
      return nemesis;
    },
    stats: (invokes) => ({
      ...network.stats,
      msgs_per_op: invokes ? network.stats.send_count / invokes : null,
      servers_msgs_per_op: invokes ? network.stats.servers.send_count / invokes : null,
    }),
    warnings: (ops: readonly Op[]) => {
      const reach = partitionReachWarning(ops, talked);
      return reach ? [reach] : [];
    },
    close: async () => {
      network.close();
      clock_control?.remove();
    },
  };
}

/** The router, echoing traffic when --log-net-* asks, with Maelstrom's services on it. */
function routerWithServices(run: TransportRun): Network {
  const { options, dir, clock, random, links, log } = run;
  const network = new Network(
    join(dir, STORE_FILES.messages),
    links,
    random.fork("network"),
    clock,
  );
  network.tap({
    ...(options.log?.net_send && { send: (line: string) => log.echo(`send ${line}`) }),
    ...(options.log?.net_recv && { recv: (line: string) => log.echo(`recv ${line}`) }),
  });
  for (const [name, service] of createServices(random.fork("services"))) {
    network.register(name, {
      kind: "service",
      deliver: (envelope) => {
        const reply = service.handle(envelope.src, envelope.body);
        if (reply) network.send(name, envelope.src, reply);
        return true;
      },
    });
  }
  return network;
}

function maelstromNet(
  run: TransportRun,
  nodeIds: readonly string[],
  cluster: Cluster,
  clients: ClientFactory,
  network: Network,
): MaelstromNet {
  const { command } = run.options.target;
  return {
    nodes: nodeIds,
    startNodes: async () => {
      run.log.info(`starting ${nodeIds.length} nodes: ${command.file} ${command.args.join(" ")}`);
      await cluster.start();
      run.log.info("all nodes answered init");
    },
    openClient: () => clients.open(),
    dataDir: (node) => nodeDataDir(run.dir, node),
    stopNodes: async (kill) => {
      if (kill) await cluster.kill();
      else await cluster.stop();
    },
    report: (malformed) => ({
      nodes: nodeRecords(nodeIds, cluster.crashes),
      errors: cluster.crashes.map((crash) => ({ kind: "node-crashed", message: crashText(crash) })),
      checkers: {
        protocol: protocolCheck(network, malformed),
        crashes: crashCheck(cluster.crashes),
      },
    }),
  };
}

function nodeRecords(
  ids: readonly string[],
  crashes: readonly Crash[],
): Record<string, NodeRecord> {
  return Object.fromEntries(
    ids.map((id) => [id, { crashes: crashes.filter((c) => c.node === id).map((c) => c.exit) }]),
  );
}

function protocolCheck(network: Network, malformed: readonly MalformedReply[]): CheckResult {
  const total = network.protocol_error_count + malformed.length;
  if (total === 0) return { valid: true, summary: "every node spoke the protocol correctly" };
  // Lines written before init are told apart: the fix is in the node's startup, not its format.
  const beforeInit = [...network.beforeInit].map(([node, lines]) => ({ node, ...lines }));
  const early = beforeInit.reduce((sum, lines) => sum + lines.count, 0);
  const parts = beforeInit.map(
    ({ node, count, srcs, example }) =>
      `${node} sent ${count} line${count === 1 ? "" : "s"} before it answered init; ${count === 1 ? "its" : "their"} src was ${srcs.join(" or ")} (e.g. stdout line ${example.line}: ${truncate(example.raw, EXAMPLE_LINE_CHARS)})`,
  );
  const others = total - early;
  if (others > 0) {
    const first = network.protocolErrors.find((error) => !error.before_init);
    const example = first
      ? `${first.node} stdout line ${first.line}: ${first.reason}`
      : malformed[0] && `${malformed[0].node} ${malformed[0].reason}`;
    parts.push(
      `${others} ${early > 0 ? "other " : ""}protocol violation${others === 1 ? "" : "s"}${example ? `, e.g. ${example}` : ""}`,
    );
  }
  return {
    valid: false,
    summary: parts.join("; "),
    errors: network.protocolErrors,
    error_count: network.protocol_error_count,
    ...(early > 0 && { before_init: beforeInit }),
    malformed_replies: malformed.slice(0, 100),
    malformed_reply_count: malformed.length,
  };
}

function crashCheck(crashes: readonly Crash[]): CheckResult {
  if (crashes.length === 0) return { valid: true, summary: "no node exited on its own" };
  return {
    valid: false,
    summary: crashes.map(crashText).join("; "),
    crashes: crashes.map((c) => ({ node: c.node, ...c.exit })),
  };
}

function crashText(crash: Crash): string {
  const how = crash.exit.signal ? `signal ${crash.exit.signal}` : `exit code ${crash.exit.code}`;
  return `node ${crash.node} crashed (${how}) at ${(crash.exit.time_ns / 1e9).toFixed(1)} s`;
}
