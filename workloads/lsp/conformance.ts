// LSP wire conformance (issue 7; systems/lsp/README.md "The wire format", "How it works"), the
// second driver of the `lsp` workload (--conformance): faultline plays scripted LSP clients from
// raw UDP sockets (through the proxy, so every datagram is journaled) against the target server,
// which it drives over the control channel (systems/lsp/README.md), and reports each deviation by
// name. The checks run concurrently, one connection each, so the whole suite takes about a dozen
// epochs. If the server then stops answering (it exited, or a new Connect goes unacknowledged),
// they run again one at a time on a fresh server, each followed by that probe: the check after
// which it stops fails with `stopped-answering` and the rest are "not run" (workloads/lsp/README.md
// "Conformance"). Checks and the deviation names they report:
//
//   handshake          Connect(isn) → Ack(id ≠ 0, isn)                           handshake-ack
//   duplicate-connect  a second Connect from the same address opens nothing new   duplicate-connect
//   data               Data(isn+1) is acknowledged and read intact                data-ack, delivery
//   server-data        a server Write arrives as Data(id, isn+1) with a valid      server-first-seq,
//                      Size and checksum                                            server-checksum
//   checksum           a Data with a wrong checksum is neither acked nor read     checksum-verification
//   size               a short payload is dropped; a long one is cut to Size      size-short, size-truncate
//   duplicate-data     a duplicate is acked again but read once                   duplicate-ack,
//                                                                                   duplicate-delivery
//   in-order           Data sent isn+3, isn+2, isn+1 is read in sequence order    in-order-delivery
//   retransmission     unacked server Data is resent on the backoff schedule      retransmission, backoff
//   window             with nothing acked, at most min(ω, M) messages in flight;  window-limit,
//                      once acked, all the rest arrive in order                    window-progress
//   cack               a CAck acknowledges everything up to its SeqNum            cack-accepted
//   heartbeat          an idle connection gets Ack(id, 0) every epoch             heartbeat
//   loss-detection     a silent client is reported lost by Read after K epochs     loss-detection
import { createSocket, type Socket } from "node:dgram";
import type { Op } from "../../checkers/history.js";
import {
  type ConformanceFindings,
  conformanceResult,
  type Deviation,
  type DeviationName,
  expectedSends,
  scheduleText,
} from "../../checkers/lsp-conformance.js";
import { EXIT_AFTER_CLOSE_MS } from "../../checkers/programs.js";
import type { CheckResult } from "../../checkers/result.js";
import {
  ackMessage,
  cackMessage,
  checksum,
  connectMessage,
  dataMessage,
  decodeMessage,
  encodeMessage,
  type LspMessage,
  MsgType,
} from "../../protocols/lsp/message.js";
import {
  type DriverContext,
  type Json,
  type NodeCommand,
  type ProcessHooks,
  type ProgramExit,
  SetupError,
  type UdpNet,
} from "../plugin.js";
import { sleepUnlessAborted, until } from "../timing.js";
import {
  EXIT_SLACK_MS,
  LspFamilyDriver,
  type ProgramRecord,
  SERVER_START_TIMEOUT_MS,
  type UdpOptions,
} from "./common.js";

/** Epochs the retransmission check watches an unacknowledged message. */
const BACKOFF_WATCH_EPOCHS = 8;
/** Grace on every "within N epochs" expectation, for a loaded machine. */
const TIMING_SLACK_MS = 300;
/** Epochs waited after a check before the probe, when the checks run one at a time. */
const SETTLE_EPOCHS = 1;
/** A server's exit in a deviation: its last stderr lines, each cut to this length. */
const STDERR_LINES_SHOWN = 5;
const STDERR_LINE_MAX_CHARS = 200;

interface Received {
  time_ms: number;
  message: LspMessage;
}

/** A scripted LSP client on a raw UDP socket. */
class RawPeer {
  readonly received: Received[] = [];
  connId = 0;
  private heartbeat: NodeJS.Timeout | undefined;
  private autoAck = false;
  private waiters = new Set<() => void>();
  private sent = Promise.resolve();

  private constructor(
    private readonly socket: Socket,
    private readonly port: number,
    readonly isn: number,
    private readonly epoch_ms: number,
  ) {
    socket.on("message", (datagram) => {
      const message = decodeMessage(datagram);
      if (!message) return;
      this.received.push({ time_ms: Date.now(), message });
      if (this.autoAck && message.type === MsgType.Data && message.connId === this.connId) {
        this.send(ackMessage(this.connId, message.seqNum));
      }
      for (const wake of [...this.waiters]) wake();
    });
  }

