// The nemesis of the udp transport: the same fault kinds, schedule and history events as the
// maelstrom nemesis (harness/nemesis/nemesis.ts; DESIGN.md §5), applied to a star of client-side
// participants around one server. Partitions and packet faults change the shared LinkTable (and
// the proxy's UDP-only extras: corruption, shortening, lengthening); kills and pauses go to the
// workload's runner, which knows what a participant is (an LSP client, a miner, the server).
import { sleepUnlessAborted } from "../clock.js";
import type { HistoryRecorder } from "../history-recorder.js";
import type { LinkTable } from "../links.js";
import type { Logger } from "../logger.js";
import {
  type FaultKind,
  type NemesisOptions,
  pickTargets,
  TARGETS,
  type Targets,
} from "../nemesis/nemesis.js";
import type { Random } from "../random.js";
import type { UdpLinkExtras, UdpProxy } from "./proxy.js";

export const UDP_FAULT_KINDS: readonly FaultKind[] = ["partition", "packet", "kill", "pause"];

export const UDP_PARTITION_SHAPES = ["isolate", "one-way-in", "one-way-out"] as const;
export type UdpPartitionShape = (typeof UDP_PARTITION_SHAPES)[number];

/** What the runner does for process faults; names are participants (e.g. "c1", "m0", "server"). */
export interface ProcessHooks {
  /** Participants the link faults may touch (never the server itself). */
  peers(): string[];
  /** Which participants a kill with this target set hits; [] when none can be killed now. */
  chooseKill(targets: Targets, random: Random): string[];
  /** Kills them; returns what to record (e.g. the LSP client instances that died). */
  kill(names: string[]): Promise<Record<string, unknown>>;
  /** Brings killed participants back (a new client, a new miner, the server). */
  restart(names: string[]): Promise<Record<string, unknown>>;
  choosePause(targets: Targets, random: Random): string[];
  pause(names: string[]): string[];
  /** The process instances behind paused names (e.g. "c1" → "c1.2"), for the history. */
  pausedInstances?(names: string[]): string[];
  resume(names: string[]): string[];
}

export interface UdpNemesisOptions extends NemesisOptions {
  /** Per-datagram probability of each LSP Data mutation (shorten, lengthen, corrupt). */
  mutate: number;
  /**
   * Packet faults on every link for the whole run (until the final heal) instead of on and off
   * on the schedule: "the protocol survives 50% loss", not "it survives bursts of loss".
   */
  steady_packet?: boolean;
}

export class UdpNemesis {
  readonly active = new Map<FaultKind, string>();
  private cut: Array<[string, string]> = [];
  private packetPeers: string[] = [];
  private killed: string[] = [];
  private paused: string[] = [];

  constructor(
    private readonly options: UdpNemesisOptions,
    private readonly server: string,
    private readonly hooks: ProcessHooks,
    private readonly links: LinkTable,
    private readonly proxy: UdpProxy,
    private readonly history: HistoryRecorder,
    private readonly random: Random,
    private readonly log: Logger,
  ) {
    for (const kind of options.faults) {
      if (!UDP_FAULT_KINDS.includes(kind)) {
        throw new Error(`the udp transport cannot inject ${kind} faults`);
      }
    }
  }

  async run(signal: AbortSignal): Promise<void> {
    await Promise.all(
      this.options.faults.map(async (kind) => {
        if (kind === "packet" && this.options.steady_packet) {
          await this.start(kind, "all");
          await new Promise<void>((resolve) => {
            if (signal.aborted) resolve();
            else signal.addEventListener("abort", () => resolve(), { once: true });
          });
          return; // the final heal ends it
        }
        while (await this.wait(signal)) {
          const started = await this.start(kind);
          if (!(await this.wait(signal))) return;
          if (started) await this.stop(kind);
        }
      }),
    );
  }

  async heal(): Promise<void> {
    if (this.options.faults.length === 0) return;
    const value: Record<string, unknown> = {};
    const faulty = this.links.faulty().length + this.proxy.faultyExtras().length;
    if (faulty > 0) value.links = faulty;
    this.links.heal();
    this.proxy.healExtras();
    this.cut = [];
    this.packetPeers = [];
    if (this.paused.length > 0) value.resumed = this.hooks.resume(this.paused);
    this.paused = [];
    if (this.killed.length > 0) value.restarted = await this.hooks.restart(this.killed);
    this.killed = [];
    this.active.clear();
    this.history.record({ process: "nemesis", type: "info", f: "heal", value });
    this.log.info(`nemesis: healed everything ${JSON.stringify(value)}`);
  }

  private wait(signal: AbortSignal): Promise<boolean> {
    return sleepUnlessAborted(this.random.float() * 2 * this.options.interval_s * 1000, signal);
  }

