// LSP benchmark (issue 7): goodput of our LSP (messages/s and MB/s of payload read by the
// server, one direction) through the faultline UDP proxy at 0% and 20% loss with windows 1, 8
// and 64; and the proxy's overhead against direct UDP: LSP goodput with and without the proxy,
// and the round-trip time of a bare datagram echo with and without it.
//
// The LSP server, the LSP client and the proxy each run on their own event loop (the server and
// the client in worker threads, the proxy on the main thread), as in a real run where they are
// separate processes. Every figure is from this file's run: nothing is estimated.
import { createSocket } from "node:dgram";
import { fileURLToPath } from "node:url";
import { isMainThread, parentPort, Worker, workerData } from "node:worker_threads";
import { RunClock } from "../harness/clock.js";
import { LinkTable } from "../harness/links.js";
import { Random } from "../harness/random.js";
import { UdpProxy } from "../harness/udp/proxy.js";
import type { LspParams } from "../protocols/lsp/params.js";
import { LspClient } from "../systems/lsp/client.js";
import { LspServer } from "../systems/lsp/server.js";

/** Payload of every benchmark message. */
const PAYLOAD_BYTES = 512;
/** Each goodput case runs this long once connected. */
const CASE_MS = 2_500;
/** Bare datagram round trips per RTT measurement. */
const ECHO_ROUND_TRIPS = 5_000;
const EPOCH_MS = 50;
const WINDOWS = [1, 8, 64];
const LOSSES = [0, 0.2];

function params(window: number): LspParams {
  // Resend every epoch (no backoff cap growth) and a generous epoch limit, so 20% loss slows
  // the connection down but never loses it.
  return {
    epochLimit: 100,
    epochMillis: EPOCH_MS,
    windowSize: window,
    maxBackOffInterval: 0,
    maxUnackedMessages: window,
  };
}

type Job =
  | { role: "lsp-server"; params: LspParams }
  | { role: "lsp-client"; port: number; params: LspParams; duration_ms: number }
  | { role: "echo-server" }
  | { role: "echo-client"; port: number; count: number };

// ---- worker side -------------------------------------------------------------------------------

async function worker(job: Job): Promise<void> {
  const port = parentPort as NonNullable<typeof parentPort>;
  switch (job.role) {
    case "lsp-server": {
      const server = await LspServer.listen(0, job.params);
      let count = 0;
      let bytes = 0;
      let first_ms = 0;
      let last_ms = 0;
      port.on("message", async (m: string) => {
        if (m !== "stop") return;
        port.postMessage({ count, bytes, first_ms, last_ms });
        await server.close().catch(() => {});
        port.close();
      });
      port.postMessage({ port: server.port });
      for (;;) {
        const item = await server.read().catch(() => undefined);
        if (!item) return;
        if (item.payload === null) continue;
        const now = performance.now();
        if (count === 0) first_ms = now;
        last_ms = now;
        count++;
        bytes += item.payload.length;
      }
    }
    case "lsp-client": {
      const client = await LspClient.connect("127.0.0.1", job.port, 1, job.params);
      const payload = Buffer.alloc(PAYLOAD_BYTES, 0x61);
      const end = performance.now() + job.duration_ms;
      // Keep a little more than a window queued: the window, not the writer, is the limit.
      const ahead = 2 * job.params.windowSize + 16;
      while (performance.now() < end) {
        while (client.pendingWrites < ahead) client.write(payload);
        await new Promise((r) => setTimeout(r, 1));
      }
      port.postMessage({ done: true });
      port.close();
      return;
    }
    case "echo-server": {
      const socket = createSocket("udp4");
      socket.on("message", (d, from) => socket.send(d, from.port, from.address));
      await new Promise<void>((r) => socket.bind(0, "127.0.0.1", r));
      port.on("message", () => {
        socket.close();
        port.close();
      });
      port.postMessage({ port: socket.address().port });
      return;
    }
    case "echo-client": {
      const socket = createSocket("udp4");
      await new Promise<void>((r) => socket.bind(0, "127.0.0.1", r));
      const rtt_us: number[] = [];
      const datagram = Buffer.alloc(64, 0x62);
      for (let i = 0; i < job.count; i++) {
        const start = performance.now();
        await new Promise<void>((resolve) => {
          socket.once("message", () => resolve());
          socket.send(datagram, job.port, "127.0.0.1");
        });
        rtt_us.push((performance.now() - start) * 1000);
      }
      socket.close();
      rtt_us.sort((a, b) => a - b);
      const at = (q: number) =>
        rtt_us[Math.min(rtt_us.length - 1, Math.floor(q * rtt_us.length))] ?? 0;
      port.postMessage({ p50_us: at(0.5), p99_us: at(0.99) });
      port.close();
      return;
    }
  }
}

if (!isMainThread && (workerData as { bench?: string } | null)?.bench === "lsp") {
  await worker((workerData as { job: Job }).job);
}

// ---- main side ---------------------------------------------------------------------------------

const SELF = fileURLToPath(import.meta.url);

