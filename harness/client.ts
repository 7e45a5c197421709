// A Maelstrom client (`c<k>`): synchronous, one request in flight, msg_ids from 1 (README.md
// "The node protocol").
import type { Body, Envelope } from "../workloads/protocol.js";
import type { Endpoint, Network } from "./network.js";

interface Pending {
  msg_id: number;
  resolve(reply: Body | undefined): void;
  timer: NodeJS.Timeout;
}

export class Client implements Endpoint {
  readonly kind = "client" as const;
  private next_msg_id = 1;
  private pending: Pending | undefined;
  /** Replies that matched no pending request (late replies to abandoned requests). */
  late_replies = 0;

  constructor(
    readonly id: string,
    private readonly network: Network,
  ) {
    if (!id.startsWith("c")) throw new Error(`client ids start with "c": ${id}`);
    network.register(id, this);
  }

  /** Sends a request and waits for its reply; undefined when `timeout_ms` passes first. */
  call(dest: string, body: Body, timeout_ms: number): Promise<Body | undefined> {
    if (this.pending) throw new Error(`client ${this.id} already has a request in flight`);
    const msg_id = this.next_msg_id++;
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.pending = undefined;
        resolve(undefined);
      }, timeout_ms);
      this.pending = { msg_id, resolve, timer };
      this.network.send(this.id, dest, { ...body, msg_id });
    });
  }

  deliver(envelope: Envelope): boolean {
    const body = envelope.body;
    const pending = this.pending;
    // A reply is a message with in_reply_to present (0 is a valid id).
    if (pending && "in_reply_to" in body && body.in_reply_to === pending.msg_id) {
      clearTimeout(pending.timer);
      this.pending = undefined;
      pending.resolve(body);
    } else {
      this.late_replies++;
    }
    return true;
  }

  close(): void {
    if (this.pending) {
      clearTimeout(this.pending.timer);
      this.pending.resolve(undefined);
      this.pending = undefined;
    }
    this.network.unregister(this.id);
  }
}

/** Hands out client ids c0, c1, … from one counter per run, as Maelstrom does. */
export class ClientFactory {
  private next = 0;

  constructor(private readonly network: Network) {}

  open(): Client {
    return new Client(`c${this.next++}`, this.network);
  }

  /** True for every client id this run has handed out, closed ones included. */
  wasOpened(id: string): boolean {
    const n = /^c(0|[1-9][0-9]*)$/.exec(id)?.[1];
    return n !== undefined && Number(n) < this.next;
  }
}
