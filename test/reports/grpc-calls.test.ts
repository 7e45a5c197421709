// The message diagram of a gRPC run: real grpc-js calls through a real TcpProxy whose journal is
// the run's messages.jsonl (as on the tcp transport), rendered into report.html and opened in
// chromium. The decoded connection shows calls (method out, status name back) and none of its
// chunks; a connection the observer gives up on is marked and shows bytes; a plain TCP one shows
// its chunks. A method and a status message carrying HTML reach the page as text only.
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { type Browser, chromium } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { RunClock } from "../../harness/clock.js";
import { JsonlWriter } from "../../harness/jsonl-writer.js";
import { LinkTable } from "../../harness/links.js";
import { Logger } from "../../harness/logger.js";
import { Random } from "../../harness/random.js";
import { HTTP2_PREFACE } from "../../harness/tcp/http2-observer.js";
import { TcpProxy } from "../../harness/tcp/proxy.js";
import type { ReportData } from "../../reports/html-report.js";
import { writeRunReports } from "../../reports/index.js";
import { chromiumPath } from "../../scripts/test-deps.js";
import { echoClient, grpc, say, startEchoServer, stopServer } from "../tcp/grpc-echo.js";

const SAY = "/faultline.test.Echo/Say";
const EVIL_METHOD = "/faultline.test.Echo/<script>alert(1)</script>";
const SHOTS = resolve(import.meta.dirname, "..", "..", "test-output", "reports");
/** Long enough for a loaded 2-core machine; a call that needs more has failed. */
const CALL_DEADLINE_MS = 15_000;

let store: string;
let run: string;
let page: string;
let browser: Browser | undefined;

/**
 * Sends `bytes` through the proxy on a connection of its own, waits until `journaled` says the
 * proxy has seen them, and closes it (a server need not answer bytes it cannot read).
 */
async function rawConnection(port: number, bytes: Buffer, journaled: () => boolean): Promise<void> {
  const socket = connect(port, "127.0.0.1");
  socket.on("error", () => {});
  socket.write(bytes);
  try {
    await waitFor(journaled, "the raw connection's bytes in the journal");
  } finally {
    socket.destroy();
  }
}

/** A DATA frame header announcing more bytes than the default SETTINGS_MAX_FRAME_SIZE. */
function oversizedFrame(): Buffer {
  const header = Buffer.alloc(9);
  header.writeUIntBE(20_000, 0, 3);
  header.writeUInt32BE(1, 5);
  return Buffer.concat([HTTP2_PREFACE, Buffer.alloc(9, 0).fill(4, 3, 4), header]);
}

async function waitFor(what: () => boolean, label: string): Promise<void> {
  for (let i = 0; i < 1_500 && !what(); i++) await new Promise((r) => setTimeout(r, 10));
  if (!what()) throw new Error(`timed out waiting for ${label}`);
}

beforeAll(async () => {
  store = mkdtempSync(join(tmpdir(), "faultline-grpc-report-"));
  run = join(store, "grpc-echo", "2026-01-03T000000");
  mkdirSync(run, { recursive: true });
  writeFileSync(join(run, "test.json"), JSON.stringify({ workload: "grpc-echo", seed: 1 }));
  const journal = new JsonlWriter(join(run, "messages.jsonl"), {
    flush_bytes: 0,
    max_bytes: 64 << 20,
  });
  const lines = (event: string) =>
    readFileSync(journal.path, "utf8")
      .split("\n")
      .filter((line) => line.includes(`"event":"${event}"`)).length;
  const proxy = new TcpProxy({
    links: new LinkTable({ mean_ms: 0, dist: "constant" }),
    random: new Random(7),
    clock: new RunClock(),
    journal,
    log: new Logger(true),
  });
  const { server, port: serverPort } = await startEchoServer();
  const port = await proxy.listen("client", "server", serverPort);
  const client = echoClient(port);
  try {
    expect(await say(client, "hello", CALL_DEADLINE_MS)).toEqual({ code: 0, details: "hello" });
    expect((await say(client, "missing", CALL_DEADLINE_MS)).code).toBe(grpc.status.NOT_FOUND);
    // grpc-js cancels a call at its deadline with RST_STREAM CANCEL.
    expect((await say(client, "hang", 1_000)).code).toBe(grpc.status.DEADLINE_EXCEEDED);
    const unimplemented = await new Promise<number>((resolve) => {
      client.makeUnaryRequest(
        EVIL_METHOD,
        (value: Buffer) => value,
        (value: Buffer) => value,
        Buffer.alloc(0),
        { deadline: Date.now() + CALL_DEADLINE_MS },
        (err) => resolve(err?.code ?? 0),
      );
    });
    expect(unimplemented).toBe(grpc.status.UNIMPLEMENTED);
    // A call open when the harness resets the connection ends "aborted" in the journal.
    const starts = lines("h2-call-start");
    const hung = say(client, "hang", CALL_DEADLINE_MS);
    await waitFor(() => lines("h2-call-start") > starts, "the hung call's start");
    expect(proxy.resetConnections("client")).toBe(1);
    expect((await hung).code).toBe(grpc.status.UNAVAILABLE);
    await rawConnection(port, oversizedFrame(), () => lines("h2-undecodable") > 0);
    await rawConnection(port, Buffer.from("hello, not http2\n"), () =>
      readFileSync(journal.path, "utf8").includes('"text":"hello, not http2"'),
    );
  } finally {
    client.close();
    await proxy.close();
    stopServer(server);
    journal.close();
  }
  await writeRunReports(run);
  page = readFileSync(join(run, "report.html"), "utf8");
}, 60_000);

