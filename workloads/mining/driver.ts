// The `mining` workload's driver (systems/bitcoin/README.md "What faultline checks (workload
// `mining`)"): the bitcoin server (the target, `server <port>`), `node-count` miners m0 … (`miner
// <host:port>`) and `concurrency` client workers c0 … each running one `client <host:port>
// <message> <maxNonce>` process per job, every participant through its own proxy frontend.
//
// Phases: miners join; a fairness probe (a large job, then a small one once the large one is being
// mined); a burst of identical jobs when there are three or more workers; then mixed jobs back to
// back until the time limit, with the nemesis killing miners and clients, partitioning and
// dropping packets. After the heal every running job finishes (or times out). Last, the server
// is killed on purpose while a job runs: that job's client must print "Disconnected" and every
// miner exit.
import { createSocket } from "node:dgram";
import type { Op } from "../../checkers/history.js";
import type { Dispatch } from "../../checkers/mining.js";
import type { LoadEvent } from "../../checkers/mining-load.js";
import type { CheckResult } from "../../checkers/result.js";
import {
  type BitcoinMessage,
  BitcoinType,
  decodeBitcoin,
} from "../../protocols/bitcoin/message.js";
import { MsgType } from "../../protocols/lsp/message.js";
import type { Targets } from "../faults.js";
import {
  LspFamilyDriver,
  PROCESS_SLACK_MS,
  type ProgramRecord,
  packetOptions,
  type UdpOptions,
} from "../lsp/common.js";
import {
  type DatagramEvent,
  type DriverContext,
  type NodeCommand,
  type OpHandle,
  type ProcessHooks,
  type Program,
  SetupError,
  type SpawnSpec,
  stderrTailText,
  type UdpNet,
} from "../plugin.js";
import { sleepUnlessAborted, until } from "../timing.js";
import type { Rng } from "../workload.js";
import { JobAttribution } from "./attribution.js";
import { checkMining, type JobSpec, MiningJobs } from "./workload.js";

/** The client's answer lines: a result, a lost server, or no server to connect to. */
const RESULT_LINE = /^Result (\d+) (\d+)$/;
const CONNECT_FAILED = "Failed to connect to server";

/** Nonces in a Request's [Lower, Upper], both inclusive. */
const rangeSize = (request: BitcoinMessage) => Number(request.upper - request.lower + 1n);

function isAnswer(line: string): boolean {
  return RESULT_LINE.test(line) || line === "Disconnected" || line.startsWith(CONNECT_FAILED);
}

/**
 * Each burst job goes in this long after the previous one reached the server: apart in time, so
 * the arrival order is unambiguous, but close enough that the jobs are at the server together
 * (a burst whose jobs never met is not tested).
 */
const BURST_GAP_MS = 5;
/** The job the final server kill interrupts (the kill comes before it can finish). */
const SERVER_KILL_JOB_NONCE = 2_000_000;
const SERVER_KILL_DELAY_MS = 300;
/** Chunk dispatches remembered for the checkers. */
const MAX_DISPATCHES_KEPT = 1_000_000;
/** Load events remembered for the load-balance checker (beyond this it does not judge). */
const MAX_LOAD_EVENTS_KEPT = 2_000_000;
/** Our client and miner, when neither a flag nor the system manifest names one. */
export const MINING_ROLES = {
  client: ["node", "dist/systems/bitcoin/client.js"],
  miner: ["node", "dist/systems/bitcoin/miner.js"],
} as const;

interface Miner {
  name: string;
  generation: number;
  /** The current process's Join has reached the server. */
  joined: boolean;
  program: Program | undefined;
  record: ProgramRecord | undefined;
  blocked: boolean;
}

interface ClientWorker {
  index: number;
  name: string;
  process: number;
  generation: number;
  /** The running job's client program and op, for client kills. */
  running: { program: Program; killed: boolean } | undefined;
}

