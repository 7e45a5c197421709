// The LSP programs' process contract (systems/lsp/README.md "The control channel"), driven as
// faultline drives them: the listening and connected events, commands with replies, --echo, a lost
// connection reported to a blocked Read, close, and the exit within 1 s of answering close.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { RunClock } from "../../harness/clock.js";
import { distFile } from "../../harness/paths.js";
import { type Json, Program } from "../../harness/program.js";
import { paramFlags } from "../../protocols/lsp/params.js";

const FLAGS = paramFlags({ epochMillis: 50, epochLimit: 5, windowSize: 4, maxUnackedMessages: 4 });
const b64 = (s: string) => Buffer.from(s).toString("base64");
const text = (s: unknown) => Buffer.from(String(s), "base64").toString();

const programs: Program[] = [];
const dirs: string[] = [];
afterEach(async () => {
  for (const p of programs.splice(0)) {
    if (p.running) await p.kill();
    await p.close();
  }
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

async function start(id: string, file: string, args: string[], onEvent?: (e: Json) => void) {
  const runDir = mkdtempSync(join(tmpdir(), "faultline-lsp-programs-"));
  dirs.push(runDir);
  const program = new Program({
    id,
    command: { file: process.execPath, args: [distFile(file), ...args] },
    runDir,
    clock: new RunClock(),
    mode: "control",
    ...(onEvent && { onEvent }),
  });
  programs.push(program);
  await program.start();
  return program;
}

async function server(extra: string[] = [], onEvent?: (e: Json) => void) {
  const events: Json[] = [];
  const p = await start(
    "server",
    "systems/lsp/server-main.js",
    ["--port", "0", ...FLAGS, ...extra],
    (e) => {
      events.push(e);
      onEvent?.(e);
    },
  );
  const listening = await p.waitEvent((e) => e.event === "listening", 10_000);
  expect(listening?.port).toBeGreaterThan(0);
  return { p, port: listening?.port as number, events };
}

async function client(port: number, isn = 7) {
  const p = await start(`client-${isn}`, "systems/lsp/client-main.js", [
    "--host",
    "127.0.0.1",
    "--port",
    String(port),
    "--isn",
    String(isn),
    ...FLAGS,
  ]);
  const connected = await p.waitEvent(
    (e) => e.event === "connected" || e.event === "connect_failed",
    10_000,
  );
  return { p, connected };
}

describe("lsp-server and lsp-client programs", () => {
  it("carry writes both ways through the control channel, and exit within 1 s of close", async () => {
    const s = await server();
    const c = await client(s.port);
    expect(c.connected).toMatchObject({ event: "connected" });
    const conn = c.connected?.conn as number;
    expect(await c.p.call({ op: "write", data: b64("hello") })).toMatchObject({ ok: true });
    const read = await s.p.call({ op: "read" }, 5000);
    expect(read).toMatchObject({ ok: true, conn });
    expect(text(read?.data)).toBe("hello");
    expect(await s.p.call({ op: "write", conn, data: b64("world") })).toMatchObject({ ok: true });
    const back = await c.p.call({ op: "read" }, 5000);
    expect(text(back?.data)).toBe("world");
    expect(await s.p.call({ op: "write", conn: 999, data: b64("x") })).toMatchObject({ ok: false });
    expect(await s.p.call({ op: "frobnicate" })).toMatchObject({ ok: false });

    expect(await c.p.call({ op: "close" }, 5000)).toMatchObject({ ok: true });
    const closedAt = Date.now();
    const exit = await c.p.waitExit(2000);
    expect(exit?.code).toBe(0);
    expect(Date.now() - closedAt).toBeLessThan(1000);
    expect(c.p.problem_count).toBe(0);
    // The server reports the client gone (after K epochs of silence) to a blocked Read.
    const lost = await s.p.call({ op: "read" }, 5000);
    expect(lost).toMatchObject({ ok: false, conn });
    expect(await s.p.call({ op: "close" }, 5000)).toMatchObject({ ok: true });
    expect((await s.p.waitExit(2000))?.code).toBe(0);
  });

  it("--echo writes every message back and reports it as an event", async () => {
    const s = await server(["--echo"]);
    const c = await client(s.port, 30);
    for (const m of ["one", "two", "three"]) await c.p.call({ op: "write", data: b64(m) });
    const got: string[] = [];
    for (let i = 0; i < 3; i++) got.push(text((await c.p.call({ op: "read" }, 5000))?.data));
    expect(got).toEqual(["one", "two", "three"]);
    expect(s.events.filter((e) => e.event === "read").map((e) => text(e.data))).toEqual(got);
  });

  it("a client with no server reports connect_failed and exits 1", async () => {
    const c = await client(9, 1); // port 9 (discard): nothing answers LSP there
    expect(c.connected).toMatchObject({ event: "connect_failed" });
    expect((await c.p.waitExit(3000))?.code).toBe(1);
  });

  it("a client's blocked Read fails when the server dies", async () => {
    const s = await server();
    const c = await client(s.port, 50);
    const read = c.p.call({ op: "read" }, 10_000);
    await s.p.kill();
    expect(await read).toMatchObject({ ok: false, error: "connection lost" });
    expect(await c.p.call({ op: "write", data: b64("x") })).toMatchObject({ ok: false });
  });
});
