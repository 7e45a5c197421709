// Real grpc-js through the TCP proxy (harness/tcp/proxy.ts): the journal's h2-call-start and
// h2-call-end lines for OK, error-status and server-streaming calls; a partition stopping calls
// (with and without client keepalive) and a heal letting new ones through on the same client; a
// harness reset failing an in-flight call UNAVAILABLE and the client reconnecting. No assertion
// is on speed: deadlines only bound how long a test may wait.
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { RunClock } from "../../harness/clock.js";
import { JsonlWriter } from "../../harness/jsonl-writer.js";
import { LinkTable } from "../../harness/links.js";
import { Logger } from "../../harness/logger.js";
import { Random } from "../../harness/random.js";
import { TcpProxy } from "../../harness/tcp/proxy.js";
import {
  type EchoClient,
  echoClient,
  grpc,
  type SayReply,
  say,
  startEchoServer,
  stopServer,
} from "./grpc-echo.js";

const SAY = "/faultline.test.Echo/Say";
const COUNT = "/faultline.test.Echo/Count";
/** Long enough for a loaded 2-core machine; a call that needs more has failed. */
const CALL_DEADLINE_MS = 15_000;

let dir: string;
let links: LinkTable;
let journal: JsonlWriter;
let proxy: TcpProxy;
let server: grpc.Server;
let port: number;
const clients: EchoClient[] = [];

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), "faultline-grpc-proxy-"));
  links = new LinkTable({ mean_ms: 0, dist: "constant" });
  journal = new JsonlWriter(join(dir, "messages.jsonl"), { flush_bytes: 0, max_bytes: 64 << 20 });
  proxy = new TcpProxy({
    links,
    random: new Random(7),
    clock: new RunClock(),
    journal,
    log: new Logger(true),
  });
  const started = await startEchoServer();
  server = started.server;
  port = await proxy.listen("client", "server", started.port);
});

afterEach(async () => {
  for (const client of clients.splice(0)) client.close();
  await proxy.close();
  stopServer(server);
  journal.close();
  rmSync(dir, { recursive: true, force: true });
});

function client(options: grpc.ChannelOptions = {}): EchoClient {
  const made = echoClient(port, options);
  clients.push(made);
  return made;
}

function records(event?: string): Array<Record<string, unknown>> {
  journal.flush();
  return readFileSync(journal.path, "utf8")
    .split("\n")
    .filter((line) => line.length > 0)
    .map((line) => JSON.parse(line) as Record<string, unknown>)
    .filter((r) => event === undefined || r.event === event);
}

function ends(method: string): Array<Record<string, unknown>> {
  return records("h2-call-end").filter((r) => r.method === method);
}

