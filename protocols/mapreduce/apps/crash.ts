// crash and nocrash: Map emits ("a", filename), ("b", len(filename)), ("c", len(contents)),
// ("d", "xyzzy"); Reduce returns the sorted values joined by spaces. crash calls maybeCrash()
// first in both: a third of the calls exit the process (status 1), a third stall 0-10 s.
// Lengths are in UTF-8 bytes, as Go's len().
import type { App, KeyValue } from "./app.js";
import { scaledSleep } from "./time.js";

/** maybeCrash draws r in [0, 1000): r < 330 exits, r < 660 stalls uniformly in [0, MAX) ms. */
export const CRASH_BELOW = 330;
export const STALL_BELOW = 660;
export const MAX_STALL_MS = 10_000;

export async function maybeCrash(): Promise<void> {
  const r = Math.floor(Math.random() * 1000);
  if (r < CRASH_BELOW) process.exit(1);
  if (r < STALL_BELOW) await scaledSleep(Math.floor(Math.random() * MAX_STALL_MS));
}

function pairs(filename: string, contents: string): KeyValue[] {
  return [
    { key: "a", value: filename },
    { key: "b", value: String(Buffer.byteLength(filename)) },
    { key: "c", value: String(Buffer.byteLength(contents)) },
    { key: "d", value: "xyzzy" },
  ];
}

function sortedJoin(values: string[]): string {
  return [...values].sort().join(" ");
}

export const nocrash: App = { map: pairs, reduce: (_key, values) => sortedJoin(values) };

export const crash: App = {
  async map(filename: string, contents: string): Promise<KeyValue[]> {
    await maybeCrash();
    return pairs(filename, contents);
  },
  async reduce(_key: string, values: string[]): Promise<string> {
    await maybeCrash();
    return sortedJoin(values);
  },
};