  static async open(port: number, isn: number, epoch_ms: number): Promise<RawPeer> {
    const socket = createSocket("udp4");
    socket.on("error", () => {});
    await new Promise<void>((resolve) => socket.bind(0, "127.0.0.1", resolve));
    return new RawPeer(socket, port, isn, epoch_ms);
  }

  send(message: LspMessage): void {
    this.sendRaw(encodeMessage(message));
  }

  sendRaw(datagram: Buffer): void {
    this.sent = new Promise((resolve) =>
      this.socket.send(datagram, this.port, "127.0.0.1", () => resolve()),
    );
  }

  /** Waits until `match` holds for something received (looking at everything so far). */
  async waitFor(
    match: (m: LspMessage) => boolean,
    timeout_ms: number,
  ): Promise<Received | undefined> {
    const found = () => this.received.find((r) => match(r.message));
    const deadline = Date.now() + timeout_ms;
    for (;;) {
      const hit = found();
      if (hit) return hit;
      const left = deadline - Date.now();
      if (left <= 0) return undefined;
      await new Promise<void>((resolve) => {
        const wake = () => {
          clearTimeout(timer);
          this.waiters.delete(wake);
          resolve();
        };
        const timer = setTimeout(wake, left);
        this.waiters.add(wake);
      });
    }
  }

  /** Connect, resending every epoch, for up to `epochs` epochs; the Ack's ConnID or 0. */
  async connect(epochs: number): Promise<LspMessage | undefined> {
    for (let i = 0; i < epochs; i++) {
      this.send(connectMessage(this.isn));
      const ack = await this.waitFor(
        (m) => m.type === MsgType.Ack && m.seqNum === this.isn,
        this.epoch_ms,
      );
      if (ack) {
        this.connId = ack.message.connId;
        return ack.message;
      }
    }
    return undefined;
  }

  /** Keeps the connection alive with a heartbeat every epoch (acks no data). */
  startHeartbeats(): void {
    this.heartbeat ??= setInterval(() => this.send(ackMessage(this.connId, 0)), this.epoch_ms);
  }

  setAutoAck(on: boolean): void {
    this.autoAck = on;
  }

  /** Data from the server on our connection, in arrival order. */
  data(): Received[] {
    return this.received.filter(
      (r) => r.message.type === MsgType.Data && r.message.connId === this.connId,
    );
  }

  /** The SeqNums of our connection's server Data, distinct, in order of first arrival. */
  dataSeqNums(): Set<number> {
    return new Set(this.data().map((r) => r.message.seqNum));
  }

  /** Goes silent: no heartbeats, no acks. */
  silence(): void {
    if (this.heartbeat) clearInterval(this.heartbeat);
    this.heartbeat = undefined;
    this.autoAck = false;
  }

  /** After the last send has left: closing the socket in the same tick would drop it. */
  async close(): Promise<void> {
    this.silence();
    await this.sent;
    this.socket.close();
  }
}

interface ServerRead {
  time_ms: number;
  conn: number;
  data?: Buffer;
  error?: string;
}

/** What the scripted checks share: the parameters, the server, the peers, the findings. */
interface Session {
  epoch: number;
  K: number;
  omega: number;
  M: number;
  cap: number;
  signal: AbortSignal;
  /** A fresh connected peer for one check; undefined (with a deviation) if the handshake fails. */
  openPeer(check: string): Promise<RawPeer | undefined>;
  serverWrite(conn: number, data: Buffer): Promise<Json | undefined>;
  readsOf(conn: number): ServerRead[];
  /** `epochs` epochs, plus the grace for a loaded machine. */
  within(epochs: number): number;
  deviate(check: string, name: DeviationName, expected: string, observed: string): void;
}

/** A server process the checks run against, with what it read and its control-channel queue. */
interface TargetServer {
  record: ProgramRecord;
  reads: ServerRead[];
  reader: Promise<void>;
  readerProcess: number;
  writerProcess: number;
  writeChain: Promise<Json | undefined>;
}

