// The nemesis (ARCHITECTURE.md "Faults"): one loop per fault kind, each alternating start and stop
// on a schedule drawn from the run's seed (gap uniform in [0, 2 × interval], Jepsen's stagger);
// kinds overlap freely, unless `serial` (one fault at a time). Every start and stop is a history
// event saying exactly what was done.

import type {
  MessageMatch,
  NemesisScript,
  ScriptControl,
  Sent,
} from "../../protocols/nemesis-script.js";
import {
  FAULT_KINDS,
  type FaultKind,
  pickTargets,
  TARGETS,
  type Targets,
} from "../../workloads/faults.js";
import type { ReconfigureHook } from "../../workloads/plugin.js";
import type { Body } from "../../workloads/protocol.js";
import { sleepUnlessAborted } from "../clock.js";
import type { Cluster } from "../cluster.js";
import type { HistoryRecorder } from "../history-recorder.js";
import type { LinkTable } from "../links.js";
import type { Logger } from "../logger.js";
import type { Random } from "../random.js";
import type { ClockControl } from "./clock-control.js";
import {
  makePartition,
  type Partition,
  type PartitionShape,
  shapeCycle,
  shapesFor,
} from "./partition-shapes.js";

export { FAULT_KINDS, type FaultKind, pickTargets, TARGETS, type Targets };

export interface PacketFaults {
  /** Probability a message is dropped. */
  loss: number;
  /** Probability a message is delivered twice. */
  duplicate: number;
  /** Mean extra delay; drawn uniformly in [0, 2 × mean], so messages also reorder. */
  delay_ms: number;
}

/** Jepsen's netem defaults (README.md "Faults"): 20% loss, 20% duplication, 50 ms delay. */
export const DEFAULT_PACKET_FAULTS: PacketFaults = { loss: 0.2, duplicate: 0.2, delay_ms: 50 };

/** Fault changes (starts and stops) per kind that a run's default interval aims for. */
export const DEFAULT_FAULT_CHANGES_PER_RUN = 8;
/** Bounds of the default interval: faults must last long enough to matter, and come at all. */
export const MIN_DEFAULT_INTERVAL_S = 0.5;
export const MAX_DEFAULT_INTERVAL_S = 10;

/**
 * `--nemesis-interval` when not given: the time limit over DEFAULT_FAULT_CHANGES_PER_RUN, within
 * [MIN_DEFAULT_INTERVAL_S, MAX_DEFAULT_INTERVAL_S], so a 20–60 s run sees 8 changes per kind
 * (a fixed 10 s gave one or two, and bugs went unseen for lack of a second fault).
 */
export function defaultNemesisInterval(time_limit_s: number): number {
  return Math.min(
    MAX_DEFAULT_INTERVAL_S,
    Math.max(MIN_DEFAULT_INTERVAL_S, time_limit_s / DEFAULT_FAULT_CHANGES_PER_RUN),
  );
}

export interface NemesisOptions {
  faults: FaultKind[];
  /** Mean seconds between fault changes. */
  interval_s: number;
  /**
   * One fault at a time (`--nemesis-serial`): each start picks one kind at random and that
   * fault stops before the next starts. For systems that claim to survive any single fault
   * (primary/backup, a 3-node majority) but not two overlapping ones.
   */
  serial?: boolean;
  /** A fixed partition shape; default each shape in turn (see shapeCycle). */
  partition_shape?: PartitionShape;
  packet: PacketFaults;
  /** Which node sets kill and pause faults pick from (default all three). */
  targets?: Targets[];
  /**
   * Crash points (`--crash-after`) for `crash` faults: while one is on, each of its target nodes
   * that sends a matching message is killed right then and restarted at once.
   */
  crash_points?: CrashPoint[];
  /**
   * An exact schedule instead of (or beside) the random one, for reproducing a known bad
   * interleaving with real processes; see ScriptControl. Programmatic use only (not a flag).
   */
  script?: NemesisScript;
}

