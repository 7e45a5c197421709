import { setTimeout as delay } from "node:timers/promises";

// The run's monotonic clock: nanoseconds since the run started, never a node's wall clock.
export class RunClock {
  private readonly start = process.hrtime.bigint();
  /** Wall-clock time at the start, to relate history times to what nodes report. */
  readonly wall_start_ms = Date.now();

  now_ns(): number {
    return Number(process.hrtime.bigint() - this.start);
  }
}

/** Sleeps `ms`; false when `signal` fired first (or already had). */
export async function sleepUnlessAborted(ms: number, signal: AbortSignal): Promise<boolean> {
  if (signal.aborted) return false;
  try {
    await delay(ms, undefined, { signal });
    return true;
  } catch {
    return false;
  }
}

/** Resolves once `signal` fires (at once if it already has). */
export function untilAborted(signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) resolve();
    else signal.addEventListener("abort", () => resolve(), { once: true });
  });
}