export class ConformanceDriver extends LspFamilyDriver {
  /**
   * The checks take no faults: no participant a fault could hit, so a --nemesis given with
   * --conformance starts nothing (as before the plugins, when it was ignored).
   */
  readonly hooks: ProcessHooks = {
    peers: () => [],
    chooseKill: () => [],
    kill: async () => ({}),
    restart: async () => ({}),
    choosePause: () => [],
    pause: () => [],
    resume: () => [],
  };
  private readonly server_command: NodeCommand;
  private server: TargetServer | undefined;
  private generation = 0;
  private reading = true;
  private readonly deviations: Deviation[] = [];
  private readonly peers: RawPeer[] = [];
  private next_isn: number;
  private result: CheckResult | undefined;

  constructor(ctx: DriverContext<UdpNet>, options: UdpOptions) {
    super(ctx, options);
    this.server_command = ctx.settings.target.command;
    this.next_isn = ctx.random.fork("conformance").int(1, 200);
  }

  async start(): Promise<void> {
    await this.startServer();
  }

  /**
   * The checks, concurrently, one connection each (a dozen epochs in all); then the server's
   * close. A server that stopped answering meanwhile names no cause, so then the checks run again
   * on a fresh server one at a time, each followed by a probe, up to the one after which it
   * stops. No faults stop them.
   */
  async load(): Promise<void> {
    const { ctx } = this;
    // The phase is set here, not in start: the lifecycle shows "running" once start returns.
    ctx.setPhase("conformance");
    ctx.log.info(
      `conformance checks against the LSP server, params ${JSON.stringify(this.params)}`,
    );
    const names = Object.keys(scriptedChecks);
    await Promise.all(names.map((name) => this.runCheck(name)));
    const down = await this.unanswered();
    let findings: ConformanceFindings = { names, deviations: this.deviations };
    if (down !== undefined && !ctx.signal.aborted) {
      ctx.log.info(
        `the server stopped answering during the concurrent checks (${down}); running them again one at a time on a fresh server`,
      );
      // Findings against a server that stopped midway are unsound: the checks beside the one
      // that broke it fail for it.
      this.deviations.length = 0;
      await this.replaceServer();
      const stop = await this.oneAtATime(names);
      findings = {
        names,
        deviations: this.deviations,
        concurrent_stop: down,
        ...(stop && { stop }),
      };
    }
    await Promise.all(this.peers.map((peer) => peer.close()));
    await this.closeServer();
    this.result = conformanceResult(findings, this.params);
  }

  protected checkers(_ops: readonly Op[]): Record<string, CheckResult> {
    return this.result ? { conformance: this.result } : {};
  }

  private async runCheck(name: string): Promise<void> {
    try {
      await (scriptedChecks[name] as ScriptedCheck)(this.session());
    } catch (err) {
      this.deviate(name, "check-error", "the check completes", `error: ${(err as Error).message}`);
    }
  }

  /**
   * Each check, then a probe: the first check after which the server stops answering is the
   * cause, and the rest do not run.
   */
  private async oneAtATime(names: readonly string[]): Promise<ConformanceFindings["stop"]> {
    const { ctx } = this;
    for (const name of names) {
      if (ctx.signal.aborted) return undefined;
      await this.runCheck(name);
      // Effects that wait for the next epoch tick (a timer handler tripping on the stimulus's
      // state) show in the probe after this check, not after the next one.
      await sleepUnlessAborted(SETTLE_EPOCHS * this.epoch_ms, ctx.signal);
      const how = await this.unanswered();
      if (how !== undefined) return { after: name, how };
    }
    return undefined;
  }

  /**
   * How the server stopped answering (it exited; a new Connect got no Ack within K epochs, as
   * each check's own handshake must), or undefined while it answers. The probe's connection stays
   * open with heartbeats, so its loss is no stimulus to a later check.
   */
  private async unanswered(): Promise<string | undefined> {
    const { program } = (this.server as TargetServer).record;
    if (program.exit) return exitText(program.exit);
    const peer = await this.connectPeer("alive");
    if (peer.connId !== 0) return undefined;
    if (program.exit) return exitText(program.exit);
    return `a new Connect got no Ack within K = ${this.epoch_limit} epochs; the process is still running`;
  }

