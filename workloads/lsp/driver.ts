// The `lsp` workload's driver: one LSP server (the target, speaking systems/lsp/README.md
// "The control channel") and `concurrency` client workers c0 … c(N-1), each running our LSP client
// program through its own proxy frontend. Every control-channel command becomes a history op
// (invoke when written, completion when answered); the delivery checker reads them.
//
// While the workload runs, each worker writes payloads at its share of `rate`, a reader per
// client keeps one Read outstanding, and the harness plays the server's echo loop (server Read,
// then Write back), so both directions carry data. A worker whose connection is lost or killed
// gets a new client process (a new instance, "c0.2"). After the final heal: drain, then half the
// clients write FINAL_MESSAGES and Close at once, the server writes FINAL_MESSAGES to the other
// half and CloseConns them at once, then the server Closes. Every Close must deliver what was
// pending, and every program must exit within 1 s of answering close.
import type { Op } from "../../checkers/history.js";
import { EXIT_AFTER_CLOSE_MS } from "../../checkers/programs.js";
import type { CheckResult } from "../../checkers/result.js";
import { pickTargets, type Targets } from "../faults.js";
import {
  type DriverContext,
  type Json,
  type NodeCommand,
  type ProcessHooks,
  type Program,
  SetupError,
  stderrTailText,
  type UdpNet,
} from "../plugin.js";
import { sleepUnlessAborted, until } from "../timing.js";
import type { Rng } from "../workload.js";
import {
  EXIT_SLACK_MS,
  LspFamilyDriver,
  PROCESS_SLACK_MS,
  type ProgramRecord,
  packetOptions,
  SERVER_START_TIMEOUT_MS,
  type UdpOptions,
} from "./common.js";
import { checkLsp, FINAL_MESSAGES, lspCheckOptions, lspPayload } from "./workload.js";

/** A write or close_conn reply is immediate by contract; no reply in this time is `info`. */
const IMMEDIATE_REPLY_TIMEOUT_MS = 5_000;
/** Our LSP client, when neither --client-bin nor the system manifest names one. */
export const LSP_CLIENT = ["node", "dist/systems/lsp/client-main.js"] as const;

interface Worker {
  index: number;
  name: string;
  generation: number;
  instance: ClientInstance | undefined;
  /** Killed by the nemesis: no new client until it is restarted. */
  blocked: boolean;
  next_payload: number;
}

interface ClientInstance {
  id: string;
  worker: Worker;
  program: Program;
  record: ProgramRecord;
  conn: number;
  writer: number;
  reader: number;
  server_generation: number;
  /** The connection is gone (Read reported it) or the process died. */
  lost: boolean;
  writes_ok: number;
  reads_ok: number;
  server_reads_ok: number;
  server_writes_ok: number;
  reader_done: Promise<void>;
}

interface ServerState {
  program: Program;
  record: ProgramRecord;
  generation: number;
  reader: number;
  writer: number;
  alive: boolean;
  /** Server writes are serialised on one process: each waits for the previous reply. */
  write_chain: Promise<void>;
  conns: Map<number, ClientInstance>;
  reader_done: Promise<void>;
}

type Scheduler = ReturnType<DriverContext["scheduler"]>;

export class LspDriver extends LspFamilyDriver {
  readonly hooks: ProcessHooks;
  /** A worker may be waiting on a paused program's reply, which only the heal's SIGCONT brings. */
  readonly heal_before_drain = true;
  readonly packet_options: { mutate: number; steady: boolean };
  private readonly workers: Worker[];
  private readonly server_command: NodeCommand;
  private readonly client_command: NodeCommand;
  private server: ServerState | undefined;
  private server_generation = 0;
  private server_blocked = false;
  private echo = true;
  private readonly rng: Rng;
  private readonly instances: ClientInstance[] = [];
  private serverPort = 0;

  constructor(ctx: DriverContext<UdpNet>, options: UdpOptions) {
    super(ctx, options);
    this.server_command = ctx.settings.target.command;
    this.client_command = this.role("client", options.client_command, LSP_CLIENT);
    this.rng = ctx.random.fork("workload");
    this.workers = Array.from({ length: ctx.settings.concurrency }, (_, index) => ({
      index,
      name: `c${index}`,
      generation: 0,
      instance: undefined,
      blocked: false,
      next_payload: 0,
    }));
    this.hooks = this.processHooks();
    this.packet_options = packetOptions(options);
  }

