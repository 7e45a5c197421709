#!/usr/bin/env node
// Runs the compiled report commands on their own (`node cli-entry.mjs serve STORE --port 0`),
// so the tests exercise the real command, its output and its signal handling in a subprocess.
import { Command } from "commander";
import { registerReportCommands } from "../../dist/harness/report-command.js";

const program = new Command("faultline").exitOverride();
registerReportCommands(program);
for (const sub of program.commands) sub.exitOverride();
try {
  await program.parseAsync(process.argv);
} catch (err) {
  process.stderr.write(`faultline: ${err.message}\n`);
  process.exitCode = 3;
}
