// Small run directories for the sweep tests, written as the harness writes them
// (harness/run-files.ts, harness/history-recorder.ts): test.json, results.json, history.jsonl.
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { type Op, serializeOp } from "../../checkers/history.js";

export const TEST_NAME = "broadcast-gossip-lose-messages";

export interface FakeRun {
  seed: number;
  /** results.json; omitted when the run never finished. */
  results?: Record<string, unknown>;
  /** history.jsonl, as ops without `index` (the position is the index, as the recorder does). */
  history?: Array<Omit<Op, "index">>;
  stamp?: string;
  test?: string;
}

/** Writes `<store>/<test>/<stamp>/` for one seed; returns the run directory. */
export function writeFakeRun(store: string, run: FakeRun): string {
  const dir = join(store, run.test ?? TEST_NAME, run.stamp ?? `2026-01-01T00000${run.seed % 10}`);
  mkdirSync(dir, { recursive: true });
  writeJson(join(dir, "test.json"), {
    workload: "broadcast",
    seed: run.seed,
    store,
    command: `faultline test --system gossip -w broadcast --bug lose-messages --store ${store} --seed ${run.seed}`,
    wall_start_ms: 1_700_000_000_000 + run.seed,
  });
  if (run.results) writeJson(join(dir, "results.json"), { seed: run.seed, ...run.results });
  if (run.history) {
    const lines = run.history.map((op, index) => `${serializeOp({ index, ...op } as Op)}\n`);
    writeFileSync(join(dir, "history.jsonl"), lines.join(""));
  }
  return dir;
}

function writeJson(path: string, value: unknown): void {
  writeFileSync(path, `${JSON.stringify(value, null, 2)}\n`);
}

const S = 1e9;

/**
 * A set-full failure as the checker reports it: `lost` values missing from nodes' final reads.
 * Values, node names and counts differ per seed; the kind of failure does not.
 */
export function lostBroadcasts(seed: number, lost: number[], nodes: string[]): FakeRun {
  const history: Array<Omit<Op, "index">> = [];
  const ops: number[] = [];
  lost.forEach((value, i) => {
    const t = (1 + i + seed / 10) * S;
    history.push({ time: t, process: i, type: "invoke", f: "broadcast", value });
    ops.push(history.length);
    history.push({ time: t + 1e6, process: i, type: "ok", f: "broadcast", value });
  });
  for (const node of nodes) {
    history.push({ time: 20 * S, process: 9, type: "invoke", f: "read", value: null, node });
    ops.push(history.length);
    history.push({ time: 20 * S + 1e6, process: 9, type: "ok", f: "read", value: [] });
  }
  const lacks = nodes.map((n, i) => `${n} lacks ${i + 1}`).join(", ");
  return {
    seed,
    history,
    results: {
      valid: false,
      summary: "set-full found lost values",
      checkers: {
        "set-full": {
          valid: false,
          summary: `${lost.length} of ${lost.length + 3} acknowledged broadcasts are missing from final reads (${lacks}): ${lost.join(", ")}.`,
          ops,
        },
        crashes: { valid: true, summary: "no node exited on its own" },
      },
      nodes: Object.fromEntries(nodes.map((n) => [n, { crashes: [] }])),
      duration_s: 21,
    },
  };
}

/** A run whose only failure is a node that crashed (no ops named), as the maelstrom transport says. */
export function crashedNode(seed: number, time_ns: number): FakeRun {
  return {
    seed,
    history: [{ time: 1e6, process: 0, type: "invoke", f: "broadcast", value: 1 }],
    results: {
      valid: false,
      summary: `crashes: node n1 crashed (exit code 1) at ${(time_ns / S).toFixed(1)} s`,
      checkers: {
        crashes: {
          valid: false,
          summary: `node n1 crashed (exit code 1) at ${(time_ns / S).toFixed(1)} s`,
          crashes: [{ node: "n1", code: 1, signal: null, time_ns }],
        },
      },
      nodes: {
        n0: { crashes: [{ code: null, signal: "SIGKILL", expected: true, time_ns: 1e6 }] },
        n1: { crashes: [{ code: 1, signal: null, time_ns }] },
      },
    },
  };
}

export function judged(seed: number, valid: true | "unknown", extra = {}): FakeRun {
  return {
    seed,
    results: {
      valid,
      summary: valid === true ? "every checker passed" : "undecided",
      checkers: {},
      ...extra,
    },
  };
}
