import { sleepUnlessAborted, untilAborted } from "../workloads/timing.js";

// The engine's code waits with the same helpers the drivers use.
export { sleepUnlessAborted, untilAborted };

// The run's monotonic clock: nanoseconds since the run started, never a node's wall clock.
export class RunClock {
  private readonly start = process.hrtime.bigint();
  /** Wall-clock time at the start, to relate history times to what nodes report. */
  readonly wall_start_ms = Date.now();

  now_ns(): number {
    return Number(process.hrtime.bigint() - this.start);
  }
}