  /** Longest a Close may take on a healthy network: K epochs to lose the peer, plus slack. */
  private get closeBound_ms(): number {
    return (this.epoch_limit + 3) * this.epoch_ms + PROCESS_SLACK_MS;
  }

  async start(): Promise<void> {
    const { ctx } = this;
    for (const worker of this.workers) await ctx.net.addFrontend(worker.name);
    await this.startServer();
    ctx.log.info(
      `running lsp for ${ctx.settings.time_limit_s} s: ${this.workers.length} clients, ${ctx.settings.rate} msgs/s, params ${JSON.stringify(this.params)}`,
    );
  }

  async load(stop: AbortSignal): Promise<void> {
    const scheduler = this.ctx.scheduler();
    await Promise.all(this.workers.map((w) => this.writerLoop(w, scheduler, stop)));
  }

  protected checkers(ops: readonly Op[]): Record<string, CheckResult> {
    const { nemesis, strict } = this.ctx.settings;
    return checkLsp(ops, lspCheckOptions(this.params, nemesis.faults, strict === true));
  }

  // ---- the server ------------------------------------------------------------------------

  private async startServer(): Promise<void> {
    const { ctx } = this;
    const generation = ++this.server_generation;
    const id = generation === 1 ? "server" : `server.${generation}`;
    // The first start picks a free port; restarts reuse it, as a restarted server would.
    const portArg = this.serverPort; // 0 until the first start chose one
    const record = this.spawn(
      {
        id,
        command: {
          file: this.server_command.file,
          args: [...this.server_command.args, "--port", String(portArg), ...this.paramFlags],
        },
        stdout: "control",
      },
      "server",
    );
    const { program } = record;
    await program.start();
    const listening = await program.waitEvent(
      (e) => e.event === "listening",
      SERVER_START_TIMEOUT_MS,
    );
    const port = listening?.port;
    if (!Number.isSafeInteger(port) || (port as number) <= 0) {
      const why = program.exit
        ? `exited (code ${program.exit.code}, signal ${program.exit.signal})`
        : `did not print {"event":"listening","port":N} within ${SERVER_START_TIMEOUT_MS / 1000} s`;
      throw new SetupError(`the LSP server ${why}${stderrTailText(program.stderrTail)}`);
    }
    this.serverPort = port as number;
    ctx.net.setUpstream(this.serverPort);
    ctx.net.note("server-listening", { server: id, port: this.serverPort });
    const state: ServerState = {
      program,
      record,
      generation,
      reader: ctx.nextProcess(),
      writer: ctx.nextProcess(),
      alive: true,
      write_chain: Promise.resolve(),
      conns: new Map(),
      reader_done: Promise.resolve(),
    };
    state.reader_done = this.serverReader(state);
    this.server = state;
    ctx.log.info(`${id} listening on ${this.serverPort}`);
  }

  private async serverReader(server: ServerState): Promise<void> {
    const { ctx } = this;
    for (;;) {
      const op = ctx.invoke(server.reader, "server-read", {}, "server");
      const reply = await server.program.call({ op: "read" });
      if (!reply) return; // the server died or was stopped: the read stays pending (info)
      const conn = typeof reply.conn === "number" ? reply.conn : undefined;
      const inst = conn === undefined ? undefined : server.conns.get(conn);
      const value = { conn: conn ?? null, client: inst?.id ?? null };
      if (reply.ok === true && typeof reply.data === "string") {
        op.complete("ok", { ...value, data: reply.data });
        if (inst) {
          inst.server_reads_ok++;
          if (this.echo) this.serverWrite(server, inst, reply.data);
        }
      } else {
        op.complete("fail", { ...value, error: String(reply.error ?? "error") });
        if (conn === 0 || conn === undefined) return; // Read after Close
      }
    }
  }

  /** Queues one server Write on the server's writer process. */
  private serverWrite(server: ServerState, inst: ClientInstance, data: string): Promise<void> {
    return this.serverCommand(
      server,
      "server-write",
      { conn: inst.conn, client: inst.id, data },
      { op: "write", conn: inst.conn, data },
      IMMEDIATE_REPLY_TIMEOUT_MS,
    ).then((reply) => {
      if (reply?.ok === true) inst.server_writes_ok++;
    });
  }