  private targets(): Targets {
    return this.random.pick(this.options.targets ?? TARGETS);
  }

  private record(f: string, kind: FaultKind, value: unknown, active?: string): void {
    this.history.record({ process: "nemesis", type: "info", f, value });
    if (active === undefined) this.active.delete(kind);
    else this.active.set(kind, active);
    this.log.info(`nemesis: ${f} ${JSON.stringify(value)}`);
  }

  /** Picks peers for a link fault: one, a minority (at least one) or all. */
  private pickPeers(targets: Targets): string[] {
    return pickTargets(this.hooks.peers(), targets, this.random);
  }

  /** False when the fault could not start (nothing to hit), so there is nothing to stop. */
  private async start(kind: FaultKind, targets?: Targets): Promise<boolean> {
    switch (kind) {
      case "partition": {
        const nodes = this.pickPeers(this.targets());
        if (nodes.length === 0) return false;
        const shape = this.random.pick(UDP_PARTITION_SHAPES);
        const cut: Array<[string, string]> = [];
        for (const node of nodes) {
          if (shape !== "one-way-out") cut.push([node, this.server]);
          if (shape !== "one-way-in") cut.push([this.server, node]);
        }
        for (const [src, dest] of cut) this.links.set(src, dest, { partitioned: true });
        this.cut = cut;
        this.record(
          "start-partition",
          kind,
          { shape, nodes, cut },
          `partition ${shape} ${nodes.join(",")}`,
        );
        return true;
      }
      case "packet": {
        const nodes = this.pickPeers(targets ?? this.targets());
        if (nodes.length === 0) return false;
        const { loss, duplicate, delay_ms } = this.options.packet;
        const extra_latency =
          delay_ms > 0 ? { mean_ms: delay_ms, dist: "uniform" as const } : undefined;
        const m = this.options.mutate;
        const extras: Partial<UdpLinkExtras> = { shorten: m, lengthen: m, corrupt: m };
        for (const node of nodes) {
          for (const [src, dest] of [
            [node, this.server],
            [this.server, node],
          ] as const) {
            this.links.set(src, dest, { loss, duplicate, extra_latency });
            this.proxy.setExtras(src, dest, extras);
          }
        }
        this.packetPeers = nodes;
        this.record(
          "start-packet",
          kind,
          {
            nodes,
            loss,
            duplicate,
            delay_ms,
            shorten: m,
            lengthen: m,
            corrupt: m,
            ...(this.options.steady_packet && { steady: true }),
          },
          `packet ${nodes.join(",")}`,
        );
        return true;
      }
      case "kill": {
        const nodes = this.hooks.chooseKill(this.targets(), this.random);
        if (nodes.length === 0) return false;
        const detail = await this.hooks.kill(nodes);
        this.killed = [...new Set([...this.killed, ...nodes])];
        this.record("start-kill", kind, { nodes, ...detail }, `kill ${nodes.join(",")}`);
        return true;
      }
      case "pause": {
        const nodes = this.hooks.choosePause(this.targets(), this.random);
        if (nodes.length === 0) return false;
        const paused = this.hooks.pause(nodes);
        this.paused = [...new Set([...this.paused, ...paused])];
        const instances = this.hooks.pausedInstances?.(paused) ?? [];
        this.record("start-pause", kind, { nodes: paused, instances }, `pause ${paused.join(",")}`);
        return true;
      }
      default:
        throw new Error(`the udp transport cannot inject ${kind} faults`);
    }
  }

  private async stop(kind: FaultKind): Promise<void> {
    switch (kind) {
      case "partition":
        for (const [src, dest] of this.cut) this.links.set(src, dest, { partitioned: false });
        this.record("stop-partition", kind, { healed_links: this.cut.length });
        this.cut = [];
        return;
      case "packet":
        for (const node of this.packetPeers) {
          for (const [src, dest] of [
            [node, this.server],
            [this.server, node],
          ] as const) {
            this.links.set(src, dest, { loss: 0, duplicate: 0, extra_latency: undefined });
            this.proxy.setExtras(src, dest, { shorten: 0, lengthen: 0, corrupt: 0 });
          }
        }
        this.record("stop-packet", kind, { nodes: this.packetPeers });
        this.packetPeers = [];
        return;
      case "kill": {
        const nodes = this.killed;
        this.killed = [];
        const detail = await this.hooks.restart(nodes);
        this.record("stop-kill", kind, { nodes, ...detail });
        return;
      }
      case "pause": {
        const resumed = this.hooks.resume(this.paused);
        this.paused = [];
        this.record("stop-pause", kind, { nodes: resumed });
        return;
      }
      default:
        return;
    }
  }
}
