// Which mine op a client's bitcoin Request and Result belong to, from what the proxy sees, so a
// job's latency can be measured at the server (checkers/mining.ts "fairness"): when its Request
// reached the server and when its Result left it.
//
// Attributed by LSP connection, not by the worker's frontend: a client killed mid-job leaves its
// connection open at the server until the server notices the loss, and the Result the server
// then sends on it (or a late copy of the old Request) belongs to the old job, not to the job
// the worker's next client is running. A job's connection is the one its Request (its own
// message) arrived on last: a client that reconnects and asks again is answered there.
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

interface Job {
  message: string;
  /** The connection the job's Request last arrived on, and when it first did there. */
  conn?: number;
  request_ns?: number;
  /** When the first Result on that connection left the server. */
  result_ns?: number;
}

export class JobAttribution {
  /** Each worker's current job. */
  private readonly jobs = new Map<string, Job>();

  /** The worker `peer` starts a job for `message`: what comes on other connections is not its. */
  begin(peer: string, message: string): void {
    this.jobs.set(peer, { message });
  }

  observe(event: ClientMessage): void {
    const job = this.jobs.get(event.peer);
    if (!job) return;
    const { message } = event;
    if (event.direction === "to-server") {
      if (message.type !== BitcoinType.Request || message.data !== job.message) return;
      if (job.conn === event.conn) return; // a retransmission
      job.conn = event.conn;
      job.request_ns = event.time_ns;
      job.result_ns = undefined;
      return;
    }
    if (message.type === BitcoinType.Result && event.conn === job.conn) {
      job.result_ns ??= event.time_ns;
    }
  }

  /** The worker's current job has reached the server. */
  arrived(peer: string): boolean {
    return this.jobs.get(peer)?.request_ns !== undefined;
  }

  timing(peer: string): JobTiming {
    const job = this.jobs.get(peer);
    if (job?.request_ns === undefined) return {};
    return {
      request_ns: job.request_ns,
      ...(job.result_ns !== undefined && { result_ns: job.result_ns }),
    };
  }
}