export class MiningDriver extends LspFamilyDriver {
  readonly hooks: ProcessHooks;
  /** A running job may wait on a paused miner or client, which only the heal's SIGCONT resumes. */
  readonly heal_before_drain = true;
  readonly packet_options: { mutate: number; steady: boolean };
  private readonly server_command: NodeCommand;
  private readonly client_command: NodeCommand;
  private readonly miner_command: NodeCommand;
  private readonly miners: Miner[];
  private readonly workers: ClientWorker[];
  private readonly jobs: MiningJobs;
  private server: { program: Program; record: ProgramRecord } | undefined;
  private serverPort = 0;
  /** Jobs, chunks and results as the proxy saw them, until the final phase. */
  private readonly load_events: LoadEvent[] = [];
  private load_events_complete = true;
  private load_events_closed = false;
  /** Each client connection's job message, for the server's answer to it. */
  private readonly client_jobs = new Map<string, string>();
  /** Chunks handed to miners, bounded (the drop check needs the late ones, not all). */
  private readonly dispatches: Dispatch[] = [];
  private readonly seen_messages = new Set<string>();
  private readonly joined = new Set<string>();
  /** Each client worker's job as the server saw it: its Request arriving, its Result leaving. */
  private readonly attribution = new JobAttribution();
  /** The final phase killed the server: miners exiting now do so by contract. */
  private server_killed = false;

  constructor(ctx: DriverContext<UdpNet>, options: UdpOptions) {
    super(ctx, options);
    this.server_command = ctx.settings.target.command;
    this.client_command = this.role("client", options.client_command, MINING_ROLES.client);
    this.miner_command = this.role("miner", options.miner_command, MINING_ROLES.miner);
    this.miners = Array.from({ length: Math.max(1, ctx.settings.node_count) }, (_, i) => ({
      name: `m${i}`,
      generation: 0,
      joined: false,
      program: undefined,
      record: undefined,
      blocked: false,
    }));
    this.workers = Array.from({ length: ctx.settings.concurrency }, (_, index) => ({
      index,
      name: `c${index}`,
      process: ctx.nextProcess(),
      generation: 0,
      running: undefined,
    }));
    this.jobs = new MiningJobs(ctx.random.fork("workload"));
    this.hooks = this.processHooks();
    this.packet_options = packetOptions(options);
  }

  private get jobTimeout_ms(): number {
    const given = this.options.job_timeout_s;
    if (given !== undefined) return given * 1000;
    // Room to detect a dead miner (K epochs), reassign and recompute, several times over.
    return Math.max(10_000, 4 * (this.epoch_limit + 2) * this.epoch_ms + 5_000);
  }

  /** Frontends, the server, and the miners joining it. */
  async start(): Promise<void> {
    const { ctx } = this;
    for (const m of this.miners) await ctx.net.addFrontend(m.name);
    for (const w of this.workers) await ctx.net.addFrontend(w.name);
    ctx.net.observe((event) => this.observe(event));
    await this.startServer();
    for (const m of this.miners) await this.startMiner(m);
    const joinWait = (this.epoch_limit + 2) * this.epoch_ms + PROCESS_SLACK_MS;
    if (!(await until(() => this.joined.size === this.miners.length, joinWait, ctx.signal))) {
      if (this.joined.size === 0 && !ctx.interrupted) {
        throw new SetupError(
          `no miner joined the bitcoin server within ${(joinWait / 1000).toFixed(1)} s (is the server listening on the port it was given?)${stderrTailText(this.server?.program.stderrTail ?? [])}`,
        );
      }
      ctx.log.info(`only ${this.joined.size} of ${this.miners.length} miners joined; going on`);
    }
    ctx.log.info(
      `running mining for ${ctx.settings.time_limit_s} s: ${this.miners.length} miners, ${this.workers.length} client workers, job timeout ${this.jobTimeout_ms / 1000} s`,
    );
  }

  protected checkers(ops: readonly Op[]): Record<string, CheckResult> {
    return checkMining(ops, {
      load_events: this.load_events,
      load_events_complete: this.load_events_complete,
      dispatches: this.dispatches,
      drop_bound_ms: (this.epoch_limit + 2) * this.epoch_ms + PROCESS_SLACK_MS,
      faults_injected: this.ctx.settings.nemesis.faults.length > 0,
    });
  }