function spawn(job: Job): { worker: Worker; next(): Promise<Record<string, number>> } {
  const w = new Worker(SELF, { workerData: { bench: "lsp", job } });
  const inbox: Array<Record<string, number>> = [];
  const waiting: Array<(m: Record<string, number>) => void> = [];
  w.on("message", (m: Record<string, number>) => {
    const wake = waiting.shift();
    if (wake) wake(m);
    else inbox.push(m);
  });
  w.on("error", (err) => {
    throw err;
  });
  return {
    worker: w,
    next: () => {
      const m = inbox.shift();
      return m ? Promise.resolve(m) : new Promise((resolve) => waiting.push(resolve));
    },
  };
}

function proxy(loss: number): UdpProxy {
  const links = new LinkTable({ mean_ms: 0, dist: "constant" });
  const p = UdpProxy.create({ clock: new RunClock(), random: new Random(1), links });
  if (loss > 0) {
    links.set("c0", "server", { loss });
    links.set("server", "c0", { loss });
  }
  return p;
}

interface Goodput {
  msgs_per_s: number;
  mb_per_s: number;
}

async function goodput(window: number, loss: number | "direct"): Promise<Goodput> {
  const server = spawn({ role: "lsp-server", params: params(window) });
  const { port: serverPort } = await server.next();
  let target = serverPort as number;
  let p: UdpProxy | undefined;
  if (loss !== "direct") {
    p = proxy(loss);
    p.setUpstream(target);
    target = await p.addFrontend("c0");
  }
  const client = spawn({
    role: "lsp-client",
    port: target,
    params: params(window),
    duration_ms: CASE_MS,
  });
  await client.next();
  await new Promise((r) => setTimeout(r, 50));
  server.worker.postMessage("stop");
  const r = await server.next();
  p?.close();
  await Promise.all([server.worker.terminate(), client.worker.terminate()]);
  const seconds = ((r.last_ms ?? 0) - (r.first_ms ?? 0)) / 1000;
  if (!(seconds > 0) || !r.count)
    throw new Error(`no messages delivered (window ${window}, ${loss})`);
  return { msgs_per_s: r.count / seconds, mb_per_s: (r.bytes ?? 0) / seconds / 1e6 };
}

async function echoRtt(viaProxy: boolean): Promise<{ p50_us: number; p99_us: number }> {
  const server = spawn({ role: "echo-server" });
  const { port } = await server.next();
  let target = port as number;
  let p: UdpProxy | undefined;
  if (viaProxy) {
    p = proxy(0);
    p.setUpstream(target);
    target = await p.addFrontend("c0");
  }
  const client = spawn({ role: "echo-client", port: target, count: ECHO_ROUND_TRIPS });
  const r = await client.next();
  server.worker.postMessage("stop");
  p?.close();
  await Promise.all([server.worker.terminate(), client.worker.terminate()]);
  return { p50_us: r.p50_us ?? 0, p99_us: r.p99_us ?? 0 };
}

const fmt = (n: number, digits = 0) =>
  n.toLocaleString("en-US", { maximumFractionDigits: digits, minimumFractionDigits: digits });

export async function benchLsp(): Promise<string> {
  const lines = [
    `One LSP connection, client → server, ${PAYLOAD_BYTES}-byte payloads, δ = ${EPOCH_MS} ms, MaxBackOffInterval 0, M = ω; ${CASE_MS / 1000} s per case. Goodput is what the server's Read returned.`,
    "",
    "| loss | window ω | msgs/s | MB/s |",
    "|---:|---:|---:|---:|",
  ];
  const results = new Map<string, Goodput>();
  for (const loss of LOSSES) {
    for (const window of WINDOWS) {
      const g = await goodput(window, loss);
      results.set(`${loss}/${window}`, g);
      lines.push(`| ${loss * 100}% | ${window} | ${fmt(g.msgs_per_s)} | ${fmt(g.mb_per_s, 2)} |`);
    }
  }
  const direct = await goodput(64, "direct");
  const proxied = results.get("0/64") as Goodput;
  const rttDirect = await echoRtt(false);
  const rttProxy = await echoRtt(true);
  lines.push(
    "",
    "Proxy overhead against direct UDP:",
    "",
    "| measure | direct | through the proxy |",
    "|---|---:|---:|",
    `| LSP goodput, ω = 64, 0% loss | ${fmt(direct.msgs_per_s)} msgs/s | ${fmt(proxied.msgs_per_s)} msgs/s (${fmt((100 * proxied.msgs_per_s) / direct.msgs_per_s)}%) |`,
    `| bare 64-byte datagram echo RTT, p50 | ${fmt(rttDirect.p50_us)} µs | ${fmt(rttProxy.p50_us)} µs (+${fmt(rttProxy.p50_us - rttDirect.p50_us)} µs) |`,
    `| bare 64-byte datagram echo RTT, p99 | ${fmt(rttDirect.p99_us)} µs | ${fmt(rttProxy.p99_us)} µs |`,
  );
  return lines.join("\n");
}

// `node dist/bench/lsp.js` runs it alone.
if (isMainThread && process.argv[1] === SELF) console.log(await benchLsp());