  private async startServer(): Promise<void> {
    const { ctx } = this;
    const generation = ++this.generation;
    const id = generation === 1 ? "server" : `server.${generation}`;
    const record = this.spawn(
      {
        id,
        command: {
          file: this.server_command.file,
          args: [...this.server_command.args, "--port", "0", ...this.paramFlags],
        },
        stdout: "control",
      },
      "server",
    );
    await record.program.start();
    const listening = await record.program.waitEvent(
      (e) => e.event === "listening",
      SERVER_START_TIMEOUT_MS,
    );
    if (!Number.isSafeInteger(listening?.port)) {
      throw new SetupError(
        `the LSP server did not print {"event":"listening","port":N} within ${SERVER_START_TIMEOUT_MS / 1000} s`,
      );
    }
    ctx.net.setUpstream(listening?.port as number);
    ctx.net.note("server-listening", { server: id, port: listening?.port });
    const server: TargetServer = {
      record,
      reads: [],
      reader: Promise.resolve(),
      readerProcess: ctx.nextProcess(),
      writerProcess: ctx.nextProcess(),
      writeChain: Promise.resolve(undefined),
    };
    server.reader = this.serverReader(server);
    this.server = server;
  }

  /**
   * Ends a server that stopped answering (one that exited by itself stays a crash) and starts a
   * fresh one. The old connections are closed first: their heartbeats would reach the new server.
   */
  private async replaceServer(): Promise<void> {
    const old = this.server as TargetServer;
    await Promise.all(this.peers.splice(0).map((peer) => peer.close()));
    if (old.record.program.running) {
      old.record.ended_by_us = true;
      await old.record.program.kill();
    }
    await this.startServer();
  }

  private async serverReader(server: TargetServer): Promise<void> {
    const { ctx } = this;
    const { program } = server.record;
    while (this.reading) {
      const op = ctx.invoke(server.readerProcess, "server-read", {}, "server");
      const reply = await program.call({ op: "read" });
      if (!reply) return;
      const conn = typeof reply.conn === "number" ? reply.conn : 0;
      if (reply.ok === true && typeof reply.data === "string") {
        op.complete("ok", { conn, data: reply.data });
        server.reads.push({ time_ms: Date.now(), conn, data: Buffer.from(reply.data, "base64") });
      } else {
        op.complete("fail", { conn, error: String(reply.error ?? "error") });
        server.reads.push({ time_ms: Date.now(), conn, error: String(reply.error ?? "error") });
        if (conn === 0) return;
      }
    }
  }

  private serverWrite(conn: number, data: Buffer): Promise<Json | undefined> {
    const { ctx } = this;
    const server = this.server as TargetServer;
    server.writeChain = server.writeChain.then(async () => {
      const value = { conn, data: data.toString("base64") };
      const op = ctx.invoke(server.writerProcess, "server-write", value, "server");
      const reply = await server.record.program.call(
        { op: "write", conn, data: value.data },
        5_000,
      );
      if (!reply) op.complete("info", { ...value, error: "timeout" });
      else if (reply.ok === true) op.complete("ok", value);
      else op.complete("fail", { ...value, error: String(reply.error) });
      return reply;
    });
    return server.writeChain;
  }

  /** A raw peer connected through frontend `probe-NAME` (ConnID 0 if no Ack came in K epochs). */
  private async connectPeer(name: string): Promise<RawPeer> {
    const K = this.epoch_limit;
    const port = await this.ctx.net.addFrontend(`probe-${name}`);
    const peer = await RawPeer.open(port, this.next_isn, this.epoch_ms);
    this.next_isn += 7;
    this.peers.push(peer);
    const ack = await peer.connect(K);
    if (ack && ack.connId !== 0) peer.startHeartbeats();
    return peer;
  }

  private async openPeer(check: string): Promise<RawPeer | undefined> {
    const K = this.epoch_limit;
    const peer = await this.connectPeer(check);
    if (peer.connId === 0) {
      const ack = peer.received.find((r) => isAckOf(peer.isn)(r.message));
      this.deviate(
        check,
        "handshake-ack",
        `Ack(id ≠ 0, ${peer.isn}) within ${K} epochs`,
        ack ? `ConnID 0` : "no Ack",
      );
      return undefined;
    }
    return peer;
  }

  private session(): Session {
    const epoch = this.epoch_ms;
    return {
      epoch,
      K: this.epoch_limit,
      omega: this.params.windowSize,
      M: this.params.maxUnackedMessages,
      cap: this.params.maxBackOffInterval,
      signal: this.ctx.signal,
      openPeer: (check) => this.openPeer(check),
      serverWrite: (conn, data) => this.serverWrite(conn, data),
      readsOf: (conn) => (this.server as TargetServer).reads.filter((r) => r.conn === conn),
      within: (epochs) => epochs * epoch + TIMING_SLACK_MS,
      deviate: (check, name, expected, observed) => this.deviate(check, name, expected, observed),
    };
  }