  /**
   * Runs one server command as a history op on the server's writer process. Commands are
   * serialised there (each waits for the previous reply), so the process never has two ops open.
   */
  private serverCommand(
    server: ServerState,
    f: string,
    value: Record<string, unknown>,
    command: Json,
    timeout_ms: number,
  ): Promise<Json | undefined> {
    const { ctx } = this;
    const result = server.write_chain.then(async () => {
      if (!server.program.running) return undefined;
      const op = ctx.invoke(server.writer, f, value, "server");
      const reply = await server.program.call(command, timeout_ms);
      complete(op, reply, value);
      return reply;
    });
    server.write_chain = result.then(() => {});
    return result;
  }

  // ---- clients ---------------------------------------------------------------------------

  private async spawnClient(worker: Worker): Promise<ClientInstance | undefined> {
    const { ctx } = this;
    const server = this.server;
    if (!server?.alive || this.stopping) return undefined;
    const id = `${worker.name}.${++worker.generation}`;
    const port = ctx.net.frontendPort(worker.name) as number;
    const isn = this.rng.int(0, 255);
    const record = this.spawn(
      {
        id,
        command: {
          file: this.client_command.file,
          args: [
            ...this.client_command.args,
            "--host",
            ctx.net.host,
            "--port",
            String(port),
            "--isn",
            String(isn),
            ...this.paramFlags,
          ],
        },
        stdout: "control",
      },
      "client",
    );
    const { program } = record;
    await program.start();
    const writer = ctx.nextProcess();
    const op = ctx.invoke(writer, "connect", { client: id, isn }, worker.name);
    const event = await program.waitEvent(
      (e) => e.event === "connected" || e.event === "connect_failed",
      (this.epoch_limit + 2) * this.epoch_ms + PROCESS_SLACK_MS,
    );
    if (event?.event !== "connected" || !Number.isSafeInteger(event.conn)) {
      record.ended_by_us = true; // connect_failed exits 1 by contract
      op.complete(
        event ? "fail" : "info",
        { client: id },
        String(event?.error ?? "no connect event"),
      );
      if (program.running) await program.kill();
      return undefined;
    }
    const conn = event.conn as number;
    if (this.server !== server || !server.alive) {
      // The server was killed (and maybe restarted) while this client connected: which server
      // process holds the connection is unknowable, so the client is not used.
      op.complete("info", { client: id, conn }, "the server restarted during the handshake");
      record.ended_by_us = true;
      await program.kill();
      return undefined;
    }
    op.complete("ok", { client: id, conn, server: server.program.id });
    const inst: ClientInstance = {
      id,
      worker,
      program,
      record,
      conn,
      writer,
      reader: ctx.nextProcess(),
      server_generation: server.generation,
      lost: false,
      writes_ok: 0,
      reads_ok: 0,
      server_reads_ok: 0,
      server_writes_ok: 0,
      reader_done: Promise.resolve(),
    };
    server.conns.set(conn, inst);
    inst.reader_done = this.clientReader(inst);
    this.instances.push(inst);
    worker.instance = inst;
    return inst;
  }

  private async clientReader(inst: ClientInstance): Promise<void> {
    const { ctx } = this;
    for (;;) {
      const op = ctx.invoke(
        inst.reader,
        "read",
        { client: inst.id, conn: inst.conn },
        inst.worker.name,
      );
      const reply = await inst.program.call({ op: "read" });
      if (!reply) {
        inst.lost = true; // the process is gone; the read stays pending (info)
        return;
      }
      if (reply.ok === true && typeof reply.data === "string") {
        op.complete("ok", { client: inst.id, conn: inst.conn, data: reply.data });
        inst.reads_ok++;
        continue;
      }
      op.complete("fail", {
        client: inst.id,
        conn: inst.conn,
        error: String(reply.error ?? "error"),
      });
      inst.lost = true;
      return;
    }
  }

