// Which output files a worker holds open, read from /proc/<pid>/fd (Linux). The atomic-output
// check uses it to tell a partial mr-out-Y whose writer was still alive (and went on to finish
// it) from one whose writer died while writing it. Elsewhere, or for a file held by a child of
// the worker's process, nothing is found and such a death is not attributed (a warning, never a
// false failure).
import { readdirSync, readlinkSync } from "node:fs";
import { join } from "node:path";
import { isOutputName } from "./output-watcher.js";

/** Names (mr-out-Y) of the output files in `dir` that process `pid` has open. */
export function openOutputFiles(pid: number, dir: string): string[] {
  const fds = `/proc/${pid}/fd`;
  let entries: string[];
  try {
    entries = readdirSync(fds);
  } catch {
    return []; // gone, not Linux, or not ours to look at
  }
  const names = new Set<string>();
  for (const fd of entries) {
    let target: string;
    try {
      target = readlinkSync(join(fds, fd));
    } catch {
      continue; // closed while we looked
    }
    const slash = target.lastIndexOf("/");
    const name = target.slice(slash + 1);
    if (target.slice(0, slash) === dir && isOutputName(name)) names.add(name);
  }
  return [...names].sort();
}