  /** What the proxy sees of the bitcoin messages: job timing, joins, chunks handed out. */
  private observe(event: DatagramEvent): void {
    const m = event.message;
    if (!m || m.type !== MsgType.Data || !m.payload || event.fate !== "forwarded") return;
    const message = decodeBitcoin(Buffer.from(m.payload).toString("utf8"));
    if (!message) return;
    // Retransmissions repeat (ConnID, SeqNum): count each message once.
    const key = `${event.direction}|${event.peer}|${m.connId}|${m.seqNum}`;
    if (this.seen_messages.has(key)) return;
    this.seen_messages.add(key);
    if (event.peer.startsWith("m")) this.observeMiner(event, message);
    else this.observeClient(event, m.connId, message);
  }

  private observeClient(event: DatagramEvent, conn: number, message: BitcoinMessage): void {
    const { peer, direction, time_ns } = event;
    // A client's job as the server saw it: latency without process start-up and exit.
    this.attribution.observe({ peer, direction, conn, message, time_ns });
    const job = `${peer}|${conn}`;
    if (direction === "to-server" && message.type === BitcoinType.Request) {
      this.client_jobs.set(job, message.data);
      const nonces = rangeSize(message);
      this.recordLoad({ kind: "job", time_ns, message: message.data, nonces });
    }
    const answered = this.client_jobs.get(job);
    if (
      direction === "from-server" &&
      message.type === BitcoinType.Result &&
      answered !== undefined
    ) {
      this.recordLoad({ kind: "answer", time_ns, message: answered });
    }
  }

  private observeMiner(event: DatagramEvent, message: BitcoinMessage): void {
    const { peer: miner, direction, time_ns } = event;
    if (direction === "to-server" && message.type === BitcoinType.Join) {
      this.joined.add(miner);
      this.recordLoad({ kind: "join", time_ns, miner });
    }
    if (direction === "to-server" && message.type === BitcoinType.Result) {
      this.recordLoad({ kind: "result", time_ns, miner });
    }
    if (direction === "from-server" && message.type === BitcoinType.Request) {
      if (this.dispatches.length < MAX_DISPATCHES_KEPT) {
        this.dispatches.push({ message: message.data, time_ns, miner });
      }
      const nonces = rangeSize(message);
      this.recordLoad({ kind: "chunk", time_ns, miner, message: message.data, nonces });
    }
  }

  private recordLoad(event: LoadEvent): void {
    if (this.load_events_closed) return;
    if (this.load_events.length < MAX_LOAD_EVENTS_KEPT) this.load_events.push(event);
    else this.load_events_complete = false;
  }

  /** The probe pair, the burst, then mixed jobs back to back until `stop`. */
  async load(stop: AbortSignal): Promise<void> {
    const workers = this.workers;
    if (workers.length >= 2 && !stop.aborted) {
      const [large, small] = this.jobs.probePair();
      const [first, second] = workers as [ClientWorker, ClientWorker];
      // Both clients start now, but the small one's datagrams are held at the proxy until the
      // server hands the large job's first chunks to miners: a known arrival order, no process
      // start-up gap, and however fast the miners, most of the large job still to hand out.
      this.ctx.net.gate(second.name);
      const jobs = [this.runJob(first, large), this.runJob(second, small)];
      await this.requestArrived(first);
      // Not past half the small client's connect patience (K epochs): no miner may be free.
      const dispatch_wait_ms = (this.epoch_limit * this.epoch_ms) / 2;
      await this.whileJobRuns(first, () => this.dispatched(large.message), dispatch_wait_ms);
      this.ctx.net.release(second.name);
      await Promise.all(jobs);
    }
    if (workers.length >= 3 && !stop.aborted) {
      const burst = this.jobs.burst(workers.length);
      // All clients start at once, held at the proxy; released one by one, each once the
      // previous job has reached the server: a known arrival order.
      for (const w of workers.slice(1)) this.ctx.net.gate(w.name);
      const jobs = workers.map((w, i) => this.runJob(w, burst[i] as JobSpec));
      for (const [i, w] of workers.entries()) {
        if (i === 0) continue;
        await this.requestArrived(workers[i - 1] as ClientWorker);
        await sleepUnlessAborted(BURST_GAP_MS, this.ctx.signal);
        this.ctx.net.release(w.name);
      }
      await Promise.all(jobs);
    }
    await Promise.all(
      workers.map(async (w) => {
        while (!stop.aborted) await this.runJob(w, this.jobs.nextJob());
      }),
    );
  }

