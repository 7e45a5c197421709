// The apps' sleeps, scaled by FAULTLINE_MR_TIME_SCALE (a float, default 1; 0.2 makes every sleep
// 5x shorter) so CI runs of the timing and crash apps fit in seconds.
import { setTimeout as sleepMs } from "node:timers/promises";

/** Reads FAULTLINE_MR_TIME_SCALE; a value that is not a finite number ≥ 0 is an error. */
export function timeScale(env: NodeJS.ProcessEnv = process.env): number {
  const raw = env.FAULTLINE_MR_TIME_SCALE;
  if (raw === undefined || raw.trim() === "") return 1;
  const scale = Number(raw);
  if (!Number.isFinite(scale) || scale < 0) {
    throw new Error(`FAULTLINE_MR_TIME_SCALE must be a number >= 0, not "${raw}"`);
  }
  return scale;
}

/** Sleeps `ms` milliseconds times the time scale. */
export async function scaledSleep(ms: number): Promise<void> {
  await sleepMs(ms * timeScale());
}
