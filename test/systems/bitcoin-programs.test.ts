// The bitcoin programs as separate processes on loopback (systems/bitcoin/README.md "Programs"):
// the client's one-line output, chunked work across miners, and what a dead server means to clients
// (Disconnected) and miners (exit).
import { createSocket } from "node:dgram";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { oracleMin } from "../../checkers/mining.js";
import { RunClock } from "../../harness/clock.js";
import { distFile } from "../../harness/paths.js";
import { Program } from "../../harness/program.js";
import { paramFlags } from "../../protocols/lsp/params.js";

const FLAGS = paramFlags({ epochMillis: 100, epochLimit: 5 });
const programs: Program[] = [];
const dirs: string[] = [];
afterEach(async () => {
  for (const p of programs.splice(0)) {
    if (p.running) await p.kill();
    await p.close();
  }
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

async function start(id: string, file: string, args: string[]): Promise<Program> {
  const runDir = mkdtempSync(join(tmpdir(), "faultline-bitcoin-"));
  dirs.push(runDir);
  const p = new Program({
    id,
    command: { file: process.execPath, args: [distFile(`systems/bitcoin/${file}`), ...args] },
    runDir,
    clock: new RunClock(),
    mode: "text",
  });
  programs.push(p);
  await p.start();
  return p;
}

async function freePort(): Promise<number> {
  const s = createSocket("udp4");
  await new Promise<void>((r) => s.bind(0, "127.0.0.1", r));
  const port = s.address().port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

/** Polls until `done` (the server logs its progress on stderr); fails after 10 s. */
async function until(done: () => boolean): Promise<void> {
  for (let i = 0; !done(); i++) {
    if (i > 200) throw new Error("timed out");
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function cluster(miners: number, serverArgs: string[] = []) {
  const port = await freePort();
  const server = await start("server", "server.js", [String(port), ...serverArgs, ...FLAGS]);
  await until(() => server.stderrTail.some((l) => l.includes("bitcoin server on")));
  const ms = await Promise.all(
    Array.from({ length: miners }, (_, i) =>
      start(`m${i}`, "miner.js", [`127.0.0.1:${port}`, ...FLAGS]),
    ),
  );
  await until(() => server.stderrTail.some((l) => l.includes(`(${miners} miners)`)));
  return { port, server, miners: ms };
}

describe("bitcoin programs", () => {
  it('client "msg" 2 prints exactly "Result 4754799531757243342 1"', async () => {
    const { port } = await cluster(1);
    const client = await start("c0", "client.js", [`127.0.0.1:${port}`, "msg", "2", ...FLAGS]);
    const exit = await client.waitExit(10_000);
    expect(exit?.code).toBe(0);
    expect(client.lines).toEqual(["Result 4754799531757243342 1"]);
  });

  it("splits a job across miners and answers the true minimum", async () => {
    const { port, server } = await cluster(2, ["--chunk-size", "500", "-v"]);
    const client = await start("c0", "client.js", [
      `127.0.0.1:${port}`,
      "chunky",
      "4321",
      ...FLAGS,
    ]);
    await client.waitExit(15_000);
    const truth = oracleMin("chunky", 4321);
    expect(client.lines).toEqual([`Result ${truth.hash} ${truth.nonce}`]);
    const assigned = server.stderrTail.join("\n");
    expect(assigned).toMatch(/-> miner/);
  });

  it("when the server dies, a waiting client prints Disconnected and every miner exits", async () => {
    const { port, server, miners } = await cluster(2, ["--chunk-size", "1000"]);
    const client = await start("c0", "client.js", [
      `127.0.0.1:${port}`,
      "long",
      "5000000",
      ...FLAGS,
    ]);
    // Kill the server once the job is there (the server logs each job on stderr).
    await until(() => server.stderrTail.some((l) => l.includes("job 1 from")));
    await server.kill();
    const exit = await client.waitExit(5000);
    expect(exit?.code).toBe(0);
    expect(client.lines).toEqual(["Disconnected"]);
    for (const m of miners) expect((await m.waitExit(5000))?.code).toBe(0);
  });
});
