// Durable Raft state in the node's data dir: one write-ahead file, `raft.wal`, of records
//
//   <crc32 of the JSON, 8 hex digits> <JSON>\n
//
// each one of
//   {"t":"snapshot","index":I,"term":T,"state":...}  the state machine at I (first record only)
//   {"t":"hard","term":T,"vote":"n1"|null,"commit":C} currentTerm, votedFor, a commit index
//   {"t":"entries","from":I,"entries":[{"term":T,"cmd":...},...]}  log := log[..I-1] ++ entries
//
// Group commit: callers stage records, then `sync()` writes them with one write and one fsync;
// raft.ts sends no message that depends on staged state before that. Compaction rewrites the
// whole file (snapshot, hard state, remaining entries) into a temporary file, fsyncs it and
// renames it over the old one, so a crash leaves either the old file or the new one.
//
// Recovery: a last record that is cut short or fails its checksum is a torn write from a crash
// (it was never fsynced, so nothing depended on it): it is cut off. A bad record followed by
// good ones is real corruption, and recovery refuses to guess (CorruptStateError).
//
// The no-fsync bug: `sync()` only moves staged records into a user-space buffer, which is
// written to the file (still without fsync) every WRITEBACK_INTERVAL_MS. A SIGKILL loses that
// buffer, the way a power cut loses the page cache and a disk's write cache.

import {
  closeSync,
  existsSync,
  fsyncSync,
  ftruncateSync,
  mkdirSync,
  openSync,
  readFileSync,
  renameSync,
  writeSync,
} from "node:fs";
import { join } from "node:path";
import { crc32 } from "node:zlib";
import { fsyncDir } from "../durable-file.js";
import { invariant } from "./invariant.js";
import { type LogEntry, RaftLog } from "./log.js";

export const WAL_FILE = "raft.wal";
/** no-fsync bug: how often the user-space buffer reaches the file (Linux writes back every 5 s). */
export const WRITEBACK_INTERVAL_MS = 5000;

export interface HardState {
  term: number;
  vote: string | null;
  /** A commit index this node knew of (a lower bound; Raft does not require persisting it). */
  commit: number;
}

export interface SnapshotRecord {
  index: number;
  term: number;
  state: unknown;
}

type WalRecord<C> =
  | ({ t: "snapshot" } & SnapshotRecord)
  | ({ t: "hard" } & HardState)
  | { t: "entries"; from: number; entries: readonly LogEntry<C>[] };

export interface Recovered<C> {
  hard: HardState;
  snapshot: SnapshotRecord | undefined;
  log: RaftLog<C>;
  /** Bytes cut off the end as a torn write (0 normally). */
  tornBytes: number;
  records: number;
}

export class CorruptStateError extends Error {
  override name = "CorruptStateError";
}

export interface StorageOptions {
  /** false: the no-fsync bug (see the file comment). */
  fsync: boolean;
  /** false: the no-persist-vote bug, votedFor is written as null. */
  persistVote: boolean;
}

export function encodeRecord(record: unknown): string {
  const json = JSON.stringify(record);
  const crc = crc32(Buffer.from(json, "utf8")).toString(16).padStart(8, "0");
  return `${crc} ${json}\n`;
}

/** Parses one line (without its newline); undefined when it is damaged. */
export function decodeRecord(line: Buffer): unknown {
  if (line.length < 10 || line[8] !== 0x20) return undefined;
  const crc = line.subarray(0, 8).toString("latin1");
  const json = line.subarray(9);
  if (!/^[0-9a-f]{8}$/.test(crc) || crc32(json) !== Number.parseInt(crc, 16)) return undefined;
  try {
    return JSON.parse(json.toString("utf8"));
  } catch {
    return undefined;
  }
}

export class Storage<C = unknown> {
  readonly path: string;
  private fd: number | undefined;
  private staged: string[] = [];
  /** no-fsync bug: records "written" but only in this process's memory. */
  private unsynced: string[] = [];
  private writeback: NodeJS.Timeout | undefined;
  private bytes = 0;
  /** File size right after the last recovery or rewrite. */
  private baseBytes = 0;

  constructor(
    readonly dir: string,
    private readonly options: StorageOptions = { fsync: true, persistVote: true },
  ) {
    this.path = join(dir, WAL_FILE);
  }

  /** Size of the file plus everything staged or buffered, in bytes. */
  get walBytes(): number {
    return this.bytes;
  }

  /** Growth since the last compaction (or recovery), in bytes. */
  get bytesSinceRewrite(): number {
    return this.bytes - this.baseBytes;
  }

  get hasStaged(): boolean {
    return this.staged.length > 0;
  }

