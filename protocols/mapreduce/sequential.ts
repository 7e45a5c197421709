// The oracle: mrsequential in TypeScript. Maps every file, groups the pairs by key, reduces, and
// returns the sorted "key value" lines — what `sort mr-out* | grep .` of a correct distributed
// run must equal. It has no side effects and never sleeps or crashes: crash is checked against
// nocrash (as test-mr.sh does), early_exit runs without its sleep, and jobcount's oracle is its
// no-fault answer, one execution per map task ("a <files>"), with no marker files written.
// mtiming and rtiming have no oracle: their output is pids and timings.
import { readFile } from "node:fs/promises";
import { resolve } from "node:path";
import { earlyExitOracle } from "./apps/early-exit.js";
import { APPS, type App, type AppName, type KeyValue } from "./apps/index.js";
import { groupByKey } from "./group.js";

/** The side-effect-free app whose sequential output the distributed run of `app` must match. */
export function oracleApp(app: AppName): App | undefined {
  switch (app) {
    case "wc":
    case "indexer":
    case "nocrash":
      return APPS[app];
    case "crash":
      return APPS.nocrash;
    case "early_exit":
      return earlyExitOracle;
    case "jobcount":
    case "mtiming":
    case "rtiming":
      return undefined;
  }
}

/**
 * The sorted output lines of a sequential run of `app` over `files` (names as given to the
 * coordinator, resolved against `cwd`), sorted in JS string order.
 */
export async function sequential(app: AppName, files: string[], cwd: string): Promise<string[]> {
  if (app === "jobcount") return [`a ${files.length}`];
  const oracle = oracleApp(app);
  if (!oracle) throw new Error(`app ${app} has no sequential oracle: its output is timing data`);
  const pairs: KeyValue[] = [];
  for (const file of files) {
    const contents = await readFile(resolve(cwd, file), "utf8");
    for (const kv of await oracle.map(file, contents)) pairs.push(kv);
  }
  const lines: string[] = [];
  for (const [key, values] of groupByKey(pairs)) {
    lines.push(`${key} ${await oracle.reduce(key, values)}`);
  }
  return lines.sort();
}
