// raft-kv's durable state: what is synced comes back after a restart; a torn last write is cut
// off; a damaged record in the middle is refused; compaction replaces the file atomically; and
// the two persistence bugs lose exactly what they claim to.
import {
  appendFileSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  truncateSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import type { RaftLog } from "../../systems/lib/raft/log.js";
import {
  CorruptStateError,
  decodeRecord,
  encodeRecord,
  Storage,
  WAL_FILE,
} from "../../systems/lib/raft/storage.js";

const dirs: string[] = [];
function freshDir(): string {
  const dir = mkdtempSync(join(tmpdir(), "raft-kv-storage-"));
  dirs.push(dir);
  return dir;
}
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

const entry = (term: number, cmd: string) => ({ term, cmd });

/** Writes a small history: term 3, vote n1, entries 1..4 with a conflict rewritten at 3. */
function writeHistory(dir: string): void {
  const s = new Storage<string>(dir);
  s.recover();
  s.stageHardState({ term: 2, vote: "n2", commit: 0 });
  s.stageEntries(1, [entry(1, "a"), entry(2, "b"), entry(2, "c")]);
  s.sync();
  s.stageEntries(3, [entry(3, "C"), entry(3, "d")]); // a leader of term 3 replaced entry 3
  s.stageHardState({ term: 3, vote: "n1", commit: 2 });
  s.sync();
  s.close();
}

const cmds = (log: RaftLog<string>) =>
  Array.from({ length: log.lastIndex - log.snapshotIndex }, (_, k) =>
    log.entry(log.snapshotIndex + 1 + k),
  ).map((e) => `${e.term}:${e.cmd}`);

describe("records", () => {
  it("round-trip, and any flipped byte or cut makes a record unreadable", () => {
    const line = encodeRecord({ t: "hard", term: 7, vote: "n3", commit: 4, note: "héllo" });
    expect(line.endsWith("\n")).toBe(true);
    const bytes = Buffer.from(line.slice(0, -1));
    expect(decodeRecord(bytes)).toEqual({
      t: "hard",
      term: 7,
      vote: "n3",
      commit: 4,
      note: "héllo",
    });
    for (let i = 0; i < bytes.length; i++) {
      const flipped = Buffer.from(bytes);
      flipped[i] = (flipped[i] as number) ^ 0x01;
      expect(decodeRecord(flipped), `byte ${i} flipped`).toBeUndefined();
      expect(decodeRecord(bytes.subarray(0, i)), `cut at ${i}`).toBeUndefined();
    }
  });
});

describe("Storage", () => {
  it("starts empty in a fresh directory", () => {
    const r = new Storage<string>(freshDir()).recover();
    expect(r.hard).toEqual({ term: 0, vote: null, commit: 0 });
    expect(r.log.lastIndex).toBe(0);
    expect(r.snapshot).toBeUndefined();
  });

  it("gives back after a restart exactly what was synced, truncations included", () => {
    const dir = freshDir();
    writeHistory(dir);
    const r = new Storage<string>(dir).recover();
    expect(r.hard).toEqual({ term: 3, vote: "n1", commit: 2 });
    expect(cmds(r.log)).toEqual(["1:a", "2:b", "3:C", "3:d"]);
    expect(r.tornBytes).toBe(0);
  });

  it("does not write staged records before sync", () => {
    const dir = freshDir();
    const s = new Storage<string>(dir);
    s.recover();
    s.stageHardState({ term: 9, vote: "n1", commit: 0 });
    expect(s.hasStaged).toBe(true);
    expect(new Storage<string>(dir).recover().hard.term).toBe(0);
    s.sync();
    expect(new Storage<string>(dir).recover().hard.term).toBe(9);
  });

  it("cuts a torn last record at every possible length and keeps everything before it", () => {
    const dir = freshDir();
    writeHistory(dir);
    const path = join(dir, WAL_FILE);
    const full = readFileSync(path);
    const lastStart = full.lastIndexOf(0x0a, full.length - 2) + 1;
    for (let cut = lastStart; cut < full.length; cut++) {
      writeFileSync(path, full.subarray(0, cut));
      const r = new Storage<string>(dir).recover();
      // The last record (the term-3 hard state) is gone; the entries before it are intact.
      expect(r.hard).toEqual({ term: 2, vote: "n2", commit: 0 });
      expect(cmds(r.log)).toEqual(["1:a", "2:b", "3:C", "3:d"]);
      expect(r.tornBytes).toBe(cut - lastStart);
      // Recovery cut the file back to whole records, so new records follow cleanly.
      expect(readFileSync(path).length).toBe(lastStart);
    }
  });

  it("cuts a last record whose bytes were garbled (e.g. zero-filled after a crash)", () => {
    const dir = freshDir();
    writeHistory(dir);
    appendFileSync(join(dir, WAL_FILE), Buffer.alloc(100));
    const r = new Storage<string>(dir).recover();
    expect(r.tornBytes).toBe(100);
    expect(r.hard.term).toBe(3);
    const damaged = Buffer.from(encodeRecord({ t: "hard", term: 99, vote: null, commit: 0 }));
    damaged[20] = 0x41;
    appendFileSync(join(dir, WAL_FILE), damaged); // complete line, bad checksum, last
    expect(new Storage<string>(dir).recover().hard.term).toBe(3);
  });

  it("refuses a damaged record that is followed by good ones", () => {
    const dir = freshDir();
    writeHistory(dir);
    const path = join(dir, WAL_FILE);
    const bytes = readFileSync(path);
    bytes[12] = (bytes[12] as number) ^ 0x20; // inside the first record's JSON
    writeFileSync(path, bytes);
    expect(() => new Storage<string>(dir).recover()).toThrow(CorruptStateError);
    expect(() => new Storage<string>(dir).recover()).toThrow(/record 1 at byte 0/);
  });

  it("refuses records that cannot follow each other (a gap in the log)", () => {
    const dir = freshDir();
    writeFileSync(
      join(dir, WAL_FILE),
      encodeRecord({ t: "entries", from: 5, entries: [entry(1, "x")] }) +
        encodeRecord({ t: "hard", term: 1, vote: null, commit: 0 }),
    );
    expect(() => new Storage<string>(dir).recover()).toThrow(CorruptStateError);
  });

  it("compacts into one file that starts with the snapshot, replacing the old one atomically", () => {
    const dir = freshDir();
    writeHistory(dir);
    const s = new Storage<string>(dir);
    const r = s.recover();
    const before = s.walBytes;
    r.log.compactTo(3);
    s.rewrite(
      { index: 3, term: 3, state: { kv: "abC" } },
      { term: 3, vote: "n1", commit: 3 },
      r.log,
    );
    expect(s.bytesSinceRewrite).toBe(0);
    s.stageEntries(5, [entry(4, "e")]);
    s.sync();
    s.close();
    const again = new Storage<string>(dir).recover();
    expect(again.snapshot).toEqual({ index: 3, term: 3, state: { kv: "abC" } });
    expect([again.log.snapshotIndex, again.log.snapshotTerm]).toEqual([3, 3]);
    expect(cmds(again.log)).toEqual(["3:d", "4:e"]);
    expect(again.hard).toEqual({ term: 3, vote: "n1", commit: 3 });
    expect(before).toBeGreaterThan(0);
    // A leftover temporary file from a crash mid-compaction is ignored.
    writeFileSync(join(dir, `${WAL_FILE}.tmp`), "garbage");
    expect(cmds(new Storage<string>(dir).recover().log)).toEqual(["3:d", "4:e"]);
  });

  it("refuses a commit index past the end of the log", () => {
    const dir = freshDir();
    writeFileSync(join(dir, WAL_FILE), encodeRecord({ t: "hard", term: 1, vote: null, commit: 3 }));
    expect(() => new Storage<string>(dir).recover()).toThrow(/past the log's end/);
  });

  it("no-persist-vote: the term survives a restart, the vote does not", () => {
    const dir = freshDir();
    const s = new Storage<string>(dir, { fsync: true, persistVote: false });
    s.recover();
    s.stageHardState({ term: 4, vote: "n2", commit: 0 });
    s.sync();
    expect(new Storage<string>(dir).recover().hard).toEqual({ term: 4, vote: null, commit: 0 });
  });

  it("no-fsync: synced records sit in a user-space buffer that a kill loses", () => {
    const dir = freshDir();
    const s = new Storage<string>(dir, { fsync: false, persistVote: true });
    s.recover();
    s.stageEntries(1, [entry(1, "acknowledged")]);
    s.sync();
    // The process "dies" here: nothing reached the file.
    expect(new Storage<string>(dir).recover().log.lastIndex).toBe(0);
    s.close(); // a clean exit writes the buffer out
    expect(new Storage<string>(dir).recover().log.lastIndex).toBe(1);
    truncateSync(join(dir, WAL_FILE), 0);
  });
});
