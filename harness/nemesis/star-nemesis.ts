// The nemesis of a star of participants around one hub (a udp server with its clients and miners; a
// MapReduce coordinator with its workers): the same fault kinds, schedule and history events as the
// maelstrom nemesis (nemesis.ts; ARCHITECTURE.md "Faults"). Partitions and packet faults change the
// shared LinkTable on the links between each participant and the hub (plus whatever a transport
// adds per link, e.g. the UDP proxy's datagram mutations); kills and pauses go to the workload's
// runner, which knows what a participant is (an LSP client, a miner, a worker).
import type { ProcessHooks } from "../../workloads/plugin.js";
import { sleepUnlessAborted, untilAborted } from "../clock.js";
import { SetupError } from "../exit-codes.js";
import type { HistoryRecorder } from "../history-recorder.js";
import type { LinkTable } from "../links.js";
import type { Logger } from "../logger.js";
import type { Random } from "../random.js";
import {
  type FaultKind,
  faultStream,
  type NemesisOptions,
  pickTargets,
  runFaultLoops,
  TARGETS,
  type Targets,
} from "./nemesis.js";

export const STAR_PARTITION_SHAPES = ["isolate", "one-way-in", "one-way-out"] as const;
export type StarPartitionShape = (typeof STAR_PARTITION_SHAPES)[number];

/** Per-link packet faults a transport adds to the LinkTable's (loss, duplication, delay). */
export interface PacketExtras {
  /** Turns the extras on (or off) for the directed link. */
  set(src: string, dest: string, on: boolean): void;
  /** Links with extras on now, counted for the heal event. */
  faultyCount(): number;
  heal(): void;
  /** Fields added to the start-packet history event (e.g. mutation probabilities). */
  describe(): Record<string, unknown>;
}

export interface StarNemesisOptions extends NemesisOptions {
  /**
   * Packet faults on every link for the whole run (until the final heal) instead of on and off
   * on the schedule: "the protocol survives 50% loss", not "it survives bursts of loss".
   */
  steady_packet?: boolean;
}

export interface StarSetting {
  /** The transport's name, for errors ("the udp transport cannot inject clock faults"). */
  transport: string;
  /** Fault kinds this transport can inject. */
  kinds: readonly FaultKind[];
  /** The participant every link fault is between a peer and. */
  hub: string;
  packet_extras?: PacketExtras;
}

/** Refuses, before anything starts, fault kinds that `who` (e.g. "the udp transport") lacks. */
export function checkFaultKinds(
  requested: readonly FaultKind[],
  kinds: readonly FaultKind[],
  who: string,
  why?: string,
): void {
  const unsupported = requested.filter((k) => !kinds.includes(k));
  if (unsupported.length > 0) {
    throw new SetupError(
      `${who} cannot inject ${unsupported.join(", ")} faults; choose from ${kinds.join(", ")}${why ? ` (${why})` : ""}`,
    );
  }
}

export class StarNemesis {
  readonly active = new Map<FaultKind, string>();
  private cut: Array<[string, string]> = [];
  private packetPeers: string[] = [];
  private killed: string[] = [];
  private paused: string[] = [];
  private readonly hub: string;

  constructor(
    private readonly options: StarNemesisOptions,
    private readonly setting: StarSetting,
    private readonly hooks: ProcessHooks,
    private readonly links: LinkTable,
    private readonly history: HistoryRecorder,
    private readonly random: Random,
    private readonly log: Logger,
  ) {
    this.hub = setting.hub;
    for (const kind of options.faults) {
      if (!setting.kinds.includes(kind)) {
        throw new Error(`the ${setting.transport} transport cannot inject ${kind} faults`);
      }
    }
  }

  /** Participants killed and not restarted yet. */
  get killedNow(): readonly string[] {
    return this.killed;
  }

  /** Participants paused now. */
  get pausedNow(): readonly string[] {
    return this.paused;
  }

