// The RPC between workers and the coordinator: HTTP/1.1 POSTs of JSON bodies over TCP
// (node:http), one connection per call (keep-alive off), every call bounded in time and retried
// with bounded backoff. Why: a harness TCP proxy sits between the two and, during a partition,
// holds bytes or resets connections; with a fresh connection per call a held or reset connection
// costs exactly one attempt, and nothing waits on a pooled socket that went dark.
//
//   POST /task    {"worker": "w-123-ab12", "seq": 7}
//             ->  {"kind":"map","task":3,"file":"pg-grimm.txt","n_map":8,"n_reduce":10,"attempt":1}
//               | {"kind":"reduce","task":4,"n_map":8,"n_reduce":10,"attempt":1}
//               | {"kind":"wait","ms":200} | {"kind":"done"}
//   POST /report  {"worker": "w-123-ab12", "kind": "map", "task": 3, "attempt": 1}
//             ->  {"outcome": "accepted" | "duplicate" | "unknown" | "missing-files"}
//
// `seq` numbers a worker's /task requests; a retry repeats the seq and gets the same reply, so a
// reply lost in the network does not cost a task timeout.
import { createServer, request, type Server } from "node:http";
import { setTimeout as sleep } from "node:timers/promises";
import type { Assignment, TaskKind } from "./tasks.js";

/** One call's whole round trip (connect, send, reply) is abandoned after this. */
export const CALL_TIMEOUT_MS = 2_000;
/** Backoff between failed attempts: starts here, doubles, capped. */
export const RETRY_FIRST_MS = 50;
export const RETRY_MAX_MS = 1_000;
/** Request and reply bodies larger than this are refused. */
export const MAX_BODY_BYTES = 64 * 1024;
/** The coordinator drops a connection whose request has not fully arrived by then. */
export const SERVER_REQUEST_TIMEOUT_MS = 5_000;

export interface TaskRequest {
  worker: string;
  seq: number;
}
export type TaskReply = Exclude<Assignment, { kind: "wait" }> | { kind: "wait"; ms: number };
export interface ReportRequest {
  worker: string;
  kind: TaskKind;
  task: number;
  attempt: number;
}
export interface ReportReply {
  outcome: "accepted" | "duplicate" | "unknown" | "missing-files";
}

export class Unreachable extends Error {}

/** One attempt: POSTs `body` as JSON to http://host:port/path and parses the 200 reply. */
export function post(host: string, port: number, path: string, body: unknown): Promise<unknown> {
  const payload = Buffer.from(JSON.stringify(body));
  return new Promise((resolve, reject) => {
    const req = request({
      host,
      port,
      path,
      method: "POST",
      agent: false,
      headers: {
        "content-type": "application/json",
        "content-length": payload.length,
        connection: "close",
      },
    });
    const timer = setTimeout(
      () => req.destroy(new Error(`no reply within ${CALL_TIMEOUT_MS} ms`)),
      CALL_TIMEOUT_MS,
    );
    req.on("error", (err) => {
      clearTimeout(timer);
      reject(err);
    });
    req.on("response", (res) => {
      const chunks: Buffer[] = [];
      let size = 0;
      res.on("data", (chunk: Buffer) => {
        size += chunk.length;
        if (size > MAX_BODY_BYTES) req.destroy(new Error("reply too large"));
        else chunks.push(chunk);
      });
      res.on("error", (err) => {
        clearTimeout(timer);
        reject(err); // the connection was cut mid-reply
      });
      res.on("end", () => {
        clearTimeout(timer);
        const text = Buffer.concat(chunks).toString("utf8");
        if (res.statusCode !== 200) {
          reject(new Error(`HTTP ${res.statusCode}: ${text.slice(0, 200)}`));
          return;
        }
        try {
          resolve(JSON.parse(text));
        } catch {
          reject(new Error(`reply is not JSON: ${text.slice(0, 200)}`));
        }
      });
    });
    req.end(payload);
  });
}

/**
 * POSTs until one attempt succeeds; throws Unreachable once attempts have failed for
 * `give_up_ms` in a row (the coordinator is gone, or cut off for that long).
 */
export async function call(
  host: string,
  port: number,
  path: string,
  body: unknown,
  give_up_ms: number,
  log: (text: string) => void,
): Promise<unknown> {
  const first_failure_ms = Date.now();
  let backoff_ms = RETRY_FIRST_MS;
  for (let attempt = 1; ; attempt++) {
    try {
      return await post(host, port, path, body);
    } catch (err) {
      const failing_ms = Date.now() - first_failure_ms;
      if (failing_ms >= give_up_ms) {
        throw new Unreachable(
          `${path}: ${attempt} attempts failed over ${failing_ms} ms (last: ${(err as Error).message})`,
        );
      }
      if (attempt === 1 || attempt % 10 === 0) {
        log(`${path} attempt ${attempt} failed (${(err as Error).message}); retrying`);
      }
      await sleep(Math.min(backoff_ms, Math.max(0, give_up_ms - failing_ms)));
      backoff_ms = Math.min(backoff_ms * 2, RETRY_MAX_MS);
    }
  }
}

export class BadRequest extends Error {}

/**
 * An HTTP server answering POST <path> with handlers[path](parsed JSON body). A handler throws
 * BadRequest for a malformed body (HTTP 400). Replies close the connection.
 */
export function jsonServer(handlers: Record<string, (body: unknown) => unknown>): Server {
  const server = createServer((req, res) => {
    const reply = (status: number, body: unknown) => {
      const text = JSON.stringify(body);
      res.writeHead(status, {
        "content-type": "application/json",
        "content-length": Buffer.byteLength(text),
        connection: "close",
      });
      res.end(text);
    };
    const handler = handlers[req.url ?? ""];
    if (req.method !== "POST" || !handler) {
      req.resume();
      reply(404, { error: `no ${req.method} ${req.url}` });
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    req.on("data", (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_BODY_BYTES) req.destroy();
      else chunks.push(chunk);
    });
    req.on("error", () => {}); // a reset connection: nothing to answer
    req.on("end", () => {
      try {
        reply(200, handler(JSON.parse(Buffer.concat(chunks).toString("utf8"))));
      } catch (err) {
        if (err instanceof BadRequest || err instanceof SyntaxError) {
          reply(400, { error: err.message });
        } else {
          throw err;
        }
      }
    });
  });
  server.requestTimeout = SERVER_REQUEST_TIMEOUT_MS;
  server.headersTimeout = SERVER_REQUEST_TIMEOUT_MS;
  return server;
}

/** Checks that `body` is an object whose listed fields have the listed types. */
export function fields<T>(body: unknown, spec: Record<string, "string" | "integer">): T {
  if (typeof body !== "object" || body === null) throw new BadRequest("body is not an object");
  const record = body as Record<string, unknown>;
  for (const [name, type] of Object.entries(spec)) {
    const value = record[name];
    const ok =
      type === "string"
        ? typeof value === "string"
        : typeof value === "number" && Number.isSafeInteger(value) && value >= 0;
    if (!ok)
      throw new BadRequest(
        `field "${name}" must be ${type === "string" ? "a string" : "an integer >= 0"}`,
      );
  }
  return body as T;
}
