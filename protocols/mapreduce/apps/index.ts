// The MapReduce applications (systems/mapreduce/README.md "Apps") as plug-in modules, and the
// reduce partition function. map and reduce may return a value or a Promise of it: callers always
// await.
import type { App, KeyValue } from "./app.js";
import { crash, nocrash } from "./crash.js";
import { earlyExit } from "./early-exit.js";
import { indexer } from "./indexer.js";
import { jobcount } from "./jobcount.js";
import { mtiming, rtiming } from "./timing.js";
import { wc } from "./wc.js";

// The types live in app.ts so the apps need not import this index that imports them.
export type { App, KeyValue };

export const APP_NAMES = [
  "wc",
  "indexer",
  "mtiming",
  "rtiming",
  "jobcount",
  "early_exit",
  "crash",
  "nocrash",
] as const;

export type AppName = (typeof APP_NAMES)[number];

export const APPS: Record<AppName, App> = {
  wc,
  indexer,
  mtiming,
  rtiming,
  jobcount,
  early_exit: earlyExit,
  crash,
  nocrash,
};

export function isAppName(name: string): name is AppName {
  return (APP_NAMES as readonly string[]).includes(name);
}

const FNV_OFFSET_BASIS = 0x811c9dc5;
const FNV_PRIME = 0x01000193;

/**
 * The reduce partition of a key is ihash(key) % nReduce: FNV-1a 32-bit over the key's UTF-8
 * bytes, & 0x7fffffff (the lab's ihash).
 */
export function ihash(key: string): number {
  let h = FNV_OFFSET_BASIS;
  const xorByte = (byte: number) => {
    h = Math.imul(h ^ byte, FNV_PRIME) >>> 0;
  };
  for (const ch of key) {
    const cp = ch.codePointAt(0) as number;
    if (cp < 0x80) {
      xorByte(cp);
    } else if (cp < 0x800) {
      xorByte(0xc0 | (cp >> 6));
      xorByte(0x80 | (cp & 0x3f));
    } else if (cp < 0x10000) {
      xorByte(0xe0 | (cp >> 12));
      xorByte(0x80 | ((cp >> 6) & 0x3f));
      xorByte(0x80 | (cp & 0x3f));
    } else {
      xorByte(0xf0 | (cp >> 18));
      xorByte(0x80 | ((cp >> 12) & 0x3f));
      xorByte(0x80 | ((cp >> 6) & 0x3f));
      xorByte(0x80 | (cp & 0x3f));
    }
  }
  return (h & 0x7fffffff) >>> 0;
}