  private async clientWrite(inst: ClientInstance): Promise<void> {
    const { ctx } = this;
    const worker = inst.worker;
    const data = lspPayload(inst.id, worker.next_payload++, this.rng).toString("base64");
    const value = { client: inst.id, conn: inst.conn, data };
    const op = ctx.invoke(inst.writer, "write", value, worker.name);
    const reply = await inst.program.call({ op: "write", data }, IMMEDIATE_REPLY_TIMEOUT_MS);
    complete(op, reply, value);
    if (reply?.ok === true) inst.writes_ok++;
    if (reply?.ok === false) inst.lost = true;
  }

  /** Closes a client (its Close must deliver what is pending) and checks that it exits. */
  private async closeClient(inst: ClientInstance): Promise<void> {
    const { ctx } = this;
    if (!inst.program.running) return;
    const value = { client: inst.id, conn: inst.conn };
    const op = ctx.invoke(inst.writer, "close", value, inst.worker.name);
    inst.record.ended_by_us = true;
    const reply = await inst.program.call({ op: "close" }, this.closeBound_ms);
    if (!reply) {
      op.complete("info", { ...value, error: inst.program.running ? "timeout" : "exited" });
      await inst.program.kill();
    } else {
      complete(op, reply, value);
      inst.record.close_replied_ns = ctx.clock.now_ns();
      if (!(await inst.program.waitExit(EXIT_AFTER_CLOSE_MS + EXIT_SLACK_MS))) {
        await inst.program.kill();
      }
    }
    inst.lost = true;
    await inst.reader_done;
  }

  private async writerLoop(worker: Worker, scheduler: Scheduler, stop: AbortSignal): Promise<void> {
    const { ctx } = this;
    while (!stop.aborted) {
      const wait_ms = scheduler.claim_ms() ?? ctx.settings.time_limit_s * 1000;
      if (!(await sleepUnlessAborted(wait_ms, stop))) return;
      if (worker.blocked || !this.server?.alive) continue;
      let inst = worker.instance;
      if (
        inst &&
        (inst.lost || !inst.program.running || inst.server_generation !== this.server.generation)
      ) {
        await this.retire(inst);
        inst = undefined;
      }
      if (!inst) {
        inst = await this.spawnClient(worker);
        if (!inst) {
          await sleepUnlessAborted(this.epoch_ms, stop);
          continue;
        }
      }
      if (stop.aborted) return;
      await this.clientWrite(inst);
    }
  }

  /** A client whose connection is gone: close it (Close reports the loss) and let it exit. */
  private async retire(inst: ClientInstance): Promise<void> {
    if (inst.worker.instance === inst) inst.worker.instance = undefined;
    if (inst.program.running) await this.closeClient(inst);
  }

  // ---- the final phase -----------------------------------------------------------------

  /**
   * After the heal: drain, then half the clients write and Close at once, the server writes to
   * and CloseConns the other half, then the server Closes.
   */
  async final(): Promise<void> {
    const { ctx } = this;
    ctx.setPhase("recovering");
    if (!this.server?.alive) await this.startServer();
    const server = this.server as ServerState;
    // Every worker gets a live connection for the final ops.
    for (const worker of this.workers) {
      worker.blocked = false;
      const inst = worker.instance;
      if (
        inst &&
        (inst.lost || !inst.program.running || inst.server_generation !== server.generation)
      ) {
        await this.retire(inst);
      }
      if (!worker.instance) await this.spawnClient(worker);
    }
    const live = this.workers.flatMap((w) => (w.instance ? [w.instance] : []));
    // Drain: every echo read, or the recovery time (at least K epochs) is up.
    const drain_ms = Math.max(ctx.settings.recovery_s * 1000, this.epoch_limit * this.epoch_ms);
    await until(
      () =>
        live.every(
          (i) => i.lost || (i.server_reads_ok >= i.writes_ok && i.reads_ok >= i.server_writes_ok),
        ),
      drain_ms,
      ctx.signal,
    );
    await server.write_chain;
    if (ctx.interrupted) return;
    ctx.setPhase("final");
    this.echo = false;
    ctx.log.info(
      `final phase: ${live.length} connections close with ${FINAL_MESSAGES} messages pending`,
    );
    await Promise.all(
      live.map(async (inst, i) => {
        if (inst.lost) return;
        if (i % 2 === 0 || live.length === 1) {
          // The client writes and closes at once: Close must deliver all of it.
          for (let k = 0; k < FINAL_MESSAGES; k++) await this.clientWrite(inst);
          await this.closeClient(inst);
          return;
        }
        // The server writes and CloseConns at once: the client must still read all of it.
        const writes: Promise<void>[] = [];
        for (let k = 0; k < FINAL_MESSAGES; k++) {
          const data = lspPayload(`server>${inst.id}`, k, this.rng).toString("base64");
          writes.push(this.serverWrite(server, inst, data));
        }
        await Promise.all(writes);
        await this.serverCommand(
          server,
          "server-close-conn",
          { conn: inst.conn, client: inst.id },
          { op: "close_conn", conn: inst.conn },
          IMMEDIATE_REPLY_TIMEOUT_MS,
        );
        // The client learns of the CloseConn only by the silence: K epochs, then Read errors.
        await until(() => inst.lost, this.closeBound_ms, ctx.signal);
        await this.closeClient(inst);
      }),
    );
    // Ended by us from here on, as a server exits after answering close; one that already died
    // by itself stays a crash.
    if (server.program.running) server.record.ended_by_us = true;
    const reply = await this.serverCommand(
      server,
      "server-close",
      {},
      { op: "close" },
      this.closeBound_ms,
    );
    if (reply) {
      server.record.close_replied_ns = ctx.clock.now_ns();
      await server.program.waitExit(EXIT_AFTER_CLOSE_MS + EXIT_SLACK_MS);
    }
    server.alive = false;
  }