function count(c: EchoClient, n: number): Promise<string[]> {
  return new Promise((resolve, reject) => {
    const items: string[] = [];
    const stream = c.Count({ n }, { deadline: Date.now() + CALL_DEADLINE_MS });
    stream.on("data", (reply: SayReply) => items.push(reply.text));
    stream.on("end", () => resolve(items));
    stream.on("error", reject);
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("the journal", () => {
  it("has a start and an end line per call, with method and gRPC status", async () => {
    const c = client();
    expect(await say(c, "hello", CALL_DEADLINE_MS)).toEqual({ code: 0, details: "hello" });
    expect(await say(c, "missing", CALL_DEADLINE_MS)).toEqual({
      code: grpc.status.NOT_FOUND,
      details: "no such thing: missing",
    });
    expect(await count(c, 4)).toEqual(["item 0", "item 1", "item 2", "item 3"]);

    const starts = records("h2-call-start");
    expect(starts.map((r) => [r.method, r.stream_id])).toEqual([
      [SAY, 1],
      [SAY, 3],
      [COUNT, 5],
    ]);
    expect(starts[0]).toMatchObject({ src: "client", dest: "server", conn: 1 });
    expect(typeof starts[0]?.time).toBe("number");
    const [ok, missing] = ends(SAY);
    expect(ok).toMatchObject({ stream_id: 1, grpc_status: 0, http_status: 200 });
    expect(missing).toMatchObject({
      stream_id: 3,
      grpc_status: grpc.status.NOT_FOUND,
      grpc_message: "no such thing: missing",
      response_bytes: 0,
    });
    expect(ends(COUNT)).toEqual([
      expect.objectContaining({ stream_id: 5, grpc_status: 0, response_bytes: 4 * (5 + 8) }),
    ]);
    // `chunk` names the send line of the chunk that completed the call's end.
    const chunk = records("send").find((r) => r.id === ok?.chunk);
    expect(chunk).toMatchObject({ src: "server", dest: "client", conn: 1 });
    // The chunk lines are there as before.
    expect(
      records("send").filter((r) => (r.body as { type: string }).type === "data").length,
    ).toBeGreaterThan(4);
    expect(records("h2-undecodable")).toEqual([]);
  });
});

describe("a partition", () => {
  it("without keepalive: a call ends DEADLINE_EXCEEDED, the held connection resumes on heal", async () => {
    const c = client();
    expect((await say(c, "warm up", CALL_DEADLINE_MS)).code).toBe(0);
    links.set("client", "server", { partitioned: true });
    links.set("server", "client", { partitioned: true });
    const cut = await say(c, "during", 1_000);
    expect(cut.code).toBe(grpc.status.DEADLINE_EXCEEDED);
    // The client cancelled it with RST_STREAM CANCEL; the proxy saw that, and holds it.
    // grpc-js resets the stream (RST_STREAM CANCEL) just after the callback; the proxy sees it
    // arrive and holds it.
    await until(() => ends(SAY).length === 2, "the cut call's end line");
    expect(ends(SAY).at(-1)).toMatchObject({ stream_id: 3, reset: { code: 8, by: "client" } });
    links.heal();
    expect(await say(c, "after", CALL_DEADLINE_MS)).toEqual({ code: 0, details: "after" });
    // The same connection carried all three calls: a blackhole does not break TCP.
    expect(proxy.stats()["client->server"]).toMatchObject({ connections: 1, resets: 0 });
    expect(ends(SAY).at(-1)).toMatchObject({ stream_id: 5, grpc_status: 0 });
  });

  it("with keepalive: the unanswered ping drops the connection, the call ends UNAVAILABLE, a new one resumes on heal", async () => {
    const c = client({ "grpc.keepalive_time_ms": 200, "grpc.keepalive_timeout_ms": 200 });
    expect((await say(c, "warm up", CALL_DEADLINE_MS)).code).toBe(0);
    links.set("client", "server", { partitioned: true });
    links.set("server", "client", { partitioned: true });
    // Keepalive pings only while a call is active: this call's ping goes unanswered, grpc-js
    // drops the connection (GOAWAY, FIN: held) and fails the call long before its deadline.
    const cut = await say(c, "during", CALL_DEADLINE_MS);
    expect(cut.code).toBe(grpc.status.UNAVAILABLE);
    // The reconnect's TCP connect is accepted by the proxy but goes no further, and grpc-js sends
    // no call before the server's SETTINGS: the next call waits, and meets its deadline.
    expect((await say(c, "still cut", 1_000)).code).toBe(grpc.status.DEADLINE_EXCEEDED);
    links.heal();
    expect(await say(c, "after", CALL_DEADLINE_MS)).toEqual({ code: 0, details: "after" });
    expect(proxy.stats()["client->server"]?.connections).toBe(2);
    // Only the call after the heal went out on the new connection.
    expect(records("h2-call-start").filter((r) => r.conn === 2)).toEqual([
      expect.objectContaining({ stream_id: 1, method: SAY }),
    ]);
    // The old connection ends once its held FIN reaches the server: the cut call with it.
    await until(() => records("tcp-close").some((r) => r.conn === 1), "the old connection's close");
    expect(
      ends(SAY)
        .filter((r) => r.conn === 1)
        .at(-1),
    ).toMatchObject({
      stream_id: 3,
      aborted: "closed",
    });
  });
});

describe("a reset", () => {
  it("ends an in-flight call UNAVAILABLE and the client reconnects", async () => {
    const c = client();
    expect((await say(c, "warm up", CALL_DEADLINE_MS)).code).toBe(0);
    const inflight = say(c, "hang", CALL_DEADLINE_MS);
    await until(() => records("h2-call-start").length === 2, "the hanging call to reach the proxy");
    expect(proxy.resetConnections("server")).toBe(1);
    expect((await inflight).code).toBe(grpc.status.UNAVAILABLE);
    expect(ends(SAY).at(-1)).toMatchObject({ conn: 1, stream_id: 3, aborted: "harness" });
    expect(await say(c, "again", CALL_DEADLINE_MS)).toEqual({ code: 0, details: "again" });
    expect(proxy.stats()["client->server"]).toMatchObject({ connections: 2, resets: 1 });
  });
});

async function until(done: () => boolean, what: string, timeout_ms = CALL_DEADLINE_MS) {
  const deadline = Date.now() + timeout_ms;
  while (!done()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting: ${what}`);
    await sleep(10);
  }
}
