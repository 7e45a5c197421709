// Fixture runs for the report tests: the stored runs in test/fixtures/runs (made with the real
// CLI; see its README.md), copied to a temporary store so rendering never touches the
// originals, and a generated 100,000-op run (too big to keep in the repository).
import { cpSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { checkFaults } from "../../checkers/faults.js";
import { type Op, serializeOp } from "../../checkers/history.js";
import { checkStats } from "../../checkers/stats.js";
import { Random } from "../../harness/random.js";

export const FIXTURE_STORE = resolve(import.meta.dirname, "..", "fixtures", "runs");
export const SCENARIOS = [
  "valid-broadcast",
  "invalid-linearizable",
  "invalid-set",
  "node-crash",
  "escaping",
] as const;
export type Scenario = (typeof SCENARIOS)[number] | "large";

/** What the escaping fixture's node (test/reports/evil-echo.mjs) puts in every reply and log. */
export const PAYLOAD = `<script>alert(1)</script>"'&<img src=x onerror=alert(2)></script><!--`;

/** A copy of the fixture store in a fresh temp dir; `runs[name]` is each scenario's run dir. */
export function copyFixtureStore(): {
  store: string;
  runs: Record<string, string>;
  remove: () => void;
} {
  const store = mkdtempSync(join(tmpdir(), "faultline-reports-"));
  cpSync(FIXTURE_STORE, store, { recursive: true });
  const runs: Record<string, string> = {};
  for (const scenario of SCENARIOS) {
    const stamps = readdirSync(join(store, scenario));
    runs[scenario] = join(store, scenario, stamps[0] as string);
  }
  return { store, runs, remove: () => rmSync(store, { recursive: true, force: true }) };
}

/**
 * Writes a run of `op_count` client ops (lin-kv-shaped: read/write/cas on rotating keys) by
 * `workers` workers over about op_count/1000 seconds, with every kind of fault, some failed and
 * indeterminate ops, and a synthetic failing checker naming a few ops. Returns the run dir.
 */
export function writeLargeRun(store: string, op_count = 100_000, workers = 10): string {
  const dir = join(store, "large", "2026-01-01T000000");
  mkdirSync(join(dir, "node-logs"), { recursive: true });
  const random = new Random(42);
  const events: Array<Omit<Op, "index">> = [];
  const nodes = ["n0", "n1", "n2", "n3", "n4"];
  const perWorker = Math.ceil(op_count / workers);
  const MS = 1e6;
  let made = 0;
  for (let w = 0; w < workers; w++) {
    let t = random.float() * 5 * MS;
    let process = w;
    for (let k = 0; k < perWorker && made < op_count; k++, made++) {
      const key = Math.floor(t / (2_000 * MS)) * 3 + random.int(0, 2);
      const f = random.pick(["read", "read", "write", "cas"] as const);
      const value =
        f === "read"
          ? { key }
          : f === "write"
            ? { key, value: random.int(0, 4) }
            : { key, from: random.int(0, 4), to: random.int(0, 4) };
      const node = nodes[w % nodes.length] as string;
      events.push({ time: Math.round(t), process, type: "invoke", f, value, node });
      const roll = random.float();
      const latency = (0.2 + random.exponential(1.5)) * MS;
      t += latency;
      if (roll < 0.9) {
        const result = f === "read" ? { key, value: random.int(0, 4) } : value;
        events.push({ time: Math.round(t), process, type: "ok", f, value: result });
      } else if (roll < 0.97) {
        events.push({
          time: Math.round(t),
          process,
          type: "fail",
          f,
          value,
          error: [20, "key does not exist"],
        });
      } else {
        t += 50 * MS; // a timeout
        events.push({
          time: Math.round(t),
          process,
          type: "info",
          f,
          value,
          error: ["net-timeout", "no reply"],
        });
        process += workers;
      }
      t += random.exponential(9) * MS;
    }
  }
  const end = events.reduce((m, e) => Math.max(m, e.time), 0);
  const kinds = ["partition", "kill", "pause", "packet", "clock"];
  for (let s = 5, k = 0; s < end / 1e9 - 5; s += 12, k++) {
    const kind = kinds[k % kinds.length] as string;
    const value =
      kind === "partition"
        ? {
            shape: "majority-minority",
            cut: [["n0", "n1"]],
            sees: { n0: ["n0"], n1: ["n1", "n2"], n2: ["n1", "n2"] },
          }
        : { nodes: ["n1"] };
    events.push({ time: s * 1e9, process: "nemesis", type: "info", f: `start-${kind}`, value });
    events.push({
      time: (s + 6) * 1e9,
      process: "nemesis",
      type: "info",
      f: `stop-${kind}`,
      value: { nodes: ["n1"] },
    });
  }
  // Stable sort by time keeps each worker's invoke before its completion.
  events.sort((a, b) => a.time - b.time);
  const history: Op[] = events.map((e, index) => ({ index, ...e }) as Op);
  writeFileSync(join(dir, "history.jsonl"), `${history.map(serializeOp).join("\n")}\n`);
  const faults = checkFaults(history, { requested: kinds });
  const marked = [10, 5_000, 50_000].map((i) => (history[i] as Op).index);
  const results = {
    valid: false,
    summary: `synthetic: a generated violation at ops ${marked.join(", ")}.`,
    checkers: {
      synthetic: {
        valid: false,
        summary: `a generated violation at ops ${marked.join(", ")}.`,
        ops: marked,
      },
    },
    stats: checkStats(history),
    net: { send_count: 0, recv_count: 0, drop_count: 0, msgs_per_op: null },
    seed: 42,
    errors: [],
    warnings: faults.warnings,
    faults,
    nodes: Object.fromEntries(nodes.map((n) => [n, { crashes: [] }])),
    duration_s: end / 1e9,
  };
  writeFileSync(join(dir, "results.json"), JSON.stringify(results));
  writeFileSync(
    join(dir, "test.json"),
    JSON.stringify({
      workload: "lin-kv",
      target: { name: "generated" },
      node_count: nodes.length,
      concurrency: workers,
      seed: 42,
      command: "faultline test --system generated -w lin-kv --seed 42",
      nemesis: { faults: kinds },
      nodes,
      wall_start_ms: Date.UTC(2026, 0, 1),
    }),
  );
  for (const n of nodes)
    writeFileSync(join(dir, "node-logs", `${n}.log`), `--- faultline: started ${n}\n`);
  return dir;
}
