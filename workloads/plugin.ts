// The plugin API: what a workload driver is given by the one run lifecycle (harness/run.ts) and
// what it gives back (ARCHITECTURE.md "Plugins"). Drivers see the engine only through these
// interfaces, so workloads/ never imports harness/: the harness implements them.
import type { CompletionType, Op } from "../checkers/history.js";
import type { CheckResult } from "../checkers/result.js";
import type { LspMessage } from "../protocols/lsp/message.js";
import type { FaultKind, Targets } from "./faults.js";
import type { Body } from "./protocol.js";
import type { Rng } from "./workload.js";

/** An error that ends the command with exit 3 and one line saying why and what to do. */
export class SetupError extends Error {
  override name = "SetupError";
}

export type TransportName = "maelstrom" | "udp" | "tcp";

export interface NodeCommand {
  file: string;
  args: readonly string[];
}

/** What a driver may read of the test's options (harness/test-options.ts extends it). */
export interface RunSettings {
  workload: string;
  target: {
    name: string;
    /** The system's program (a node, the LSP server, the MapReduce coordinator). */
    command: NodeCommand;
    bug?: string;
    /** The system's manifest.json when it is a built-in system (`roles` names other programs). */
    manifest?: { roles?: Record<string, string[]> };
  };
  node_count: number;
  /** Node names (Maelstrom's --nodes); default n0 … n(node_count-1). */
  nodes?: string[];
  time_limit_s: number;
  /** Total client ops per second across all workers. */
  rate: number;
  concurrency: number;
  /** Wait after the final heal before the final ops (drivers with `recovers_before_final`). */
  recovery_s: number;
  seed: number;
  topology: string;
  latency: { mean_ms: number };
  nemesis: { faults: readonly FaultKind[] };
  /**
   * --strict: rules stricter than the course's own contract (which its graders do not check)
   * fail the run instead of warning. Checkers read it; off by default so a program that keeps
   * the course's contract is never failed for more.
   */
  strict?: boolean;
}

/** One history record before the recorder stamps its index and time. */
export type HistoryEvent = Omit<Op, "index" | "time">;

/** An invoked op, waiting for its completion. */
export interface OpHandle {
  /**
   * Completes the op (with the invoke's value unless given); later calls are ignored (a reply
   * that races a timeout).
   */
  complete(type: CompletionType, value?: unknown, error?: unknown): void;
  readonly done: boolean;
}

export type Json = Record<string, unknown>;

export interface ProgramExit {
  id: string;
  code: number | null;
  signal: string | null;
  /** True when the harness stopped or killed it; false when it died on its own. */
  expected: boolean;
  time_ns: number;
  stderr_tail: string[];
}

/** How a program is started: its own process group, stderr to node-logs/<id>.log. */
export interface SpawnSpec {
  id: string;
  command: NodeCommand;
  /**
   * "control": stdout is a JSON-lines control channel (commands carry an id, replies an
   * in_reply_to, the rest are events); "text": stdout lines are kept (the last MAX_TEXT_LINES).
   */
  stdout: "control" | "text";
  /** Working directory; default data/<id>/ of the run directory. */
  cwd?: string;
  env?: Record<string, string>;
  /** Every control-channel event (a JSON line without in_reply_to). */
  onEvent?: (event: Json) => void;
  onExit?: (exit: ProgramExit) => void;
}

export interface ProtocolProblem {
  program: string;
  line: number;
  reason: string;
  raw: string;
}

/** A started-or-not program: the handle `DriverContext.spawn` returns. */
export interface Program {
  readonly id: string;
  readonly exit: ProgramExit | undefined;
  readonly running: boolean;
  /** The pid while it runs (e.g. to look at its open files in /proc). */
  readonly pid: number | undefined;
  readonly stderrTail: string[];
  /** Text mode: stdout lines kept. */
  readonly lines: string[];
  /** Control mode: malformed lines (the first few kept, all counted). */
  readonly problems: ProtocolProblem[];
  readonly problem_count: number;
  start(): Promise<void>;
  /** Control mode: sends a command, resolves with its reply (undefined on timeout or exit). */
  call(command: Json, timeout_ms?: number): Promise<Json | undefined>;
  /** Control mode: the first event matching, or undefined after `timeout_ms` or an exit. */
  waitEvent(match: (event: Json) => boolean, timeout_ms: number): Promise<Json | undefined>;
  waitExit(timeout_ms: number): Promise<ProgramExit | undefined>;
  kill(): Promise<void>;
  /** SIGTERM, then SIGKILL after the grace period. */
  stop(grace_ms?: number): Promise<void>;
  pause(): boolean;
  resume(): boolean;
  close(): Promise<void>;
}

