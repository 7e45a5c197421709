import { describe, expect, it } from "vitest";
import type { RunClock } from "../../harness/clock.js";
import { Random } from "../../harness/random.js";
import { RateScheduler } from "../../harness/scheduler.js";

/** A clock the test moves by hand. */
class FakeClock {
  constructor(public ns = 0) {}
  now_ns(): number {
    return this.ns;
  }
  advance_ms(ms: number): void {
    this.ns += ms * 1e6;
  }
}

function make(rate: number, start_ns = 5e9, seed = 1) {
  const clock = new FakeClock(start_ns);
  const scheduler = new RateScheduler(rate, clock as unknown as RunClock, new Random(seed));
  return { clock, scheduler };
}

/** One worker that always waits as told: returns the start times (ns) of `count` ops. */
function runSingleWorker(rate: number, count: number, seed = 1): number[] {
  const { clock, scheduler } = make(rate, 0, seed);
  const starts: number[] = [];
  for (let i = 0; i < count; i++) {
    const wait = scheduler.claim_ms() as number;
    clock.advance_ms(wait);
    starts.push(clock.ns);
  }
  return starts;
}

describe("RateScheduler", () => {
  it("rejects a negative or NaN rate", () => {
    const clock = new FakeClock();
    expect(() => new RateScheduler(-1, clock as unknown as RunClock, new Random(1))).toThrow(
      RangeError,
    );
    expect(
      () => new RateScheduler(Number.NaN, clock as unknown as RunClock, new Random(1)),
    ).toThrow(RangeError);
  });

  it("rate 0 issues no ops: claim_ms() is always undefined", () => {
    const { clock, scheduler } = make(0);
    for (let i = 0; i < 10; i++) {
      expect(scheduler.claim_ms()).toBeUndefined();
      clock.advance_ms(1000);
    }
  });

  it("lets the first op start at once", () => {
    const { scheduler } = make(10);
    expect(scheduler.claim_ms()).toBe(0);
  });

  it.each([1, 10, 100, 2000])("averages the requested rate (%i ops/s) over many claims", (rate) => {
    const count = 5000;
    const starts = runSingleWorker(rate, count);
    const span_s = ((starts.at(-1) as number) - (starts[0] as number)) / 1e9;
    const achieved = (count - 1) / span_s;
    expect(achieved).toBeGreaterThan(rate * 0.95);
    expect(achieved).toBeLessThan(rate * 1.05);
  });

  it("staggers ops randomly within [0, 2/rate] s of each other", () => {
    const rate = 50;
    const starts = runSingleWorker(rate, 2000);
    const gaps = starts.slice(1).map((t, i) => (t - (starts[i] as number)) / 1e9);
    expect(Math.min(...gaps)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...gaps)).toBeLessThanOrEqual(2 / rate + 1e-9);
    // Not a fixed period: the gaps cover the range.
    expect(Math.min(...gaps)).toBeLessThan(0.1 / rate);
    expect(Math.max(...gaps)).toBeGreaterThan(1.9 / rate);
  });

  it("spreads a shared rate over many concurrent workers", () => {
    // 10 workers claim whenever they are free; each op takes no time. The total rate must be
    // the requested one, not 10×.
    const rate = 100;
    const { clock, scheduler } = make(rate, 0);
    const due: number[] = Array(10).fill(0);
    let ops = 0;
    while (clock.ns < 20e9) {
      // The worker due soonest claims next.
      const w = due.indexOf(Math.min(...due));
      clock.ns = Math.max(clock.ns, due[w] as number);
      const wait = scheduler.claim_ms() as number;
      due[w] = clock.ns + wait * 1e6;
      if (due[w] <= 20e9) ops++;
    }
    expect(ops / 20).toBeGreaterThan(rate * 0.93);
    expect(ops / 20).toBeLessThan(rate * 1.07);
  });

  it("returns how long the caller must wait, counted from now", () => {
    const { clock, scheduler } = make(1); // gaps of up to 2 s
    scheduler.claim_ms(); // due now; the next is due up to 2 s later
    const first = scheduler.claim_ms() as number;
    expect(first).toBeGreaterThanOrEqual(0);
    expect(first).toBeLessThanOrEqual(2000);
    clock.advance_ms(first / 2);
    // Asking again does not claim the same slot: it is the one after, minus time passed.
    const second = scheduler.claim_ms() as number;
    expect(second).toBeGreaterThanOrEqual(first / 2 - 1e-6);
  });

  it("caps the backlog at 1 s: after a long stall, no more than 1 s of ops burst out", () => {
    const rate = 100;
    const { clock, scheduler } = make(rate, 0);
    scheduler.claim_ms();
    clock.advance_ms(10_000); // everyone stalled for 10 s
    let immediate = 0;
    while (scheduler.claim_ms() === 0) immediate++;
    expect(immediate).toBeLessThanOrEqual(rate * 1 + 1);
  });

  it("a backlog just under 1 s is caught up, never more", () => {
    const rate = 100;
    const { clock, scheduler } = make(rate, 0, 3);
    // The slots claimed so far end at some point; move the clock 0.9 s past it.
    scheduler.claim_ms();
    const pending = scheduler.claim_ms() as number;
    clock.advance_ms(pending + 900);
    let immediate = 0;
    while (scheduler.claim_ms() === 0) immediate++;
    // About 0.9 s worth of ops at 100/s may start at once; never more than 1 s worth.
    expect(immediate).toBeGreaterThan(60);
    expect(immediate).toBeLessThanOrEqual(rate + 1);
  });

  it("is deterministic for a seed", () => {
    expect(runSingleWorker(20, 100, 9)).toEqual(runSingleWorker(20, 100, 9));
    expect(runSingleWorker(20, 100, 9)).not.toEqual(runSingleWorker(20, 100, 10));
  });
});
