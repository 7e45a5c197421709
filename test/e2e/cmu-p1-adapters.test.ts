// The CMU 15-440 P1 adapters (issue 24 item 10, adapters/cmu-p1/README.md): built with Go exactly
// as a student builds them, inside a copy of a course-shaped repository whose `lsp` package is
// our fake (test/fixtures/cmu-p1-fake: p1/src/github.com/cmu440 with go.mod and lsp/), then run
// by `faultline test -w lsp --bin … --client-bin …`. A build of the fake with a planted bug must
// be judged INVALID, so the valid runs cannot pass vacuously.
import { cpSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { execa } from "execa";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ROOT, readResults, runCli, tempStore } from "../helpers.js";

/** Go builds are seconds with the standard library precompiled; a loaded CI machine gets slack. */
const BUILD_TIMEOUT_MS = 120_000;
const RUN_TIMEOUT_MS = 90_000;

/** Each build of the adapters: its Go build tags, and GOPATH mode for the older handouts. */
const BUILDS = {
  current: { tags: [], gopath: false },
  "drop-writes": { tags: ["fake_dropwrites"], gopath: false },
  // The older student's NewServer also loses the race for the first free port it is given.
  "no-isn": { tags: ["cmu440_noisn", "fake_portrace"], gopath: true },
} as const;
type Build = keyof typeof BUILDS;

let work: string;

/** The student's repository: the fake's p1/ with the adapters copied in as README.md says. */
function studentRepo(): string {
  const p1 = join(work, "p1");
  cpSync(join(ROOT, "test", "fixtures", "cmu-p1-fake"), p1, { recursive: true });
  cpSync(join(ROOT, "adapters", "cmu-p1"), join(p1, "src", "github.com", "cmu440", "faultline"), {
    recursive: true,
  });
  return p1;
}

/** `go build` of both adapters into bin/<build>/, by module path or by GOPATH. */
async function build(p1: string, name: Build): Promise<void> {
  const { tags, gopath } = BUILDS[name];
  const out = `${join(work, "bin", name)}/`;
  const packages = ["lsp-server", "lsp-client"].map((p) =>
    gopath ? `github.com/cmu440/faultline/${p}` : `./faultline/${p}`,
  );
  const env: Record<string, string> = gopath
    ? { GO111MODULE: "off", GOPATH: p1 }
    : { GO111MODULE: "on", GOPROXY: "off", GOFLAGS: "" };
  const result = await execa(
    "go",
    ["build", ...(tags.length ? ["-tags", tags.join(",")] : []), "-o", out, ...packages],
    {
      cwd: gopath ? work : join(p1, "src", "github.com", "cmu440"),
      env,
      reject: false,
      timeout: BUILD_TIMEOUT_MS,
    },
  );
  if (result.exitCode !== 0) {
    throw new Error(`go build (${name}) failed: ${result.stderr || result.message}`);
  }
}

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), "faultline-cmu-p1-"));
  const p1 = studentRepo();
  await Promise.all((Object.keys(BUILDS) as Build[]).map((name) => build(p1, name)));
}, BUILD_TIMEOUT_MS);

afterAll(() => rmSync(work, { recursive: true, force: true }));

/** `faultline test -w lsp` against one build of the adapters; results.json and the exit code. */
async function runLsp(name: Build, extra: readonly string[]) {
  const store = tempStore();
  const bin = join(work, "bin", name);
  const r = await runCli(
    [
      "test",
      "-w",
      "lsp",
      "--bin",
      join(bin, "lsp-server"),
      "--client-bin",
      join(bin, "lsp-client"),
      "--concurrency",
      "3",
      "--rate",
      "40",
      "--time-limit",
      "3",
      "--epoch-millis",
      "100",
      "--epoch-limit",
      "5",
      "--recovery-time",
      "1",
      "--seed",
      "7",
      ...extra,
      "-q",
      "--store",
      store,
    ],
    RUN_TIMEOUT_MS,
  );
  return { exitCode: r.exitCode, stderr: r.stderr, results: readResults(store), store };
}

describe("the CMU P1 adapters around a student's lsp package", () => {
  it("fault-free: valid, every message checked", { timeout: RUN_TIMEOUT_MS }, async () => {
    const { exitCode, stderr, results } = await runLsp("current", []);
    expect(exitCode, `${results.summary}\n${stderr}`).toBe(0);
    expect(results.checkers.delivery.valid).toBe(true);
    expect(results.checkers.programs.valid).toBe(true);
    expect(results.checkers.delivery.connection_count).toBe(3);
    expect(results.checkers.delivery.delivered_count).toBeGreaterThan(100);
  });

  it("under loss, duplication, delay, Data mutations, client and server kills: valid", {
    timeout: RUN_TIMEOUT_MS,
  }, async () => {
    const { exitCode, stderr, results } = await runLsp("current", [
      "--time-limit",
      "4",
      "--nemesis",
      "packet,kill",
      "--kill-targets",
      "one,all",
      "--nemesis-interval",
      "1",
      "--packet-steady",
      "--packet-loss",
      "0.1",
      "--packet-dup",
      "0.1",
      "--packet-delay",
      "20",
      "--packet-mutate",
      "0.1",
    ]);
    expect(exitCode, `${results.summary}\n${stderr}`).toBe(0);
    expect(results.checkers.delivery.delivered_count).toBeGreaterThan(50);
    const toServer = results.net.udp["to-server"];
    expect(toServer.mutated).toBeGreaterThan(0);
    expect(toServer.dropped).toBeGreaterThan(0);
    // A killed client's worker went on with a new client process, and the killed server came
    // back on the port the adapter picked first.
    const programs = Object.keys(results.nodes);
    expect(programs.some((id) => /^c\d+\.[2-9]$/.test(id))).toBe(true);
    expect(programs).toContain("server.2");
  });

  it("an lsp that drops every 3rd Write: INVALID with gaps", {
    timeout: RUN_TIMEOUT_MS,
  }, async () => {
    const { exitCode, results } = await runLsp("drop-writes", []);
    expect(exitCode, results.summary).toBe(1);
    expect(results.checkers.delivery.valid).toBe(false);
    expect(results.checkers.delivery.violation_counts.gap).toBeGreaterThan(0);
    expect(results.checkers.programs.valid).toBe(true);
  });

  it("the older API (no ISN, three Params fields), built in GOPATH mode, first port taken: valid", {
    timeout: RUN_TIMEOUT_MS,
  }, async () => {
    const { exitCode, stderr, results, store } = await runLsp("no-isn", ["--max-unacked", "1"]);
    expect(exitCode, `${results.summary}\n${stderr}`).toBe(0);
    expect(results.checkers.delivery.delivered_count).toBeGreaterThan(100);
    // A parameter this API lacks is accepted and said to be ignored.
    const serverLog = readFileSync(join(store, "latest", "node-logs", "server.log"), "utf8");
    expect(serverLog).toContain("--max-unacked ignored");
    // The port the adapter picked first was taken; it listened on another.
    expect(serverLog).toMatch(
      /free port \d+: listen udp :\d+: address already in use; trying another/,
    );
  });
});
