// The gRPC driver module (workloads/grpc/) with a real server program (test/fixtures/grpc/
// kv-server.mjs) behind a real TcpProxy: outcomes of ok and NOT_FOUND calls in the history, a call
// whose reply a partition holds ends info although its Put took effect, calls are ok after the
// heal, and a killed server restarted on another port is reached through the same proxy port.
// Deadlines only bound how long a test may wait; nothing is asserted on speed.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as grpc from "@grpc/grpc-js";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { Op } from "../../checkers/history.js";
import { RunClock } from "../../harness/clock.js";
import { HistoryRecorder } from "../../harness/history-recorder.js";
import { JsonlWriter } from "../../harness/jsonl-writer.js";
import { LinkTable } from "../../harness/links.js";
import { Logger } from "../../harness/logger.js";
import { Program } from "../../harness/program.js";
import { Random } from "../../harness/random.js";
import { freeTcpPort, waitListening } from "../../harness/tcp/ports.js";
import { TcpProxy } from "../../harness/tcp/proxy.js";
import {
  type GrpcChannel,
  type GrpcService,
  loadService,
  unaryCall,
} from "../../workloads/grpc/call.js";
import { complete, DETAILS_MAX_CHARS, errorOutcome } from "../../workloads/grpc/outcome.js";
import { GrpcServer } from "../../workloads/grpc/server.js";
import { type DriverContext, SetupError, type TcpNet } from "../../workloads/plugin.js";

const FIXTURES = join(import.meta.dirname, "..", "fixtures", "grpc");
const PROTO = join(FIXTURES, "kv.proto");
/** Long enough for a loaded 2-core machine; a call that needs more has failed. */
const CALL_DEADLINE_MS = 15_000;

let dir: string;
let links: LinkTable;
let journal: JsonlWriter;
let proxy: TcpProxy;
let history: HistoryRecorder;
let service: GrpcService;
let server: GrpcServer;
const programs: Program[] = [];
const channels: GrpcChannel[] = [];
const abort = new AbortController();

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), "faultline-grpc-driver-"));
  const clock = new RunClock();
  links = new LinkTable({ mean_ms: 0, dist: "constant" });
  journal = new JsonlWriter(join(dir, "messages.jsonl"), { flush_bytes: 0, max_bytes: 64 << 20 });
  proxy = new TcpProxy({ links, random: new Random(7), clock, journal, log: new Logger(true) });
  history = new HistoryRecorder(join(dir, "history.jsonl"), clock);
  const net: TcpNet = {
    listen: (src, dst, port) => proxy.listen(src, dst, port),
    resetConnections: (node) => proxy.resetConnections(node),
    freePort: freeTcpPort,
    waitListening,
  };
  const spawn: DriverContext["spawn"] = ({ id, command, stdout }) => {
    const program = new Program({ id, command, runDir: dir, clock, mode: stdout });
    programs.push(program);
    return program;
  };
  service = loadService(PROTO, "faultline.test.Kv");
  server = new GrpcServer(
    { net, spawn, signal: abort.signal },
    {
      name: "kv",
      command: (port) => ({
        file: process.execPath,
        args: [join(FIXTURES, "kv-server.mjs"), "--port", String(port)],
      }),
    },
  );
  await server.start();
});

afterEach(async () => {
  for (const channel of channels.splice(0)) channel.client.close();
  await proxy.close();
  for (const program of programs.splice(0)) {
    if (program.running) await program.kill();
    await program.close();
  }
  history.close();
  journal.close();
  rmSync(dir, { recursive: true, force: true });
});

async function dial(src: string): Promise<GrpcChannel> {
  const channel = await server.dial(src, service);
  channels.push(channel);
  return channel;
}

/** One op through the history: invoke, call, complete; returns the completion. */
async function op(
  channel: GrpcChannel,
  f: "Put" | "Get" | "Touch",
  value: object,
  deadline_ms = CALL_DEADLINE_MS,
) {
  const handle = history.invoke(0, f, value, "kv", () => {});
  complete(handle, await unaryCall(channel, f, value, deadline_ms));
  return history.ops[history.ops.length - 1] as Op;
}

function partition(a: string, b: string): void {
  links.set(a, b, { partitioned: true });
}

function waitForReady(channel: GrpcChannel): Promise<void> {
  return new Promise((resolve, reject) =>
    channel.client.waitForReady(Date.now() + CALL_DEADLINE_MS, (err) =>
      err ? reject(err) : resolve(),
    ),
  );
}