  /** Waits until the worker's current job's Request has reached the server (bounded). */
  private requestArrived(worker: ClientWorker): Promise<void> {
    return this.whileJobRuns(worker, () => this.attribution.arrived(worker.name));
  }

  /**
   * Waits until `done()`, but no longer than the worker's current job runs (a killed client's job
   * will not get further, and clients held at the proxy meanwhile would give up connecting), and
   * at most `bound_ms` ((K + 2) epochs plus process slack unless given).
   */
  private async whileJobRuns(
    worker: ClientWorker,
    done: () => boolean,
    bound_ms = (this.epoch_limit + 2) * this.epoch_ms + PROCESS_SLACK_MS,
  ): Promise<void> {
    const { signal } = this.ctx;
    await until(() => worker.running !== undefined, bound_ms, signal);
    const job = worker.running;
    await until(() => done() || worker.running !== job || job?.killed === true, bound_ms, signal);
  }

  /** The server has handed a chunk of this job to a miner. */
  private dispatched(message: string): boolean {
    return this.dispatches.some((d) => d.message === message);
  }

  // ---- programs ----------------------------------------------------------------------------

  private async startServer(): Promise<void> {
    const { ctx } = this;
    this.serverPort = await freeUdpPort();
    const record = this.spawn(
      {
        id: "server",
        command: {
          file: this.server_command.file,
          args: [...this.server_command.args, String(this.serverPort), ...this.paramFlags],
        },
        stdout: "text",
      },
      "server",
    );
    const { program } = record;
    await program.start();
    this.server = { program, record };
    ctx.net.setUpstream(this.serverPort);
    ctx.net.note("server-started", { port: this.serverPort });
    // The server has no ready signal; LSP clients resend Connect every epoch anyway.
    await sleepUnlessAborted(300, ctx.signal);
    if (!program.running) {
      throw new SetupError(
        `the bitcoin server exited at once (code ${program.exit?.code}, signal ${program.exit?.signal})${stderrTailText(program.stderrTail)}`,
      );
    }
  }

  private async startMiner(miner: Miner): Promise<void> {
    const { ctx } = this;
    if (this.stopping) return;
    const generation = ++miner.generation;
    const id = generation === 1 ? miner.name : `${miner.name}.${generation}`;
    miner.joined = false;
    const spec: SpawnSpec = {
      id,
      command: {
        file: this.miner_command.file,
        args: [
          ...this.miner_command.args,
          `${ctx.net.host}:${ctx.net.frontendPort(miner.name)}`,
          ...this.paramFlags,
        ],
      },
      stdout: "text",
      onExit: (exit) => {
        if (record.ended_by_us || this.server_killed || this.stopping) return;
        // A miner that lost the server shuts down by contract: when a fault cut it off, that
        // is expected, and it is replaced; otherwise it crashed (reported), and is replaced too.
        // One that never joined could not reach the server (still starting, or cut off).
        if (!miner.joined || this.recentlyFaulted(miner.name, exit.time_ns)) record.may_exit = true;
        ctx.log.info(`miner ${id} exited on its own (code ${exit.code}); starting a replacement`);
        if (!miner.blocked) {
          setTimeout(() => void this.startMiner(miner).catch(() => {}), this.epoch_ms).unref();
        }
      },
    };
    const record = this.spawn(spec, "miner");
    miner.program = record.program;
    miner.record = record;
    await record.program.start();
  }

