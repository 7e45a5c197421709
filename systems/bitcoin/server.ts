#!/usr/bin/env node
import {
  BitcoinType,
  decodeBitcoin,
  encodeBitcoin,
  requestMessage,
  resultMessage,
} from "../../protocols/bitcoin/message.js";
import { parseArgv } from "../../protocols/lsp/params.js";
// The bitcoin server (README.md "Programs", "The scheduler"): an LSP server that splits each client's
// Request into chunks, hands them to miners (scheduler.ts), and answers the client with the
// minimum over the miners' Results.
//   node dist/systems/bitcoin/server.js <port> [--chunk-size N] [--epoch-millis D] [--epoch-limit K]
//        [--window-size W] [--max-backoff B] [--max-unacked M] [--bug NAME] [-v]
// Logs go to stderr; stdout stays empty.
import { LspServer } from "../lsp/server.js";
import { DEFAULT_CHUNK_SIZE, parseBitcoinBug, Scheduler } from "./scheduler.js";

const { params, flags, positionals } = parseArgv(process.argv.slice(2), ["v"]);
const port = Number(positionals[0]);
if (!Number.isSafeInteger(port) || port < 0 || port > 65535) {
  process.stderr.write("usage: server <port> [--chunk-size N] [LSP flags] [--bug NAME]\n");
  process.exit(2);
}
const chunkSize = flags.has("chunk-size")
  ? BigInt(flags.get("chunk-size") as string)
  : DEFAULT_CHUNK_SIZE;
const bug = parseBitcoinBug(flags.get("bug") as string | undefined);
const verbose = flags.has("v");
const log = (text: string) => process.stderr.write(`${new Date().toISOString()} ${text}\n`);

const started = process.hrtime.bigint();
const now_s = () => Number(process.hrtime.bigint() - started) / 1e9;
const server = await LspServer.listen(port, params, verbose ? { log } : {});
const scheduler = new Scheduler(chunkSize, bug);
const encoder = new TextEncoder();
log(`bitcoin server on ${server.port}, chunk ${chunkSize}${bug ? `, bug ${bug}` : ""}`);

function send(conn: number, text: string): boolean {
  try {
    server.write(conn, encoder.encode(text));
    return true;
  } catch (err) {
    log(`write to ${conn} failed: ${(err as Error).message}`);
    return false;
  }
}

function dispatch(): void {
  // A write can only fail for a miner that was just lost; its chunk goes back and we try again.
  for (let round = 0; round < 1000; round++) {
    const assignments = scheduler.assign(now_s());
    if (assignments.length === 0) return;
    let failed = false;
    for (const { miner, chunk } of assignments) {
      if (!send(miner, encodeBitcoin(requestMessage(chunk.job.data, chunk.lower, chunk.upper)))) {
        scheduler.removeMiner(miner);
        failed = true;
      } else if (verbose) {
        log(`job ${chunk.job.id} [${chunk.lower}, ${chunk.upper}] -> miner ${miner}`);
      }
    }
    if (!failed) return;
  }
}

for (;;) {
  const item = await server.read();
  if (item.payload === null) {
    if (scheduler.isMiner(item.connId)) {
      const chunk = scheduler.removeMiner(item.connId);
      log(
        `miner ${item.connId} lost${chunk ? ` holding job ${chunk.job.id} [${chunk.lower}, ${chunk.upper}]` : ""}`,
      );
    } else {
      const dropped = scheduler.dropClient(item.connId);
      log(`client ${item.connId} lost; dropped ${dropped} job${dropped === 1 ? "" : "s"}`);
    }
    dispatch();
    continue;
  }
  const message = decodeBitcoin(Buffer.from(item.payload).toString("utf8"));
  if (!message) {
    log(`connection ${item.connId} sent a message that is not a bitcoin message; ignored`);
    continue;
  }
  switch (message.type) {
    case BitcoinType.Join:
      scheduler.addMiner(item.connId);
      log(`miner ${item.connId} joined (${scheduler.minerCount} miners)`);
      break;
    case BitcoinType.Request: {
      if (message.upper < message.lower) {
        log(`client ${item.connId} asked for an empty range; ignored`);
        break;
      }
      const job = scheduler.addJob(
        item.connId,
        message.data,
        message.lower,
        message.upper,
        now_s(),
      );
      log(
        `job ${job.id} from client ${item.connId}: ${JSON.stringify(message.data).slice(0, 60)} [${message.lower}, ${message.upper}]`,
      );
      break;
    }
    case BitcoinType.Result: {
      const finished = scheduler.result(item.connId, { hash: message.hash, nonce: message.nonce });
      if (finished) {
        log(`job ${finished.job.id} done: ${finished.result.hash} ${finished.result.nonce}`);
        send(
          finished.client,
          encodeBitcoin(resultMessage(finished.result.hash, finished.result.nonce)),
        );
      }
      break;
    }
  }
  dispatch();
}
