// The conformance verdict when the server stops answering (issue 24, item 7): the check after
// which it stopped fails as the cause and the checks after it are "not run", never "failed".
import { describe, expect, it } from "vitest";
import { conformanceResult, type Deviation } from "../../checkers/lsp-conformance.js";

const NAMES = ["handshake", "duplicate-connect", "data", "heartbeat"];
const CHECKSUM: Deviation = {
  name: "checksum-verification",
  check: "handshake",
  expected: "dropped",
  observed: "acked",
};

describe("conformanceResult", () => {
  it("passes a server with no deviation, every check passed", () => {
    const result = conformanceResult({ names: NAMES, deviations: [] }, {});
    expect(result.valid).toBe(true);
    expect(result.checks).toEqual(NAMES.map((name) => ({ name, status: "passed" })));
    expect(result.summary).toMatch(/^The server passed all 4 /);
  });

  it("names the check after which the server stopped; the rest are not run", () => {
    const result = conformanceResult(
      {
        names: NAMES,
        deviations: [CHECKSUM],
        concurrent_stop: "the server exited (code 1)",
        stop: { after: "duplicate-connect", how: "the server exited (code 1)" },
      },
      {},
    );
    expect(result.valid).toBe(false);
    const reason = "the server stopped answering after check duplicate-connect";
    expect(result.checks).toEqual([
      { name: "handshake", status: "failed" },
      { name: "duplicate-connect", status: "failed" },
      { name: "data", status: "not run", reason },
      { name: "heartbeat", status: "not run", reason },
    ]);
    expect(result.deviation_names).toEqual(["stopped-answering", "checksum-verification"]);
    expect(result.stopped_after).toBe("duplicate-connect");
    expect(result.not_run).toEqual(["data", "heartbeat"]);
    expect(result.summary).toBe(
      "The server stopped answering after check duplicate-connect (the server exited (code 1)), so 2 checks did not run (data, heartbeat). " +
        "1 deviation from the LSP spec: checksum-verification (expected dropped; observed acked)",
    );
  });

  it("a server that stopped only while the checks ran at once fails, every check run", () => {
    const result = conformanceResult(
      { names: NAMES, deviations: [], concurrent_stop: "a new Connect got no Ack" },
      {},
    );
    expect(result.valid).toBe(false);
    expect(result.checks).toEqual(NAMES.map((name) => ({ name, status: "passed" })));
    expect(result.deviations).toEqual([
      expect.objectContaining({
        name: "stopped-answering",
        check: "all-at-once",
        observed: "a new Connect got no Ack; one at a time, it answered after every check",
      }),
    ]);
  });
});