// The script contract is protocols/'s: systems ship scripts (systems/raft-kv/schedules.ts) and
// may not import the harness. Re-exported so the harness's importers need not change.
export type { MessageMatch, NemesisScript, ScriptControl, Sent };

const SCRIPT_WAIT_MS = 30_000;
const SCRIPT_REQUEST_MS = 5_000;

/** A message a node is killed right after sending: its body type, and one body field's value. */
export interface CrashPoint {
  type: string;
  field?: { name: string; value: unknown };
}

/** Parses `type` or `type.field=value` (value as JSON when it parses, else a string). */
export function parseCrashPoint(spec: string): CrashPoint {
  const match = /^([A-Za-z0-9_-]+)(?:\.([A-Za-z0-9_]+)=(.*))?$/.exec(spec.trim());
  if (!match) {
    throw new Error(
      `crash point "${spec}" is not TYPE or TYPE.FIELD=VALUE (e.g. request_vote_reply.granted=true)`,
    );
  }
  const [, type, name, raw] = match as unknown as [string, string, string?, string?];
  if (name === undefined) return { type };
  let value: unknown = raw;
  try {
    value = JSON.parse(raw as string);
  } catch {
    // A bare word is a string value.
  }
  return { type, field: { name, value } };
}

export function crashPointMatches(point: CrashPoint, body: Body): boolean {
  if (body.type !== point.type) return false;
  if (!point.field) return true;
  return JSON.stringify(body[point.field.name]) === JSON.stringify(point.field.value);
}

/**
 * How a nemesis starts and stops one fault kind; `start` returns false when it did nothing.
 * `random` is the calling loop's own stream: draw gaps and targets from it, never from a
 * stream another loop shares, so a seed repeats each kind's schedule however the loops interleave.
 */
export interface FaultSteps {
  wait(signal: AbortSignal, random: Random): Promise<boolean>;
  start(kind: FaultKind, random: Random): Promise<boolean | undefined>;
  stop(kind: FaultKind): Promise<void>;
}

/**
 * The fault schedule until `signal` fires: one loop per kind alternating start and stop after
 * random gaps (kinds overlap), or, serial, one loop starting a random kind and stopping it
 * before the next gap. Faults still on at the end stay until the nemesis heals.
 */
export async function runFaultLoops(
  kinds: readonly FaultKind[],
  serial: boolean,
  random: Random,
  steps: FaultSteps,
  signal: AbortSignal,
): Promise<void> {
  const loop = async (stream: Random, next: () => FaultKind) => {
    while (await steps.wait(signal, stream)) {
      const kind = next();
      const started = await steps.start(kind, stream);
      if (!(await steps.wait(signal, stream))) return;
      if (started !== false) await steps.stop(kind);
    }
  };
  if (kinds.length === 0) return;
  if (serial) {
    const stream = random.fork("nemesis-serial");
    await loop(stream, () => stream.pick(kinds));
  } else {
    // A stream per kind: how long one kind's faults take (a slow restart under load) must
    // not change which nodes another kind hits.
    await Promise.all(kinds.map((kind) => loop(faultStream(random, kind), () => kind)));
  }
}

/** The stream a kind's own fault loop draws from (also for a fault held on outside the loops). */
export function faultStream(random: Random, kind: FaultKind): Random {
  return random.fork(`nemesis-${kind}`);
}

/** Strobe periods below this would rewrite clock files faster than is useful. */
const MIN_STROBE_PERIOD_MS = 50;

export class Nemesis {
  /** Faults in force now, by kind, for the progress line. */
  readonly active = new Map<FaultKind, string>();
  private partition: Partition | undefined;
  private packetNodes: string[] = [];
  private readonly killed = new Set<string>();
  private readonly paused = new Set<string>();
  private strobe: NodeJS.Timeout | undefined;
  /** While a crash fault is on: the nodes a matching message crashes. */
  private armedNodes: string[] = [];
  /** Crash-and-restart cycles in progress, and their nodes. */
  private readonly crashes = new Set<Promise<void>>();
  private readonly crashing = new Set<string>();
  /** A script's pending waits for messages. */
  private readonly waiters = new Set<{ match: MessageMatch; fire: (sent: Sent) => void }>();
  private scriptCut: Array<[string, string]> = [];
  /** Shapes still to come in the current cycle, next last. */
  private shapesAhead: PartitionShape[] = [];
  /** What the reconfigure fault in force did, until it is undone. */
  private reconfigured: string | undefined;

