// The control channel of our LSP programs (systems/lsp/README.md "The control channel"): JSON-line
// commands on stdin, one reply per command carrying `in_reply_to`, events on stdout, logs on
// stderr. Commands run concurrently; a blocking call is answered when it returns.
import { createInterface } from "node:readline";

export interface Command {
  id: unknown;
  op: string;
  [field: string]: unknown;
}

export type Reply = Record<string, unknown>;

/** Longest command line accepted; a 1,000-byte payload in base64 is far below it. */
const MAX_COMMAND_CHARS = 64 * 1024;

export function emit(line: Record<string, unknown>): void {
  process.stdout.write(`${JSON.stringify(line)}\n`);
}

export function log(text: string): void {
  process.stderr.write(`${new Date().toISOString()} ${text}\n`);
}

/** Exits once stdout is flushed, so the last reply is not lost. */
export function exitAfterFlush(code: number): void {
  process.stdout.write("", () => process.exit(code));
}

/**
 * Reads commands until stdin ends, then exits: the harness that started us is gone, and a
 * program must never outlive it. `handle` answers one command; its reply gets `in_reply_to`.
 */
export function serveCommands(handle: (command: Command) => Promise<Reply>): void {
  const lines = createInterface({ input: process.stdin, crlfDelay: Number.POSITIVE_INFINITY });
  lines.on("line", (line) => {
    if (line.trim() === "") return;
    let command: Command;
    try {
      if (line.length > MAX_COMMAND_CHARS) throw new Error(`longer than ${MAX_COMMAND_CHARS}`);
      const parsed = JSON.parse(line) as unknown;
      if (
        typeof parsed !== "object" ||
        parsed === null ||
        typeof (parsed as Command).op !== "string"
      )
        throw new Error("expected an object with an op");
      command = parsed as Command;
    } catch (err) {
      log(`bad command line (${(err as Error).message}): ${line.slice(0, 200)}`);
      return;
    }
    handle(command).then(
      (reply) => emit({ in_reply_to: command.id, ...reply }),
      (err: Error) => emit({ in_reply_to: command.id, ok: false, error: err.message }),
    );
  });
  lines.on("close", () => exitAfterFlush(0));
}

/** A command's base64 `data` field as bytes; throws when it is missing or not base64. */
export function dataField(command: Command): Uint8Array {
  const data = command.data;
  if (typeof data !== "string" || !/^[A-Za-z0-9+/]*={0,2}$/.test(data)) {
    throw new Error(`"data" must be a base64 string`);
  }
  return Buffer.from(data, "base64");
}

export function base64(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length).toString("base64");
}