  private deviate(check: string, name: DeviationName, expected: string, observed: string): void {
    this.deviations.push({ name, check, expected, observed });
  }

  /** Closes the server: it must answer and exit within 1 s (the programs check). */
  private async closeServer(): Promise<void> {
    const { ctx } = this;
    const server = this.server as TargetServer;
    const { record } = server;
    const { program } = record;
    this.reading = false;
    // A server that already died by itself stays a crash.
    if (program.running) record.ended_by_us = true;
    const op = ctx.invoke(server.writerProcess, "server-close", {}, "server");
    const reply = await program.call(
      { op: "close" },
      (this.epoch_limit + 3) * this.epoch_ms + 3_000,
    );
    if (!reply) op.complete("info", { error: "timeout" });
    else {
      op.complete(
        reply.ok === true ? "ok" : "fail",
        reply.ok === true ? {} : { error: String(reply.error) },
      );
      record.close_replied_ns = ctx.clock.now_ns();
      await program.waitExit(EXIT_AFTER_CLOSE_MS + EXIT_SLACK_MS);
    }
    await Promise.race([server.reader, sleepUnlessAborted(1_000, ctx.signal)]);
  }
}

/** How an exited server ended, with its last stderr lines (bounded: they are the target's). */
function exitText(exit: ProgramExit): string {
  const how = exit.signal ? `signal ${exit.signal}` : `code ${exit.code}`;
  const tail = exit.stderr_tail
    .slice(-STDERR_LINES_SHOWN)
    .map((line) =>
      line.length > STDERR_LINE_MAX_CHARS ? `${line.slice(0, STDERR_LINE_MAX_CHARS)}…` : line,
    );
  return `the server exited (${how})${tail.length > 0 ? `; its last stderr lines: ${tail.join(" | ")}` : ""}`;
}

type ScriptedCheck = (s: Session) => Promise<void>;

/**
 * The checks by name, in the order they start (the module comment lists them and what each
 * reports).
 */
const scriptedChecks: Record<string, ScriptedCheck> = {
  handshake: checkHandshake,
  "duplicate-connect": checkDuplicateConnect,
  data: checkData,
  "server-data": checkServerData,
  checksum: checkChecksum,
  size: checkSize,
  "duplicate-data": checkDuplicateData,
  "in-order": checkInOrder,
  retransmission: checkRetransmission,
  window: checkWindow,
  cack: checkCack,
  heartbeat: checkHeartbeat,
  "loss-detection": checkLossDetection,
};

/** Matches the Ack of `seqNum`. */
function isAckOf(seqNum: number): (m: LspMessage) => boolean {
  return (m) => m.type === MsgType.Ack && m.seqNum === seqNum;
}

/** Waits up to `epochs` (with grace) until the server has read `n` results from `conn`. */
function awaitReads(s: Session, conn: number, n: number, epochs: number): Promise<boolean> {
  return until(() => s.readsOf(conn).length >= n, s.within(epochs), s.signal);
}

async function checkHandshake(s: Session): Promise<void> {
  const peer = await s.openPeer("handshake");
  if (!peer) return;
  const ack = peer.received.find((r) => r.message.type === MsgType.Ack)?.message as LspMessage;
  if (ack.size !== 0 || ack.checksum !== 0 || (ack.payload !== null && ack.payload.length > 0)) {
    s.deviate(
      "handshake",
      "handshake-ack",
      "Ack with Size 0, Checksum 0, Payload null",
      JSON.stringify(ack),
    );
  }
}

async function checkDuplicateConnect(s: Session): Promise<void> {
  const peer = await s.openPeer("duplicate-connect");
  if (!peer) return;
  const before = peer.received.length;
  peer.send(connectMessage(peer.isn));
  await sleepUnlessAborted(s.within(1), s.signal);
  const other = peer.received
    .slice(before)
    .find((r) => isAckOf(peer.isn)(r.message) && r.message.connId !== peer.connId);
  if (other) {
    s.deviate(
      "duplicate-connect",
      "duplicate-connect",
      `no new connection (Ack with ConnID ${peer.connId} or nothing)`,
      `Ack with a new ConnID ${other.message.connId}`,
    );
  }
}

