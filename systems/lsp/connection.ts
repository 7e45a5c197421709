// One LSP connection's protocol engine, shared by the client and the server (README.md "The wire
// format", "How it works"): sequence numbers, the sliding window with MaxUnackedMessages,
// acknowledgements (Ack and CAck), in-order delivery with out-of-order buffering, per-message
// exponential backoff, heartbeats and epoch-based loss detection. It owns no socket and no timer:
// the endpoint feeds it datagrams and epoch ticks, and it calls back to send, deliver and report
// loss, so the logic can be read (and tested) without I/O.
import {
  ackMessage,
  checkData,
  dataMessage,
  type LspMessage,
  MAX_PAYLOAD_BYTES,
  MsgType,
} from "../../protocols/lsp/message.js";
import type { LspParams } from "../../protocols/lsp/params.js";

/** The deliberately wrong variants (`--bug NAME`); every one is caught by a faultline test. */
export const LSP_BUGS = [
  "no-retransmit",
  "ignore-window",
  "no-checksum",
  "reorder-deliver",
] as const;
export type LspBug = (typeof LSP_BUGS)[number];

export function parseBug(name: string | undefined): LspBug | undefined {
  if (name === undefined) return undefined;
  if (!(LSP_BUGS as readonly string[]).includes(name)) {
    throw new RangeError(`unknown bug "${name}"; choose from ${LSP_BUGS.join(", ")}`);
  }
  return name as LspBug;
}

/**
 * Data received ahead of the next expected sequence number is buffered only this far ahead;
 * beyond it, it is dropped unacknowledged (the sender retransmits). A sender that respects its
 * window never gets near it; it bounds memory against one that does not.
 */
export const MAX_RECEIVE_AHEAD = 4096;

/** Written but not yet acknowledged data messages kept per connection; Write errors beyond. */
export const MAX_PENDING_WRITES = 1 << 20;

export class LspError extends Error {
  override name = "LspError";
}

export interface ConnectionIo {
  /** Puts one message on the wire to the peer. */
  send(message: LspMessage): void;
  /** Hands an in-order payload to the application; false = no room, so it is not acknowledged. */
  deliver(payload: Uint8Array): boolean;
  /** The epoch limit passed with nothing received; called once. */
  lost(): void;
  /** Everything written has been acknowledged (called whenever the send queue empties). */
  drained(): void;
}

interface InFlight {
  message: LspMessage;
  /**
   * Epochs to wait between this message's transmissions (the backoff of systems/lsp/README.md
   * "How it works").
   */
  backoff_epochs: number;
  /** Epochs waited since the last transmission. */
  idle_epochs: number;
}

export class Connection {
  /** Sequence number the next Write gets. */
  private next_write_seq: number;
  /** Written, not yet transmitted (the window or M is full), in sequence order. */
  private readonly queued = new Fifo<{ seq: number; payload: Uint8Array }>();
  /** Transmitted, not yet acknowledged; insertion order is sequence order. */
  private readonly in_flight = new Map<number, InFlight>();
  /** Sequence number the application receives next. */
  private next_deliver_seq: number;
  /** Received ahead of `next_deliver_seq`; null marks one already delivered (reorder bug). */
  private readonly ahead = new Map<number, Uint8Array | null>();
  private silent_epochs = 0;
  private sent_data_this_epoch = false;
  private _lost = false;
  /** Set by Close/CloseConn: no more writes; pending data is still delivered. */
  closing = false;

  /** Counters for logs and benchmarks. */
  readonly counts = { data_sent: 0, data_resent: 0, acks_sent: 0, heartbeats_sent: 0 };

  constructor(
    readonly connId: number,
    isn: number,
    private readonly params: LspParams,
    private readonly io: ConnectionIo,
    private readonly bug: LspBug | undefined = undefined,
  ) {
    // Each direction's first data message carries isn + 1 (systems/lsp/README.md "The wire format",
    // Setup).
    this.next_write_seq = isn + 1;
    this.next_deliver_seq = isn + 1;
  }

  get lost(): boolean {
    return this._lost;
  }

  /** Written messages not yet acknowledged (queued or in flight). */
  get pending(): number {
    return this.queued.length + this.in_flight.size;
  }

  /** Nothing written is waiting to be sent or acknowledged. */
  get idle(): boolean {
    return this.queued.length === 0 && this.in_flight.size === 0;
  }

  /**
   * Queues a payload; never blocks (systems/lsp/README.md "How it works"). Throws once the
   * connection is lost or closing.
   */
  write(payload: Uint8Array): void {
    if (this._lost) throw new LspError(`connection ${this.connId} is lost`);
    if (this.closing) throw new LspError(`connection ${this.connId} is closed`);
    if (payload.length > MAX_PAYLOAD_BYTES) {
      throw new LspError(`payload of ${payload.length} bytes exceeds ${MAX_PAYLOAD_BYTES}`);
    }
    if (this.queued.length + this.in_flight.size >= MAX_PENDING_WRITES) {
      throw new LspError(`more than ${MAX_PENDING_WRITES} unacknowledged writes`);
    }
    this.queued.push({ seq: this.next_write_seq++, payload });
    this.pump();
  }

