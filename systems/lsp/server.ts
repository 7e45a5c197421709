// The LSP server endpoint (README.md "How it works"): NewServer / Read / Write /
// CloseConn / Close over one UDP socket. Connections are keyed by the client's host:port; ids
// count up from 1 as the staff server's do. One epoch timer ticks every connection.
import { createSocket, type Socket } from "node:dgram";
import {
  ackMessage,
  decodeMessage,
  encodeMessage,
  type LspMessage,
  MAX_DATAGRAM_BYTES,
  MsgType,
} from "../../protocols/lsp/message.js";
import { type LspParams, validateParams } from "../../protocols/lsp/params.js";
import { AsyncQueue } from "./async-queue.js";
import type { EndpointOptions } from "./client.js";
import { Connection, LspError } from "./connection.js";

/** Connections beyond this many are refused (their Connects go unanswered). */
export const MAX_CONNECTIONS = 10_000;
/** Payloads and connection errors waiting for Read, across all connections. */
export const MAX_SERVER_READ_QUEUE = 65_536;

export type ServerRead =
  | { connId: number; payload: Uint8Array }
  | { connId: number; payload: null; error: string };

interface ServerConn {
  connection: Connection;
  isn: number;
  address: string;
  port: number;
  key: string;
}

export class LspServer {
  private readonly byId = new Map<number, ServerConn>();
  private readonly byAddress = new Map<string, ServerConn>();
  private readonly inbox = new AsyncQueue<ServerRead>(MAX_SERVER_READ_QUEUE);
  private next_conn_id = 1;
  private timer: NodeJS.Timeout;
  private closing = false;
  private closed = false;
  private lost_while_closing = false;
  private close_waiters: Array<() => void> = [];

  private constructor(
    private readonly socket: Socket,
    private readonly params: LspParams,
    private readonly options: EndpointOptions,
  ) {
    socket.on("message", (datagram, from) => this.onDatagram(datagram, from.address, from.port));
    this.timer = setInterval(() => this.epoch(), params.epochMillis);
  }

  /** Listens on `port` (0 picks one); does not block beyond binding, errors if it cannot listen. */
  static async listen(
    port: number,
    params: LspParams,
    options: EndpointOptions = {},
  ): Promise<LspServer> {
    validateParams(params);
    const socket = createSocket({ type: "udp4", recvBufferSize: 4 << 20 });
    await new Promise<void>((resolve, reject) => {
      socket.once("error", reject);
      socket.bind(port, "0.0.0.0", () => {
        socket.off("error", reject);
        resolve();
      });
    });
    socket.on("error", (err) => options.log?.(`socket error: ${err.message}`));
    return new LspServer(socket, params, options);
  }

  get port(): number {
    return this.socket.address().port;
  }

  get connectionCount(): number {
    return this.byId.size;
  }

  /**
   * The next payload from any connection, or a connection's error (lost after its data was
   * read, or closed by CloseConn). Rejects after Close.
   */
  async read(): Promise<ServerRead> {
    const item = await this.inbox.take();
    if (this.inbox.length < MAX_SERVER_READ_QUEUE / 2) {
      for (const conn of this.byId.values()) conn.connection.resume();
    }
    return item;
  }

  /** Never blocks; throws for an unknown, lost or closed connection, or after Close. */
  write(connId: number, payload: Uint8Array): void {
    if (this.closing) throw new LspError("server is closed");
    const conn = this.byId.get(connId);
    if (!conn) throw new LspError(`no connection ${connId}`);
    conn.connection.write(payload);
  }

  /** Never blocks: pending data to the client is still delivered, then the connection goes. */
  closeConn(connId: number): void {
    const conn = this.byId.get(connId);
    if (!conn || conn.connection.closing) throw new LspError(`no connection ${connId}`);
    conn.connection.closing = true;
    // Read never returns data from a connection closed by CloseConn (systems/lsp/README.md
    // "How it works").
    this.inbox.filter((item) => item.connId !== connId);
    this.inbox.push({ connId, payload: null, error: "connection closed" }, true);
    if (conn.connection.idle) this.forget(conn);
  }

