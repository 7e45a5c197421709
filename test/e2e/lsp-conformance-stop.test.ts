// A server that a conformance check breaks is named as the cause (issue 24, item 7). A student
// server whose event loop ended on a duplicate Connect got `duplicate-connect: passed` and
// deviations from 11 other checks, because the checks ran at once. Now, when the server stops
// answering during the concurrent checks, they run again one at a time on a fresh server with a
// probe after each: duplicate-connect fails as the cause and the checks after it are "not run".
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { FIXTURES, readResults, runCli, tempStore } from "../helpers.js";

const CONFORMANCE = [
  "-w",
  "lsp",
  "--conformance",
  "--epoch-millis",
  "100",
  "--epoch-limit",
  "5",
  "--window-size",
  "4",
  "--max-unacked",
  "3",
  "--max-backoff",
  "2",
  "--seed",
  "3",
  "-q",
];

const AFTER = [
  "data",
  "server-data",
  "checksum",
  "size",
  "duplicate-data",
  "in-order",
  "retransmission",
  "window",
  "cack",
  "heartbeat",
  "loss-detection",
];

describe("an LSP server that a duplicate Connect breaks", () => {
  it.for([
    [
      "stops answering, its process alive",
      "stop",
      /no Ack within K = 5 epochs; the process is still running/,
    ],
    [
      "exits",
      "exit",
      /the server exited \(code 1\); its last stderr lines: .*duplicate Connect from/,
    ],
  ] as const)(
    "%s: duplicate-connect is the cause, the rest not run",
    { timeout: 90_000 },
    async ([, mode, how]) => {
      const store = tempStore();
      const bin = join(FIXTURES, "lsp-server-dup-connect.mjs");
      const r = await runCli(["test", "--bin", bin, ...CONFORMANCE, "--store", store, mode]);
      const results = readResults(store);
      expect(r.exitCode, results.summary).toBe(1);
      const conformance = results.checkers.conformance;
      expect(conformance.valid).toBe(false);
      expect(conformance.deviation_names).toEqual(["stopped-answering"]);
      expect(conformance.deviations[0]).toMatchObject({ check: "duplicate-connect" });
      expect(conformance.deviations[0].observed).toMatch(how);
      expect(conformance.checks).toEqual([
        { name: "handshake", status: "passed" },
        { name: "duplicate-connect", status: "failed" },
        ...AFTER.map((name) => ({
          name,
          status: "not run",
          reason: "the server stopped answering after check duplicate-connect",
        })),
      ]);
      expect(conformance.summary).toMatch(
        /^The server stopped answering after check duplicate-connect \(.*\), so 11 checks did not run \(data, /,
      );
      // A server that exits by itself is a crash as well; one that hangs was ended by us.
      expect(results.checkers.programs.valid).toBe(mode === "stop");
      // The report's table of checks shows "not run" as a status of its own.
      const report = readFileSync(join(store, "latest", "report.html"), "utf8");
      expect(report).toMatch(/<td>loss-detection<\/td><td>not run<\/td>/);
    },
  );
});
