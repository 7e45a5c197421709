// A Maelstrom node for the router benchmark. Told `bench {peer, count, window}`, it keeps
// `window` pings in flight to `peer` (which answers each with a pong) until `count` round
// trips are done, then reports throughput and round-trip times on stderr and in `bench_ok`.
import { createInterface } from "node:readline";

interface Message {
  src: string;
  dest: string;
  body: { type: string; msg_id?: number; in_reply_to?: number; [k: string]: unknown };
}

let me = "";
const out: string[] = [];
let scheduled = false;
function send(dest: string, body: Message["body"]): void {
  out.push(JSON.stringify({ src: me, dest, body }));
  if (!scheduled) {
    scheduled = true;
    // Batch writes per tick: one write syscall for many messages.
    setImmediate(() => {
      scheduled = false;
      process.stdout.write(`${out.join("\n")}\n`);
      out.length = 0;
    });
  }
}

let run:
  | { client: string; request: number; peer: string; left: number; started: bigint }
  | undefined;
const sentAt = new Map<number, bigint>();
const rtt_us: number[] = [];
let nextId = 1;

function ping(): void {
  if (!run || run.left <= 0) return;
  run.left--;
  const id = nextId++;
  sentAt.set(id, process.hrtime.bigint());
  send(run.peer, { type: "ping", msg_id: id });
}

createInterface({ input: process.stdin }).on("line", (line) => {
  const msg = JSON.parse(line) as Message;
  const body = msg.body;
  switch (body.type) {
    case "init":
      me = body.node_id as string;
      send(msg.src, { type: "init_ok", in_reply_to: body.msg_id as number });
      break;
    case "bench": {
      run = {
        client: msg.src,
        request: body.msg_id as number,
        peer: body.peer as string,
        left: body.count as number,
        started: process.hrtime.bigint(),
      };
      for (let i = 0; i < (body.window as number); i++) ping();
      break;
    }
    case "ping":
      send(msg.src, { type: "pong", in_reply_to: body.msg_id as number });
      break;
    case "pong": {
      const start = sentAt.get(body.in_reply_to as number);
      if (start === undefined || !run) break;
      sentAt.delete(body.in_reply_to as number);
      rtt_us.push(Number(process.hrtime.bigint() - start) / 1000);
      if (run.left > 0) ping();
      else if (sentAt.size === 0) {
        const elapsed_ms = Number(process.hrtime.bigint() - run.started) / 1e6;
        const result = { type: "bench_ok", in_reply_to: run.request, elapsed_ms, rtt_us };
        process.stderr.write(`BENCH ${JSON.stringify({ elapsed_ms, rtt_us })}\n`);
        send(run.client, result);
        run = undefined;
      }
      break;
    }
  }
});