  constructor(
    private readonly options: NemesisOptions,
    private readonly nodes: readonly string[],
    private readonly cluster: Cluster,
    private readonly links: LinkTable,
    private readonly history: HistoryRecorder,
    private readonly random: Random,
    private readonly log: Logger,
    private readonly clock: ClockControl | undefined,
    /** The driver's hook for `reconfigure` faults (Driver.reconfigure). */
    private readonly reconfigure?: ReconfigureHook,
  ) {
    if (options.faults.includes("reconfigure") && !reconfigure) {
      throw new Error("reconfigure faults need a driver with a reconfigure hook");
    }
    if (options.faults.includes("clock") && !clock)
      throw new Error("clock faults need a ClockControl");
    if (options.faults.includes("crash") !== (options.crash_points?.length ?? 0) > 0) {
      throw new Error(
        "crash faults (--nemesis crash) and crash points (--crash-after) go together",
      );
    }
    if (options.faults.includes("partition") && shapesFor(nodes.length).length === 0) {
      throw new Error("partitions need at least 2 nodes");
    }
  }

  /** Runs the fault loops until `signal` fires; faults still active stay until `heal`. */
  async run(signal: AbortSignal): Promise<void> {
    const script = this.options.script;
    const steps: FaultSteps = {
      wait: (s, random) => this.wait(s, random),
      start: (kind, random) => this.start(kind, random),
      stop: (kind) => this.stop(kind),
    };
    await Promise.all([
      ...(script ? [this.runScript(script, signal)] : []),
      runFaultLoops(this.options.faults, this.options.serial === true, this.random, steps, signal),
    ]);
  }

  /** Runs the script, then waits for the run's end; a script that fails is logged and recorded. */
  private async runScript(script: NemesisScript, signal: AbortSignal): Promise<void> {
    const stop = new Promise<never>((_, reject) => {
      const end = () => reject(new Error("the run ended"));
      if (signal.aborted) end();
      else signal.addEventListener("abort", end, { once: true });
    });
    stop.catch(() => {}); // only raced below
    try {
      await Promise.race([script(this.scriptControl()), stop]);
      this.history.record({ process: "nemesis", type: "info", f: "script-done", value: {} });
    } catch (err) {
      const message = (err as Error).message;
      this.history.record({
        process: "nemesis",
        type: "info",
        f: "script-stopped",
        value: { reason: message },
      });
      this.log.info(`nemesis: script stopped: ${message}`);
    } finally {
      this.waiters.clear();
    }
    await stop.catch(() => {}); // the scheduled faults go on until the run ends
  }