/** A program's last stderr lines, appended to the SetupError of a program that would not start. */
export function stderrTailText(lines: readonly string[]): string {
  return lines.length === 0
    ? " (stderr was empty)"
    : `; last stderr lines:\n  ${lines.join("\n  ")}`;
}

/** Programs a driver tracks for the process contract; `ctx.stopPrograms` marks them ended. */
export interface ProgramEntry {
  program: Program;
  ended_by_us: boolean;
}

/** What the star nemesis (udp, tcp) asks the driver for process faults; names are participants. */
export interface ProcessHooks {
  /** Participants the link faults may touch (never the hub itself). */
  peers(): string[];
  /** Which participants a kill with this target set hits; [] when none can be killed now. */
  chooseKill(targets: Targets, random: Rng): string[];
  /** Kills them; returns what to record (e.g. the LSP client instances that died). */
  kill(names: string[]): Promise<Record<string, unknown>>;
  /** Brings killed participants back (a new client, a new miner, the server). */
  restart(names: string[]): Promise<Record<string, unknown>>;
  choosePause(targets: Targets, random: Rng): string[];
  pause(names: string[]): string[];
  /** The process instances behind paused names (e.g. "c1" → "c1.2"), for the history. */
  pausedInstances?(names: string[]): string[];
  resume(names: string[]): string[];
}

/**
 * A fault only the workload can carry out, run by the maelstrom nemesis on its schedule like any
 * other kind (ARCHITECTURE.md "Faults"): shard-kv's reconfiguration through its controller.
 * The controller ops it issues are the driver's own history ops; the nemesis records each start
 * and stop with the description returned.
 */
export interface ReconfigureHook {
  /** Changes the configuration, drawing from `random`; what it did, or false when it could not. */
  start(random: Rng): Promise<string | false>;
  /** Undoes the last start (the heal calls it too when a start is in force); what it did. */
  stop(): Promise<string>;
}

// ---- the networks a driver sees, one per transport ------------------------------------------

/** The maelstrom transport: the router, its nodes (started with init) and its clients. */
export interface MaelstromNet {
  readonly nodes: readonly string[];
  /** Starts every node and waits for init_ok (a SetupError names a node that fails). */
  startNodes(): Promise<void>;
  /** A client `c<N>` on the router; `call` resolves undefined on timeout. */
  openClient(): {
    call(node: string, body: Body, timeout_ms: number): Promise<Body | undefined>;
    close(): void;
  };
  /** A node's FAULTLINE_DATA_DIR (its working directory), e.g. to measure what it keeps. */
  dataDir(node: string): string;
  stopNodes(kill: boolean): Promise<void>;
  /**
   * After stopNodes: each node's crashes, a node-crashed error per crash, and the `protocol`
   * (stdout lines that broke the protocol, plus the driver's `malformed` replies) and `crashes`
   * checks, which hold even for an interrupted run.
   */
  report(malformed: readonly MalformedReply[]): ReturnType<Driver["report"]>;
}

/** A reply that broke the workload's schema, for the `protocol` check. */
export interface MalformedReply {
  node: string;
  f: string;
  reason: string;
  reply: string;
}

export type Direction = "to-server" | "from-server";

/** One datagram through the UDP proxy, as an observer sees it. */
export interface DatagramEvent {
  id: number;
  /** The client-side participant (frontend name). */
  peer: string;
  direction: Direction;
  src: string;
  dest: string;
  time_ns: number;
  bytes: number;
  /** Decoded as it arrived at the proxy; undefined when it is not LSP JSON. */
  message: LspMessage | undefined;
  fate: "forwarded" | "dropped";
}

/** The udp transport: one proxy frontend per client-side participant, all to one server port. */
export interface UdpNet {
  /** The loopback address frontends listen on. */
  readonly host: string;
  /** The server's participant name (the hub of link faults). */
  readonly server: string;
  /** A frontend for participant `name`; resolves with its port. */
  addFrontend(name: string): Promise<number>;
  frontendPort(name: string): number | undefined;
  /** Where the server listens (a restart may change it). */
  setUpstream(port: number): void;
  /** Holds the participant's datagrams at the proxy until `release`. */
  gate(name: string): void;
  release(name: string): void;
  observe(fn: (event: DatagramEvent) => void): () => void;
  /** A line in messages.jsonl (e.g. "server-listening"). */
  note(event: string, detail: Record<string, unknown>): void;
}

