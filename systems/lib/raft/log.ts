// The Raft log in memory: entries numbered from 1, of which a prefix may have been compacted into
// a snapshot (snapshotIndex, snapshotTerm). Pure data structure: persisting it is storage.ts's
// job, deciding what to append is replication.ts's.
import { invariant } from "./invariant.js";

export interface LogEntry<C = unknown> {
  term: number;
  cmd: C;
}

export class RaftLog<C = unknown> {
  /** entries[k] is the entry at index snapshotIndex + 1 + k. */
  private entries: LogEntry<C>[] = [];
  private _snapshotIndex = 0;
  private _snapshotTerm = 0;

  /** The last index covered by the snapshot (0: none); entries up to it are gone. */
  get snapshotIndex(): number {
    return this._snapshotIndex;
  }

  get snapshotTerm(): number {
    return this._snapshotTerm;
  }

  get lastIndex(): number {
    return this._snapshotIndex + this.entries.length;
  }

  get lastTerm(): number {
    return this.entries.at(-1)?.term ?? this._snapshotTerm;
  }

  /** Entries held in memory (not compacted). */
  get length(): number {
    return this.entries.length;
  }

  /**
   * The term of the entry at `index`: 0 for index 0, the snapshot's term at snapshotIndex,
   * undefined when the index is compacted away or past the end.
   */
  termAt(index: number): number | undefined {
    if (index === this._snapshotIndex) return this._snapshotTerm;
    if (index < this._snapshotIndex || index > this.lastIndex) return undefined;
    return (this.entries[index - this._snapshotIndex - 1] as LogEntry<C>).term;
  }

  /** The entry at `index`; throws when it is compacted or past the end. */
  entry(index: number): LogEntry<C> {
    invariant(
      index > this._snapshotIndex && index <= this.lastIndex,
      () => `log entry ${index} is outside (${this._snapshotIndex}, ${this.lastIndex}]`,
    );
    return this.entries[index - this._snapshotIndex - 1] as LogEntry<C>;
  }

  /** Entries from `from` (inclusive), at most `maxCount` of them. */
  slice(from: number, maxCount = Number.POSITIVE_INFINITY): LogEntry<C>[] {
    invariant(from > this._snapshotIndex, () => `slice from compacted index ${from}`);
    const start = from - this._snapshotIndex - 1;
    return this.entries.slice(start, start + Math.min(maxCount, this.entries.length));
  }

  /** Appends at the end. Terms never decrease along the log. */
  append(entries: readonly LogEntry<C>[]): void {
    let last = this.lastTerm;
    for (const e of entries) {
      invariant(e.term >= last, () => `appending term ${e.term} after term ${last}`);
      last = e.term;
      this.entries.push(e);
    }
  }

  /** Deletes the entry at `from` and everything after it. */
  truncateFrom(from: number): void {
    invariant(
      from > this._snapshotIndex,
      () => `truncating at ${from}, inside the snapshot (${this._snapshotIndex})`,
    );
    if (from > this.lastIndex) return;
    this.entries.length = from - this._snapshotIndex - 1;
  }

  /**
   * The first index of the run of entries that share `index`'s term, not going below the
   * snapshot (used for fast backtracking: a follower tells the leader where that term starts).
   */
  firstIndexOfTermAt(index: number): number {
    const term = this.termAt(index);
    invariant(term !== undefined, () => `no entry at ${index}`);
    let i = index;
    while (i - 1 > this._snapshotIndex && this.termAt(i - 1) === term) i--;
    return i;
  }

  /** The last index holding `term`, or undefined if no uncompacted entry has it. */
  lastIndexOfTerm(term: number): number | undefined {
    for (let i = this.lastIndex; i > this._snapshotIndex; i--) {
      const t = this.termAt(i) as number;
      if (t === term) return i;
      if (t < term) return undefined; // terms only grow along the log
    }
    return this._snapshotTerm === term && this._snapshotIndex > 0 ? this._snapshotIndex : undefined;
  }

  /** Drops every entry up to `index`, which a snapshot now covers. */
  compactTo(index: number): void {
    if (index <= this._snapshotIndex) return;
    invariant(
      index <= this.lastIndex,
      () => `compacting to ${index} past the end ${this.lastIndex}`,
    );
    const term = this.termAt(index) as number;
    this.entries = this.entries.slice(index - this._snapshotIndex);
    this._snapshotIndex = index;
    this._snapshotTerm = term;
  }

  /**
   * Installs a snapshot ending at (index, term): entries after it are kept only if the log
   * already holds that very entry (Figure 13 rule 6), otherwise the whole log is discarded.
   */
  installSnapshot(index: number, term: number): void {
    invariant(
      index > this._snapshotIndex,
      () => `snapshot at ${index} is not past the current one at ${this._snapshotIndex}`,
    );
    if (this.termAt(index) === term) {
      this.compactTo(index);
      return;
    }
    this.entries = [];
    this._snapshotIndex = index;
    this._snapshotTerm = term;
  }
}
