// Durable files in a node's data dir (FAULTLINE_DATA_DIR, kept across kill and restart):
//   paxos.wal      one JSON line per change of a slot's acceptor/decided state; the last line
//                  for a slot wins. Rewritten without forgotten slots by compact().
//   <name>.json    whole-file state (a replicated state machine's snapshot: FileSnapshotStore;
//                  pb-kv's view), replaced with writeFileDurably (systems/lib/durable-file.ts).
// A SIGKILL never loses what write() returned from (the kernel has it); fsync is what a real
// power loss would need, and the acceptor pays for it before every promise and acceptance.

import { closeSync, fsyncSync, mkdirSync, openSync, readFileSync, writeSync } from "node:fs";
import { join } from "node:path";
import { readJsonFile, writeFileDurably } from "../durable-file.js";
import type { PaxosStorage, PersistedInstance } from "./paxos.js";
import type { Snapshot, SnapshotStore } from "./rsm.js";

interface WalRecord {
  /** slot */
  s: number;
  p: number;
  ab: number;
  av?: unknown;
  d?: true;
  v?: unknown;
}

function toRecord(seq: number, inst: PersistedInstance): WalRecord {
  const r: WalRecord = { s: seq, p: inst.acceptor.promised, ab: inst.acceptor.acceptedBallot };
  if (inst.acceptor.acceptedValue !== undefined) r.av = inst.acceptor.acceptedValue;
  if (inst.decided) {
    r.d = true;
    r.v = inst.value;
  }
  return r;
}

function fromRecord(r: WalRecord): PersistedInstance {
  return {
    acceptor: { promised: r.p, acceptedBallot: r.ab, acceptedValue: r.av },
    decided: r.d === true,
    ...(r.d === true && { value: r.v }),
  };
}

export class FilePaxosStorage implements PaxosStorage {
  private readonly path: string;
  private fd: number;

  constructor(dir: string) {
    mkdirSync(dir, { recursive: true });
    this.path = join(dir, "paxos.wal");
    this.fd = openSync(this.path, "a");
  }

  load(): { instances: Map<number, PersistedInstance>; floor: number } {
    const instances = new Map<number, PersistedInstance>();
    let floor = 0;
    const lines = readFileSync(this.path, "utf8").split("\n");
    for (const [i, line] of lines.entries()) {
      if (line === "") continue;
      let r: WalRecord | { floor: number };
      try {
        r = JSON.parse(line);
      } catch (err) {
        // Only the last line can be torn (killed mid-write); nothing was answered for it.
        if (i === lines.length - 1) break;
        throw new Error(`${this.path} line ${i + 1} is corrupt: ${(err as Error).message}`);
      }
      if ("floor" in r) floor = r.floor;
      else instances.set(r.s, fromRecord(r));
    }
    for (const seq of instances.keys()) if (seq < floor) instances.delete(seq);
    return { instances, floor };
  }

  save(seq: number, instance: PersistedInstance, sync: boolean): void {
    writeSync(this.fd, `${JSON.stringify(toRecord(seq, instance))}\n`);
    if (sync) fsyncSync(this.fd);
  }

  compact(floor: number, live: Map<number, PersistedInstance>): void {
    const lines = [JSON.stringify({ floor })];
    for (const [seq, inst] of live)
      if (seq >= floor) lines.push(JSON.stringify(toRecord(seq, inst)));
    writeFileDurably(this.path, `${lines.join("\n")}\n`);
    closeSync(this.fd);
    this.fd = openSync(this.path, "a");
  }
}

/** A state machine's snapshot in `<dir>/<name>`, replaced whole (temp file, fsync, rename). */
export class FileSnapshotStore implements SnapshotStore {
  private readonly path: string;
  constructor(dir: string, name = "snapshot.json") {
    mkdirSync(dir, { recursive: true });
    this.path = join(dir, name);
  }
  load(): Snapshot | undefined {
    return readJsonFile<Snapshot>(this.path);
  }
  save(snapshot: Snapshot): void {
    writeFileDurably(this.path, JSON.stringify(snapshot));
  }
}