async function checkData(s: Session): Promise<void> {
  const peer = await s.openPeer("data");
  if (!peer) return;
  const payload = Buffer.from("hello");
  peer.send(dataMessage(peer.connId, peer.isn + 1, payload));
  const ack = await peer.waitFor(isAckOf(peer.isn + 1), s.within(1));
  if (!ack) {
    s.deviate("data", "data-ack", `Ack(${peer.connId}, ${peer.isn + 1}) within 1 epoch`, "no Ack");
  }
  await awaitReads(s, peer.connId, 1, 2);
  const got = s.readsOf(peer.connId)[0];
  if (!got?.data?.equals(payload)) {
    s.deviate(
      "data",
      "delivery",
      `Read returns "hello" from connection ${peer.connId}`,
      got ? describeRead(got) : "nothing read",
    );
  }
}

async function checkServerData(s: Session): Promise<void> {
  const peer = await s.openPeer("server-data");
  if (!peer) return;
  peer.setAutoAck(true);
  const payload = Buffer.from("world");
  await s.serverWrite(peer.connId, payload);
  const got = await peer.waitFor((m) => m.type === MsgType.Data, s.within(1));
  if (!got) {
    s.deviate(
      "server-data",
      "server-first-seq",
      `Data(${peer.connId}, ${peer.isn + 1}) within 1 epoch`,
      "no Data",
    );
    return;
  }
  const m = got.message;
  if (m.seqNum !== peer.isn + 1) {
    s.deviate(
      "server-data",
      "server-first-seq",
      `first server Data has SeqNum isn+1 = ${peer.isn + 1}`,
      `SeqNum ${m.seqNum}`,
    );
  }
  const valid =
    m.size === payload.length &&
    m.payload !== null &&
    Buffer.from(m.payload).equals(payload) &&
    m.checksum === checksum(m.connId, m.seqNum, m.size, m.payload);
  if (!valid) {
    s.deviate(
      "server-data",
      "server-checksum",
      `Size 5, payload "world", checksum ${checksum(m.connId, m.seqNum, 5, payload)}`,
      `Size ${m.size}, checksum ${m.checksum}, payload ${m.payload ? Buffer.from(m.payload).toString("base64") : "null"}`,
    );
  }
}

async function checkChecksum(s: Session): Promise<void> {
  const peer = await s.openPeer("checksum");
  if (!peer) return;
  const bad = dataMessage(peer.connId, peer.isn + 1, Buffer.from("bad"));
  peer.send({ ...bad, checksum: (bad.checksum + 1) & 0xffff });
  const acked = await peer.waitFor(isAckOf(peer.isn + 1), s.within(2));
  peer.send(dataMessage(peer.connId, peer.isn + 1, Buffer.from("good")));
  await awaitReads(s, peer.connId, 1, 2);
  const readBad = s.readsOf(peer.connId)[0]?.data?.toString() === "bad";
  if (acked || readBad) {
    s.deviate(
      "checksum",
      "checksum-verification",
      "a Data with a wrong checksum is dropped: no Ack, never read",
      `${acked ? "it was acknowledged" : ""}${acked && readBad ? " and " : ""}${readBad ? `Read returned "bad"` : ""}`,
    );
  }
}

async function checkSize(s: Session): Promise<void> {
  const peer = await s.openPeer("size");
  if (!peer) return;
  const full = dataMessage(peer.connId, peer.isn + 1, Buffer.from("abcdef"));
  peer.send({ ...full, payload: Buffer.from("abc") }); // shortened: Size 6, 3 bytes
  const acked = await peer.waitFor(isAckOf(peer.isn + 1), s.within(2));
  if (acked) {
    s.deviate(
      "size",
      "size-short",
      "a payload shorter than Size is dropped (no Ack)",
      "it was acknowledged",
    );
  }
  peer.send(full);
  const longer = dataMessage(peer.connId, peer.isn + 2, Buffer.from("xyz"));
  peer.send({ ...longer, payload: Buffer.from([0x78, 0x79, 0x7a, 0x02, 0x03, 0x04]) });
  await awaitReads(s, peer.connId, 2, 3);
  const got = s.readsOf(peer.connId);
  if (got[0]?.data?.toString() !== "abcdef") {
    s.deviate(
      "size",
      "size-short",
      `Read returns "abcdef" (the intact resend), never "abc"`,
      got[0] ? describeRead(got[0]) : "nothing read",
    );
  }
  if (got[1]?.data?.toString() !== "xyz") {
    s.deviate(
      "size",
      "size-truncate",
      `a payload longer than Size is cut to Size: Read returns "xyz"`,
      got[1] ? describeRead(got[1]) : "nothing read",
    );
  }
}

