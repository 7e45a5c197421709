#!/usr/bin/env node
// The bitcoin miner (README.md "Programs"): joins the server, then for every Request hashes
// each nonce in [Lower, Upper] and answers Result(minHash, nonce). It exits when it loses the
// server. Hashing runs in slices with a yield between them, so the LSP epoch timer keeps
// sending heartbeats and acks during a long chunk.
//   node dist/systems/bitcoin/miner.js <host:port> [LSP flags] [-v]
import { setImmediate as yieldToLoop } from "node:timers/promises";
import {
  BitcoinType,
  better,
  decodeBitcoin,
  encodeBitcoin,
  joinMessage,
  type MinHash,
  minHash,
  resultMessage,
} from "../../protocols/bitcoin/message.js";
import { parseArgv } from "../../protocols/lsp/params.js";
import type { LspClient } from "../lsp/client.js";
import { connectToServer, log, parseHostPort } from "./connect.js";

/** Nonces hashed between yields: about 5 ms of work. */
const SLICE_NONCES = 2_000n;

const { params, flags, positionals } = parseArgv(process.argv.slice(2), ["v"]);
const hostport = positionals[0] ?? "";
const server = parseHostPort(hostport);
if (server === undefined) {
  process.stderr.write("usage: miner <host:port> [LSP flags]\n");
  process.exit(2);
}
const encoder = new TextEncoder();

let client: LspClient;
try {
  client = await connectToServer(server, params, flags.has("v"));
} catch (err) {
  log(`failed to connect to server: ${(err as Error).message}`);
  process.exit(1);
}
client.write(encoder.encode(encodeBitcoin(joinMessage())));
log(`joined ${hostport} as connection ${client.connId}`);

for (;;) {
  let payload: Uint8Array;
  try {
    payload = await client.read();
  } catch (err) {
    log(`lost the server (${(err as Error).message}); shutting down`);
    process.exit(0);
  }
  const request = decodeBitcoin(Buffer.from(payload).toString("utf8"));
  if (!request || request.type !== BitcoinType.Request || request.upper < request.lower) {
    log("ignored a message that is not a valid Request");
    continue;
  }
  let best: MinHash | undefined;
  for (let lower = request.lower; lower <= request.upper; lower += SLICE_NONCES) {
    const end = lower + SLICE_NONCES - 1n;
    const found = minHash(request.data, lower, end < request.upper ? end : request.upper);
    best = best ? better(best, found) : found;
    await yieldToLoop();
  }
  const result = best as MinHash;
  try {
    client.write(encoder.encode(encodeBitcoin(resultMessage(result.hash, result.nonce))));
  } catch (err) {
    log(`lost the server (${(err as Error).message}); shutting down`);
    process.exit(0);
  }
}
