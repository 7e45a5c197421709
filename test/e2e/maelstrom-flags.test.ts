// Maelstrom users feel at home: the command lines of Maelstrom's guide and of the Gossip Glomers
// challenges run as written (faultline for ./maelstrom, our gossip node for their binaries), and
// Maelstrom's own flags keep Maelstrom's meaning or say in one line what to use instead.
import {
  chmodSync,
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { parseHistory } from "../../checkers/history.js";
import { ROOT, readResults, runCli, startCli, tempStore } from "../helpers.js";

/**
 * Stands in for the binaries the command lines name: each execs our gossip reference node, told
 * the one workload that binary serves. Left to guess, our node cannot answer a read that comes
 * before any add (g-set or counter?), and a seed whose workers all read first got no op through.
 */
const BIN_DIR = mkdtempSync(join(tmpdir(), "faultline-maelstrom-bins-"));
afterAll(() => rmSync(BIN_DIR, { recursive: true, force: true }));
const GOSSIP_NODE = join(ROOT, "dist", "systems", "gossip", "node.js");
for (const [name, workload] of [
  ["maelstrom-echo", "echo"],
  ["maelstrom-unique-ids", "unique-ids"],
  ["maelstrom-broadcast", "broadcast"],
  ["maelstrom-counter", "g-counter"],
  ["echo.rb", "echo"],
  ["broadcast.rb", "broadcast"],
  ["g_set.rb", "g-set"],
  ["counter.rb", "pn-counter"],
]) {
  const path = join(BIN_DIR, name as string);
  const node = `'${process.execPath}' '${GOSSIP_NODE}' --workload ${workload}`;
  writeFileSync(path, `#!/bin/sh\nexec ${node} "$@"\n`);
  chmodSync(path, 0o755);
}

/** The lines' time limits (10-30 s) cut to this, to fit the test budget; nothing else changes. */
const SHORT_TIME_LIMIT_S = 2;
/** Final-phase workloads wait out the default 10 s recovery; a CI machine twice as slow fits. */
const AS_WRITTEN_BUDGET_MS = 90_000;

const AS_WRITTEN = [
  // Gossip Glomers (fly.io/dist-sys) challenges 1, 2, 3c and 4.
  "./maelstrom test -w echo --bin ~/go/bin/maelstrom-echo --node-count 1 --time-limit 10",
  "./maelstrom test -w unique-ids --bin ~/go/bin/maelstrom-unique-ids --time-limit 30 --rate 1000 --node-count 3 --availability total --nemesis partition",
  "./maelstrom test -w broadcast --bin ~/go/bin/maelstrom-broadcast --node-count 5 --time-limit 20 --rate 10 --nemesis partition",
  "./maelstrom test -w g-counter --bin ~/go/bin/maelstrom-counter --node-count 3 --rate 100 --time-limit 20 --nemesis partition",
  // Maelstrom's guide (doc/).
  "./maelstrom test -w echo --bin echo.rb --nodes n1 --time-limit 10 --log-stderr",
  "./maelstrom test -w broadcast --bin broadcast.rb --time-limit 5 --log-stderr",
  "./maelstrom test -w g-set --bin g_set.rb --time-limit 30 --rate 10 --nemesis partition",
  "./maelstrom test -w pn-counter --bin counter.rb --time-limit 20 --rate 10",
];

function asWritten(line: string): string[] {
  const args = line
    .replace(/^\.\/maelstrom /, "")
    .replace(/--time-limit \d+/, `--time-limit ${SHORT_TIME_LIMIT_S}`)
    .split(" ");
  const bin = args.indexOf("--bin") + 1;
  args[bin] = join(BIN_DIR, (args[bin] as string).replace(/^~\/go\/bin\//, ""));
  return args;
}

// One at a time: five of these clusters at once beside the rest of the suite starved a g-counter
// run to 6 ops in 2 s, none answered.
describe("Maelstrom and Gossip Glomers command lines run as written", () => {
  it.for(AS_WRITTEN)("%s", { timeout: AS_WRITTEN_BUDGET_MS }, async (line, { onTestFinished }) => {
    const store = tempStore(onTestFinished);
    const r = await runCli([...asWritten(line), "--store", store], AS_WRITTEN_BUDGET_MS);
    expect(r.exitCode, `${r.stdout}\n${r.stderr}`).toBe(0);
    expect(readResults(store).valid).toBe(true);
  });
});

const quick = ["--time-limit", "1", "--recovery-time", "0", "-q"];
/** Long enough that the first run is still going when it is interrupted. */
const INTERRUPTED_TIME_LIMIT_S = 60;
const HISTORY_WAIT_MS = 15_000;
const POLL_MS = 100;
const gossip = (workload: string) => ["test", "-w", workload, "--system", "gossip", ...quick];

function latestFile(store: string, file: string): string {
  return readFileSync(join(store, "latest", file), "utf8");
}

describe("--nodes, --node, --nodes-file: node names", () => {
  it.concurrent("flow through init, topology, workers, nemesis, node logs and results", async ({
    onTestFinished,
  }) => {
    const store = tempStore(onTestFinished);
    const r = await runCli([
      ...gossip("broadcast"),
      "--nodes",
      "alpha,beta",
      "--node",
      "gamma",
      "--nemesis",
      "partition",
      "--nemesis-interval",
      "0.2",
      // Time to heal before the final reads, which must see every broadcast.
      "--recovery-time",
      "3",
      "--store",
      store,
    ]);
    expect(r.exitCode, r.stdout).toBe(0);
    const names = ["alpha", "beta", "gamma"];
    const test = JSON.parse(latestFile(store, "test.json"));
    expect(test.nodes).toEqual(names);
    expect(test.node_count).toBe(3);
    const results = readResults(store);
    expect(results.valid).toBe(true);
    expect(Object.keys(results.nodes)).toEqual(names);
    for (const name of names)
      expect(existsSync(join(store, "latest", "node-logs", `${name}.log`))).toBe(true);
    const messages = latestFile(store, "messages.jsonl");
    expect(messages).toContain('"node_ids":["alpha","beta","gamma"]');
    expect(messages).toMatch(/"type":"topology","topology":\{"alpha":/);
    const history = parseHistory(latestFile(store, "history.jsonl"));
    const workerNodes = new Set(
      history.filter((op) => op.type === "invoke" && op.process !== "nemesis").map((op) => op.node),
    );
    expect(workerNodes).toEqual(new Set(names));
    const partitions = history.filter(
      (op) => op.process === "nemesis" && op.f === "start-partition",
    );
    expect(partitions.length).toBeGreaterThan(0);
    expect(JSON.stringify(partitions[0]?.value)).toMatch(/alpha|beta|gamma/);
    expect(JSON.stringify(partitions[0]?.value)).not.toMatch(/"n\d+"/);
  });

  it.concurrent("--nodes-file comes first, as in Jepsen, and --node-count overrides them all", async ({
    onTestFinished,
  }) => {
    const store = tempStore(onTestFinished);
    const file = join(store, "nodes.txt");
    writeFileSync(file, "x1\n\n  x2  \n");
    const named = await runCli([
      ...gossip("echo"),
      "--nodes-file",
      file,
      "-n",
      "x3",
      "--store",
      store,
    ]);
    expect(named.exitCode, named.stdout).toBe(0);
    expect(JSON.parse(latestFile(store, "test.json")).nodes).toEqual(["x1", "x2", "x3"]);
    const counted = await runCli([
      ...gossip("echo"),
      "--nodes",
      "x1",
      "--node-count",
      "2",
      "--store",
      store,
    ]);
    expect(counted.exitCode, counted.stdout).toBe(0);
    expect(Object.keys(readResults(store).nodes)).toEqual(["n0", "n1"]);
  });

  it.concurrent.for([
    [["--nodes", "a,a"], /node name "a" is given twice/],
    [["--nodes", "c7"], /node name "c7": ids starting with c are clients/],
    [["--nodes", "5"], /node name "5": --nodes takes node names .*use --node-count 5/],
    [["--nodes", "lin-kv"], /node name "lin-kv" is a service's/],
    [["--node", "../up"], /node name "..\/up": use letters, digits/],
    [["--nodes-file", "/nonexistent/nodes"], /--nodes-file \/nonexistent\/nodes: ENOENT/],
  ] as const)(
    "rejects %j with exit 3 and one line",
    async ([flags, reason], { onTestFinished }) => {
      const store = tempStore(onTestFinished);
      const r = await runCli([...gossip("echo"), ...flags, "--store", store]);
      expect(r.exitCode).toBe(3);
      expect(r.stderr.trim().split("\n")).toHaveLength(1);
      expect(r.stderr).toMatch(reason);
      expect(existsSync(join(store, "latest"))).toBe(false);
    },
  );
});

describe("--test-count", () => {
  it.concurrent("makes N runs, each its own run dir and seed, and exits 0 when all are valid", async ({
    onTestFinished,
  }) => {
    const store = tempStore(onTestFinished);
    const r = await runCli([
      ...gossip("echo"),
      "--test-count",
      "3",
      "--seed",
      "40",
      "--store",
      store,
    ]);
    expect(r.exitCode, r.stdout).toBe(0);
    const dirs = readdirSync(join(store, "echo-gossip"));
    expect(dirs).toHaveLength(3);
    const seeds = dirs.map(
      (d) => JSON.parse(readFileSync(join(store, "echo-gossip", d, "results.json"), "utf8")).seed,
    );
    expect(seeds.sort()).toEqual([40, 41, 42]);
    // Each run's repeat command repeats that one run.
    expect(r.stdout).toContain("--seed 41");
    expect(r.stdout).not.toContain("--test-count");
  });

  it.concurrent("stops at the first run that is not valid and exits with its code", async ({
    onTestFinished,
  }) => {
    const store = tempStore(onTestFinished);
    // bad-echo shows on echoes of 100 and up: at this rate the first run has some.
    const r = await runCli([
      ...gossip("echo"),
      "--rate",
      "100",
      "--bug",
      "bad-echo",
      "--test-count",
      "3",
      "--store",
      store,
    ]);
    expect(r.exitCode).toBe(1);
    expect(readdirSync(join(store, "echo-gossip-bad-echo"))).toHaveLength(1);
  });
});

describe("--test-count interrupted", () => {
  it("Ctrl-C stops the current run (exit 3) and starts no more", async ({ onTestFinished }) => {
    const store = tempStore(onTestFinished);
    const cli = startCli([
      ...gossip("echo"),
      "--time-limit",
      String(INTERRUPTED_TIME_LIMIT_S),
      "--test-count",
      "3",
      "--store",
      store,
    ]);
    const historyPath = join(store, "latest", "history.jsonl");
    const deadline = Date.now() + HISTORY_WAIT_MS;
    while (
      Date.now() < deadline &&
      !(existsSync(historyPath) && latestFile(store, "history.jsonl").includes('"ok"'))
    ) {
      await new Promise((resolve) => setTimeout(resolve, POLL_MS));
    }
    cli.kill("SIGINT");
    const r = await cli;
    expect(r.exitCode).toBe(3);
    expect(readdirSync(join(store, "echo-gossip"))).toHaveLength(1);
  });
});

describe("--availability", () => {
  it.concurrent("total fails a run where some op did not succeed, naming the op counts", async ({
    onTestFinished,
  }) => {
    const store = tempStore(onTestFinished);
    // lin-kv's cas ops fail whenever the expected value is not there.
    const r = await runCli([
      "test",
      "-w",
      "lin-kv",
      "--system",
      "lin-kv",
      "--node-count",
      "1",
      ...quick,
      "--rate",
      "50",
      "--availability",
      "total",
      "--store",
      store,
    ]);
    expect(r.exitCode, r.stdout).toBe(1);
    const check = readResults(store).checkers.availability;
    expect(check.valid).toBe(false);
    expect(check.summary).toMatch(
      /^\d+ of \d+ client operations ok \(\d+ failed, \d+ indeterminate\): availability .*below the required total/,
    );
    expect(readResults(store).checkers.linearizable.valid).toBe(true);
  });

  it.concurrent("a fraction the run reaches passes; no flag, no availability checker", async ({
    onTestFinished,
  }) => {
    const store = tempStore(onTestFinished);
    const r = await runCli([...gossip("unique-ids"), "--availability", "0.9", "--store", store]);
    expect(r.exitCode, r.stdout).toBe(0);
    expect(readResults(store).checkers.availability).toMatchObject({ valid: true, required: 0.9 });
    const plain = await runCli([...gossip("unique-ids"), "--store", store]);
    expect(plain.exitCode).toBe(0);
    expect(readResults(store).checkers.availability).toBeUndefined();
  });

  it.concurrent("rejects anything but total or a fraction from 0 to 1", async ({
    onTestFinished,
  }) => {
    const r = await runCli([
      ...gossip("echo"),
      "--availability",
      "1.5",
      "--store",
      tempStore(onTestFinished),
    ]);
    expect(r.exitCode).toBe(3);
    expect(r.stderr).toMatch(/expected total or a fraction from 0 to 1/);
  });
});

describe("--log-stderr, --log-net-send, --log-net-recv", () => {
  it.concurrent("print node stderr prefixed with the node, and each message sent and received", async ({
    onTestFinished,
  }) => {
    const store = tempStore(onTestFinished);
    const r = await runCli([
      ...gossip("echo"),
      "--nodes",
      "n1",
      "--log-stderr",
      "--log-net-send",
      "--log-net-recv",
      "--store",
      store,
    ]);
    expect(r.exitCode, r.stdout).toBe(0);
    const lines = r.stderr.split("\n");
    // -q silences faultline's own lines, not what the flags ask for.
    expect(lines.some((l) => l.startsWith("n1: "))).toBe(true);
    expect(lines).toContainEqual(
      expect.stringMatching(/^send \{"id":\d+,"src":"c\d+","dest":"n1","body":\{"type":"echo"/),
    );
    expect(lines).toContainEqual(
      expect.stringMatching(/^recv \{"id":\d+,"src":"n1","dest":"c\d+","body":\{"type":"echo_ok"/),
    );
  });

  it.concurrent("each prints only its own kind", async ({ onTestFinished }) => {
    const store = tempStore(onTestFinished);
    const r = await runCli([...gossip("echo"), "--log-net-recv", "--store", store]);
    expect(r.exitCode, r.stdout).toBe(0);
    const lines = r.stderr.split("\n").filter((l) => l !== "");
    expect(lines.length).toBeGreaterThan(0);
    for (const line of lines) expect(line).toMatch(/^recv \{/);
    const silent = await runCli([...gossip("echo"), "--store", store]);
    expect(silent.stderr).toBe("");
  });
});

describe("Maelstrom flags that do not apply here", () => {
  it.concurrent.for([
    ["--leave-db-running", /--leave-db-running: .*store\/latest\/node-logs/],
    ["--username root", /--username: .*never over SSH/],
    ["--password secret", /--password: .*never over SSH/],
    ["--ssh-private-key ~/.ssh/id", /--ssh-private-key: .*never over SSH/],
    ["--strict-host-key-checking", /--strict-host-key-checking: .*never over SSH/],
    ["--no-ssh", /--no-ssh: faultline never uses SSH/],
    ["--logging-json", /--logging-json: .*results.json/],
    ["--consistency-models serializable", /--consistency-models: .*transactional workloads/],
    ["--key-count 3", /--key-count: .*transactional/],
    ["--max-txn-length 4", /--max-txn-length: .*transactional/],
    ["--max-writes-per-key 16", /--max-writes-per-key: .*transactional/],
  ] as const)(
    "%s: exit 3 with one line naming the equivalent",
    async ([flag, answer], { onTestFinished }) => {
      const store = tempStore(onTestFinished);
      const r = await runCli([...gossip("echo"), ...flag.split(" "), "--store", store]);
      expect(r.exitCode).toBe(3);
      expect(r.stderr.trim().split("\n")).toHaveLength(1);
      expect(r.stderr).toMatch(answer);
    },
  );

  it.concurrent("--nodes, --availability and the log flags are refused on the udp and tcp transports", async ({
    onTestFinished,
  }) => {
    const store = tempStore(onTestFinished);
    const r = await runCli([
      "test",
      "-w",
      "lsp",
      "--system",
      "lsp",
      "--log-stderr",
      "--store",
      store,
      "-q",
    ]);
    expect(r.exitCode).toBe(3);
    expect(r.stderr).toMatch(
      /--log-stderr applies to maelstrom-protocol nodes; lsp runs on another transport/,
    );
  });
});
