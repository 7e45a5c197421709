// What the drivers of the LSP family (lsp, its conformance checks, mining) share: their options
// and flags, the LSP parameters in force, the programs they start (each with its role, for the
// process contract), and the report and check of that contract.

import type { Op } from "../../checkers/history.js";
import {
  EXIT_AFTER_CLOSE_MS,
  type ProgramsReport,
  programsCheck,
} from "../../checkers/programs.js";
import type { CheckResult } from "../../checkers/result.js";
import { DEFAULT_PARAMS, type LspParams, paramFlags } from "../../protocols/lsp/params.js";
import {
  type Driver,
  type DriverContext,
  type NodeCommand,
  type NodeRecord,
  type OptionSpec,
  type Program,
  type RunSettings,
  SetupError,
  type SpawnSpec,
  type UdpNet,
} from "../plugin.js";

/** The options of the udp workloads (test.json's `udp`). */
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

export const DEFAULT_MUTATE_P = 0.05;

/** The LSP parameters a run used: the ones given, the programs' defaults for the rest. */
export function lspParams(udp: UdpOptions | undefined): LspParams {
  return { ...DEFAULT_PARAMS, ...udp?.lsp };
}

// ---- options ------------------------------------------------------------------------------

/** The LSP parameters as flags: every program of lsp and mining gets the ones given. */
export const LSP_PARAM_OPTIONS: readonly OptionSpec[] = [
  {
    flags: "--epoch-millis <ms>",
    description: "lsp/mining: LSP epoch length passed to every program",
    type: "integer",
    min: 1,
  },
  {
    flags: "--epoch-limit <n>",
    description: "lsp/mining: epochs without news before a connection is lost",
    type: "integer",
    min: 1,
  },
  {
    flags: "--window-size <n>",
    description: "lsp/mining: LSP sliding window",
    type: "integer",
    min: 1,
  },
  {
    flags: "--max-backoff <n>",
    description: "lsp/mining: LSP maximum backoff interval in epochs",
    type: "integer",
    min: 0,
  },
  {
    flags: "--max-unacked <n>",
    description: "lsp/mining: LSP maximum unacknowledged messages",
    type: "integer",
    min: 1,
  },
];

export const CONFORMANCE_OPTION: OptionSpec = {
  flags: "--conformance",
  description: "lsp: check the server's wire behaviour against the spec instead",
  type: "flag",
};

/** Packet-fault options of the udp proxy, and the client program both workloads run. */
export const UDP_OPTIONS: readonly OptionSpec[] = [
  {
    flags: "--packet-mutate <p>",
    description: "udp packet faults: chance of each LSP Data mutation",
    type: "probability",
  },
  {
    flags: "--packet-steady",
    description: "udp: packet faults on every link for the whole run",
    type: "flag",
  },
  {
    flags: "--client-bin <file>",
    description: "lsp/mining: your client program (default: ours)",
    type: "program",
  },
];

interface UdpFlags {
  epochMillis?: number;
  epochLimit?: number;
  windowSize?: number;
  maxBackoff?: number;
  maxUnacked?: number;
  conformance?: boolean;
  packetMutate?: number;
  packetSteady?: boolean;
  clientBin?: string;
  clientArg?: string[];
  minerBin?: string;
  minerArg?: string[];
  jobTimeout?: number;
}

/** Only the LSP parameters the user gave are passed on, so programs keep their defaults. */
export function udpOptions(
  given: Readonly<Record<string, unknown>>,
  program: (file: string, args?: readonly string[]) => NodeCommand,
): UdpOptions {
  const flags = given as UdpFlags;
  const lsp: Partial<LspParams> = {};
  if (flags.epochMillis !== undefined) lsp.epochMillis = flags.epochMillis;
  if (flags.epochLimit !== undefined) lsp.epochLimit = flags.epochLimit;
  if (flags.windowSize !== undefined) lsp.windowSize = flags.windowSize;
  if (flags.maxBackoff !== undefined) lsp.maxBackOffInterval = flags.maxBackoff;
  if (flags.maxUnacked !== undefined) lsp.maxUnackedMessages = flags.maxUnacked;
  return {
    lsp,
    ...(flags.conformance && { conformance: true }),
    ...(flags.packetMutate !== undefined && { mutate: flags.packetMutate }),
    ...(flags.packetSteady && { steady_packet: true }),
    ...(flags.clientBin && { client_command: program(flags.clientBin, flags.clientArg) }),
    ...(flags.minerBin && { miner_command: program(flags.minerBin, flags.minerArg) }),
    ...(flags.jobTimeout !== undefined && { job_timeout_s: flags.jobTimeout }),
  };
}

/**
 * The checks before anything starts, and what test.json records: the programs of each role.
 * `defaults` are faultline's reference programs, used when neither a flag nor the system
 * manifest names one.
 */
export function prepareUdp(
  settings: RunSettings,
  options: UdpOptions | undefined,
  defaults: Readonly<Record<string, readonly string[]>>,
  role: DriverContext["role"],
): { name?: string; extra: Record<string, unknown> } {
  const conformance = options?.conformance === true;
  if (conformance && settings.workload !== "lsp") {
    throw new SetupError("--conformance checks an LSP server: use it with -w lsp");
  }
  if (settings.concurrency < 1) throw new SetupError("--concurrency must be at least 1");
  const given: Record<string, NodeCommand | undefined> = {
    client: options?.client_command,
    miner: options?.miner_command,
  };
  // Resolved before the run starts, so a missing program is a setup error and test.json
  // records the commands that ran.
  const roles: Record<string, NodeCommand> = { server: settings.target.command };
  for (const name of ["client", "miner"]) {
    const command = given[name] ?? role(name, defaults[name]);
    if (command) roles[name] = command;
  }
  return { ...(conformance && { name: "lsp-conformance" }), extra: { roles } };
}

