// What every udp-transport driver (lsp, mining, conformance) shares during one run: options,
// clock, seeded randomness, the history, the link table, the proxy, the programs it started,
// and a small helper that turns "a command was sent / its reply came" into history ops.
import { existsSync } from "node:fs";
import { isAbsolute, join, resolve } from "node:path";
import { DEFAULT_PARAMS, type LspParams, paramFlags } from "../../protocols/lsp/params.js";
import type { RunClock } from "../clock.js";
import { SetupError } from "../exit-codes.js";
import type { HistoryRecorder, OpHandle } from "../history-recorder.js";
import type { LinkTable } from "../links.js";
import type { Logger } from "../logger.js";
import type { NodeCommand } from "../node-process.js";
import { packageRoot } from "../paths.js";
import { stopPrograms } from "../program-process.js";
import type { Random } from "../random.js";
import type { TestOptions } from "../run.js";
import type { Target } from "../target.js";
import { type ProcessHooks, UdpNemesis } from "./nemesis.js";
import type { Program, ProgramExit, ProtocolProblem } from "./program.js";
import type { UdpProxy } from "./proxy.js";

/** The LSP parameters a run used: the ones given, the programs' defaults for the rest. */
export function lspParams(udp: UdpOptions | undefined): LspParams {
  return { ...DEFAULT_PARAMS, ...udp?.lsp };
}

/** Options only the udp transport has (CLI flags the lead wires; see harness/udp/README.md). */
export interface UdpOptions {
  /**
   * LSP parameters passed to every program as flags (`--epoch-millis 200` …). Unset ones are not
   * passed, so programs that do not take them (a student's bitcoin binaries) use the defaults.
   */
  lsp?: Partial<LspParams>;
  /** Run the LSP wire-conformance checks against the server instead of the workload. */
  conformance?: boolean;
  /** Probability per datagram of each LSP Data mutation during packet faults (default 0.05). */
  mutate?: number;
  /** Packet faults on every link for the whole run instead of on and off on the schedule. */
  steady_packet?: boolean;
  /** The client program for `lsp` / `mining` (default: ours, or the system manifest's). */
  client_command?: NodeCommand;
  /** The miner program for `mining` (default: ours, or the system manifest's). */
  miner_command?: NodeCommand;
  /** mining: seconds a job may take before its client is killed and the job is `info`. */
  job_timeout_s?: number;
}

export type UdpTestOptions = TestOptions & { udp?: UdpOptions };

export const DEFAULT_MUTATE_P = 0.05;

export type { OpHandle } from "../history-recorder.js";

export interface ProgramRecord {
  program: Program;
  role: string;
  /** When the harness asked it to end (close command, kill, stop), for crash attribution. */
  ended_by_us: boolean;
  /** Time (ns) a `close` reply arrived: the program must exit within 1 s after it (§12.2). */
  close_replied_ns?: number;
  /** True when the program may exit on its own (a bitcoin client after printing). */
  may_exit: boolean;
}

export class RunContext {
  readonly programs: ProgramRecord[] = [];
  readonly counts = { ok: 0, fail: 0, info: 0 };
  phase = "starting";
  private next_process = 0;
  readonly params: LspParams;
  readonly paramFlags: string[];

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
  ) {
    const given = options.udp?.lsp ?? {};
    this.params = lspParams(options.udp);
    this.paramFlags = paramFlags(given);
  }

  get interrupted(): boolean {
    return this.signal.aborted;
  }

  /** A fresh Jepsen process id (one per sequential actor: a client's writer, its reader, …). */
  nextProcess(): number {
    return this.next_process++;
  }

  /** Records an invoke now; the handle records the completion. */
  invoke(process: number, f: string, value: unknown, node?: string): OpHandle {
    return this.history.invoke(process, f, value, node, (type) => this.counts[type]++);
  }

  track(program: Program, role: string, may_exit = false): ProgramRecord {
    const record: ProgramRecord = { program, role, ended_by_us: false, may_exit };
    this.programs.push(record);
    return record;
  }

  /** The run's nemesis: its fault options, the UDP proxy's mutations, the runner's hooks. */
  createNemesis(hooks: ProcessHooks): UdpNemesis {
    return new UdpNemesis(
      {
        ...this.options.nemesis,
        mutate: this.options.udp?.mutate ?? DEFAULT_MUTATE_P,
        steady_packet: this.options.udp?.steady_packet === true,
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

  /** Set by stopAll: runners start no new program after it. */
  stopping = false;

  /** Stops every program still running and closes them all (stopPrograms). */
  async stopAll(kill: boolean): Promise<void> {
    this.stopping = true;
    await stopPrograms(this.programs, kill);
  }

  /** Epoch length and limit in force (flags given, else the LSP defaults). */
  get epoch_ms(): number {
    return this.params.epochMillis;
  }

  get epoch_limit(): number {
    return this.params.epochLimit;
  }
}

export interface ProgramsReport {
  crashes: Array<ProgramExit & { role: string }>;
  slow_exits: Array<{ program: string; role: string; waited_ms: number }>;
  problems: ProtocolProblem[];
  problem_count: number;
}

/** Roles a udp system can have, and the commands that start them. */
export interface RoleCommands {
  server: NodeCommand;
  client: NodeCommand;
  miner?: NodeCommand;
}

const DEFAULT_ROLES: Record<string, Record<string, string[]>> = {
  lsp: { client: ["node", "dist/systems/lsp/client-main.js"] },
  mining: {
    client: ["node", "dist/systems/bitcoin/client.js"],
    miner: ["node", "dist/systems/bitcoin/miner.js"],
  },
};

/**
 * The server is the target's command (`--system X` or `--bin`). The other roles come from the
 * udp options, else the system manifest's `roles`, else faultline's reference programs.
 */
export function resolveRoles(target: Target, workload: string, udp: UdpOptions = {}): RoleCommands {
  const manifestRoles = (target.manifest as { roles?: Record<string, string[]> } | undefined)
    ?.roles;
  const pick = (role: string, override: NodeCommand | undefined): NodeCommand | undefined => {
    if (override) return override;
    const argv = manifestRoles?.[role] ?? DEFAULT_ROLES[workload]?.[role];
    return argv ? commandFrom(argv) : undefined;
  };
  const client = pick("client", udp.client_command);
  if (!client) throw new SetupError(`workload ${workload} has no client program`);
  const miner = pick("miner", udp.miner_command);
  if (workload === "mining" && !miner)
    throw new SetupError("workload mining needs a miner program");
  return { server: target.command, client, ...(miner && { miner }) };
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