afterAll(async () => {
  await browser?.close();
  rmSync(store, { recursive: true, force: true });
});

function lamport(): NonNullable<ReportData["lamport"]> {
  const m = page.match(/<script type="application\/json" id="run-data">([^<]*)<\/script>/);
  const data = JSON.parse(m?.[1] as string) as ReportData;
  if (!data.lamport) throw new Error("no message diagram");
  return data.lamport;
}

describe("a gRPC run's report", () => {
  it("draws calls and their statuses instead of the decoded connection's chunks", () => {
    const L = lamport();
    expect(L.participants).toEqual(["client", "server"]);
    expect(L.labels.filter((l) => l === SAY).length).toBe(4);
    for (const label of ["OK", "NOT_FOUND", "reset CANCEL", "UNIMPLEMENTED", EVIL_METHOD])
      expect(L.labels).toContain(label);
    expect(L.labels.some((l) => l.startsWith("aborted ("))).toBe(true);
    // Five requests and five answers.
    expect(L.call_arrows).toBe(10);
    const missing = L.titles[L.labels.indexOf("NOT_FOUND")];
    expect(missing).toMatch(
      /^server → client #\d+: \/faultline.test.Echo\/Say \(stream \d+\) ended NOT_FOUND \(5\): no such thing: missing;/,
    );
    // No chunk of the first connection is drawn; the others' are.
    const chunks = L.labels.filter((l) => l.startsWith("data "));
    expect(chunks.filter((l) => l.endsWith(" conn=1"))).toEqual([]);
    expect(chunks.some((l) => l.endsWith(" conn=2"))).toBe(true);
    expect(chunks).toContain('data text="hello, not http2" bytes=17 conn=3');
    expect(L.notes).toEqual([
      [
        0,
        expect.any(Number),
        "undecodable: client sent a frame of 20000 bytes > SETTINGS_MAX_FRAME_SIZE 16384, showing bytes",
      ],
    ]);
    expect(page).toContain("On HTTP/2 (gRPC) connections the tcp proxy decoded");
    // The method came from the wire: in the page only inside the escaped JSON.
    expect(page).not.toContain("<script>alert(1)");
  });

  it("shows the call arrows in chromium, with the target's text as text", async () => {
    browser = await chromium.launch({
      executablePath: chromiumPath(),
      args: ["--headless", "--no-sandbox", "--disable-gpu"],
    });
    const tab = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    const problems: string[] = [];
    tab.on("pageerror", (e) => problems.push(`page error: ${e.message}`));
    tab.on("dialog", (d) => {
      problems.push(`dialog: ${d.message()}`);
      void d.dismiss();
    });
    tab.on("console", (m) => {
      if (m.type() === "error" || m.type() === "warning") problems.push(m.text());
    });
    await tab.goto(pathToFileURL(join(run, "report.html")).href);
    await tab.waitForLoadState("load");
    const drawn = await tab.$$eval("#lamport svg g", (groups) =>
      groups.map((g) => ({
        text: g.querySelector(":scope > text")?.textContent ?? "",
        arrow: g.querySelector("line[marker-end^='url']") !== null,
      })),
    );
    const arrowLabels = drawn.filter((d) => d.arrow).map((d) => d.text);
    for (const label of [SAY, "OK", "NOT_FOUND", "reset CANCEL", "UNIMPLEMENTED", EVIL_METHOD])
      expect(arrowLabels).toContain(label);
    expect(drawn.map((d) => d.text)).toContain(
      "undecodable: client sent a frame of 20000 bytes > SETTINGS_MAX_FRAME_SIZE 16384, showing bytes",
    );
    expect(await tab.locator("#lamport script").count()).toBe(0);
    mkdirSync(SHOTS, { recursive: true });
    await tab.locator("#messages").screenshot({ path: join(SHOTS, "grpc-messages.png") });
    expect(problems).toEqual([]);
    await tab.close();
  });
});
