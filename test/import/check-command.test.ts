// `faultline check` end to end through the compiled CLI (dist/harness/cli.js), and once
// in-process through registerCheckCommand.

import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Command } from "commander";
import { execa } from "execa";
import { afterAll, describe, expect, it, vi } from "vitest";
import { type Op, serializeOp } from "../../checkers/history.js";
import { registerCheckCommand } from "../../harness/check-command.js";
import { distFile, sharedDir } from "../../harness/paths.js";

const CLI = distFile("harness/cli.js");
const DATA = join(sharedDir(), "data", "porcupine");
const dir = mkdtempSync(join(tmpdir(), "faultline-check-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Runs the CLI; every run is bounded. */
function faultline(...args: string[]) {
  return execa("node", [CLI, ...args], { reject: false, timeout: 30_000, cwd: dir });
}

function jsonl(name: string, ops: Omit<Op, "index" | "time">[]): string {
  const file = join(dir, name);
  writeFileSync(
    file,
    `${ops.map((op, index) => serializeOp({ index, time: index * 1000, ...op })).join("\n")}\n`,
  );
  return file;
}

const registerOk = jsonl("ok.jsonl", [
  { process: 0, type: "invoke", f: "write", value: 1 },
  { process: 0, type: "ok", f: "write", value: 1 },
  { process: 1, type: "invoke", f: "cas", value: [1, 2] },
  { process: 1, type: "ok", f: "cas", value: [1, 2] },
  { process: 0, type: "invoke", f: "read", value: null },
  { process: 0, type: "ok", f: "read", value: 2 },
]);

describe("faultline check (compiled CLI)", () => {
  it("the CLI is built", () => {
    expect(existsSync(CLI), `${CLI} is missing: run npx tsc -p tsconfig.json`).toBe(true);
  });

  it("a linearizable etcd log: exit 0, JSON on stdout", async () => {
    const r = await faultline("check", join(DATA, "jepsen", "etcd_002.log"), "--json");
    expect(r.exitCode).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(out).toMatchObject({ valid: true, model: "cas-register", format: "porcupine-etcd" });
    expect(Object.keys(out)[0]).toBe("valid");
  });

  it("a violation: exit 1, the verdict, the summary and the explanation", async () => {
    const r = await faultline("check", join(DATA, "jepsen", "etcd_000.log"));
    expect(r.exitCode).toBe(1);
    const lines = r.stdout.split("\n");
    expect(lines[0]).toMatch(
      /^NOT LINEARIZABLE .*etcd_000\.log \(porcupine-etcd, model cas-register\)$/,
    );
    expect(lines[1]).toMatch(
      /^no linearization places op 84 \(read → 2\); the longest linearizable prefix is 43 ops/,
    );
    expect(r.stdout).toMatch(/Then op 84 \(line 85\), read → 2, cannot go next in state 0/);
    expect(r.stderr).toBe("");
  });

  it("kv logs are partitioned by key; --json lists the ops involved", async () => {
    const r = await faultline("check", join(DATA, "kv", "c01-bad.txt"), "--json");
    expect(r.exitCode).toBe(1);
    const out = JSON.parse(r.stdout);
    expect(out.valid).toBe(false);
    expect(out.summary).toMatch(/^key "7": no linearization places op 58/);
    expect(out.ops).toEqual([2, 36, 54, 58]);
    expect(out.failures[0].partials.length).toBeGreaterThan(0);
  });

  it("our own jsonl and Jepsen EDN histories, with --model", async () => {
    const r = await faultline("check", registerOk, "--model", "cas-register");
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toMatch(
      /^LINEARIZABLE .*ok\.jsonl \(jsonl, model cas-register\)\nAll 3 operations are linearizable/,
    );
    const edn = join(dir, "history.edn");
    writeFileSync(
      edn,
      "{:type :invoke, :f :write, :value 1, :process 0, :time 1}\n{:type :ok, :f :write, :value 1, :process 0, :time 2}\n" +
        "{:type :invoke, :f :read, :value nil, :process 1, :time 3}\n{:type :ok, :f :read, :value 2, :process 1, :time 4}\n",
    );
    const bad = await faultline("check", edn, "--model", "register", "--json");
    expect(bad.exitCode).toBe(1);
    expect(JSON.parse(bad.stdout).format).toBe("jepsen-edn");
  });

  it("unknown when the budget runs out: exit 2", async () => {
    const ops: Omit<Op, "index" | "time">[] = [];
    for (let p = 0; p < 24; p++) ops.push({ process: p, type: "invoke", f: "write", value: p });
    for (let p = 0; p < 24; p++) ops.push({ process: p, type: "ok", f: "write", value: p });
    ops.push(
      { process: 99, type: "invoke", f: "read", value: null },
      { process: 99, type: "ok", f: "read", value: -1 },
    );
    const r = await faultline(
      "check",
      jsonl("hard.jsonl", ops),
      "--model",
      "register",
      "--timeout",
      "0.2",
    );
    expect(r.exitCode).toBe(2);
    expect(r.stdout).toMatch(/^UNKNOWN/);
    expect(r.stdout).toMatch(/raise --timeout/);
  });

  it("a Maelstrom lin-kv history.edn ([key value] tuples) checks with --model kv", async () => {
    // Maelstrom's own lines: keys 0 and 1, a nemesis event, a failed cas, a failed read.
    const edn = (lastRead: number) =>
      [
        "{:type :invoke, :f :write, :value [0 3], :time 1000, :process 0, :index 0}",
        "{:type :ok, :f :write, :value [0 3], :time 2000, :process 0, :index 1}",
        "{:type :info, :f :start-partition, :value :majority, :time 2500, :process :nemesis, :index 2}",
        "{:type :invoke, :f :cas, :value [0 [3 4]], :time 3000, :process 1, :index 3}",
        "{:type :ok, :f :cas, :value [0 [3 4]], :time 4000, :process 1, :index 4}",
        "{:type :invoke, :f :cas, :value [1 [0 1]], :time 4100, :process 2, :index 5}",
        '{:type :fail, :f :cas, :value [1 [0 1]], :time 4200, :process 2, :index 6, :error [:key-does-not-exist "not found"]}',
        "{:type :invoke, :f :read, :value [1 nil], :time 4300, :process 2, :index 7}",
        '{:type :fail, :f :read, :value [1 nil], :time 4400, :process 2, :index 8, :error [:key-does-not-exist "not found"]}',
        "{:type :invoke, :f :read, :value [0 nil], :time 5000, :process 0, :index 9}",
        `{:type :ok, :f :read, :value [0 ${lastRead}], :time 6000, :process 0, :index 10}`,
      ].join("\n");
    const file = (name: string, text: string) => {
      writeFileSync(join(dir, name), `${text}\n`);
      return join(dir, name);
    };
    const ok = await faultline("check", file("lin-kv-ok.edn", edn(4)), "--model", "kv");
    expect(ok.exitCode, ok.stderr).toBe(0);
    expect(ok.stdout).toMatch(/^LINEARIZABLE .*\(jepsen-edn, model kv\)/);
    const stale = await faultline("check", file("lin-kv-stale.edn", edn(3)), "--model", "kv");
    expect(stale.exitCode, stale.stderr).toBe(1);
    expect(stale.stdout).toMatch(/for key 0/);
    const bad = await faultline(
      "check",
      file("lin-kv-bad.edn", edn(4).replace("[0 [3 4]], :time 3000", "[0 3], :time 3000")),
      "--model",
      "kv",
    );
    expect(bad.exitCode).toBe(3);
    expect(bad.stderr.trim()).toMatch(
      /lin-kv-bad\.edn line 4: a keyed cas's :value must be \[key \[from to\]\]$/,
    );
  });

  it("Jepsen EDN: an ok read of nil is Knossos' unknown value; --strict-nil-reads reads nil", async () => {
    // Knossos-style (a vector of maps, no :time): write 1, then two reads of nil.
    const history = (last: string) =>
      `[{:process 0, :type :invoke, :f :write, :value 1}
 {:process 0, :type :ok, :f :write, :value 1}
 {:process 1, :type :invoke, :f :read, :value nil}
 {:process 1, :type :ok, :f :read, :value nil}
 {:process 2, :type :invoke, :f :read, :value nil}
 {:process 2, :type :ok, :f :read, :value nil}
 {:process 1, :type :invoke, :f :read, :value nil}
 {:process 1, :type :ok, :f :read, :value ${last}}]\n`;
    const onlyKnossos = join(dir, "nil-reads.edn");
    writeFileSync(onlyKnossos, history("1"));
    const stillBad = join(dir, "nil-reads-stale.edn");
    writeFileSync(stillBad, history("2"));

    for (const model of ["register", "cas-register"]) {
      const r = await faultline("check", onlyKnossos, "--model", model);
      expect(r.exitCode, r.stderr).toBe(0);
      expect(r.stdout).toMatch(
        /\n2 ok reads of nil taken as unknown value \(Knossos' reading\); --strict-nil-reads reads them as nil\.$/,
      );
      const strict = await faultline("check", onlyKnossos, "--model", model, "--strict-nil-reads");
      expect(strict.exitCode).toBe(1);
      expect(strict.stdout).not.toMatch(/taken as unknown/);
    }
    const bad = await faultline("check", stillBad, "--model", "cas-register", "--json");
    expect(bad.exitCode).toBe(1);
    expect(JSON.parse(bad.stdout)).toMatchObject({ valid: false, nil_reads_unknown: 2 });

    // Keyed (Maelstrom lin-kv): [0 nil] after a write of key 0 is unknown too.
    const kv = join(dir, "nil-reads-kv.edn");
    writeFileSync(
      kv,
      `${[
        "{:type :invoke, :f :write, :value [0 3], :time 1, :process 0}",
        "{:type :ok, :f :write, :value [0 3], :time 2, :process 0}",
        "{:type :invoke, :f :read, :value [0 nil], :time 3, :process 1}",
        "{:type :ok, :f :read, :value [0 nil], :time 4, :process 1}",
      ].join("\n")}\n`,
    );
    const keyed = await faultline("check", kv, "--model", "kv", "--json");
    expect(keyed.exitCode).toBe(0);
    expect(JSON.parse(keyed.stdout).nil_reads_unknown).toBe(1);
    expect((await faultline("check", kv, "--model", "kv", "--strict-nil-reads")).exitCode).toBe(1);

    // Our own histories keep null = absent: the same ops in jsonl are a violation.
    const ours = jsonl("nil-reads.jsonl", [
      { process: 0, type: "invoke", f: "write", value: 1 },
      { process: 0, type: "ok", f: "write", value: 1 },
      { process: 1, type: "invoke", f: "read", value: null },
      { process: 1, type: "ok", f: "read", value: null },
    ]);
    const own = await faultline("check", ours, "--model", "register");
    expect(own.exitCode).toBe(1);
    expect(own.stdout).not.toMatch(/taken as unknown/);
  });

  it("Jepsen EDN whose :time runs a little backwards is checked in the file's order", async () => {
    const edn = join(dir, "backwards.edn");
    writeFileSync(
      edn,
      "{:type :invoke, :f :write, :value 1, :process 0, :time 100}\n{:type :ok, :f :write, :value 1, :process 0, :time 200}\n" +
        "{:type :invoke, :f :read, :value nil, :process 1, :time 199}\n{:type :ok, :f :read, :value 1, :process 1, :time 300}\n",
    );
    const r = await faultline("check", edn, "--model", "cas-register");
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stdout).toMatch(
      /\n:time goes backwards at op 2 \(line 3\); ops taken in the order of the file, as Knossos does\.$/,
    );
  });

  it("cannot check: exit 3 and one line on stderr saying why and what to do", async () => {
    const cases: [string[], RegExp][] = [
      [
        ["check", join(dir, "missing.jsonl"), "--model", "kv"],
        /missing\.jsonl does not exist; check the path$/,
      ],
      [
        ["check", registerOk],
        /--model is required for jsonl histories; one of register, cas-register/,
      ],
      [
        ["check", join(DATA, "jepsen", "etcd_000.log"), "--model", "kv"],
        /checked with the cas-register model, not kv; drop --model/,
      ],
      [["check", registerOk, "--model", "paxos"], /argument 'paxos' is invalid/],
      [
        ["check", registerOk, "--model", "kv"],
        /ok\.jsonl line 1: op 0 \(write\): the value must be an object with a key/,
      ],
    ];
    const garbled = join(dir, "garbled.jsonl");
    writeFileSync(
      garbled,
      '{"index":0,"time":0,"process":0,"type":"invoke","f":"read","value":null}\n{"index":1\n',
    );
    cases.push([
      ["check", garbled, "--model", "register"],
      /garbled\.jsonl line 2: not valid JSON .*pass --format if that is wrong/,
    ]);
    const notes = join(dir, "notes.txt");
    writeFileSync(notes, "hello\n");
    cases.push([
      ["check", notes],
      /cannot tell the format of .*notes\.txt; pass --format \(jsonl, jepsen-edn/,
    ]);
    for (const [args, message] of cases) {
      const r = await faultline(...args);
      expect({ args, exitCode: r.exitCode }).toEqual({ args, exitCode: 3 });
      expect(r.stderr.trim().split("\n")).toHaveLength(1);
      expect(r.stderr).toMatch(message);
      expect(r.stdout).toBe("");
    }
  });

  it("--help", async () => {
    const r = await faultline("check", "--help");
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toMatch(/Usage: faultline check \[options\] <file>/);
    expect(r.stdout).toMatch(/Exit codes: 0 linearizable, 1 not linearizable, 2 unknown/);
  });
});

describe("registerCheckCommand (in-process)", () => {
  it("adds `check` to a program", async () => {
    const program = new Command("faultline").exitOverride();
    registerCheckCommand(program);
    const written: string[] = [];
    const spy = vi.spyOn(process.stdout, "write").mockImplementation((chunk) => {
      written.push(String(chunk));
      return true;
    });
    const before = process.exitCode;
    try {
      await program.parseAsync([
        "node",
        "faultline",
        "check",
        registerOk,
        "--model",
        "cas-register",
        "--json",
      ]);
      expect(process.exitCode).toBe(0);
    } finally {
      spy.mockRestore();
      process.exitCode = before;
    }
    expect(JSON.parse(written.join(""))).toMatchObject({ valid: true, format: "jsonl" });
  });
});
