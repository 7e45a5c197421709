// What the client and the miner both do first: read the server's `host:port` and open the LSP
// connection to it (a random initial sequence number, as the starter code does; logs to stderr
// with -v).

import type { LspParams } from "../../protocols/lsp/params.js";
import { LspClient } from "../lsp/client.js";

/** A stderr log line with its wall-clock time. */
export const log = (text: string) => process.stderr.write(`${new Date().toISOString()} ${text}\n`);

/** `host:port`, split at the last colon; undefined when either part is unusable. */
export function parseHostPort(text: string): { host: string; port: number } | undefined {
  const colon = text.lastIndexOf(":");
  const port = Number(text.slice(colon + 1));
  return colon > 0 && Number.isSafeInteger(port) ? { host: text.slice(0, colon), port } : undefined;
}

export function connectToServer(
  server: { host: string; port: number },
  params: LspParams,
  verbose: boolean,
): Promise<LspClient> {
  const isn = Math.floor(Math.random() * 256);
  return LspClient.connect(server.host, server.port, isn, params, verbose ? { log } : {});
}
