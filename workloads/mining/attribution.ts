// Which mine op a client's bitcoin Request and Result belong to, from what the proxy sees, so a
// job's latency can be measured at the server (checkers/mining.ts "fairness"): when its Request
// reached the server and when its Result left it.
import { type BitcoinMessage, BitcoinType } from "../../protocols/bitcoin/message.js";

/** A decoded bitcoin message the proxy forwarded between a client worker and the server. */
export interface ClientMessage {
  /** The client worker's frontend (c0, c1 …). */
  peer: string;
  direction: "to-server" | "from-server";
  /** The LSP connection the message travelled on. */
  conn: number;
  message: BitcoinMessage;
  time_ns: number;
}

export interface JobTiming {
  request_ns?: number;
  result_ns?: number;
}

export class JobAttribution {
  /** Per client worker: when the proxy saw its job's Request reach the server, and the Result leave. */
  private readonly requestSeen = new Map<string, number>();
  private readonly resultSeen = new Map<string, number>();

  /** The worker `peer` starts a job for `message`: what was seen before is another job's. */
  begin(peer: string, _message: string): void {
    this.requestSeen.delete(peer);
    this.resultSeen.delete(peer);
  }

  observe(event: ClientMessage): void {
    const toServer = event.direction === "to-server";
    const seen = toServer ? this.requestSeen : this.resultSeen;
    const expected = toServer ? BitcoinType.Request : BitcoinType.Result;
    if (event.message.type === expected && !seen.has(event.peer)) {
      seen.set(event.peer, event.time_ns);
    }
  }

  /** The worker's current job has reached the server. */
  arrived(peer: string): boolean {
    return this.requestSeen.has(peer);
  }

  timing(peer: string): JobTiming {
    const request_ns = this.requestSeen.get(peer);
    const result_ns = this.resultSeen.get(peer);
    return request_ns !== undefined
      ? { request_ns, ...(result_ns !== undefined && { result_ns }) }
      : {};
  }
}