async function checkDuplicateData(s: Session): Promise<void> {
  const peer = await s.openPeer("duplicate-data");
  if (!peer) return;
  const message = dataMessage(peer.connId, peer.isn + 1, Buffer.from("once"));
  peer.send(message);
  await peer.waitFor(isAckOf(peer.isn + 1), s.within(1));
  const before = peer.received.length;
  peer.send(message);
  await sleepUnlessAborted(s.within(1), s.signal);
  const reacked = peer.received.slice(before).some((r) => isAckOf(peer.isn + 1)(r.message));
  if (!reacked) {
    s.deviate(
      "duplicate-data",
      "duplicate-ack",
      "every Data is acknowledged, duplicates too",
      "the duplicate was not acknowledged",
    );
  }
  await sleepUnlessAborted(s.within(1), s.signal);
  const n = s.readsOf(peer.connId).length;
  if (n !== 1) {
    s.deviate(
      "duplicate-data",
      "duplicate-delivery",
      "Read returns the message once",
      `read ${n} times`,
    );
  }
}

async function checkInOrder(s: Session): Promise<void> {
  const peer = await s.openPeer("in-order");
  if (!peer) return;
  const messages = [1, 2, 3].map((k) =>
    dataMessage(peer.connId, peer.isn + k, Buffer.from(`m${k}`)),
  );
  for (const m of [...messages].reverse()) peer.send(m);
  // Resend whatever is not acknowledged every epoch, as a client would, until all are.
  const acked = (m: LspMessage) => peer.received.some((r) => isAckOf(m.seqNum)(r.message));
  for (let e = 0; e < s.K - 1 && !messages.every(acked); e++) {
    await sleepUnlessAborted(s.epoch, s.signal);
    for (const m of messages) if (!acked(m)) peer.send(m);
  }
  await awaitReads(s, peer.connId, 3, 2);
  const order = s.readsOf(peer.connId).map((r) => r.data?.toString() ?? `<${r.error}>`);
  if (order.join(",") !== "m1,m2,m3") {
    s.deviate(
      "in-order",
      "in-order-delivery",
      "sent isn+3, isn+2, isn+1: Read returns m1, m2, m3",
      `Read returned ${order.join(", ") || "nothing"}`,
    );
  }
}

async function checkRetransmission(s: Session): Promise<void> {
  const { epoch, cap } = s;
  const peer = await s.openPeer("retransmission");
  if (!peer) return;
  await s.serverWrite(peer.connId, Buffer.from("again"));
  const first = await peer.waitFor((m) => m.type === MsgType.Data, s.within(1));
  if (!first) {
    s.deviate("retransmission", "retransmission", "the server's Write arrives as Data", "no Data");
    return;
  }
  await sleepUnlessAborted(BACKOFF_WATCH_EPOCHS * epoch, s.signal);
  const sends = peer
    .data()
    .filter(
      (r) =>
        r.message.seqNum === first.message.seqNum &&
        r.time_ms - first.time_ms <= BACKOFF_WATCH_EPOCHS * epoch,
    ).length;
  const [low, high] = expectedSends(cap, BACKOFF_WATCH_EPOCHS);
  peer.send(ackMessage(peer.connId, first.message.seqNum));
  if (sends < Math.min(low, 2)) {
    s.deviate(
      "retransmission",
      "retransmission",
      `an unacknowledged Data is resent (${low}–${high} sends over ${BACKOFF_WATCH_EPOCHS} epochs with MaxBackOffInterval ${cap})`,
      `sent ${sends} time${sends === 1 ? "" : "s"}`,
    );
  } else if (sends < low - 1 || sends > high + 1) {
    s.deviate(
      "retransmission",
      "backoff",
      `${low}–${high} sends over ${BACKOFF_WATCH_EPOCHS} epochs with MaxBackOffInterval ${cap} (schedule ${scheduleText(cap)})`,
      `sent ${sends} times`,
    );
  }
}

