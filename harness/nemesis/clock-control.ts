// Per-node clock offsets through libfaketime (ARCHITECTURE.md "Faults"; README.md "Faults"): each
// node starts with LD_PRELOAD of libfaketime and its own FAKETIME_TIMESTAMP_FILE; rewriting that
// file (e.g. "+250" or "-3600", seconds) moves the node's wall clock at once, because
// FAKETIME_NO_CACHE makes libfaketime re-read it. Monotonic clocks are left alone so timers keep
// working.
import {
  existsSync,
  mkdirSync,
  readFileSync,
  realpathSync,
  renameSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { join, resolve } from "node:path";
import { SetupError } from "../exit-codes.js";
import { groupPids } from "../process-groups.js";

const LIBFAKETIME_CANDIDATES = [
  "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1",
  "/usr/lib/aarch64-linux-gnu/faketime/libfaketime.so.1",
  "/usr/lib/faketime/libfaketime.so.1",
  "/usr/local/lib/faketime/libfaketime.so.1",
];

export function findLibfaketime(): string | undefined {
  const override = process.env.FAULTLINE_LIBFAKETIME;
  // LD_PRELOAD reads a relative path from each node's own working directory, not ours.
  if (override) return existsSync(override) ? resolve(override) : undefined;
  return LIBFAKETIME_CANDIDATES.find((path) => existsSync(path));
}

export class ClockControl {
  private readonly offsets = new Map<string, number>();

  private constructor(
    private readonly dir: string,
    private readonly library: string,
  ) {}

  /** Throws a SetupError with the install command when libfaketime is missing. */
  static create(runDir: string): ClockControl {
    const library = findLibfaketime();
    if (!library) {
      throw new SetupError(
        "clock faults need libfaketime, which is not installed: run `apt-get install libfaketime` (Debian/Ubuntu)",
      );
    }
    const dir = join(runDir, "clock");
    mkdirSync(dir, { recursive: true });
    return new ClockControl(dir, library);
  }

  /** The environment a node must start with so its clock can be moved. */
  envFor(node: string): Record<string, string> {
    this.write(node, this.offsets.get(node) ?? 0);
    return {
      LD_PRELOAD: this.library,
      FAKETIME_TIMESTAMP_FILE: this.file(node),
      FAKETIME_NO_CACHE: "1",
      FAKETIME_DONT_FAKE_MONOTONIC: "1",
    };
  }

  /** Sets a node's wall clock to real time + offset_s. */
  set(node: string, offset_s: number): void {
    this.write(node, offset_s);
  }

  /** Every clock back to real time; returns the nodes that had an offset. */
  reset(): string[] {
    const moved = [...this.offsets].filter(([, offset]) => offset !== 0).map(([node]) => node);
    for (const node of this.offsets.keys()) this.write(node, 0);
    return moved;
  }

  /**
   * Of `nodes`, those whose clock this cannot move: running, yet no process of their group has
   * libfaketime mapped (a statically linked binary, or a wrapper that cleared LD_PRELOAD).
   * `group` gives a running node's process group. A group with any process mapping it counts
   * as moved: which of its processes reads the clock is unknown, and a warning must not be
   * false.
   */
  unmoved(nodes: readonly string[], group: (node: string) => number | undefined): string[] {
    const library = realpathSync(this.library);
    return nodes.filter((node) => {
      const pgid = group(node);
      if (pgid === undefined) return false;
      const pids = groupPids(pgid);
      return pids.length > 0 && !pids.some((pid) => maps(pid).includes(library));
    });
  }

  /** Removes the clock files (after the nodes have stopped). */
  remove(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }

  private file(node: string): string {
    return join(this.dir, `${node}.faketime`);
  }

  private write(node: string, offset_s: number): void {
    this.offsets.set(node, offset_s);
    const text = `${offset_s >= 0 ? "+" : ""}${offset_s.toFixed(3)}`;
    const tmp = `${this.file(node)}.tmp`;
    writeFileSync(tmp, `${text}\n`);
    // rename is atomic: libfaketime never reads a half-written offset
    renameSync(tmp, this.file(node));
  }
}

/** A process's memory map; "" once it has gone. */
function maps(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/maps`, "utf8");
  } catch {
    return "";
  }
}