  // ---- process faults --------------------------------------------------------------------

  private processHooks(): ProcessHooks {
    const liveWorkers = () =>
      this.workers.filter((w) => !w.blocked && w.instance?.program.running === true);
    // "all" is the server; "one" and "minority" are clients.
    const pickSome = (targets: Targets, random: Rng): string[] => {
      if (targets === "all") return this.server?.alive && !this.server_blocked ? ["server"] : [];
      return pickTargets(
        liveWorkers().map((w) => w.name),
        targets,
        random,
      );
    };
    return {
      peers: () => this.workers.map((w) => w.name),
      chooseKill: pickSome,
      choosePause: pickSome,
      kill: async (names) => {
        const instances: string[] = [];
        let serverId: string | undefined;
        for (const name of names) {
          if (name === "server") {
            const server = this.server;
            if (!server) continue;
            serverId = server.program.id;
            this.server_blocked = true;
            server.alive = false;
            // A server that already died by itself is not this kill's doing: it stays a crash.
            if (!server.program.running) continue;
            server.record.ended_by_us = true;
            await server.program.kill();
            continue;
          }
          const worker = this.workers.find((w) => w.name === name);
          const inst = worker?.instance;
          if (!worker) continue;
          worker.blocked = true;
          if (inst?.program.running) {
            inst.record.ended_by_us = true;
            instances.push(inst.id);
            await inst.program.kill();
            inst.lost = true;
          }
        }
        return { instances, ...(serverId && { server: serverId }) };
      },
      restart: async (names) => {
        const restarted: string[] = [];
        for (const name of names) {
          if (name === "server") {
            this.server_blocked = false;
            if (!this.server?.alive) {
              await this.startServer();
              restarted.push((this.server as ServerState).program.id);
            }
            continue;
          }
          const worker = this.workers.find((w) => w.name === name);
          if (worker) worker.blocked = false; // its writer starts a new client
        }
        return { restarted };
      },
      pause: (names) => names.filter((name) => this.programOf(name)?.pause() === true),
      pausedInstances: (names) =>
        names.flatMap((name) => {
          const program = this.programOf(name);
          return program && name !== "server" ? [program.id] : [];
        }),
      resume: (names) => names.filter((name) => this.programOf(name)?.resume() === true),
    };
  }

  private programOf(name: string): Program | undefined {
    if (name === "server") return this.server?.program;
    return this.workers.find((w) => w.name === name)?.instance?.program;
  }
}

function complete(
  op: { complete(type: "ok" | "fail" | "info", value?: unknown, error?: unknown): void },
  reply: Json | undefined,
  value: Record<string, unknown>,
): void {
  if (!reply) op.complete("info", { ...value, error: "timeout" });
  else if (reply.ok === true) op.complete("ok", value);
  else op.complete("fail", { ...value, error: String(reply.error ?? "error") });
}
