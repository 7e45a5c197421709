// What the udp transport gives a workload driver during one run (until the one run lifecycle in
// harness/run.ts replaces this): options, clock, seeded randomness, the history, the link table,
// the proxy, and the plugin API's DriverContext over them.
import { existsSync } from "node:fs";
import { isAbsolute, join, resolve } from "node:path";
import type { UdpOptions } from "../../workloads/lsp/common.js";
import type { DriverContext, ProcessHooks, UdpNet } from "../../workloads/plugin.js";
import type { RunClock } from "../clock.js";
import { SetupError } from "../exit-codes.js";
import type { HistoryRecorder } from "../history-recorder.js";
import type { LinkTable } from "../links.js";
import type { Logger } from "../logger.js";
import type { NodeCommand } from "../node-process.js";
import { packageRoot } from "../paths.js";
import { stopPrograms } from "../program-process.js";
import type { Random } from "../random.js";
import type { TestOptions } from "../run.js";
import { RateScheduler } from "../scheduler.js";
import { UdpNemesis } from "./nemesis.js";
import { Program } from "./program.js";
import type { UdpProxy } from "./proxy.js";

export type { UdpOptions } from "../../workloads/lsp/common.js";

export type UdpTestOptions = TestOptions & { udp?: UdpOptions };

export class RunContext {
  readonly counts = { ok: 0, fail: 0, info: 0 };
  phase = "starting";
  private next_process = 0;

  constructor(
    readonly options: UdpTestOptions,
    readonly dir: string,
    readonly clock: RunClock,
    readonly random: Random,
    readonly history: HistoryRecorder,
    readonly links: LinkTable,
    readonly proxy: UdpProxy,
    readonly log: Logger,
    readonly signal: AbortSignal,
  ) {}

  get interrupted(): boolean {
    return this.signal.aborted;
  }

  /** The plugin API over this run: what a workload driver is given. */
  driverContext(): DriverContext<UdpNet> {
    const { options, clock, history } = this;
    const manifestRoles = (
      options.target.manifest as { roles?: Record<string, string[]> } | undefined
    )?.roles;
    const run = this;
    return {
      settings: options,
      dir: this.dir,
      net: this.proxy,
      clock,
      random: this.random,
      log: this.log,
      signal: this.signal,
      get interrupted() {
        return run.interrupted;
      },
      history,
      invoke: (process, f, value, node) =>
        history.invoke(process, f, value, node, (type) => this.counts[type]++),
      nextProcess: () => this.next_process++,
      setPhase: (phase) => {
        this.phase = phase;
      },
      scheduler: () => new RateScheduler(options.rate, clock, this.random.fork("scheduler")),
      spawn: (spec) =>
        new Program({
          id: spec.id,
          command: spec.command,
          runDir: this.dir,
          clock,
          mode: spec.stdout,
          ...(spec.onEvent && { onEvent: spec.onEvent }),
          ...(spec.onExit && { onExit: spec.onExit }),
        }),
      role: (role, fallback) => {
        const argv = manifestRoles?.[role] ?? fallback;
        return argv ? commandFrom(argv) : undefined;
      },
      // Every entry's program came from `spawn` above: a ProgramProcess.
      stopPrograms: (entries, kill) =>
        stopPrograms(entries as unknown as Parameters<typeof stopPrograms>[0], kill),
    };
  }

  /** The run's nemesis: its fault options, the UDP proxy's mutations, the driver's hooks. */
  createNemesis(hooks: ProcessHooks, packet: { mutate: number; steady: boolean }): UdpNemesis {
    return new UdpNemesis(
      {
        ...this.options.nemesis,
        mutate: packet.mutate,
        steady_packet: packet.steady,
      },
      this.proxy.server,
      hooks,
      this.links,
      this.proxy,
      this.history,
      this.random.fork("nemesis"),
      this.log,
    );
  }

  /**
   * The timed phase: `load` and the nemesis run until the time limit (or an interrupt); then
   * everything is healed, and `load` must wind down. The heal comes at the time limit, not after
   * the load: a worker may be waiting on a paused program's reply, which only the heal's SIGCONT
   * brings.
   */
  async runTimed(nemesis: UdpNemesis, load: (stop: AbortSignal) => Promise<void>): Promise<void> {
    const generating = new AbortController();
    const timer = setTimeout(() => generating.abort(), this.options.time_limit_s * 1000);
    const onInterrupt = () => generating.abort();
    this.signal.addEventListener("abort", onInterrupt);
    try {
      const faults = nemesis.run(generating.signal);
      const loading = load(generating.signal);
      loading.catch(() => {}); // awaited below; marked handled in case the nemesis throws first
      await faults;
      if (!this.interrupted) await nemesis.heal();
      await loading;
    } finally {
      generating.abort(); // on an error too: no loop goes on starting programs
      clearTimeout(timer);
      this.signal.removeEventListener("abort", onInterrupt);
    }
  }
}

/** argv from a manifest: "node" is this Node binary; relative paths are from the package root. */
export function commandFrom(argv: readonly string[]): NodeCommand {
  const root = packageRoot();
  const [first, ...rest] = argv;
  if (!first) throw new SetupError("empty role command in a manifest");
  const file = first === "node" ? process.execPath : resolve(root, first);
  const args = rest.map((arg) =>
    !isAbsolute(arg) && (arg.startsWith("dist/") || existsSync(join(root, arg)))
      ? join(root, arg)
      : arg,
  );
  const missing = args.find((arg) => arg.startsWith(join(root, "dist")) && !existsSync(arg));
  if (missing) throw new SetupError(`${missing} is missing: run "npm run build" first`);
  return { file, args };
}
