// `faultline report DIR` (re-render a stored run's report.html, junit.xml, summary.md and the
// store index) and `faultline serve [STORE]` (browse every run over HTTP, read-only, loopback
// by default). harness/cli.ts registers both with registerReportCommands(program).
import { existsSync, realpathSync } from "node:fs";
import { isAbsolute, join, relative } from "node:path";
import { type Command, InvalidArgumentError } from "commander";
import { writeRunReports } from "../reports/index.js";
import { RUN_FILES } from "../reports/load-run.js";
import { DEFAULT_HOST, DEFAULT_PORT, isLoopback, serveStore } from "../reports/serve.js";
import { SetupError } from "./exit-codes.js";

function port(text: string): number {
  const n = Number(text);
  if (!Number.isSafeInteger(n) || n < 0 || n > 65_535) {
    throw new InvalidArgumentError("expected a port from 0 to 65535 (0 picks a free one)");
  }
  return n;
}

function seconds(text: string): number {
  const n = Number(text);
  if (text.trim() === "" || !Number.isFinite(n) || n < 0) {
    throw new InvalidArgumentError("expected a time in seconds from the run's start, e.g. 12.5");
  }
  return n;
}

export function registerReportCommands(program: Command): void {
  program
    .command("report")
    .description(
      "re-render a stored run's report.html, junit.xml and summary.md, and the store index",
    )
    .argument("<dir>", "a run directory, e.g. store/latest or store/<test>/<timestamp>")
    .option(
      "--messages-at <seconds>",
      "centre the message diagram at this time of the run (it shows a bounded window)",
      seconds,
    )
    .action(async (dir: string, flags: { messagesAt?: number }) => {
      if (!existsSync(dir)) throw new SetupError(`${dir} does not exist`);
      const real = realpathSync(dir);
      if (
        !existsSync(join(real, RUN_FILES.results)) &&
        !existsSync(join(real, RUN_FILES.history))
      ) {
        throw new SetupError(
          `${dir} is not a run directory (it has neither results.json nor history.jsonl); give store/<test>/<timestamp> or store/latest`,
        );
      }
      await writeRunReports(real, { messages_at_s: flags.messagesAt });
      const report = join(real, RUN_FILES.report);
      const fromCwd = relative(process.cwd(), report);
      const shown = fromCwd.startsWith("..") || isAbsolute(fromCwd) ? report : fromCwd;
      process.stdout.write(`report: ${shown}\n`);
    });

  program
    .command("serve")
    .description("serve the index of all runs and their reports and files, read-only")
    .argument("[store]", "the store directory", "store")
    .option("--port <n>", `TCP port (0 picks a free one)`, port, DEFAULT_PORT)
    .option(
      "--host <address>",
      "address to listen on; anything but loopback exposes your runs",
      DEFAULT_HOST,
    )
    .action(async (store: string, flags: { port: number; host: string }) => {
      let server: Awaited<ReturnType<typeof serveStore>>;
      try {
        server = await serveStore({ store, host: flags.host, port: flags.port });
      } catch (err) {
        const e = err as NodeJS.ErrnoException;
        if (e.code === "EADDRINUSE") {
          throw new SetupError(
            `port ${flags.port} is in use; pick another with --port (0 = any free port)`,
          );
        }
        throw new SetupError(e.message);
      }
      if (!isLoopback(flags.host)) {
        process.stderr.write(
          `faultline: listening on ${flags.host}: anyone who can reach this machine can read these runs\n`,
        );
      }
      process.stdout.write(`faultline: serving ${store} at ${server.url} (Ctrl-C to stop)\n`);
      // Serve until interrupted, then close cleanly so the command exits 0.
      await new Promise<void>((resolve) => {
        const stop = () => {
          process.off("SIGINT", stop);
          process.off("SIGTERM", stop);
          resolve();
        };
        process.on("SIGINT", stop);
        process.on("SIGTERM", stop);
      });
      await server.close();
    });
}