  async run(signal: AbortSignal): Promise<void> {
    const steady = this.options.steady_packet === true && this.options.faults.includes("packet");
    if (steady) await this.start("packet", faultStream(this.random, "packet"), "all");
    const scheduled = this.options.faults.filter((kind) => !(steady && kind === "packet"));
    await runFaultLoops(
      scheduled,
      this.options.serial === true,
      this.random,
      {
        wait: (s, random) => this.wait(s, random),
        start: (kind, random) => this.start(kind, random),
        stop: (kind) => this.stop(kind),
      },
      signal,
    );
    if (steady) await untilAborted(signal); // the final heal ends it
  }

  async heal(): Promise<void> {
    if (this.options.faults.length === 0) return;
    const value: Record<string, unknown> = {};
    const faulty = this.links.faulty().length + (this.setting.packet_extras?.faultyCount() ?? 0);
    if (faulty > 0) value.links = faulty;
    this.links.heal();
    this.setting.packet_extras?.heal();
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

  private wait(signal: AbortSignal, random: Random): Promise<boolean> {
    return sleepUnlessAborted(random.float() * 2 * this.options.interval_s * 1000, signal);
  }

  private targets(random: Random): Targets {
    return random.pick(this.options.targets ?? TARGETS);
  }

  private record(f: string, kind: FaultKind, value: unknown, active?: string): void {
    this.history.record({ process: "nemesis", type: "info", f, value });
    if (active === undefined) this.active.delete(kind);
    else this.active.set(kind, active);
    this.log.info(`nemesis: ${f} ${JSON.stringify(value)}`);
  }

  /** Picks peers for a link fault: one, a minority (at least one) or all. */
  private pickPeers(targets: Targets, random: Random): string[] {
    return pickTargets(this.hooks.peers(), targets, random);
  }

  /** Both directed links between a peer and the hub. */
  private linksOf(node: string): ReadonlyArray<readonly [string, string]> {
    return [
      [node, this.hub],
      [this.hub, node],
    ];
  }

  /** False when the fault could not start (nothing to hit), so there is nothing to stop. */
  private async start(kind: FaultKind, random: Random, targets?: Targets): Promise<boolean> {
    switch (kind) {
      case "partition": {
        const nodes = this.pickPeers(this.targets(random), random);
        if (nodes.length === 0) return false;
        const shape = random.pick(STAR_PARTITION_SHAPES);
        const cut: Array<[string, string]> = [];
        for (const node of nodes) {
          if (shape !== "one-way-out") cut.push([node, this.hub]);
          if (shape !== "one-way-in") cut.push([this.hub, node]);
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
        const nodes = this.pickPeers(targets ?? this.targets(random), random);
        if (nodes.length === 0) return false;
        const { loss, duplicate, delay_ms } = this.options.packet;
        const extra_latency =
          delay_ms > 0 ? { mean_ms: delay_ms, dist: "uniform" as const } : undefined;
        const extras = this.setting.packet_extras;
        for (const node of nodes) {
          for (const [src, dest] of this.linksOf(node)) {
            this.links.set(src, dest, { loss, duplicate, extra_latency });
            extras?.set(src, dest, true);
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
            ...extras?.describe(),
            ...(this.options.steady_packet && { steady: true }),
          },
          `packet ${nodes.join(",")}`,
        );
        return true;
      }
      case "kill": {
        const nodes = this.hooks.chooseKill(this.targets(random), random);
        if (nodes.length === 0) return false;
        const detail = await this.hooks.kill(nodes);
        this.killed = [...new Set([...this.killed, ...nodes])];
        this.record("start-kill", kind, { nodes, ...detail }, `kill ${nodes.join(",")}`);
        return true;
      }
      case "pause": {
        const nodes = this.hooks.choosePause(this.targets(random), random);
        if (nodes.length === 0) return false;
        const paused = this.hooks.pause(nodes);
        this.paused = [...new Set([...this.paused, ...paused])];
        const instances = this.hooks.pausedInstances?.(paused) ?? [];
        this.record("start-pause", kind, { nodes: paused, instances }, `pause ${paused.join(",")}`);
        return true;
      }
      default:
        throw new Error(`the ${this.setting.transport} transport cannot inject ${kind} faults`);
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
          for (const [src, dest] of this.linksOf(node)) {
            this.links.set(src, dest, { loss: 0, duplicate: 0, extra_latency: undefined });
            this.setting.packet_extras?.set(src, dest, false);
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
