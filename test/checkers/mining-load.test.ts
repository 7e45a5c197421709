import { describe, expect, it } from "vitest";
import { checkLoadBalance, type LoadEvent, loadByMiner } from "../../checkers/mining-load.js";

const MS = 1e6;
const CHUNK = 10_000;

/**
 * A scheduler replayed as the proxy would see it: `jobs` jobs of `chunks` chunks each arrive at
 * once; each free miner `m` among `usable` takes the next chunk and returns it after `chunk_ms[m]`.
 */
function simulate(options: {
  miners: number;
  usable?: (free: string[]) => string[];
  chunk_ms: (miner: string) => number;
  chunks: number;
}): LoadEvent[] {
  const names = Array.from({ length: options.miners }, (_, i) => `m${i}`);
  const events: LoadEvent[] = names.map((miner) => ({ kind: "join", time_ns: 0, miner }));
  events.push({ kind: "job", time_ns: 1 * MS, message: "j", nonces: options.chunks * CHUNK });
  const busy_until = new Map(names.map((n) => [n, 1]));
  let left = options.chunks;
  const timeline: LoadEvent[] = [];
  for (let now = 1; left > 0; now++) {
    const free = names.filter((n) => (busy_until.get(n) as number) <= now);
    for (const miner of (options.usable ?? ((f) => f))(free)) {
      if (left === 0) break;
      left--;
      const done = now + options.chunk_ms(miner);
      busy_until.set(miner, done);
      timeline.push({ kind: "chunk", time_ns: now * MS, miner, message: "j", nonces: CHUNK });
      timeline.push({ kind: "result", time_ns: done * MS, miner });
    }
  }
  const end = Math.max(...busy_until.values());
  timeline.push({ kind: "answer", time_ns: end * MS, message: "j" });
  return [...events, ...timeline.sort((a, b) => a.time_ns - b.time_ns)];
}

const judge = (events: LoadEvent[]) =>
  checkLoadBalance(events, { faults_injected: false, complete: true });

describe("load balance: free miners passed over while work waited", () => {
  it("passes miners of very different speeds kept busy (nonces 4× apart)", () => {
    const events = simulate({ miners: 3, chunks: 60, chunk_ms: (m) => (m === "m2" ? 200 : 50) });
    const load = loadByMiner(events);
    expect((load.m0?.nonces as number) / (load.m2?.nonces as number)).toBeGreaterThan(3);
    const r = judge(events);
    expect(r.valid, r.summary).toBe(true);
    expect(r.summary).toMatch(/^balanced: free miners got work \(passed over: no miner\)/);
  });

  it("catches a miner never used while work waited, naming it and the count", () => {
    const events = simulate({
      miners: 3,
      chunks: 60,
      chunk_ms: () => 50,
      usable: (free) => free.filter((m) => m !== "m2"),
    });
    const r = judge(events);
    expect(r.valid, r.summary).toBe(false);
    expect(r.summary).toMatch(
      /^a miner left idle while work waited: m2 held nothing while the server handed \d+ chunks to other miners/,
    );
    // Every chunk but the last 250 ms worth (5 rounds of 2): 50 of 60.
    expect(loadByMiner(events).m2?.passed_over).toBe(50);
  });

  it("does not blame a stalled server: miners idle together, then all served at once", () => {
    const events: LoadEvent[] = [
      { kind: "join", time_ns: 0, miner: "m0" },
      { kind: "join", time_ns: 0, miner: "m1" },
      { kind: "job", time_ns: 0, message: "j", nonces: 3 * CHUNK },
      { kind: "chunk", time_ns: 5_000 * MS, miner: "m0", message: "j", nonces: CHUNK },
      { kind: "chunk", time_ns: 5_001 * MS, miner: "m1", message: "j", nonces: CHUNK },
    ];
    expect(loadByMiner(events).m1?.passed_over).toBe(0);
  });

  it("a chunk that leaves no work waiting passes nobody over", () => {
    const events: LoadEvent[] = [
      { kind: "join", time_ns: 0, miner: "m0" },
      { kind: "join", time_ns: 0, miner: "m1" },
      { kind: "job", time_ns: 0, message: "j", nonces: CHUNK },
      { kind: "chunk", time_ns: 0, miner: "m0", message: "j", nonces: CHUNK },
      { kind: "job", time_ns: 1_000 * MS, message: "k", nonces: CHUNK },
    ];
    expect(loadByMiner(events).m1?.passed_over).toBe(0);
  });

  it("an answered job waits no more, even with nonces never handed out", () => {
    const events: LoadEvent[] = [
      { kind: "join", time_ns: 0, miner: "m0" },
      { kind: "join", time_ns: 0, miner: "m1" },
      { kind: "job", time_ns: 0, message: "j", nonces: 2 * CHUNK + 1 },
      { kind: "chunk", time_ns: 0, miner: "m0", message: "j", nonces: CHUNK },
      { kind: "chunk", time_ns: 0, miner: "m0", message: "j", nonces: CHUNK },
      { kind: "answer", time_ns: 10 * MS, message: "j" },
    ];
    expect(loadByMiner(events).m1?.passed_over).toBe(0);
  });

  it("is not judged with faults or when events were dropped", () => {
    const events = simulate({
      miners: 2,
      chunks: 80,
      chunk_ms: () => 50,
      usable: (f) => f.filter((m) => m === "m0"),
    });
    expect(judge(events).valid).toBe(false);
    const withFaults = checkLoadBalance(events, { faults_injected: true, complete: true });
    expect(withFaults.summary).toMatch(/^not judged \(faults change who can work\)/);
    const dropped = checkLoadBalance(events, { faults_injected: false, complete: false });
    expect(dropped.summary).toMatch(/^not judged \(too many messages to keep\)/);
  });
});
