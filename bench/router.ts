// Router benchmark (issue 2): messages per second through the router between two node
// processes that bounce messages, and the round-trip time it adds, beside the same two
// processes joined by a bare pipe relay (no parsing, no routing, no journal).
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { execa } from "execa";
import { ClientFactory } from "../harness/client.js";
import { RunClock } from "../harness/clock.js";
import { Cluster } from "../harness/cluster.js";
import { LineSplitter } from "../harness/line-splitter.js";
import { LinkTable } from "../harness/links.js";
import { Network } from "../harness/network.js";
import { distFile } from "../harness/paths.js";
import { Random } from "../harness/random.js";

const ROUND_TRIPS = 100_000;

interface Measured {
  msgs_per_s: number;
  p50_us: number;
  p99_us: number;
}

function summarise(elapsed_ms: number, rtt_us: number[], round_trips: number): Measured {
  const sorted = [...rtt_us].sort((a, b) => a - b);
  const at = (q: number) =>
    sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? Number.NaN;
  return { msgs_per_s: (2 * round_trips) / (elapsed_ms / 1000), p50_us: at(0.5), p99_us: at(0.99) };
}

const command = { file: process.execPath, args: [distFile("bench/bounce-node.js")] };

async function throughRouter(window: number, round_trips: number): Promise<Measured> {
  const dir = mkdtempSync(join(tmpdir(), "faultline-bench-"));
  const clock = new RunClock();
  const network = new Network(
    join(dir, "messages.jsonl"),
    new LinkTable({ mean_ms: 0, dist: "constant" }),
    new Random(1),
    clock,
  );
  const clients = new ClientFactory(network);
  const cluster = new Cluster({ ids: ["n0", "n1"], command, runDir: dir }, network, clients, clock);
  try {
    await cluster.start();
    const client = clients.open();
    const reply = await client.call(
      "n0",
      { type: "bench", peer: "n1", count: round_trips, window },
      120_000,
    );
    if (reply?.type !== "bench_ok")
      throw new Error(`bench node did not finish: ${JSON.stringify(reply)}`);
    return summarise(reply.elapsed_ms as number, reply.rtt_us as number[], round_trips);
  } finally {
    await cluster.stop();
    network.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

async function throughPipe(window: number, round_trips: number): Promise<Measured> {
  const spawn = () =>
    execa(command.file, command.args, {
      buffer: false,
      reject: false,
      stdin: "pipe",
      stdout: "pipe",
      stderr: "pipe",
    });
  const [a, b] = [spawn(), spawn()];
  try {
    const firstLine = (child: typeof a) =>
      new Promise<string>((resolve) => {
        const splitter = new LineSplitter(1 << 20, resolve, () => {});
        child.stdout?.once("data", (chunk: Buffer) => splitter.push(chunk));
      });
    const ids = ["n0", "n1"];
    for (const [i, child] of [a, b].entries()) {
      const ready = firstLine(child);
      child.stdin?.write(
        `${JSON.stringify({ src: "c0", dest: ids[i], body: { type: "init", msg_id: 1, node_id: ids[i], node_ids: ids } })}\n`,
      );
      await ready;
    }
    a.stdout?.pipe(b.stdin as NodeJS.WritableStream);
    b.stdout?.pipe(a.stdin as NodeJS.WritableStream);
    const result = new Promise<{ elapsed_ms: number; rtt_us: number[] }>((resolve) => {
      const splitter = new LineSplitter(
        64 << 20,
        (line) => {
          if (line.startsWith("BENCH ")) resolve(JSON.parse(line.slice(6)));
        },
        () => {},
      );
      a.stderr?.on("data", (chunk: Buffer) => splitter.push(chunk));
    });
    a.stdin?.write(
      `${JSON.stringify({ src: "c1", dest: "n0", body: { type: "bench", msg_id: 1, peer: "n1", count: round_trips, window } })}\n`,
    );
    const { elapsed_ms, rtt_us } = await result;
    return summarise(elapsed_ms, rtt_us, round_trips);
  } finally {
    a.kill("SIGKILL");
    b.kill("SIGKILL");
    await Promise.all([a, b]);
  }
}

export async function benchRouter(): Promise<string> {
  const rows = [
    "| path | window | msgs/s | RTT p50 (µs) | RTT p99 (µs) |",
    "|---|---:|---:|---:|---:|",
  ];
  for (const window of [1, 64]) {
    const round_trips = window === 1 ? ROUND_TRIPS / 5 : ROUND_TRIPS;
    for (const [name, run] of [
      ["faultline router", throughRouter],
      ["bare pipe relay", throughPipe],
    ] as const) {
      const m = await run(window, round_trips);
      rows.push(
        `| ${name} | ${window} | ${Math.round(m.msgs_per_s).toLocaleString("en")} | ${m.p50_us.toFixed(0)} | ${m.p99_us.toFixed(0)} |`,
      );
    }
  }
  return rows.join("\n");
}
