// A Maelstrom workload as a plugin: the maelstrom transport, every fault kind, and the one
// driver all of them share (driver.ts) around the workload's generator, adaptor and checkers.
import type { MaelstromNet, WorkloadPlugin } from "../plugin.js";
import type { WorkloadFactory } from "../workload.js";
import { MaelstromDriver, runCheckers } from "./driver.js";

export function maelstromPlugin(
  name: string,
  factory: WorkloadFactory,
  summary: string,
  reference: string | undefined,
): WorkloadPlugin {
  const plugin: WorkloadPlugin<MaelstromNet> = {
    name,
    transport: "maelstrom",
    ...(reference && { reference }),
    summary: `${summary} (Maelstrom protocol)`,
    prepare: (settings) => ({ extra: { nodes: nodeNames(settings) } }),
    create: (ctx) =>
      new MaelstromDriver(
        ctx,
        factory({
          nodes: ctx.net.nodes,
          concurrency: ctx.settings.concurrency,
          rng: ctx.random.fork("workload"),
          latency_ms: ctx.settings.latency.mean_ms,
          topology: ctx.settings.topology,
        }),
      ),
    rechecker: (test) => (ops, random) => {
      const nodes = Array.isArray(test.nodes)
        ? (test.nodes as string[])
        : nodeNames({ node_count: Number(test.node_count) || 0 });
      const workload = factory({
        nodes,
        concurrency: Number(test.concurrency) || nodes.length,
        // The checkers draw nothing; the generator they come with needs a stream all the same.
        rng: random.fork("workload"),
        latency_ms: Number((test.latency as { mean_ms?: unknown } | undefined)?.mean_ms) || 0,
        topology: typeof test.topology === "string" ? test.topology : "grid",
      });
      return runCheckers(workload, ops, { info: () => {} });
    },
  };
  return plugin as WorkloadPlugin;
}

/** Maelstrom's node names: --nodes as given, else n0 … n(N-1). */
export function nodeNames(settings: { nodes?: string[]; node_count: number }): string[] {
  return settings.nodes ?? Array.from({ length: settings.node_count }, (_, i) => `n${i}`);
}
