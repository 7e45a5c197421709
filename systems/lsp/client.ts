// The LSP client endpoint (README.md "How it works"): NewClient / Read / Write / Close
// over one UDP socket. The handshake resends Connect every epoch until Ack(id, isn) arrives and
// gives up after K epochs; after that a Connection (connection.ts) does the protocol work.
import { createSocket, type Socket } from "node:dgram";
import { lookup } from "node:dns/promises";
import {
  connectMessage,
  decodeMessage,
  encodeMessage,
  type LspMessage,
  MAX_DATAGRAM_BYTES,
  MsgType,
} from "../../protocols/lsp/message.js";
import { type LspParams, validateParams } from "../../protocols/lsp/params.js";
import { AsyncQueue } from "./async-queue.js";
import { Connection, type LspBug, LspError } from "./connection.js";

/** Delivered payloads waiting for Read; beyond this the client stops acknowledging new data. */
export const MAX_READ_QUEUE = 65_536;

export interface EndpointOptions {
  bug?: LspBug;
  /** Debug log lines (stderr in our programs). */
  log?: (line: string) => void;
}

export class LspClient {
  private connection: Connection | undefined;
  private readonly inbox = new AsyncQueue<Uint8Array>(MAX_READ_QUEUE);
  private timer: NodeJS.Timeout | undefined;
  private closed = false;
  private close_waiters: Array<() => void> = [];
  private socket_closed = false;

  private constructor(
    private readonly socket: Socket,
    private readonly address: string,
    private readonly port: number,
    private readonly params: LspParams,
    private readonly options: EndpointOptions,
  ) {}

  /**
   * Connects to an LSP server: resolves once the Connect is acknowledged, rejects with an
   * LspError after K epochs without an Ack.
   */
  static async connect(
    host: string,
    port: number,
    isn: number,
    params: LspParams,
    options: EndpointOptions = {},
  ): Promise<LspClient> {
    validateParams(params);
    const { address } = await lookup(host, { family: 4 });
    const socket = createSocket({ type: "udp4", recvBufferSize: 1 << 20 });
    // ICMP "port unreachable" surfaces as an error event; the epoch timer handles the silence.
    socket.on("error", (err) => options.log?.(`socket error: ${err.message}`));
    await new Promise<void>((resolve) => socket.bind(0, "0.0.0.0", resolve));
    const client = new LspClient(socket, address, port, params, options);
    try {
      await client.handshake(isn);
    } catch (err) {
      client.shutdown();
      throw err;
    }
    return client;
  }

  get connId(): number {
    return this.connection?.connId ?? 0;
  }

  /** Written messages not yet acknowledged (for writers that pace themselves). */
  get pendingWrites(): number {
    return this.connection?.pending ?? 0;
  }

  /** The local UDP port (for logs and tests). */
  get localPort(): number {
    return this.socket.address().port;
  }

  /** The next payload from the server; rejects once closed, or lost with nothing buffered. */
  async read(): Promise<Uint8Array> {
    const payload = await this.inbox.take();
    if (this.inbox.length < MAX_READ_QUEUE / 2) this.connection?.resume();
    return payload;
  }

  /** Never blocks; throws once the connection is lost or the client closed. */
  write(payload: Uint8Array): void {
    if (this.closed) throw new LspError("client is closed");
    (this.connection as Connection).write(payload);
  }

  /**
   * Blocks until everything written is acknowledged (or the connection is lost, which rejects),
   * then releases the socket and timer. Later calls reject.
   */
  async close(): Promise<void> {
    if (this.closed) throw new LspError("client is already closed");
    this.closed = true;
    const connection = this.connection as Connection;
    connection.closing = true;
    if (!connection.lost && !connection.idle) {
      await new Promise<void>((resolve) => this.close_waiters.push(resolve));
    }
    const lost = connection.lost;
    this.inbox.end(new LspError("client is closed"), true);
    this.shutdown();
    if (lost) throw new LspError("connection lost before everything written was acknowledged");
  }

  private handshake(isn: number): Promise<void> {
    const connect = encodeMessage(connectMessage(isn));
    return new Promise<void>((resolve, reject) => {
      let epochs = 0;
      const onMessage = (datagram: Buffer, from: { address: string; port: number }) => {
        if (from.port !== this.port || from.address !== this.address) return;
        const message = decodeMessage(datagram);
        if (!message) return;
        if (!this.connection) {
          // Only Ack(id, isn) completes the handshake; anything else before it is noise.
          if (message.type !== MsgType.Ack || message.seqNum !== isn || message.connId === 0)
            return;
          this.connection = new Connection(
            message.connId,
            isn,
            this.params,
            {
              send: (m) => this.send(m),
              deliver: (payload) => this.inbox.push(payload),
              lost: () => this.onLost(),
              drained: () => this.onDrained(),
            },
            this.options.bug,
          );
          this.options.log?.(`connected as ${message.connId} (isn ${isn})`);
          resolve();
          return;
        }
        if (message.connId === this.connection.connId) this.connection.receive(message);
      };
      this.socket.on("message", onMessage);
      this.sendRaw(connect);
      this.timer = setInterval(() => {
        if (this.connection) {
          this.connection.epoch();
          return;
        }
        if (++epochs >= this.params.epochLimit) {
          reject(new LspError(`no answer to Connect after ${epochs} epochs`));
          return;
        }
        // Connect is resent every epoch, never backed off (systems/lsp/README.md "How it works").
        this.sendRaw(connect);
      }, this.params.epochMillis);
    });
  }

  private onLost(): void {
    this.options.log?.(`connection ${this.connId} lost`);
    // Buffered payloads stay readable; after them Read errors (systems/lsp/README.md
    // "How it works").
    this.inbox.end(new LspError("connection lost"));
    this.releaseCloseWaiters();
    // Nothing more can arrive or leave: stop the epoch timer and the socket.
    this.shutdown();
  }

  private onDrained(): void {
    if (this.closed) this.releaseCloseWaiters();
  }

  private releaseCloseWaiters(): void {
    for (const resolve of this.close_waiters.splice(0)) resolve();
  }

  private send(message: LspMessage): void {
    this.sendRaw(encodeMessage(message));
  }

  private sendRaw(datagram: Buffer): void {
    if (this.socket_closed) return;
    if (datagram.length > MAX_DATAGRAM_BYTES) throw new LspError("datagram too large");
    this.socket.send(datagram, this.port, this.address);
  }

  private shutdown(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    if (!this.socket_closed) {
      this.socket_closed = true;
      this.socket.close();
    }
  }
}