/** The tcp transport: a proxy listener per link, between programs that dial each other. */
export interface TcpNet {
  /**
   * A loopback listener for link src→dst that forwards to dst's port; resolves with its port.
   * `on_reply`, when given, sees the head (harness/tcp/proxy.ts REPLY_HEAD_BYTES, 512) of every chunk delivered
   * from dst back to src over it: what src's calls got, for a driver to judge.
   */
  listen(
    src: string,
    dst: string,
    dst_port: number,
    on_reply?: (head: Buffer) => void,
  ): Promise<number>;
  /** Resets every connection through `node`'s links; returns how many. */
  resetConnections(node: string): number;
  /** A free loopback port for a program to listen on. */
  freePort(): Promise<number>;
  /**
   * Resolves true once something accepts connections on the port; false when `timeout_ms`
   * passes, `alive()` turns false (the program exited) or `signal` fires.
   */
  waitListening(
    port: number,
    timeout_ms: number,
    alive: () => boolean,
    signal: AbortSignal,
  ): Promise<boolean>;
}

// ---- the context and the driver -------------------------------------------------------------

export interface DriverContext<Net = unknown> {
  readonly settings: RunSettings;
  /** The run directory (data/<id>/ for programs, node-logs/, history.jsonl …). */
  readonly dir: string;
  readonly net: Net;
  /** Nanoseconds since the run started (the history's clock). */
  readonly clock: { now_ns(): number };
  /** The run's seeded randomness for this workload; fork a stream per purpose. */
  readonly random: Rng;
  readonly log: { info(message: string): void };
  /** Fires on Ctrl-C; everything a driver waits on must end when it does. */
  readonly signal: AbortSignal;
  readonly interrupted: boolean;
  /** The history so far; every completion recorded is counted for the progress line. */
  readonly history: { readonly ops: readonly Op[]; record(event: HistoryEvent): Op };
  /** Records an invoke now; the handle records its completion. */
  invoke(process: number, f: string, value: unknown, node?: string): OpHandle;
  /** A fresh Jepsen process id (one per sequential actor). */
  nextProcess(): number;
  /** The phase the progress line shows ("running", "final", …). */
  setPhase(phase: string): void;
  /** Paces client ops at `settings.rate` across all callers (a Poisson stream). */
  scheduler(): { claim_ms(): number | undefined };
  spawn(spec: SpawnSpec): Program;
  /**
   * The command for a role other than the target's (an LSP client, a miner, a MapReduce
   * worker): the system manifest's `roles[role]`, else `fallback` (argv relative to the package
   * root, "node" meaning this Node). Undefined when neither names one.
   */
  role(role: string, fallback?: readonly string[]): NodeCommand | undefined;
  /**
   * Stops every program still running in `entries` (SIGKILL when `kill`), marking each ended by
   * us, then closes them all; repeats while exit handlers start replacements.
   */
  stopPrograms(entries: readonly ProgramEntry[], kill: boolean): Promise<void>;
}

/** One program's exits on its own, in results.json's `nodes`. */
export interface NodeRecord {
  crashes: Array<{ code: number | null; signal: string | null; time_ns: number }>;
}

/**
 * One run of one workload. The lifecycle calls, in order: start → load (the nemesis beside it,
 * until the time limit or until load returns) → heal → final (unless interrupted) → stop →
 * check (unless interrupted) → report. After an error it calls stop(true) and nothing else.
 */
