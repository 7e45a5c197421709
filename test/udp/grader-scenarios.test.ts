// CMU grader scenarios (the CMU P1 grader tests lsp1–lsp6; harness/udp/README.md "The proxy")
// expressed as faultline scenarios: proxy settings over time, a script of LSP calls, and a check on
// what the proxy's sniffer saw — the staff shim's in-process knobs, applied from outside, to the
// reference LSP.
import { afterEach, describe, expect, it } from "vitest";
import { RunClock } from "../../harness/clock.js";
import { LinkTable } from "../../harness/links.js";
import { Random } from "../../harness/random.js";
import { UdpProxy } from "../../harness/udp/proxy.js";
import { cackMessage, MsgType } from "../../protocols/lsp/message.js";
import type { LspParams } from "../../protocols/lsp/params.js";
import { LspClient } from "../../systems/lsp/client.js";
import { LspServer } from "../../systems/lsp/server.js";

const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await Promise.resolve(c()).catch(() => {});
});

/** A server behind the proxy and one client through frontend c0. */
async function setup(params: LspParams) {
  const links = new LinkTable({ mean_ms: 0, dist: "constant" });
  const proxy = UdpProxy.create({ clock: new RunClock(), random: new Random(2), links });
  cleanups.push(() => proxy.close());
  const server = await LspServer.listen(0, params);
  cleanups.push(() => server.close());
  proxy.setUpstream(server.port);
  const port = await proxy.addFrontend("c0");
  const client = await LspClient.connect("127.0.0.1", port, 0, params);
  cleanups.push(() => client.close());
  return { links, proxy, server, client };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const text = (b: Uint8Array | null) => Buffer.from(b ?? []).toString();

describe("grader scenarios through the proxy", () => {
  it("TestExpBackOff: all server writes dropped; client Data over 14 epochs within [4ω, 6ω]", async () => {
    const δ = 40;
    const params: LspParams = {
      epochLimit: 100,
      epochMillis: δ,
      windowSize: 5,
      maxBackOffInterval: 4,
      maxUnackedMessages: 5,
    };
    const { links, proxy, client } = await setup(params);
    links.set("server", "c0", { loss: 1 });
    const sniffer = proxy.sniff((e) => e.direction === "to-server");
    for (let k = 0; k < 10; k++) client.write(Buffer.from(`m${k}`));
    await sleep(14 * δ);
    sniffer.stop();
    const sends = sniffer.total("to-server").data;
    // Each of the ω in-flight messages goes out at epochs 0, 1, 3, 6, 11: 5 times.
    expect(sends).toBeGreaterThanOrEqual(4 * params.windowSize);
    expect(sends).toBeLessThanOrEqual(6 * params.windowSize);
    links.set("server", "c0", { loss: 0 });
  });

  it("TestWindow: with no acks getting through, the server reads exactly min(ω, M); then the rest", async () => {
    const params: LspParams = {
      epochLimit: 50,
      epochMillis: 40,
      windowSize: 5,
      maxBackOffInterval: 0,
      maxUnackedMessages: 50,
    };
    const { links, server, client } = await setup(params);
    links.set("server", "c0", { loss: 1 });
    for (let k = 0; k < 10; k++) client.write(Buffer.from(`w${k}`));
    const got: string[] = [];
    const reading = (async () => {
      for (let k = 0; k < 10; k++) got.push(text((await server.read()).payload));
    })();
    await sleep(5 * params.epochMillis);
    expect(got).toEqual(["w0", "w1", "w2", "w3", "w4"]);
    links.set("server", "c0", { loss: 0 });
    await reading;
    expect(got).toEqual(Array.from({ length: 10 }, (_, k) => `w${k}`));
  });

  it("TestCAckServer: Acks below the last dropped, the last turned into a CAck; no retransmission", async () => {
    const params: LspParams = {
      epochLimit: 50,
      epochMillis: 40,
      windowSize: 10,
      maxBackOffInterval: 0,
      maxUnackedMessages: 10,
    };
    const { proxy, server, client } = await setup(params);
    const writes = 8;
    const last = writes; // ISN 0: data carries 1 … writes
    proxy.middlebox = (m, ctx) => {
      if (ctx.direction !== "from-server" || m.type !== MsgType.Ack || m.seqNum === 0) return m;
      if (m.seqNum < last) return null;
      return m.seqNum === last ? cackMessage(m.connId, last) : m;
    };
    for (let k = 0; k < writes; k++) client.write(Buffer.from(`c${k}`));
    for (let k = 0; k < writes; k++) await server.read();
    await sleep(2 * params.epochMillis);
    proxy.middlebox = undefined;
    const sniffer = proxy.sniff((e) => e.direction === "to-server");
    await sleep(12 * params.epochMillis);
    sniffer.stop();
    expect(sniffer.total("to-server").data).toBe(0);
    expect(client.pendingWrites).toBe(0);
  });

  it("TestVariableLengthMsg / TestCorruptedMsg: long is read cut to Size, short and corrupt never", async () => {
    const params: LspParams = {
      epochLimit: 50,
      epochMillis: 40,
      windowSize: 1,
      maxBackOffInterval: 0,
      maxUnackedMessages: 1,
    };
    const { proxy, server, client } = await setup(params);
    proxy.setExtras("c0", "server", { lengthen: 1 });
    client.write(Buffer.from("1000"));
    expect(text((await server.read()).payload)).toBe("1000");
    // Shortened, then corrupted: neither may be read; once the link is clean the intact
    // retransmission is.
    for (const how of ["shorten", "corrupt"] as const) {
      proxy.setExtras("c0", "server", { lengthen: 0, shorten: 0, corrupt: 0, [how]: 1 });
      client.write(Buffer.from(how === "shorten" ? "2000" : "3000"));
      const next = server.read();
      const early = await Promise.race([next, sleep(3 * params.epochMillis).then(() => "nothing")]);
      expect(early).toBe("nothing");
      proxy.setExtras("c0", "server", { shorten: 0, corrupt: 0 });
      expect(text(((await next) as { payload: Uint8Array }).payload)).toBe(
        how === "shorten" ? "2000" : "3000",
      );
    }
    expect(proxy.totals.peer("c0")["to-server"].mutated).toBeGreaterThanOrEqual(3);
  });
});
