// early_exit: Map emits (filename, "1"); Reduce sleeps 3 s when the key contains "sherlock" or
// "tom" (so a worker or coordinator that exits early leaves those outputs missing), then returns
// the count. `earlyExitOracle` is the same without the sleep, for the sequential oracle.
import type { App, KeyValue } from "./app.js";
import { scaledSleep } from "./time.js";

/** The slow keys' Reduce sleep, before FAULTLINE_MR_TIME_SCALE. */
export const EARLY_EXIT_SLEEP_MS = 3_000;

function makeEarlyExit(sleep: (ms: number) => Promise<void>): App {
  return {
    map(filename: string): KeyValue[] {
      return [{ key: filename, value: "1" }];
    },
    async reduce(key: string, values: string[]): Promise<string> {
      if (key.includes("sherlock") || key.includes("tom")) await sleep(EARLY_EXIT_SLEEP_MS);
      return String(values.length);
    },
  };
}

export const earlyExit = makeEarlyExit(scaledSleep);
export const earlyExitOracle = makeEarlyExit(async () => {});