  /** Any message from the peer on this connection (already matched by ConnID and address). */
  receive(message: LspMessage): void {
    if (this._lost) return;
    this.silent_epochs = 0; // loss detection counts epochs with nothing received at all
    switch (message.type) {
      case MsgType.Data:
        this.receiveData(message);
        return;
      case MsgType.Ack:
        // SeqNum 0 is a heartbeat; an Ack for a seq not in flight (a duplicate, or the
        // handshake's Ack(isn) again) changes nothing.
        if (message.seqNum !== 0 && this.in_flight.delete(message.seqNum)) this.afterAck();
        return;
      case MsgType.CAck: {
        let acked = false;
        for (const seq of this.in_flight.keys()) {
          if (seq > message.seqNum) break;
          this.in_flight.delete(seq);
          acked = true;
        }
        if (acked) this.afterAck();
        return;
      }
      case MsgType.Connect:
        return; // the endpoint handles Connects
    }
  }

  /**
   * One epoch passed (systems/lsp/README.md "How it works"): loss detection, retransmission with
   * backoff, heartbeat.
   */
  epoch(): void {
    if (this._lost) return;
    this.silent_epochs++;
    if (this.silent_epochs >= this.params.epochLimit) {
      this.markLost();
      return;
    }
    let sent = this.sent_data_this_epoch;
    if (this.bug !== "no-retransmit") {
      for (const entry of this.in_flight.values()) {
        if (entry.idle_epochs >= entry.backoff_epochs) {
          this.io.send(entry.message);
          this.counts.data_resent++;
          sent = true;
          entry.idle_epochs = 0;
          entry.backoff_epochs = Math.min(
            entry.backoff_epochs === 0 ? 1 : 2 * entry.backoff_epochs,
            this.params.maxBackOffInterval,
          );
        } else {
          entry.idle_epochs++;
        }
      }
    }
    if (!sent) {
      this.io.send(ackMessage(this.connId, 0));
      this.counts.heartbeats_sent++;
    }
    this.sent_data_this_epoch = false;
  }

  /** Declares the connection lost now (the endpoint's own decision, e.g. a failed close). */
  markLost(): void {
    if (this._lost) return;
    this._lost = true;
    this.queued.clear();
    this.in_flight.clear();
    this.ahead.clear();
    this.io.lost();
  }

  private receiveData(message: LspMessage): void {
    const verdict = checkData(message, this.bug !== "no-checksum");
    if (!verdict.ok) return; // as if lost: no Ack (systems/lsp/README.md "The wire format")
    const seq = message.seqNum;
    if (seq < this.next_deliver_seq) {
      this.ack(seq); // a duplicate: our earlier Ack may have been lost
      return;
    }
    if (seq === this.next_deliver_seq) {
      if (!this.io.deliver(verdict.payload)) return; // no room: let the sender retransmit
      this.next_deliver_seq++;
      this.ack(seq);
      this.drainAhead();
      return;
    }
    if (seq >= this.next_deliver_seq + MAX_RECEIVE_AHEAD) return;
    if (!this.ahead.has(seq)) {
      if (this.bug === "reorder-deliver") {
        if (!this.io.deliver(verdict.payload)) return;
        this.ahead.set(seq, null);
      } else {
        this.ahead.set(seq, verdict.payload);
      }
    }
    this.ack(seq);
  }

  /** The application made room: deliver what was buffered in order meanwhile. */
  resume(): void {
    if (!this._lost) this.drainAhead();
  }

  private drainAhead(): void {
    for (;;) {
      const seq = this.next_deliver_seq;
      if (!this.ahead.has(seq)) return;
      const payload = this.ahead.get(seq);
      if (payload && !this.io.deliver(payload)) return; // stays buffered; retried on next data
      this.ahead.delete(seq);
      this.next_deliver_seq++;
    }
  }

  private ack(seq: number): void {
    this.io.send(ackMessage(this.connId, seq));
    this.counts.acks_sent++;
  }

  private afterAck(): void {
    this.pump();
    if (this.idle) this.io.drained();
  }

  /**
   * Transmits queued messages while the window and MaxUnackedMessages allow (systems/lsp/README.md
   * "How it works").
   */
  private pump(): void {
    for (;;) {
      const next = this.queued.peek();
      if (!next) return;
      if (this.bug !== "ignore-window") {
        const oldest = this.in_flight.keys().next().value ?? next.seq;
        if (next.seq >= oldest + this.params.windowSize) return;
        if (this.in_flight.size >= this.params.maxUnackedMessages) return;
      }
      this.queued.shift();
      const message = dataMessage(this.connId, next.seq, next.payload);
      this.in_flight.set(next.seq, { message, backoff_epochs: 0, idle_epochs: 0 });
      this.io.send(message);
      this.counts.data_sent++;
      this.sent_data_this_epoch = true;
    }
  }
}

/** A FIFO queue with O(1) push and shift (Array.shift is O(n) on long queues). */
export class Fifo<T> {
  private items: T[] = [];
  private head = 0;

  get length(): number {
    return this.items.length - this.head;
  }

  push(item: T): void {
    this.items.push(item);
  }

  peek(): T | undefined {
    return this.head < this.items.length ? this.items[this.head] : undefined;
  }

  shift(): T | undefined {
    if (this.head >= this.items.length) return undefined;
    const item = this.items[this.head] as T;
    this.items[this.head++] = undefined as T; // release it for the GC
    // Compact once the dead prefix is at least half the array, keeping shifts amortised O(1).
    if (this.head >= 1024 && this.head * 2 >= this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
    return item;
  }

  clear(): void {
    this.items = [];
    this.head = 0;
  }

  /** Keeps only the items `keep` accepts, in order. */
  filter(keep: (item: T) => boolean): void {
    this.items = this.items.slice(this.head).filter(keep);
    this.head = 0;
  }

  *[Symbol.iterator](): Iterator<T> {
    for (let i = this.head; i < this.items.length; i++) yield this.items[i] as T;
  }
}
