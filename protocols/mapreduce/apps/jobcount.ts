// jobcount: counts map executions. Each Map call creates mr-worker-jobcount-<pid>-<k> (k counts
// the Map calls of this process) and sleeps 2-5 s; Reduce returns how many such files exist.
// Without faults a correct system runs each map task once, so the one output line is "a <maps>".
import { readdirSync, writeFileSync } from "node:fs";
import type { App, KeyValue } from "./app.js";
import { scaledSleep } from "./time.js";

/** Each Map call sleeps uniformly in [MIN, MIN + SPREAD) ms, before FAULTLINE_MR_TIME_SCALE. */
export const JOBCOUNT_MIN_SLEEP_MS = 2_000;
export const JOBCOUNT_SPREAD_MS = 3_000;

let calls = 0;

export const jobcount: App = {
  async map(): Promise<KeyValue[]> {
    writeFileSync(`mr-worker-jobcount-${process.pid}-${calls}`, "x");
    calls++;
    await scaledSleep(JOBCOUNT_MIN_SLEEP_MS + Math.floor(Math.random() * JOBCOUNT_SPREAD_MS));
    return [{ key: "a", value: "x" }];
  },
  reduce(): string {
    return String(readdirSync(".").filter((n) => n.startsWith("mr-worker-jobcount")).length);
  },
};
