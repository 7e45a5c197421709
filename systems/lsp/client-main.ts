#!/usr/bin/env node
import { parseArgv } from "../../protocols/lsp/params.js";
// lsp-client (README.md "The control channel"): an LSP client driven over the JSON-line control channel.
//   node dist/systems/lsp/client-main.js --host 127.0.0.1 --port P --isn N [--epoch-limit K]
//        [--epoch-millis D] [--window-size W] [--max-backoff B] [--max-unacked M] [--bug NAME] [-v]
import { LspClient } from "./client.js";
import { parseBug } from "./connection.js";
import { base64, dataField, emit, exitAfterFlush, log, serveCommands } from "./control.js";

const { params, flags } = parseArgv(process.argv.slice(2), ["v"]);
const host = String(flags.get("host") ?? "localhost");
const port = Number(flags.get("port") ?? 9999);
const isn = flags.has("isn") ? Number(flags.get("isn")) : Math.floor(Math.random() * 256);
const bug = parseBug(flags.get("bug") as string | undefined);
if (!Number.isSafeInteger(port) || !Number.isSafeInteger(isn) || isn < 0) {
  log(`bad --port ${flags.get("port")} or --isn ${flags.get("isn")}`);
  process.exit(2);
}

let client: LspClient;
try {
  client = await LspClient.connect(host, port, isn, params, {
    ...(bug && { bug }),
    ...(flags.has("v") && { log }),
  });
} catch (err) {
  emit({ event: "connect_failed", error: (err as Error).message });
  exitAfterFlush(1);
  await new Promise(() => {});
  throw err; // unreachable; tells the compiler `client` is assigned below
}
log(`connected to ${host}:${port} as ${client.connId} from port ${client.localPort}`);
emit({ event: "connected", conn: client.connId });
let closed = false;

serveCommands(async (command) => {
  if (closed) return { ok: false, error: "client is closed" };
  switch (command.op) {
    case "write":
      client.write(dataField(command));
      return { ok: true };
    case "read":
      return { ok: true, data: base64(await client.read()) };
    case "close": {
      closed = true;
      let reply: Record<string, unknown> = { ok: true };
      try {
        await client.close();
      } catch (err) {
        reply = { ok: false, error: (err as Error).message };
      }
      emit({ in_reply_to: command.id, ...reply });
      exitAfterFlush(0);
      return new Promise<never>(() => {});
    }
    default:
      return { ok: false, error: `unknown op "${command.op}"` };
  }
});