  /** Runs one client process for one job and records it as a `mine` op. */
  private async runJob(worker: ClientWorker, spec: JobSpec): Promise<void> {
    const { ctx } = this;
    if (ctx.interrupted || this.stopping) return;
    const id = `${worker.name}.${++worker.generation}`;
    const record = this.spawn(
      {
        id,
        command: {
          file: this.client_command.file,
          args: [
            ...this.client_command.args,
            `${ctx.net.host}:${ctx.net.frontendPort(worker.name)}`,
            spec.message,
            String(spec.max_nonce),
            ...this.paramFlags,
          ],
        },
        stdout: "text",
      },
      "client",
      true,
    );
    const { program } = record;
    const value = {
      message: spec.message,
      max_nonce: spec.max_nonce,
      kind: spec.kind,
      ...(spec.group !== undefined && { group: spec.group }),
    };
    this.attribution.begin(worker.name, spec.message);
    const op = ctx.invoke(worker.process, "mine", value, worker.name);
    const running = { program, killed: false };
    worker.running = running;
    try {
      await program.start();
      const exit = await program.waitExit(this.jobTimeout_ms);
      if (!exit) {
        record.ended_by_us = true;
        await program.kill();
      }
      this.completeJob(
        op,
        { ...value, ...this.attribution.timing(worker.name) },
        program,
        running.killed ? "killed" : exit ? undefined : "timeout",
      );
    } finally {
      worker.running = undefined;
      if (!op.done) op.complete("info", { ...value, error: "interrupted" });
      // Jepsen's rule: after an indeterminate op the worker continues as a new process.
      if (!this.lastWasDefinite(worker.process)) worker.process = ctx.nextProcess();
    }
  }

  private lastWasDefinite(process: number): boolean {
    const ops = this.ctx.history.ops;
    for (let i = ops.length - 1; i >= 0; i--) {
      const op = ops[i] as Op;
      if (op.process === process) return op.type === "ok" || op.type === "fail";
    }
    return true;
  }

  private completeJob(
    op: OpHandle,
    value: Record<string, unknown>,
    program: Program,
    forced: "killed" | "timeout" | undefined,
  ): void {
    const output = [...program.lines];
    if (forced) {
      op.complete("info", { ...value, error: forced, output });
      return;
    }
    const lines = output.filter((l, i) => l !== "" || i < output.length - 1);
    // One answer among stray lines (a leftover debug print) is still the answer: it is checked,
    // and the stray lines are kept for the checker to flag.
    const answers = lines.filter(isAnswer);
    const only = answers.length === 1 ? answers[0] : lines.length === 1 ? lines[0] : undefined;
    const stray = answers.length === 1 && lines.length > 1 ? lines.filter((l) => l !== only) : [];
    const extra = stray.length > 0 ? { stray_output: stray } : {};
    const result = only === undefined ? null : RESULT_LINE.exec(only);
    if (result) {
      op.complete("ok", { ...value, hash: result[1], nonce: result[2], output, ...extra });
    } else if (only === "Disconnected") {
      op.complete("fail", { ...value, error: "Disconnected", output, ...extra });
    } else if (only?.startsWith(CONNECT_FAILED)) {
      op.complete("fail", { ...value, error: "connect failed", output, ...extra });
    } else {
      op.complete("info", {
        ...value,
        error: output.length === 0 ? "no output" : "bad output",
        output,
      });
    }
  }

  /** The last phase: kill the server while a job runs; its client and every miner must notice. */
  async final(): Promise<void> {
    const { ctx } = this;
    const server = this.server;
    const worker = this.workers[0];
    if (!server?.program.running || !worker) return;
    ctx.setPhase("server-kill");
    // Miners lose the server from here on: idle miners are no longer the scheduler's doing.
    this.load_events_closed = true;
    ctx.log.info("final phase: killing the server on purpose while a job runs");
    const spec: JobSpec = {
      message: `server-kill-${ctx.random.fork("server-kill").int(0, 999_999)}`,
      max_nonce: SERVER_KILL_JOB_NONCE,
      kind: "mixed",
    };
    const job = this.runJob(worker, spec);
    await this.requestArrived(worker);
    await sleepUnlessAborted(SERVER_KILL_DELAY_MS, ctx.signal);
    const live = this.miners.filter((m) => m.program?.running);
    for (const m of live) if (m.record) m.record.may_exit = true;
    server.record.ended_by_us = true;
    this.server_killed = true;
    await server.program.kill();
    ctx.history.record({
      process: "nemesis",
      type: "info",
      f: "start-kill",
      value: { nodes: ["server"], final: true },
    });
    const killedAt = ctx.clock.now_ns();
    const bound_ms = (this.epoch_limit + 2) * this.epoch_ms + PROCESS_SLACK_MS;
    await Promise.all(
      live.map(async (m) => {
        const program = m.program as Program;
        const op = ctx.invoke(ctx.nextProcess(), "miner-shutdown", { miner: program.id }, m.name);
        const exit = await program.waitExit(bound_ms);
        if (exit)
          op.complete("ok", {
            miner: program.id,
            after_ms: Math.round((exit.time_ns - killedAt) / 1e6),
          });
        else
          op.complete("info", {
            miner: program.id,
            error: `still running ${bound_ms} ms after the server died`,
          });
      }),
    );
    await job;
  }

