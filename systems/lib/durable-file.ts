// Durable file writes for the reference systems: a file replaced atomically (never seen half
// written, never lost once this returns) and the directory fsync that makes a rename durable.
import {
  closeSync,
  existsSync,
  fsyncSync,
  openSync,
  readFileSync,
  renameSync,
  rmSync,
  writeSync,
} from "node:fs";
import { basename, dirname, join } from "node:path";

/**
 * Makes a rename in `dir` durable: only an fsync of the directory persists it. Some file systems
 * refuse fsync on a directory; there it is best effort.
 */
export function fsyncDir(dir: string): void {
  let fd: number | undefined;
  try {
    fd = openSync(dir, "r");
    fsyncSync(fd);
  } catch {
    // best effort
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

/**
 * Replaces `path` with `data` atomically and durably: a temporary file `<temp_prefix><name>` in
 * the same directory, fsync, rename, fsync the directory. Writers that may race on one path
 * give each a prefix of its own.
 */
export function writeFileDurably(path: string, data: string, temp_prefix = ".tmp-"): void {
  const dir = dirname(path);
  const temp = join(dir, `${temp_prefix}${basename(path)}`);
  try {
    const fd = openSync(temp, "w");
    try {
      const bytes = Buffer.from(data, "utf8");
      for (let off = 0; off < bytes.length; ) off += writeSync(fd, bytes, off);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(temp, path);
  } catch (err) {
    rmSync(temp, { force: true });
    throw err;
  }
  fsyncDir(dir);
}

/** Parses a JSON file written by writeFileDurably; undefined when there is none yet. */
export function readJsonFile<T>(path: string): T | undefined {
  if (!existsSync(path)) return undefined;
  return JSON.parse(readFileSync(path, "utf8")) as T;
}
