// Fixture runs for the report tests: the stored runs in test/fixtures/runs (made with the real
// CLI; see its README.md), copied to a temporary store so rendering never touches the
// originals, and a generated 100,000-op run (too big to keep in the repository).
import { cpSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { checkFaults } from "../../checkers/faults.js";
import { type Op, serializeOp } from "../../checkers/history.js";
import { checkSetFull } from "../../checkers/set-full.js";
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

/** The value writeLateLossRun's run loses. */
export const LATE_LOST_VALUE = 117;
/** writeLateLossRun's run length (s) and gossip period (ms): about 18,000 journal events. */
const LATE_RUN_S = 30;
const GOSSIP_PERIOD_MS = 20;
const BROADCAST_PERIOD_MS = 150;

/**
 * Writes a 30 s broadcast run on n0..n2 whose only loss happens late: n0 is cut off from
 * 16 s to 20 s and the value 117, broadcast to n0 at about 17.7 s, never reaches n1 and n2
 * (their gossip from n0 is dropped). Gossip every 20 ms makes the journal about 18,000
 * events, so the first MAX_JOURNAL_EVENTS end long before the loss. results.json comes from
 * the real checkers. Returns the run dir.
 */
export function writeLateLossRun(store: string): string {
  const dir = join(store, "broadcast-late-loss", "2026-01-02T000000");
  mkdirSync(join(dir, "node-logs"), { recursive: true });
  const MS = 1e6;
  const nodes = ["n0", "n1", "n2"];
  const cut = { from_ns: 16_000 * MS, to_ns: 20_000 * MS };
  const history: Array<Omit<Op, "index">> = [];
  const journal: Array<Record<string, unknown> & { time: number }> = [];
  let id = 0;
  const message = (time: number, src: string, dest: string, body: unknown, drop = false) => {
    const m = id++;
    journal.push({ time, event: "send", id: m, src, dest, body });
    journal.push({
      time: time + 1 * MS,
      event: drop ? "drop" : "recv",
      id: m,
      src,
      dest,
      ...(drop ? { reason: "partitioned" } : {}),
    });
  };
  const cutOff = (t: number) => t >= cut.from_ns && t < cut.to_ns;
  for (let t = 0; t < LATE_RUN_S * 1e3 * MS; t += GOSSIP_PERIOD_MS * MS) {
    for (const src of nodes)
      for (const dest of nodes)
        if (src !== dest) {
          const dropped = cutOff(t) && (src === "n0" || dest === "n0");
          message(t, src, dest, { type: "gossip", round: t / (GOSSIP_PERIOD_MS * MS) }, dropped);
        }
  }
  history.push({
    time: cut.from_ns,
    process: "nemesis",
    type: "info",
    f: "start-partition",
    value: {
      shape: "isolate-one",
      cut: [
        ["n0", "n1"],
        ["n0", "n2"],
        ["n1", "n0"],
        ["n2", "n0"],
      ],
      sees: { n0: ["n0"], n1: ["n1", "n2"], n2: ["n1", "n2"] },
    },
  });
  history.push({
    time: cut.to_ns,
    process: "nemesis",
    type: "info",
    f: "stop-partition",
    value: { healed_links: 4 },
  });
  const values: number[] = [];
  for (let v = 0; (v + 1) * BROADCAST_PERIOD_MS < LATE_RUN_S * 1e3; v++) {
    const t = (v + 1) * BROADCAST_PERIOD_MS * MS + 5 * MS;
    const p = v % nodes.length;
    const node = nodes[p] as string;
    history.push({ time: t, process: p, type: "invoke", f: "broadcast", value: v, node });
    message(t, `c${p}`, node, { type: "broadcast", message: v, msg_id: v + 1 });
    message(t + 2 * MS, node, `c${p}`, { type: "broadcast_ok", in_reply_to: v + 1 });
    history.push({ time: t + 3 * MS, process: p, type: "ok", f: "broadcast", value: v });
    values.push(v);
  }
  const end = (LATE_RUN_S + 1) * 1e3 * MS;
  nodes.forEach((node, p) => {
    const seen = node === "n0" ? values : values.filter((v) => v !== LATE_LOST_VALUE);
    const t = end + p * 10 * MS;
    history.push({
      time: t,
      process: p,
      type: "invoke",
      f: "read",
      value: null,
      node,
      final: true,
    });
    message(t, `c${p}`, node, { type: "read", msg_id: 10_000 + p });
    message(t + 2 * MS, node, `c${p}`, {
      type: "read_ok",
      messages: seen,
      in_reply_to: 10_000 + p,
    });
    history.push({ time: t + 3 * MS, process: p, type: "ok", f: "read", value: seen, final: true });
  });
  history.sort((a, b) => a.time - b.time);
  journal.sort((a, b) => a.time - b.time);
  const ops: Op[] = history.map((e, index) => ({ index, ...e }) as Op);
  writeFileSync(join(dir, "history.jsonl"), `${ops.map(serializeOp).join("\n")}\n`);
  writeFileSync(
    join(dir, "messages.jsonl"),
    `${journal.map((e) => JSON.stringify(e)).join("\n")}\n`,
  );
  const setFull = checkSetFull(ops, { addF: "broadcast" });
  const faults = checkFaults(ops, { requested: ["partition"] });
  writeFileSync(
    join(dir, "results.json"),
    JSON.stringify({
      valid: setFull.valid,
      summary: `set-full: ${setFull.summary}`,
      checkers: { "set-full": setFull },
      stats: checkStats(ops),
      seed: 3,
      errors: [],
      warnings: faults.warnings,
      faults,
      nodes: Object.fromEntries(nodes.map((n) => [n, { crashes: [] }])),
      duration_s: end / 1e9,
    }),
  );
  writeFileSync(
    join(dir, "test.json"),
    JSON.stringify({
      workload: "broadcast",
      target: { name: "generated" },
      node_count: nodes.length,
      concurrency: nodes.length,
      seed: 3,
      command: "faultline test --system generated -w broadcast --seed 3",
      nemesis: { faults: ["partition"] },
      nodes,
      wall_start_ms: Date.UTC(2026, 0, 2),
    }),
  );
  return dir;
}
