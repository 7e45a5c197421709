#!/usr/bin/env node
import { parseArgv } from "../../protocols/lsp/params.js";
// lsp-server (README.md "The control channel"): an LSP server driven over the JSON-line control channel.
//   node dist/systems/lsp/server-main.js --port 0 [--epoch-limit K] [--epoch-millis D]
//        [--window-size W] [--max-backoff B] [--max-unacked M] [--echo] [--bug NAME] [-v]
// With --echo it also runs the staff server runner's loop: every message read is written back
// to its sender and reported as {"event":"read","conn":N,"data":"<base64>"}.
import { parseBug } from "./connection.js";
import {
  base64,
  type Command,
  dataField,
  emit,
  exitAfterFlush,
  log,
  serveCommands,
} from "./control.js";
import { LspServer, type ServerRead } from "./server.js";

const { params, flags } = parseArgv(process.argv.slice(2), ["echo", "v"]);
const port = Number(flags.get("port") ?? 9999);
const verbose = flags.has("v");
const bug = parseBug(flags.get("bug") as string | undefined);
const server = await LspServer.listen(port, params, {
  ...(bug && { bug }),
  ...(verbose && { log }),
});
log(`listening on ${server.port} ${JSON.stringify(params)}${bug ? ` bug ${bug}` : ""}`);
emit({ event: "listening", port: server.port });
let closed = false;

function readReply(item: ServerRead): Record<string, unknown> {
  return item.payload === null
    ? { ok: false, conn: item.connId, error: item.error }
    : { ok: true, conn: item.connId, data: base64(item.payload) };
}

function connField(command: Command): number {
  const conn = command.conn;
  if (!Number.isSafeInteger(conn)) throw new Error(`"conn" must be an integer`);
  return conn as number;
}

if (flags.has("echo")) {
  void (async () => {
    for (;;) {
      let item: ServerRead;
      try {
        item = await server.read();
      } catch {
        return; // closed
      }
      if (item.payload === null) {
        emit({ event: "lost", conn: item.connId, error: item.error });
        continue;
      }
      emit({ event: "read", conn: item.connId, data: base64(item.payload) });
      try {
        server.write(item.connId, item.payload);
      } catch (err) {
        log(`echo to ${item.connId} failed: ${(err as Error).message}`);
      }
    }
  })();
}

serveCommands(async (command) => {
  if (closed) return { ok: false, error: "server is closed" };
  switch (command.op) {
    case "read":
      try {
        return readReply(await server.read());
      } catch (err) {
        return { ok: false, conn: 0, error: (err as Error).message };
      }
    case "write":
      server.write(connField(command), dataField(command));
      return { ok: true };
    case "close_conn":
      server.closeConn(connField(command));
      return { ok: true };
    case "close": {
      closed = true;
      let reply: Record<string, unknown> = { ok: true };
      try {
        await server.close();
      } catch (err) {
        reply = { ok: false, error: (err as Error).message };
      }
      emit({ in_reply_to: command.id, ...reply });
      exitAfterFlush(0);
      return new Promise<never>(() => {}); // the reply is out; we are exiting
    }
    default:
      return { ok: false, error: `unknown op "${command.op}"` };
  }
});
