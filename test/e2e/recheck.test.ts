// `faultline check RUN_DIR`: a stored run judged again with its workload's own checkers, as
// after a harness crash (results.json missing, history.jsonl cut with ops pending).

import {
  appendFileSync,
  cpSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  realpathSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { type Op, parseHistory } from "../../checkers/history.js";
import { ROOT, readResults, runCli, runLine, tempStore } from "../helpers.js";

/** A short healthy run: gossip broadcast on 3 nodes, final reads included. */
const RUN =
  "test --system gossip -w broadcast --node-count 3 --time-limit 2 --rate 20 --recovery-time 1 --seed 5";

/**
 * What a harness SIGKILLed after `keep` history lines leaves: no results.json, no reports,
 * history.jsonl ending there.
 */
function crashAfter(runDir: string, keep: number): Op[] {
  for (const file of ["results.json", "report.html", "junit.xml", "summary.md"]) {
    rmSync(join(runDir, file), { force: true });
  }
  const path = join(runDir, "history.jsonl");
  const lines = readFileSync(path, "utf8").split("\n").slice(0, keep);
  writeFileSync(path, `${lines.join("\n")}\n`);
  return parseHistory(readFileSync(path, "utf8"));
}

/** Invokes without a completion in `ops`. */
function pendingIn(ops: readonly Op[]): number {
  const open = new Set<number>();
  for (const op of ops) {
    if (op.process === "nemesis") continue;
    if (op.type === "invoke") open.add(op.process);
    else open.delete(op.process);
  }
  return open.size;
}

describe("faultline check RUN_DIR", () => {
  it("re-judges a run cut mid-way: pending ops indeterminate, results.json and report written, an existing verdict kept", async () => {
    const store = tempStore();
    const run = await runLine(RUN, store);
    expect(run.exitCode, run.stdout + run.stderr).toBe(0);
    const dir = realpathSync(join(store, "latest"));
    const full = parseHistory(readFileSync(join(dir, "history.jsonl"), "utf8"));
    const original = readFileSync(join(dir, "results.json"), "utf8");

    // Judged again as it stands: the same verdict, in recheck.json; results.json untouched.
    const again = await runCli(["check", join(store, "latest")]);
    expect(again.exitCode, again.stderr).toBe(0);
    expect(again.stdout).toMatch(
      /^VALID {2}.*latest \(broadcast, judged again from history\.jsonl\)/,
    );
    expect(again.stdout).toMatch(/\n0 ops pending when the history ended/);
    expect(again.stdout).toMatch(/recheck\.json \(results\.json kept as it was\)/);
    expect(readFileSync(join(dir, "results.json"), "utf8")).toBe(original);
    expect(JSON.parse(readFileSync(join(dir, "recheck.json"), "utf8")).valid).toBe(true);

    // Cut after the first final read completed: the other two are pending, one read judges.
    const firstFinalOk = full.findIndex((op) => op.final && op.type === "ok");
    const cut = crashAfter(dir, firstFinalOk + 1);
    expect(pendingIn(cut)).toBe(2);
    const late = await runCli(["check", dir, "--json"]);
    expect(late.exitCode, late.stderr).toBe(0);
    expect(JSON.parse(late.stdout)).toMatchObject({ valid: true, pending: 2 });
    const written = readResults(store);
    expect(written.valid).toBe(true);
    expect(written.errors[0].message).toMatch(/2 ops pending when the history ended/);
    expect(readFileSync(join(dir, "report.html"), "utf8")).toMatch(
      /pending when the history ended/,
    );
    expect(existsSync(join(dir, "junit.xml"))).toBe(true);

    // Cut mid-run, right after an invoke: no final read happened, so set-full cannot say.
    const midInvoke = full.findLastIndex(
      (op, i) => i < full.length / 2 && op.type === "invoke" && op.process !== "nemesis",
    );
    const mid = crashAfter(dir, midInvoke + 1);
    const pending = pendingIn(mid);
    expect(pending).toBeGreaterThan(0);
    const early = await runCli(["check", join(store, "latest")]);
    expect(early.exitCode, early.stderr).toBe(2);
    expect(early.stdout).toMatch(/^UNKNOWN {2}/);
    expect(early.stdout).toContain(
      `\n${pending} op${pending === 1 ? "" : "s"} pending when the history ended, taken as indeterminate (info).`,
    );
    expect(readResults(store).valid).toBe("unknown");
  });

  it("a cut run whose nodes lost values is still INVALID", async () => {
    const store = tempStore();
    const fixture = join(ROOT, "test", "fixtures", "runs", "invalid-set");
    const [stamp] = readdirSync(fixture);
    const dir = join(store, "g-set-gossip", stamp as string);
    cpSync(join(fixture, stamp as string), dir, { recursive: true });
    const full = parseHistory(readFileSync(join(dir, "history.jsonl"), "utf8"));
    // Two of the four final reads completed before the "crash".
    const secondFinalOk = full.findIndex(
      (op, i) =>
        op.final && op.type === "ok" && full.slice(0, i).some((o) => o.final && o.type === "ok"),
    );
    expect(pendingIn(crashAfter(dir, secondFinalOk + 1))).toBe(2);
    // A SIGKILL mid-write also leaves a torn last line, which is not an op.
    appendFileSync(join(dir, "history.jsonl"), '{"index":118,"time":4862');
    const r = await runCli(["check", dir]);
    expect(r.exitCode, r.stderr).toBe(1);
    expect(r.stdout).toMatch(
      /^INVALID {2}.*\(g-set, judged again from history\.jsonl\)\nset-full: /,
    );
    expect(r.stdout).toMatch(/\n {2}set-full: INVALID — /);
    expect(JSON.parse(readFileSync(join(dir, "results.json"), "utf8")).valid).toBe(false);
  });

  it("--model belongs to plain histories: still required there, refused for a run directory", async () => {
    const store = tempStore();
    const fixture = join(ROOT, "test", "fixtures", "runs", "invalid-linearizable");
    cpSync(fixture, store, { recursive: true });
    const [stamp] = readdirSync(store);
    const dir = join(store, stamp as string);
    const history = join(dir, "history.jsonl");

    const noModel = await runCli(["check", history]);
    expect(noModel.exitCode).toBe(3);
    expect(noModel.stderr).toMatch(
      /--model is required for jsonl histories; .*or give the run directory \(faultline check .*\) to judge it with its workload's checkers$/,
    );
    // With --model the history alone is checked as before (a stale read of lin-kv).
    const withModel = await runCli(["check", history, "--model", "kv"]);
    expect(withModel.exitCode, withModel.stderr).toBe(1);
    expect(withModel.stdout).toMatch(/^NOT LINEARIZABLE .*\(jsonl, model kv\)/);

    const both = await runCli(["check", dir, "--model", "kv"]);
    expect(both.exitCode).toBe(3);
    expect(both.stderr).toMatch(
      /is a run directory, judged with its workload's own checkers; drop --model/,
    );
    // The run itself, judged again: the same stale read, by its workload's checker.
    const run = await runCli(["check", dir]);
    expect(run.exitCode, run.stderr).toBe(1);
    expect(run.stdout).toMatch(/\n {2}linearizable: INVALID — /);
  });

  it("an lsp run (udp transport) cut mid-way is judged by its delivery checker", async () => {
    const store = tempStore();
    const run = await runLine(
      "test --system lsp -w lsp --time-limit 2 --concurrency 2 --rate 20 --recovery-time 1 --seed 3",
      store,
    );
    expect(run.exitCode, run.stdout + run.stderr).toBe(0);
    const dir = realpathSync(join(store, "latest"));
    const lines = readFileSync(join(dir, "history.jsonl"), "utf8").split("\n").length;
    const cut = crashAfter(dir, Math.floor(lines / 2));
    // Each client keeps a Read outstanding, so a cut always leaves some pending.
    expect(pendingIn(cut)).toBeGreaterThan(0);
    const r = await runCli(["check", dir, "--json"]);
    expect(r.exitCode, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(out).toMatchObject({ valid: true, pending: pendingIn(cut) });
    expect(Object.keys(out.checkers)).toEqual(["delivery"]);
    expect(readResults(store).valid).toBe(true);
  });

  it("missing or malformed files: exit 3 and one line naming what is wrong", async () => {
    const store = tempStore();
    const make = (name: string, files: Record<string, string>) => {
      const dir = join(store, name);
      mkdirSync(dir);
      for (const [file, text] of Object.entries(files)) writeFileSync(join(dir, file), text);
      return dir;
    };
    const op = (index: number, type: string) =>
      JSON.stringify({ index, time: index, process: 0, type, f: "read", value: null });
    const test = JSON.stringify({ workload: "broadcast", node_count: 1, concurrency: 1 });
    const cases: [string, RegExp][] = [
      [make("empty", {}), /empty has no test\.json, so it is not a run directory/],
      [make("garbled-test", { "test.json": "{" }), /garbled-test\/test\.json is not a JSON object/],
      [make("no-history", { "test.json": test }), /no-history has no history\.jsonl$/],
      [
        make("garbled-history", {
          "test.json": test,
          "history.jsonl": `${op(0, "invoke")}\n{"index"\n${op(1, "ok")}\n`,
        }),
        /garbled-history\/history\.jsonl line 2: not valid JSON/,
      ],
      [
        make("mining-run", { "test.json": JSON.stringify({ workload: "mining" }) }),
        /mining-run is a mining run: its checkers need what the live run saw beyond history\.jsonl, so it cannot be re-checked$/,
      ],
      [
        make("conformance-run", {
          "test.json": JSON.stringify({ workload: "lsp", udp: { conformance: true } }),
        }),
        /conformance-run is a lsp run: .* cannot be re-checked$/,
      ],
      [
        make("odd-workload", { "test.json": JSON.stringify({ workload: "paxos" }) }),
        /odd-workload\/test\.json names an unknown workload "paxos"$/,
      ],
    ];
    for (const [dir, message] of cases) {
      const r = await runCli(["check", dir]);
      expect({ dir, exitCode: r.exitCode }).toEqual({ dir, exitCode: 3 });
      expect(r.stderr.trim().split("\n")).toHaveLength(1);
      expect(r.stderr.trim()).toMatch(message);
      expect(r.stdout).toBe("");
    }
  });
});