  /** Reads the file back, cutting off a torn last record; opens it for appending. */
  recover(): Recovered<C> {
    mkdirSync(this.dir, { recursive: true });
    const data = existsSync(this.path) ? readFileSync(this.path) : Buffer.alloc(0);
    const log = new RaftLog<C>();
    let hard: HardState = { term: 0, vote: null, commit: 0 };
    let snapshot: SnapshotRecord | undefined;
    let records = 0;
    let good = 0; // bytes of intact records
    let pos = 0;
    while (pos < data.length) {
      const nl = data.indexOf(0x0a, pos);
      const end = nl === -1 ? data.length : nl;
      const record =
        nl === -1 ? undefined : (decodeRecord(data.subarray(pos, end)) as WalRecord<C>);
      if (record === undefined || !this.replay(record, log, records)) {
        if (nl !== -1 && nl + 1 < data.length) {
          throw new CorruptStateError(
            `${this.path}: record ${records + 1} at byte ${pos} is damaged and not the last one`,
          );
        }
        break; // torn tail
      }
      if (record.t === "hard")
        hard = { term: record.term, vote: record.vote, commit: record.commit };
      if (record.t === "snapshot") {
        snapshot = { index: record.index, term: record.term, state: record.state };
      }
      records++;
      pos = end + 1;
      good = pos;
    }
    const tornBytes = data.length - good;
    this.fd = openSync(this.path, "a");
    if (tornBytes > 0) {
      ftruncateSync(this.fd, good);
      fsyncSync(this.fd);
    }
    this.bytes = good;
    this.baseBytes = good;
    invariant(
      hard.commit <= log.lastIndex,
      () => `${this.path}: commit index ${hard.commit} is past the log's end ${log.lastIndex}`,
    );
    return { hard, snapshot, log, tornBytes, records };
  }

  /** Applies one record to the log being rebuilt; false if it cannot follow what came before. */
  private replay(record: WalRecord<C>, log: RaftLog<C>, position: number): boolean {
    switch (record?.t) {
      case "snapshot":
        if (position !== 0 || !Number.isSafeInteger(record.index)) return false;
        if (record.index > 0) log.installSnapshot(record.index, record.term);
        return true;
      case "hard":
        return Number.isSafeInteger(record.term) && Number.isSafeInteger(record.commit);
      case "entries": {
        if (!Number.isSafeInteger(record.from) || !Array.isArray(record.entries)) return false;
        if (record.from < 1 || record.from > log.lastIndex + 1) return false; // not our output
        let entries = record.entries;
        let from = record.from;
        if (from <= log.snapshotIndex) {
          entries = entries.slice(log.snapshotIndex + 1 - from);
          from = log.snapshotIndex + 1;
        }
        log.truncateFrom(from);
        log.append(entries);
        return true;
      }
      default:
        return false;
    }
  }

  stageHardState(hard: HardState): void {
    const vote = this.options.persistVote ? hard.vote : null;
    this.stage({ t: "hard", term: hard.term, vote, commit: hard.commit });
  }

  /** Stages "the log from `from` on is `entries`" (a truncation when entries is empty). */
  stageEntries(from: number, entries: readonly LogEntry<C>[]): void {
    this.stage({ t: "entries", from, entries });
  }

  private stage(record: WalRecord<C>): void {
    const line = encodeRecord(record);
    this.staged.push(line);
    this.bytes += Buffer.byteLength(line);
  }

  /** Makes every staged record durable: one write and one fsync (group commit). */
  sync(): void {
    if (this.staged.length === 0) return;
    const text = this.staged.join("");
    this.staged = [];
    if (!this.options.fsync) {
      this.unsynced.push(text);
      this.writeback ??= setTimeout(() => this.writeBack(), WRITEBACK_INTERVAL_MS);
      return;
    }
    const fd = this.openFd();
    writeSync(fd, text);
    fsyncSync(fd);
  }

  /** no-fsync bug: the lazy write-out of the user-space buffer (still no fsync). */
  private writeBack(): void {
    this.writeback = undefined;
    if (this.unsynced.length === 0 || this.fd === undefined) return;
    writeSync(this.fd, this.unsynced.join(""));
    this.unsynced = [];
  }

  /**
   * Compaction: replaces the file with a snapshot, the hard state and the log after the
   * snapshot. Staged and buffered records are dropped: the new file holds everything they said.
   */
  rewrite(snapshot: SnapshotRecord, hard: HardState, log: RaftLog<C>): void {
    invariant(log.snapshotIndex === snapshot.index, "rewrite: log and snapshot disagree");
    const vote = this.options.persistVote ? hard.vote : null;
    const parts = [
      encodeRecord({ t: "snapshot", ...snapshot }),
      encodeRecord({ t: "hard", term: hard.term, vote, commit: hard.commit }),
    ];
    if (log.length > 0) {
      const entries = log.slice(snapshot.index + 1);
      parts.push(encodeRecord({ t: "entries", from: snapshot.index + 1, entries }));
    }
    const text = parts.join("");
    const tmp = `${this.path}.tmp`;
    const fd = openSync(tmp, "w");
    try {
      writeSync(fd, text);
      if (this.options.fsync) fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    if (this.fd !== undefined) closeSync(this.fd);
    renameSync(tmp, this.path);
    if (this.options.fsync) fsyncDir(this.dir);
    this.fd = openSync(this.path, "a");
    this.staged = [];
    this.unsynced = [];
    this.bytes = Buffer.byteLength(text);
    this.baseBytes = this.bytes;
  }

  /** Closes the file; buffered (no-fsync) records are written out, as a clean exit would. */
  close(): void {
    if (this.writeback) clearTimeout(this.writeback);
    this.writeBack();
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
  }

  private openFd(): number {
    this.fd ??= openSync(this.path, "a");
    return this.fd;
  }
}