export interface Driver {
  /** Starts the programs and their handshake; a SetupError when one will not start. */
  start(): Promise<void>;
  /** Kills, pauses and restarts of this workload's participants (star transports). */
  readonly hooks?: ProcessHooks;
  /** `reconfigure` faults (maelstrom); a plugin listing that kind in `faults` must give it. */
  readonly reconfigure?: ReconfigureHook;
  /** The participant every link fault is between a peer and (tcp; udp's is the server). */
  readonly hub?: string;
  /**
   * Drives the workload until `stop` fires (the time limit or Ctrl-C). It may return earlier
   * when the workload is done (a MapReduce job); the faults then stop too.
   */
  load(stop: AbortSignal): Promise<void>;
  /** After the heal: the final phase (final reads, closes, a last fault on purpose …). */
  final?(): Promise<void>;
  /** udp: LSP Data mutations during packet faults, and packet faults for the whole run. */
  readonly packet_options?: { mutate: number; steady: boolean };
  /**
   * When true, the heal comes at the time limit, before the load has wound down: its last
   * replies may need it (a paused program answers only after SIGCONT). Otherwise the heal waits
   * for the load's ops in flight, as Jepsen's phases do.
   */
  readonly heal_before_drain?: boolean;
  /** When true, the lifecycle waits `recovery_s` between the heal and `final`. */
  readonly recovers_before_final?: boolean;
  /** Stops every program it started; SIGKILL when `kill` (interrupt, error). */
  stop(kill: boolean): Promise<void>;
  /** The workload's checkers over the finished history (a checker name → its result). */
  check(ops: readonly Op[]): Promise<Record<string, CheckResult>>;
  /**
   * After stop, interrupted or not: per-program records, errors (e.g. node-crashed), and
   * checkers that hold even for an interrupted run (e.g. the protocol check).
   */
  report(): {
    nodes: Record<string, NodeRecord>;
    errors: Array<{ kind: string; message: string }>;
    checkers?: Record<string, CheckResult>;
  };
}

/** A command-line option a workload declares; the CLI, --help and validation come from it. */
export interface OptionSpec {
  /** Commander flags, e.g. "--epoch-millis <ms>" or "--conformance". */
  flags: string;
  description: string;
  /**
   * How the text is read; a bare switch is "flag". A "program" is `--ROLE-bin <file>`, and comes
   * with a repeatable `--ROLE-arg <arg>` for its arguments (the CLI adds it).
   */
  type: "integer" | "number" | "probability" | "string" | "flag" | "program" | readonly string[];
  /** Bounds for integer and number. */
  min?: number;
  max?: number;
}

export interface WorkloadPlugin<Net = unknown, Options = unknown> {
  readonly name: string;
  readonly transport: TransportName;
  /** One line for `faultline workloads` and `--help`. */
  readonly summary: string;
  /** Fault kinds it can take, when fewer than its transport's. */
  readonly faults?: readonly FaultKind[];
  /** Why the others cannot apply, added to the error when a run asks for one. */
  readonly faults_note?: string;
  /**
   * The built-in system (systems/<name>/) that `--against-reference` runs beside a test: ours,
   * correct and built to survive this workload's faults, so its verdict says whether the test
   * itself is fair. None: the workload has no reference of ours.
   */
  readonly reference?: string;
  /** The key of its options in the test's options (TestOptions), e.g. "udp"; none: no options. */
  readonly options_key?: string;
  readonly options?: readonly OptionSpec[];
  /**
   * Its options from the parsed flags (camelCase keys as commander gives them); `program`
   * resolves a --ROLE-bin path and its --ROLE-arg list to a command. Throws SetupError on a bad
   * combination.
   */
  fromFlags?(
    flags: Readonly<Record<string, unknown>>,
    program: (file: string, args?: readonly string[]) => NodeCommand,
  ): Options;
  /** The node count when --node-count is not given (shard-kv needs 3 + 3 × groups, not 5). */
  readonly default_node_count?: number;
  /**
   * A program option of its own that names the target instead of --bin, in the course's words
   * (mapreduce: "--coordinator-bin <file>"); its --ROLE-arg list comes before the args after --.
   */
  readonly target_option?: string;
  /**
   * Checks its options before anything starts (SetupError), and says what test.json and the
   * store name add: `name` replaces the workload in "<name>-<target>". `role` is
   * `DriverContext.role`, so test.json can name the programs a run will start.
   */
  prepare?(
    settings: RunSettings,
    options: Options | undefined,
    role: DriverContext["role"],
  ): { name?: string; extra?: Json };
  create(ctx: DriverContext<Net>, options: Options | undefined): Driver;
  /**
   * `faultline check RUN_DIR`: given the run's test.json, its checkers over a stored history
   * (with the run's seeded stream); undefined, or absent, when they need what the live run saw
   * beyond the history.
   */
  rechecker?(
    test: Readonly<Record<string, unknown>>,
  ): ((ops: readonly Op[], random: Rng) => Promise<Record<string, CheckResult>>) | undefined;
}
