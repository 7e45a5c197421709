// Watches a MapReduce job directory's output files (mr-out*, the MIT checker's glob) while the
// job runs: every `interval_ms` it lists them and reads each one whose size, mtime or inode
// changed, remembering every distinct content it saw (the atomic-output check) and which workers
// held the file open then (`holders`), and it can take a snapshot at any moment (when the first
// process exits; when the coordinator exits; when a worker dies).
import { createHash } from "node:crypto";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import type { OutputFile, OutputSnapshot, OutputVersion } from "../../checkers/mapreduce.js";
import { splitLine } from "../../checkers/mapreduce.js";
import type { DriverContext } from "../plugin.js";

export const OUTPUT_POLL_MS = 25;
/** Distinct versions remembered (a correct run has one per output file). */
const MAX_VERSIONS = 10_000;

/** True for the files `sort mr-out*` reads. */
export function isOutputName(name: string): boolean {
  return name.startsWith("mr-out");
}

export function describeOutput(text: string): OutputFile {
  const lines = text.split("\n").filter((l) => l.trim() !== "");
  const keys = lines.map((l) => splitLine(l)[0]).sort();
  return {
    hash: digest(text),
    size: Buffer.byteLength(text),
    lines: lines.length,
    complete: text === "" || text.endsWith("\n"),
    keys: digest(keys.join("\n")),
  };
}

function digest(text: string): string {
  return createHash("sha1").update(text).digest("hex");
}

interface Seen {
  stamp: string;
  hash: string;
}

export class OutputWatcher {
  readonly versions: OutputVersion[] = [];
  versions_dropped = 0;
  polls = 0;
  private readonly seen = new Map<string, Seen>();
  private timer: NodeJS.Timeout | undefined;

  /**
   * `holders` names, per output file, the workers holding it open now; asked once per poll that
   * found a new content, so a partial version says who was writing it.
   */
  constructor(
    private readonly dir: string,
    private readonly clock: DriverContext["clock"],
    private readonly holders: () => ReadonlyMap<string, readonly string[]> = () => new Map(),
    readonly interval_ms = OUTPUT_POLL_MS,
  ) {}

  start(): void {
    if (this.timer) return;
    this.timer = setInterval(() => this.poll(), this.interval_ms);
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  /** One look at the directory: records any content not seen before. */
  poll(): void {
    this.polls++;
    let holders: ReadonlyMap<string, readonly string[]> | undefined;
    for (const name of this.names()) {
      let stamp: string;
      try {
        const st = statSync(join(this.dir, name));
        if (!st.isFile()) continue;
        stamp = `${st.ino}:${st.size}:${st.mtimeMs}`;
      } catch {
        continue; // renamed or removed while we looked
      }
      const before = this.seen.get(name);
      if (before?.stamp === stamp) continue;
      const text = this.read(name);
      if (text === undefined) continue;
      const file = describeOutput(text);
      this.seen.set(name, { stamp, hash: file.hash });
      if (before?.hash === file.hash) continue;
      if (this.versions.length < MAX_VERSIONS) {
        holders ??= this.holders();
        const writers = holders.get(name) ?? [];
        this.versions.push({
          file: name,
          time_ns: this.clock.now_ns(),
          ...file,
          ...(writers.length > 0 && { writers: [...writers] }),
        });
      } else {
        this.versions_dropped++;
      }
    }
  }

  /** Every output file's content now. */
  contents(): Map<string, string> {
    const out = new Map<string, string>();
    for (const name of this.names()) {
      const text = this.read(name);
      if (text !== undefined) out.set(name, text);
    }
    return out;
  }

  /**
   * The workers last seen holding `file` open: the writers of its newest version that had any
   * (a version first seen just after its writer died has none).
   */
  lastWritersOf(file: string): readonly string[] {
    return this.versions.findLast((v) => v.file === file && v.writers)?.writers ?? [];
  }

  /** Output files whose last seen writers include `instance`. */
  filesLastWrittenBy(instance: string): string[] {
    const files = new Set(this.versions.map((v) => v.file));
    return [...files].filter((file) => this.lastWritersOf(file).includes(instance)).sort();
  }

  /** Every output file as it is now. */
  snapshot(): OutputSnapshot {
    const snap: OutputSnapshot = {};
    for (const [name, text] of this.contents()) snap[name] = describeOutput(text);
    return snap;
  }

  private names(): string[] {
    try {
      return readdirSync(this.dir).filter(isOutputName).sort();
    } catch {
      return [];
    }
  }

  private read(name: string): string | undefined {
    try {
      return readFileSync(join(this.dir, name), "utf8");
    } catch {
      return undefined;
    }
  }
}