/** The mutations and steady packet faults the udp nemesis takes from the options. */
export function packetOptions(options: UdpOptions): { mutate: number; steady: boolean } {
  return { mutate: options.mutate ?? DEFAULT_MUTATE_P, steady: options.steady_packet === true };
}

// ---- the drivers' shared part ---------------------------------------------------------------

/** How long a started server has to report `listening`. */
export const SERVER_START_TIMEOUT_MS = 10_000;
/** Grace for process start-up on a loaded machine, added to protocol-derived bounds. */
export const PROCESS_SLACK_MS = 3_000;
/**
 * Slack beyond the 1 s (systems/lsp/README.md "The control channel") for a program to exit after
 * answering close, on a loaded machine.
 */
export const EXIT_SLACK_MS = 1_000;

export interface ProgramRecord {
  program: Program;
  role: string;
  /** When the harness asked it to end (close command, kill, stop), for crash attribution. */
  ended_by_us: boolean;
  /**
   * Time (ns) a `close` reply arrived: the program must exit within 1 s after it
   * (systems/lsp/README.md "The control channel").
   */
  close_replied_ns?: number;
  /** True when the program may exit on its own (a bitcoin client after printing). */
  may_exit: boolean;
}

/**
 * A driver of the LSP family: the programs it started and the process contract they keep, which
 * `check` adds to the driver's own checkers as `programs` and `report` turns into node-crashed
 * errors.
 */
export abstract class LspFamilyDriver implements Driver {
  protected readonly programs: ProgramRecord[] = [];
  /** Set by stop: no new program starts after it. */
  protected stopping = false;
  protected readonly params: LspParams;
  /** The LSP flags given, passed on to every program. */
  protected readonly paramFlags: string[];

  constructor(
    protected readonly ctx: DriverContext<UdpNet>,
    protected readonly options: UdpOptions,
  ) {
    this.params = lspParams(options);
    this.paramFlags = paramFlags(options.lsp ?? {});
  }

  abstract start(): Promise<void>;
  abstract load(stop: AbortSignal): Promise<void>;
  protected abstract checkers(ops: readonly Op[]): Record<string, CheckResult>;

  /** Epoch length and limit in force (flags given, else the LSP defaults). */
  protected get epoch_ms(): number {
    return this.params.epochMillis;
  }

  protected get epoch_limit(): number {
    return this.params.epochLimit;
  }

  /** A program of `role` the process contract covers; started by the caller. */
  protected spawn(spec: SpawnSpec, role: string, may_exit = false): ProgramRecord {
    const record: ProgramRecord = {
      program: this.ctx.spawn(spec),
      role,
      ended_by_us: false,
      may_exit,
    };
    this.programs.push(record);
    return record;
  }

  /** The command of a role other than the server: a flag's, else the manifest's, else ours. */
  protected role(
    name: string,
    given: NodeCommand | undefined,
    fallback: readonly string[],
  ): NodeCommand {
    const command = given ?? this.ctx.role(name, fallback);
    if (!command)
      throw new SetupError(`workload ${this.ctx.settings.workload} has no ${name} program`);
    return command;
  }

  async stop(kill: boolean): Promise<void> {
    this.stopping = true;
    await this.ctx.stopPrograms(this.programs, kill);
  }

  async check(ops: readonly Op[]): Promise<Record<string, CheckResult>> {
    return { ...this.checkers(ops), programs: programsCheck(this.contract()) };
  }

  report(): {
    nodes: Record<string, NodeRecord>;
    errors: Array<{ kind: string; message: string }>;
  } {
    const { crashes } = this.contract();
    return {
      nodes: Object.fromEntries(
        this.programs.map((r) => [
          r.program.id,
          { crashes: crashes.filter((c) => c.id === r.program.id) },
        ]),
      ),
      errors: crashes.map((crash) => ({
        kind: "node-crashed",
        message: `${crash.role} ${crash.id} exited on its own (code ${crash.code}, signal ${crash.signal}) at ${(crash.time_ns / 1e9).toFixed(1)} s`,
      })),
    };
  }

  /** What the programs did against the process contract. */
  private contract(): ProgramsReport {
    const report: ProgramsReport = { crashes: [], slow_exits: [], problems: [], problem_count: 0 };
    for (const r of this.programs) {
      const exit = r.program.exit;
      report.problem_count += r.program.problem_count;
      report.problems.push(...r.program.problems);
      if (r.close_replied_ns !== undefined) {
        const waited_ms = exit
          ? (exit.time_ns - r.close_replied_ns) / 1e6
          : Number.POSITIVE_INFINITY;
        if (waited_ms > EXIT_AFTER_CLOSE_MS + EXIT_SLACK_MS) {
          report.slow_exits.push({
            program: r.program.id,
            role: r.role,
            waited_ms: Math.round(waited_ms),
          });
        }
        continue;
      }
      if (exit && !exit.expected && !r.ended_by_us && !r.may_exit) {
        report.crashes.push({ ...exit, role: r.role });
      }
    }
    return report;
  }
}