describe("calls and their outcomes", () => {
  it("ok with the reply, NOT_FOUND is fail, in the history", async () => {
    const c = await dial("c0");
    expect(await op(c, "Put", { key: "a", value: "1" })).toMatchObject({
      type: "ok",
      f: "Put",
      value: { puts: "1" }, // int64 as a decimal string (longs: String)
    });
    expect(await op(c, "Get", { key: "a" })).toMatchObject({ type: "ok", value: { value: "1" } });
    const missing = await op(c, "Get", { key: "b" });
    expect(missing).toMatchObject({
      type: "fail",
      value: { key: "b" },
      error: ["NOT_FOUND", "no key b"],
    });
    // The calls went through the proxy listener c0→kv, not to the server's own port.
    expect(proxy.stats()["c0->kv"]).toMatchObject({ connections: 1 });
  });

  it("a long reply goes into the history as its head and length; the driver gets it whole", async () => {
    const c = await dial("c0");
    const value = "v".repeat(5_000);
    expect((await op(c, "Put", { key: "big", value })).type).toBe("ok");
    const outcome = await unaryCall(c, "Get", { key: "big" }, CALL_DEADLINE_MS);
    expect(outcome).toEqual({ type: "ok", reply: { value } });
    const head = `{"value":"${"v".repeat(DETAILS_MAX_CHARS - 11)}…`;
    expect(await op(c, "Get", { key: "big" })).toMatchObject({
      type: "ok",
      value: { reply_head: head, reply_json_chars: 5_012 },
    });
    expect(head).toHaveLength(DETAILS_MAX_CHARS);
  });

  it("a server's OK without a reply is info: grpc-js fails the call, but the handler ran", async () => {
    const c = await dial("c0");
    expect(await op(c, "Touch", { key: "t", value: "x" })).toMatchObject({
      type: "info",
      error: ["UNIMPLEMENTED", "No message received"],
    });
    expect(await op(c, "Get", { key: "t" })).toMatchObject({ type: "ok", value: { value: "x" } });
  });

  it("refuses a method the service lacks or a streaming one, and an unknown service", async () => {
    const c = await dial("c0");
    expect(() => unaryCall(c, "Keys", { key: "a" }, CALL_DEADLINE_MS)).toThrow(/no unary method/);
    expect(() => unaryCall(c, "Nope", {}, CALL_DEADLINE_MS)).toThrow(/no unary method/);
    expect(() => loadService(PROTO, "faultline.test.Nope")).toThrow(SetupError);
    expect(() => loadService(PROTO, "faultline.test.PutRequest")).toThrow(
      /its services: faultline\.test\.Kv$/,
    );
  });
});

describe("the outcome table", () => {
  it("fail only for no-effect statuses the server chose; info for the rest and when it answered", () => {
    const { status } = grpc;
    expect(errorOutcome(status.NOT_FOUND, "x", false).type).toBe("fail");
    expect(errorOutcome(status.UNIMPLEMENTED, "x", false).type).toBe("fail");
    // grpc-js's UNIMPLEMENTED for a unary answer with no message: the handler ran.
    expect(errorOutcome(status.UNIMPLEMENTED, "No message received", true).type).toBe("info");
    for (const code of [
      status.CANCELLED,
      status.UNKNOWN,
      status.DEADLINE_EXCEEDED,
      status.RESOURCE_EXHAUSTED,
      status.ABORTED,
      status.INTERNAL,
      status.UNAVAILABLE,
      status.DATA_LOSS,
    ]) {
      expect(errorOutcome(code, "x", false).type).toBe("info");
    }
    expect(errorOutcome(99, "x", false)).toMatchObject({
      type: "info",
      error: { name: "CODE_99" },
    });
    const long = errorOutcome(status.NOT_FOUND, "y".repeat(10_000), false);
    expect(long.type === "fail" && long.error.details.length).toBe(DETAILS_MAX_CHARS);
  });
});

describe("a partition", () => {
  it("holding the reply: the call ends info though its Put took effect; ok again after the heal", async () => {
    const c = await dial("c0");
    expect((await op(c, "Get", { key: "k" })).type).toBe("fail");
    partition("kv", "c0");
    // The request reaches the server, the reply is held: keepalive's unanswered ping drops the
    // connection (UNAVAILABLE) before the deadline.
    const cut = await op(c, "Put", { key: "k", value: "during" });
    expect(cut).toMatchObject({ type: "info", error: ["UNAVAILABLE", expect.any(String)] });
    links.heal();
    // It took effect: recording it fail would let a checker rule out a value that was written.
    expect(await op(c, "Get", { key: "k" })).toMatchObject({
      type: "ok",
      value: { value: "during" },
    });
  });

  it("both ways: a call meets its deadline (info); after the heal calls are ok", async () => {
    const c = await dial("c0");
    expect((await op(c, "Put", { key: "k", value: "before" })).type).toBe("ok");
    partition("c0", "kv");
    partition("kv", "c0");
    expect(await op(c, "Put", { key: "k", value: "cut" }, 1_000)).toMatchObject({
      type: "info",
      error: ["DEADLINE_EXCEEDED", expect.any(String)],
    });
    links.heal();
    expect((await op(c, "Put", { key: "k", value: "after" })).type).toBe("ok");
    // The cut Put was held, not lost: delivered on the heal, it may run, before or after.
    const read = await op(c, "Get", { key: "k" });
    expect(read.type).toBe("ok");
    expect(["after", "cut"]).toContain((read.value as { value: string }).value);
  });
});

describe("a restart", () => {
  it("on another port is reached through the same proxy port", async () => {
    const c = await dial("c0");
    expect((await op(c, "Put", { key: "k", value: "1" })).type).toBe("ok");
    const first_port = server.port;
    const proxy_port = await proxy.listen("c0", "kv", first_port);
    await server.program?.kill();
    // The server is gone: the call cannot be known to have never run, so it is info.
    expect((await op(c, "Get", { key: "k" })).type).toBe("info");
    await server.start();
    expect(server.port).not.toBe(first_port);
    expect(server.program?.id).toBe("kv.2");
    expect(await proxy.listen("c0", "kv", server.port)).toBe(proxy_port);
    await waitForReady(c);
    // A new, empty instance: the key is gone, and this is its first put.
    expect((await op(c, "Get", { key: "k" })).type).toBe("fail");
    expect(await op(c, "Put", { key: "k", value: "2" })).toMatchObject({ value: { puts: "1" } });
  });
});