  private scriptControl(): ScriptControl {
    const wait = (
      match: MessageMatch,
      what: string,
      timeout_ms: number,
      onMatch?: (s: Sent) => void,
    ) =>
      new Promise<Sent>((resolve, reject) => {
        const waiter = {
          match,
          fire: (sent: Sent) => {
            clearTimeout(timer);
            onMatch?.(sent);
            resolve(sent);
          },
        };
        const timer = setTimeout(() => {
          this.waiters.delete(waiter);
          reject(new Error(`no ${what} within ${timeout_ms} ms`));
        }, timeout_ms);
        // A wait left pending when the run ends must not hold the process open (figure8's kept
        // faultline alive 20 s after its summary).
        timer.unref();
        this.waiters.add(waiter);
      });
    return {
      nodes: this.nodes,
      message: (match, what, timeout_ms = SCRIPT_WAIT_MS) => wait(match, what, timeout_ms),
      crashAfter: async (node, match, what, timeout_ms = SCRIPT_WAIT_MS) => {
        let crash: Promise<void> | undefined;
        const sent = await wait(
          (s) => s.src === node && match(s),
          what,
          timeout_ms,
          (s) => {
            crash = this.crashAtPoint(s.src, s.dest, s.body);
          },
        );
        await crash;
        return sent;
      },
      kill: async (node) => {
        await this.cluster.crash(node);
        this.killed.add(node);
        this.record("start-kill", "kill", { nodes: [node] }, `kill ${node}`);
      },
      restart: async (node) => {
        const restarted = await this.restart([node]);
        this.record("stop-kill", "kill", restarted);
        if (restarted.failed.length > 0) throw new Error(`${node} did not restart`);
      },
      request: async (node, body, timeout_ms = SCRIPT_REQUEST_MS) => {
        const reply = await this.cluster.request(node, body, timeout_ms);
        this.history.record({
          process: "nemesis",
          type: "info",
          f: "request",
          value: { node, request: body, reply: reply ?? null },
        });
        return reply;
      },
      cut: (links) => {
        for (const [src, dest] of links) this.links.set(src, dest, { partitioned: true });
        this.scriptCut.push(...links);
        this.record(
          "start-partition",
          "partition",
          { shape: "script", cut: links },
          "partition script",
        );
      },
      heal: (links = [...this.scriptCut]) => {
        const key = ([src, dest]: [string, string]) => `${src}->${dest}`;
        const healing = new Set(links.map(key));
        for (const [src, dest] of links) this.links.set(src, dest, { partitioned: false });
        this.scriptCut = this.scriptCut.filter((link) => !healing.has(key(link)));
        this.record(
          "stop-partition",
          "partition",
          { healed: links },
          this.scriptCut.length > 0 ? "partition script" : undefined,
        );
      },
      sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms).unref()),
    };
  }

  /** Ends every fault: links up, nodes resumed and restarted, clocks reset. */
  async heal(): Promise<void> {
    if (this.options.faults.length === 0 && !this.options.script) return;
    this.armedNodes = [];
    await Promise.all(this.crashes);
    const value: Record<string, unknown> = {};
    if (this.links.faulty().length > 0) value.links = this.links.faulty().length;
    this.links.heal();
    this.partition = undefined;
    this.packetNodes = [];
    if (this.paused.size > 0 || this.options.faults.includes("pause")) {
      for (const node of this.nodes) this.cluster.resume(node);
      value.resumed = [...this.paused];
      this.paused.clear();
    }
    if (this.strobe) clearInterval(this.strobe);
    this.strobe = undefined;
    if (this.clock) value.clocks_reset = this.clock.reset();
    if (this.killed.size > 0) value.restarted = await this.restart([...this.killed]);
    if (this.reconfigured !== undefined) {
      value.reconfigure = await (this.reconfigure as ReconfigureHook).stop();
      this.reconfigured = undefined;
    }
    this.active.clear();
    this.history.record({ process: "nemesis", type: "info", f: "heal", value });
    this.log.info(`nemesis: healed everything ${JSON.stringify(value)}`);
  }

  private nextShape(random: Random): PartitionShape {
    if (this.shapesAhead.length === 0) {
      this.shapesAhead = shapeCycle(this.nodes.length, random).reverse();
    }
    return this.shapesAhead.pop() as PartitionShape;
  }

  private wait(signal: AbortSignal, random: Random): Promise<boolean> {
    return sleepUnlessAborted(random.float() * 2 * this.options.interval_s * 1000, signal);
  }

  private record(f: string, kind: FaultKind, value: unknown, active?: string): void {
    this.history.record({ process: "nemesis", type: "info", f, value });
    if (active === undefined) this.active.delete(kind);
    else this.active.set(kind, active);
    this.log.info(`nemesis: ${f} ${JSON.stringify(value)}`);
  }

  /** The network calls this with every node-to-node message (see Network.onNodeMessage). */
  observe(src: string, dest: string, body: Body): void {
    for (const waiter of [...this.waiters]) {
      if (waiter.match({ src, dest, body })) {
        this.waiters.delete(waiter);
        waiter.fire({ src, dest, body });
      }
    }
    if (!this.armedNodes.includes(src) || this.crashing.has(src) || this.killed.has(src)) return;
    if (!(this.options.crash_points ?? []).some((point) => crashPointMatches(point, body))) return;
    this.crashAtPoint(src, dest, body);
  }

  /** Starts one fault; false when it did nothing (a reconfiguration that had no move to make). */
  private async start(kind: FaultKind, random: Random): Promise<boolean> {
    switch (kind) {
      case "partition": {
        const shape = this.options.partition_shape ?? this.nextShape(random);
        const partition = makePartition(shape, this.nodes, random);
        for (const [src, dest] of partition.cut) this.links.set(src, dest, { partitioned: true });
        this.partition = partition;
        this.record("start-partition", kind, partition, `partition ${shape}`);
        return true;
      }
      case "packet": {
        const { loss, duplicate, delay_ms } = this.options.packet;
        const targets = this.pickNodes(random);
        const extra_latency =
          delay_ms > 0 ? { mean_ms: delay_ms, dist: "uniform" as const } : undefined;
        for (const [src, dest] of this.linksOf(targets)) {
          this.links.set(src, dest, { loss, duplicate, extra_latency });
        }
        this.packetNodes = targets;
        this.record(
          "start-packet",
          kind,
          { nodes: targets, loss, duplicate, delay_ms },
          `packet ${targets.join(",")}`,
        );
        return true;
      }
      case "kill": {
        const targets = this.pickNodes(random);
        await Promise.all(this.crashes); // a crash point's restart must not race this kill
        await Promise.all(targets.map((node) => this.cluster.crash(node)));
        for (const node of targets) this.killed.add(node);
        this.record("start-kill", kind, { nodes: targets }, `kill ${targets.join(",")}`);
        return true;
      }
      case "crash": {
        const targets = this.pickNodes(random);
        this.armedNodes = targets;
        this.record(
          "start-crash",
          kind,
          { nodes: targets, crash_after: this.options.crash_points },
          `crash points ${targets.join(",")}`,
        );
        return true;
      }
      case "pause": {
        const targets = this.pickNodes(random);
        for (const node of targets) if (this.cluster.pause(node)) this.paused.add(node);
        this.record("start-pause", kind, { nodes: targets }, `pause ${targets.join(",")}`);
        return true;
      }
      case "clock": {
        const clock = this.clock as ClockControl;
        const targets = this.pickNodes(random);
        // Named in the event so the fault report can warn that this fault could not bite them.
        const unmoved = clock.unmoved(targets, (node) => this.cluster.group(node));
        const cannot = unmoved.length > 0 ? { unmoved } : {};
        if (random.chance(0.5)) {
          // Jepsen's bump: random sign × 1.5^(6 + U[0, 25)) ms, about 11 ms to 288 s.
          const offsets: Record<string, number> = {};
          for (const node of targets) {
            const sign = random.chance(0.5) ? 1 : -1;
            offsets[node] = (sign * 1.5 ** (6 + random.float() * 25)) / 1000;
            clock.set(node, offsets[node] as number);
          }
          this.record(
            "start-clock",
            kind,
            { mode: "bump", offsets_s: offsets, ...cannot },
            `clock bump ${targets.join(",")}`,
          );
        } else {
          // Jepsen's strobe: flip between real time and real time + delta every period.
          const delta_s = 2 ** (2 + random.float() * 16) / 1000;
          const period_ms = Math.max(MIN_STROBE_PERIOD_MS, 2 ** (random.float() * 10));
          let high = false;
          this.strobe = setInterval(() => {
            high = !high;
            for (const node of targets) clock.set(node, high ? delta_s : 0);
          }, period_ms);
          this.record(
            "start-clock",
            kind,
            { mode: "strobe", nodes: targets, delta_s, period_ms, ...cannot },
            `clock strobe ${targets.join(",")}`,
          );
        }
        return true;
      }
      case "reconfigure": {
        const change = await (this.reconfigure as ReconfigureHook).start(random);
        if (change === false) {
          this.log.info("nemesis: reconfigure found nothing to change");
          return false;
        }
        this.reconfigured = change;
        this.record("start-reconfigure", kind, { change }, change);
        return true;
      }
    }
  }

  private async stop(kind: FaultKind): Promise<void> {
    switch (kind) {
      case "partition": {
        const cut = this.partition?.cut ?? [];
        for (const [src, dest] of cut) this.links.set(src, dest, { partitioned: false });
        this.partition = undefined;
        this.record("stop-partition", kind, { healed_links: cut.length });
        return;
      }
      case "packet": {
        for (const [src, dest] of this.linksOf(this.packetNodes)) {
          this.links.set(src, dest, { loss: 0, duplicate: 0, extra_latency: undefined });
        }
        this.record("stop-packet", kind, { nodes: this.packetNodes });
        this.packetNodes = [];
        return;
      }
      case "kill": {
        const restarted = await this.restart([...this.killed]);
        this.record("stop-kill", kind, restarted);
        return;
      }
      case "crash": {
        this.armedNodes = [];
        await Promise.all(this.crashes);
        this.record("stop-crash", kind, { nodes: [] });
        return;
      }
      case "pause": {
        const resumed = [...this.paused];
        for (const node of resumed) this.cluster.resume(node);
        this.paused.clear();
        this.record("stop-pause", kind, { nodes: resumed });
        return;
      }
      case "clock": {
        if (this.strobe) clearInterval(this.strobe);
        this.strobe = undefined;
        this.record("stop-clock", kind, { reset: this.clock?.reset() ?? [] });
        return;
      }
      case "reconfigure": {
        const change = await (this.reconfigure as ReconfigureHook).stop();
        this.reconfigured = undefined;
        this.record("stop-reconfigure", kind, { change });
        return;
      }
    }
  }

  /**
   * Crashes `node` right after it sent `body`, and restarts it at once, as a supervisor would: a
   * crash point tests a node that comes back within an election timeout, remembering only what
   * it persisted.
   */
  private crashAtPoint(node: string, dest: string, body: Body): Promise<void> {
    this.crashing.add(node);
    const after = {
      type: body.type,
      dest,
      ...(body.msg_id !== undefined && { msg_id: body.msg_id }),
    };
    const crash = (async () => {
      await this.cluster.crash(node);
      this.history.record({
        process: "nemesis",
        type: "info",
        f: "crashed",
        value: { node, after },
      });
      const restarted = await this.restart([node]);
      // A node that did not come back stays down until the next restart of killed nodes.
      for (const { node: down } of restarted.failed) this.killed.add(down);
      this.log.info(`nemesis: crashed ${node} after ${after.type}; ${JSON.stringify(restarted)}`);
    })();
    this.crashes.add(crash);
    void crash.finally(() => {
      this.crashes.delete(crash);
      this.crashing.delete(node);
    });
    return crash;
  }

  /** Restarts killed nodes; a node that fails to come back stays down and is named. */
  private async restart(
    nodes: string[],
  ): Promise<{ nodes: string[]; failed: Array<{ node: string; error: string }> }> {
    const failed: Array<{ node: string; error: string }> = [];
    await Promise.all(
      nodes.map(async (node) => {
        try {
          await this.cluster.restart(node);
          this.killed.delete(node);
        } catch (err) {
          failed.push({ node, error: (err as Error).message.split("\n")[0] as string });
        }
      }),
    );
    return { nodes, failed };
  }

  /** One node, a minority or all (per --kill-targets), drawn from a fault loop's stream. */
  private pickNodes(random: Random): string[] {
    return pickTargets(this.nodes, random.pick(this.options.targets ?? TARGETS), random);
  }

  /** Every directed node<->node link touching one of `nodes`. */
  private linksOf(nodes: readonly string[]): Array<[string, string]> {
    const out: Array<[string, string]> = [];
    for (const src of this.nodes) {
      for (const dest of this.nodes) {
        if (src !== dest && (nodes.includes(src) || nodes.includes(dest))) out.push([src, dest]);
      }
    }
    return out;
  }
}
