// Loopback ports: one free right now (the program binds it a moment later), and waiting until
// a program listens on its port.
import { createConnection, createServer } from "node:net";

const HOST = "127.0.0.1";

/** A TCP port free right now on 127.0.0.1. */
export async function freeTcpPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, HOST, resolve);
  });
  const address = server.address();
  const port = typeof address === "object" && address ? address.port : 0;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (port === 0) throw new Error("no free TCP port on 127.0.0.1");
  return port;
}

/** One connection attempt: true when something accepts on the port. */
function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ host: HOST, port });
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.once("connect", () => done(true));
    socket.once("error", () => done(false));
    socket.setTimeout(1_000, () => done(false));
  });
}

/**
 * Polls until the port accepts a connection; false when `timeout_ms` passes, `alive()` turns
 * false (the program exited) or `signal` fires.
 */
export async function waitListening(
  port: number,
  timeout_ms: number,
  alive: () => boolean,
  signal: AbortSignal,
): Promise<boolean> {
  const until = Date.now() + timeout_ms;
  while (Date.now() < until && alive() && !signal.aborted) {
    if (await accepts(port)) return true;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return false;
}
