// The bitcoin server's scheduler (systems/bitcoin/scheduler.ts): inclusive chunking, one chunk
// per idle miner, reassignment of a lost miner's chunk, dropping a lost client's jobs, shortest
// remaining first with aging, and the three bug variants.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { type BitcoinBug, type Chunk, Scheduler } from "../../systems/bitcoin/scheduler.js";

const ANY = { hash: 5n, nonce: 0n };

/** Runs a scheduler with its miners to completion; returns every chunk handed out. */
function drain(s: Scheduler, now = 0): Chunk[] {
  const chunks: Chunk[] = [];
  for (let round = 0; round < 10_000; round++) {
    const assigned = s.assign(now);
    if (assigned.length === 0) break;
    for (const a of assigned) {
      chunks.push(a.chunk);
      s.result(a.miner, { hash: 1000n - a.chunk.upper, nonce: a.chunk.upper });
    }
  }
  return chunks;
}

describe("chunking and assignment", () => {
  it("covers [lower, upper] inclusively in chunks of the given size", () => {
    fc.assert(
      fc.property(
        fc.bigInt({ min: 0n, max: 1000n }),
        fc.bigInt({ min: 0n, max: 500n }),
        fc.bigInt({ min: 1n, max: 64n }),
        (lower, span, size) => {
          const s = new Scheduler(size);
          s.addMiner(1);
          s.addMiner(2);
          s.addJob(9, "m", lower, lower + span, 0);
          const chunks = drain(s).sort((a, b) => (a.lower < b.lower ? -1 : 1));
          let next = lower;
          for (const c of chunks) {
            expect(c.lower).toBe(next);
            expect(c.upper - c.lower + 1n <= size).toBe(true);
            next = c.upper + 1n;
          }
          expect(next).toBe(lower + span + 1n);
        },
      ),
    );
  });

  it("gives each idle miner one chunk, and answers with the minimum once all are in", () => {
    const s = new Scheduler(10n);
    for (const m of [1, 2, 3]) s.addMiner(m);
    s.addJob(9, "m", 0n, 24n, 0);
    const first = s.assign(0);
    expect(first.map((a) => [a.miner, a.chunk.lower, a.chunk.upper])).toEqual([
      [1, 0n, 9n],
      [2, 10n, 19n],
      [3, 20n, 24n],
    ]);
    expect(s.assign(0)).toEqual([]); // everyone is busy
    expect(s.result(1, { hash: 50n, nonce: 3n })).toBeUndefined();
    expect(s.result(3, { hash: 7n, nonce: 22n })).toBeUndefined();
    expect(s.result(2, { hash: 9n, nonce: 11n })).toMatchObject({
      client: 9,
      result: { hash: 7n, nonce: 22n },
    });
  });

  it("ignores a Result from a miner that holds no chunk", () => {
    const s = new Scheduler();
    s.addMiner(1);
    expect(s.result(1, ANY)).toBeUndefined();
    expect(s.result(42, ANY)).toBeUndefined();
  });
});

describe("failures", () => {
  it("reassigns a lost miner's chunk to another miner", () => {
    const s = new Scheduler(10n);
    s.addMiner(1);
    s.addMiner(2);
    s.addJob(9, "m", 0n, 19n, 0);
    s.assign(0);
    s.removeMiner(1);
    s.result(2, { hash: 8n, nonce: 15n });
    const again = s.assign(0);
    expect(again.map((a) => [a.miner, a.chunk.lower, a.chunk.upper])).toEqual([[2, 0n, 9n]]);
    expect(s.result(2, { hash: 3n, nonce: 4n })).toMatchObject({ result: { hash: 3n, nonce: 4n } });
  });

  it("with no miner left, waits for a new one", () => {
    const s = new Scheduler(10n);
    s.addMiner(1);
    s.addJob(9, "m", 0n, 5n, 0);
    s.assign(0);
    s.removeMiner(1);
    expect(s.assign(0)).toEqual([]);
    s.addMiner(2);
    expect(s.assign(0).map((a) => a.miner)).toEqual([2]);
  });

  it("drops a lost client's job; its chunk's Result is ignored", () => {
    const s = new Scheduler(10n);
    s.addMiner(1);
    s.addJob(9, "gone", 0n, 99n, 0);
    s.assign(0);
    expect(s.dropClient(9)).toBe(1);
    expect(s.result(1, ANY)).toBeUndefined();
    expect(s.assign(0)).toEqual([]);
  });

  it("no-reassign loses the chunk, so the job never finishes", () => {
    const s = new Scheduler(10n, "no-reassign");
    s.addMiner(1);
    s.addMiner(2);
    s.addJob(9, "m", 0n, 19n, 0);
    s.assign(0);
    s.removeMiner(1);
    expect(s.result(2, ANY)).toBeUndefined();
    expect(s.assign(0)).toEqual([]);
    expect(s.jobCount).toBe(1);
  });
});

describe("scheduling", () => {
  function order(bug?: BitcoinBug): number[] {
    const s = new Scheduler(10n, bug);
    s.addMiner(1);
    s.addJob(1, "large", 0n, 999n, 0);
    s.assign(0);
    s.addJob(2, "small", 0n, 5n, 0.1);
    const finished: number[] = [];
    for (let round = 0; round < 1000 && finished.length < 2; round++) {
      const done = s.result(1, ANY);
      if (done) finished.push(done.client);
      s.assign(0.1);
    }
    return finished;
  }

  it("a small job after a large one finishes first (shortest remaining first)", () => {
    expect(order()).toEqual([2, 1]);
  });

  it("fifo-only makes the small job wait for the large one", () => {
    expect(order("fifo-only")).toEqual([1, 2]);
  });

  it("one-miner hands work only to the first miner to join", () => {
    const assigned = (bug?: BitcoinBug) => {
      const s = new Scheduler(10n, bug);
      for (const m of [1, 2, 3]) s.addMiner(m);
      s.addJob(1, "j", 0n, 99n, 0);
      return s.assign(0).map((a) => a.miner);
    };
    expect(assigned()).toEqual([1, 2, 3]);
    expect(assigned("one-miner")).toEqual([1]);
  });

  it("identical jobs finish in arrival order", () => {
    const s = new Scheduler(10n);
    s.addMiner(1);
    s.addMiner(2);
    for (let c = 1; c <= 4; c++) s.addJob(c, `j${c}`, 0n, 39n, c * 0.01);
    const finished: number[] = [];
    for (let round = 0; round < 1000 && finished.length < 4; round++) {
      for (const a of s.assign(1)) {
        const done = s.result(a.miner, ANY);
        if (done) finished.push(done.client);
      }
    }
    expect(finished).toEqual([1, 2, 3, 4]);
  });

  it("aging: a long-waiting large job eventually beats fresh small ones", () => {
    const s = new Scheduler(10n);
    s.addMiner(1);
    s.addJob(1, "large", 0n, 999n, 0);
    s.addJob(2, "small", 0n, 50n, 200); // 200 s later: the large job's priority has doubled 20 times
    expect(s.assign(200)[0]?.chunk.job.client).toBe(1);
  });

  it("off-by-one-range never searches the upper bound", () => {
    const s = new Scheduler(10n, "off-by-one-range");
    s.addMiner(1);
    s.addJob(9, "m", 0n, 20n, 0);
    const chunks = drain(s);
    expect(chunks.at(-1)?.upper).toBe(19n);
  });
});