async function checkWindow(s: Session): Promise<void> {
  const peer = await s.openPeer("window");
  if (!peer) return;
  const limit = Math.min(s.omega, s.M);
  const count = limit + 3;
  for (let k = 0; k < count; k++) await s.serverWrite(peer.connId, Buffer.from(`w${k}`));
  await sleepUnlessAborted(s.within(2), s.signal);
  const distinct = peer.dataSeqNums();
  if (distinct.size > limit) {
    s.deviate(
      "window",
      "window-limit",
      `with nothing acknowledged, at most min(ω, M) = ${limit} distinct Data in flight`,
      `${distinct.size} distinct Data (${[...distinct].sort((a, b) => a - b).join(", ")})`,
    );
  }
  // Acknowledge everything from now on: the rest must flow, in order.
  for (const seq of distinct) peer.send(ackMessage(peer.connId, seq));
  peer.setAutoAck(true);
  const all = await until(() => peer.dataSeqNums().size >= count, s.within(count + 3), s.signal);
  const seqs = [...peer.dataSeqNums()];
  const expectedSeqs = Array.from({ length: count }, (_, k) => peer.isn + 1 + k);
  if (!all || seqs.join(",") !== expectedSeqs.join(",")) {
    s.deviate(
      "window",
      "window-progress",
      `once acknowledged, all ${count} messages arrive: SeqNums ${expectedSeqs.join(", ")}`,
      `SeqNums ${seqs.join(", ") || "none"}`,
    );
  }
}

async function checkCack(s: Session): Promise<void> {
  const peer = await s.openPeer("cack");
  if (!peer) return;
  const n = Math.min(s.omega, s.M, 3);
  for (let k = 0; k < n; k++) await s.serverWrite(peer.connId, Buffer.from(`c${k}`));
  await until(() => peer.dataSeqNums().size >= n, s.within(1), s.signal);
  const top = Math.max(peer.isn + 1, ...peer.data().map((r) => r.message.seqNum));
  peer.send(cackMessage(peer.connId, top));
  await sleepUnlessAborted(s.within(1), s.signal);
  const settled = Date.now();
  await sleepUnlessAborted(3 * s.epoch, s.signal);
  const resent = peer.data().filter((r) => r.time_ms > settled && r.message.seqNum <= top);
  if (resent.length > 0) {
    s.deviate(
      "cack",
      "cack-accepted",
      `CAck(${peer.connId}, ${top}) acknowledges every Data up to ${top}: no retransmission`,
      `${resent.length} retransmission${resent.length === 1 ? "" : "s"} of SeqNum ${[...new Set(resent.map((r) => r.message.seqNum))].join(", ")}`,
    );
  }
}

async function checkHeartbeat(s: Session): Promise<void> {
  const peer = await s.openPeer("heartbeat");
  if (!peer) return;
  const start = Date.now();
  await sleepUnlessAborted(4 * s.epoch, s.signal);
  const beats = peer.received.filter((r) => r.time_ms >= start && isAckOf(0)(r.message)).length;
  if (beats < 2) {
    s.deviate(
      "heartbeat",
      "heartbeat",
      "an idle connection gets a heartbeat Ack(id, 0) every epoch (≥ 2 in 4 epochs)",
      `${beats} heartbeat${beats === 1 ? "" : "s"}`,
    );
  }
}

async function checkLossDetection(s: Session): Promise<void> {
  const { epoch, K } = s;
  const peer = await s.openPeer("loss-detection");
  if (!peer) return;
  peer.send(dataMessage(peer.connId, peer.isn + 1, Buffer.from("bye")));
  await awaitReads(s, peer.connId, 1, 2);
  peer.silence();
  const silentAt = Date.now();
  const reported = await until(
    () => s.readsOf(peer.connId).some((r) => r.error !== undefined),
    (K + 2) * epoch + TIMING_SLACK_MS * 3,
    s.signal,
  );
  if (!reported) {
    s.deviate(
      "loss-detection",
      "loss-detection",
      `Read reports connection ${peer.connId} lost within K = ${K} epochs of silence (+2)`,
      `no report after ${((Date.now() - silentAt) / 1000).toFixed(1)} s`,
    );
  }
}

function describeRead(read: ServerRead): string {
  return read.data
    ? `Read returned "${read.data.toString("latin1")}"`
    : `Read failed: ${read.error}`;
}