  /**
   * Blocks until every client has acknowledged everything written to it; rejects if a client was
   * lost meanwhile. Releases the socket and timer; later calls reject.
   */
  async close(): Promise<void> {
    if (this.closing) throw new LspError("server is already closed");
    this.closing = true;
    for (const conn of this.byId.values()) {
      conn.connection.closing = true;
      if (conn.connection.idle) this.forget(conn);
    }
    if (this.byId.size > 0) await new Promise<void>((resolve) => this.close_waiters.push(resolve));
    this.closed = true;
    clearInterval(this.timer);
    this.socket.close();
    this.inbox.end(new LspError("server is closed"), true);
    if (this.lost_while_closing) throw new LspError("a client was lost before Close finished");
  }

  private onDatagram(datagram: Buffer, address: string, port: number): void {
    if (this.closed) return;
    const message = decodeMessage(datagram);
    if (!message) return;
    const key = `${address}:${port}`;
    if (message.type === MsgType.Connect) {
      this.onConnect(message, key, address, port);
      return;
    }
    const conn = this.byId.get(message.connId);
    // Only the address that opened a connection speaks for it.
    if (!conn || conn.key !== key) return;
    conn.connection.receive(message);
  }

  private onConnect(message: LspMessage, key: string, address: string, port: number): void {
    const existing = this.byAddress.get(key);
    if (existing) {
      // The client is still waiting for our Ack (it was lost): send it again, no second connection.
      if (existing.isn === message.seqNum) {
        this.send(existing, ackMessage(existing.connection.connId, existing.isn));
      }
      return;
    }
    if (this.closing || this.byId.size >= MAX_CONNECTIONS) return;
    const connId = this.next_conn_id++;
    const isn = message.seqNum;
    const conn: ServerConn = { isn, address, port, key } as ServerConn;
    conn.connection = new Connection(
      connId,
      isn,
      this.params,
      {
        send: (m) => this.send(conn, m),
        deliver: (payload) => {
          if (conn.connection.closing && !this.closing) return true; // CloseConn: discard
          return this.inbox.push({ connId, payload });
        },
        lost: () => this.onLost(conn),
        drained: () => {
          if (conn.connection.closing) this.forget(conn);
        },
      },
      this.options.bug,
    );
    this.byId.set(connId, conn);
    this.byAddress.set(key, conn);
    this.options.log?.(`connection ${connId} from ${key} (isn ${isn})`);
    this.send(conn, ackMessage(connId, isn));
  }

  private onLost(conn: ServerConn): void {
    const connId = conn.connection.connId;
    this.options.log?.(`connection ${connId} lost`);
    if (this.closing) this.lost_while_closing = true;
    // Queued after the connection's data, so Read reports it once that is drained.
    if (!conn.connection.closing) {
      this.inbox.push({ connId, payload: null, error: "connection lost" }, true);
    }
    this.forget(conn);
  }

  /** Drops a connection for good (drained after close, or lost). */
  private forget(conn: ServerConn): void {
    const connId = conn.connection.connId;
    if (this.byId.get(connId) !== conn) return;
    this.byId.delete(connId);
    this.byAddress.delete(conn.key);
    if (this.closing && this.byId.size === 0) {
      for (const resolve of this.close_waiters.splice(0)) resolve();
    }
  }

  private epoch(): void {
    // Copy: an epoch may declare a connection lost, which removes it from the map.
    for (const conn of [...this.byId.values()]) conn.connection.epoch();
  }

  private send(conn: ServerConn, message: LspMessage): void {
    if (this.closed) return;
    const datagram = encodeMessage(message);
    if (datagram.length > MAX_DATAGRAM_BYTES) throw new LspError("datagram too large");
    this.socket.send(datagram, conn.port, conn.address);
  }
}
