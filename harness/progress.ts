// The live progress line's feed (faultline test's status line): the same fields on every
// transport, sampled on a fixed period.
import type { RunClock } from "./clock.js";

/** How often a run samples its progress for the status line. */
const PROGRESS_INTERVAL_MS = 250;

export interface Progress {
  elapsed_s: number;
  time_limit_s: number;
  phase: string;
  /** Faults in force now, e.g. "partition halves". */
  faults: string[];
  ok: number;
  fail: number;
  info: number;
}

/**
 * Calls `onProgress` every PROGRESS_INTERVAL_MS with what `sample` says of the run until the
 * returned stop is called; nothing runs without a listener.
 */
export function reportProgress(
  onProgress: ((progress: Progress) => void) | undefined,
  clock: RunClock,
  time_limit_s: number,
  sample: () => Omit<Progress, "elapsed_s" | "time_limit_s">,
): () => void {
  if (!onProgress) return () => {};
  const timer = setInterval(
    () => onProgress({ elapsed_s: clock.now_ns() / 1e9, time_limit_s, ...sample() }),
    PROGRESS_INTERVAL_MS,
  );
  return () => clearInterval(timer);
}
