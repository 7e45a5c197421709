// Waiting helpers for drivers and the engine alike: every wait is bounded or abortable, so a
// Ctrl-C or the time limit ends it.
import { setTimeout as delay } from "node:timers/promises";

/** How often `until` re-tests its condition. */
const POLL_MS = 20;

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

/** Polls `done` until it holds (true), `timeout_ms` passes or `signal` fires (false). */
export async function until(
  done: () => boolean,
  timeout_ms: number,
  signal: AbortSignal,
): Promise<boolean> {
  const deadline = Date.now() + timeout_ms;
  while (!done()) {
    if (Date.now() >= deadline || signal.aborted) return false;
    await sleepUnlessAborted(POLL_MS, signal);
  }
  return true;
}
