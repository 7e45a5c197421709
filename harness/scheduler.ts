// Spreads ops over time at a global average rate (ops/s), Jepsen's stagger: each op is due a
// random interval (uniform in [0, 2/rate] s) after the previous one, whichever worker takes it.
import type { RunClock } from "./clock.js";
import type { Random } from "./random.js";

/** A worker that fell this far behind does not get to burst to catch up. */
const MAX_BACKLOG_NS = 1e9;

export class RateScheduler {
  private next_ns: number;

  constructor(
    private readonly rate: number,
    private readonly clock: RunClock,
    private readonly random: Random,
  ) {
    if (!(rate >= 0)) throw new RangeError("rate must be >= 0");
    this.next_ns = clock.now_ns();
  }

  /** Milliseconds until the caller's next op may start; undefined when the rate is 0. */
  claim_ms(): number | undefined {
    if (this.rate === 0) return undefined;
    const now = this.clock.now_ns();
    if (this.next_ns < now - MAX_BACKLOG_NS) this.next_ns = now;
    const at = this.next_ns;
    this.next_ns += (this.random.float() * 2e9) / this.rate;
    return Math.max(0, (at - now) / 1e6);
  }
}