  /** True when a link fault or pause touched `peer` within the last K + 3 epochs. */
  private recentlyFaulted(peer: string, at_ns: number): boolean {
    const window_ns = (this.epoch_limit + 3) * this.epoch_ms * 1e6 + PROCESS_SLACK_MS * 1e6;
    const open = new Map<string, Op>();
    for (const op of this.ctx.history.ops) {
      if (op.process !== "nemesis") continue;
      if (op.f.startsWith("start-")) {
        const nodes = (op.value as { nodes?: string[] }).nodes ?? [];
        if (nodes.includes(peer) || nodes.includes("server")) open.set(op.f.slice(6), op);
      } else {
        const kind = op.f.startsWith("stop-") ? op.f.slice(5) : undefined;
        for (const [k, start] of open) {
          if (kind !== undefined && k !== kind) continue;
          if (op.time >= at_ns - window_ns && start.time <= at_ns) return true;
          open.delete(k);
        }
      }
    }
    return [...open.values()].some((start) => start.time <= at_ns);
  }

  // ---- process faults ------------------------------------------------------------------------

  private processHooks(): ProcessHooks {
    const liveMiners = () => this.miners.filter((m) => !m.blocked && m.program?.running);
    const busyClients = () => this.workers.filter((w) => w.running?.program.running);
    // "one" kills one running client (its job is lost with it), or a miner when no job runs;
    // "minority" a minority of the miners; "all" every miner (jobs wait for the restart).
    const choose = (targets: Targets, random: Rng): string[] => {
      const miners = random.shuffle(liveMiners().map((m) => m.name));
      if (targets === "one") {
        const clients = busyClients().map((w) => w.name);
        if (clients.length > 0) return [random.pick(clients)];
        return miners.slice(0, 1);
      }
      if (targets === "all") return miners.sort();
      return miners.slice(0, Math.max(1, Math.floor((miners.length - 1) / 2))).sort();
    };
    return {
      peers: () => [...this.miners.map((m) => m.name), ...this.workers.map((w) => w.name)],
      chooseKill: choose,
      choosePause: choose,
      kill: async (names) => {
        const instances: string[] = [];
        for (const name of names) {
          const miner = this.miners.find((m) => m.name === name);
          if (miner?.program?.running) {
            miner.blocked = true;
            if (miner.record) miner.record.ended_by_us = true;
            instances.push(miner.program.id);
            await miner.program.kill();
            continue;
          }
          const worker = this.workers.find((w) => w.name === name);
          const running = worker?.running;
          if (running?.program.running) {
            running.killed = true;
            instances.push(running.program.id);
            await running.program.kill();
          }
        }
        return { instances };
      },
      restart: async (names) => {
        const restarted: string[] = [];
        for (const name of names) {
          const miner = this.miners.find((m) => m.name === name);
          if (!miner) continue; // a killed client job is simply over; its worker goes on
          miner.blocked = false;
          if (!miner.program?.running) {
            await this.startMiner(miner);
            restarted.push((miner.program as Program).id);
          }
        }
        return { restarted };
      },
      pause: (names) => names.filter((name) => this.programOf(name)?.pause() === true),
      pausedInstances: (names) => names.flatMap((name) => this.programOf(name)?.id ?? []),
      resume: (names) => names.filter((name) => this.programOf(name)?.resume() === true),
    };
  }

  private programOf(name: string): Program | undefined {
    return (
      this.miners.find((m) => m.name === name)?.program ??
      this.workers.find((w) => w.name === name)?.running?.program
    );
  }
}

/** A UDP port free right now on loopback (the server binds it a moment later). */
async function freeUdpPort(): Promise<number> {
  const socket = createSocket("udp4");
  await new Promise<void>((resolve) => socket.bind(0, "127.0.0.1", resolve));
  const port = socket.address().port;
  await new Promise<void>((resolve) => socket.close(() => resolve()));
  return port;
}
