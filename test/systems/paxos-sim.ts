// A simulated world for Paxos tests (paxos-kv.test.ts, paxos-rsm.test.ts): virtual time and
// timers, and a network that loses, duplicates, reorders and partitions messages, all from one
// seeded Random; and acceptor storage that survives a simulated restart.
import { Random } from "../../harness/random.js";
import type {
  PaxosMessage,
  PaxosStorage,
  PersistedInstance,
  Timers,
} from "../../systems/lib/paxos/paxos.js";

type Message = { type: string };

export interface InFlight<M extends Message = PaxosMessage> {
  from: string;
  to: string;
  body: M;
}

export class World<M extends Message = PaxosMessage> {
  now_ms = 0;
  readonly random: Random;
  readonly inFlight: InFlight<M>[] = [];
  loss = 0;
  duplication = 0;
  /** "a>b": messages from a to b are dropped. */
  readonly cut = new Set<string>();
  private timers: Array<{ at: number; id: number; fn: () => void }> = [];
  private nextTimer = 1;
  readonly handlers = new Map<string, (from: string, body: M) => void>();
  delivered = 0;
  readonly deliveredByType = new Map<string, number>();
  /** Timers fire only when no message is in flight (a network faster than every timeout). */
  messagesFirst = false;

  constructor(seed: number) {
    this.random = new Random(seed);
  }

  readonly timersApi: Timers = {
    setTimeout: (fn, ms) => {
      const id = this.nextTimer++;
      this.timers.push({ at: this.now_ms + Math.max(0, ms), id, fn });
      return id;
    },
    clearTimeout: (id) => {
      this.timers = this.timers.filter((t) => t.id !== id);
    },
  };

  send(from: string, to: string, body: M): void {
    // Through JSON, as on the wire: no peer can share an object with another.
    this.inFlight.push({ from, to, body: JSON.parse(JSON.stringify(body)) });
  }

  partition(groups: string[][]): void {
    this.cut.clear();
    for (const a of groups) {
      for (const b of groups) {
        if (a === b) continue;
        for (const x of a) for (const y of b) this.cut.add(`${x}>${y}`);
      }
    }
  }

  heal(): void {
    this.cut.clear();
  }

  /**
   * One event: usually a message (a random one: reordering), else the next timer due by
   * `horizon_ms`. False when there is nothing to do.
   */
  step(horizon_ms = Number.POSITIVE_INFINITY): boolean {
    this.timers.sort((a, b) => a.at - b.at || a.id - b.id);
    const timerDue = this.timers.length > 0 && (this.timers[0]?.at as number) <= horizon_ms;
    if (
      this.inFlight.length > 0 &&
      (!timerDue || this.messagesFirst || this.random.float() < 0.9)
    ) {
      const i = this.random.int(0, this.inFlight.length - 1);
      const m = this.inFlight.splice(i, 1)[0] as InFlight<M>;
      this.now_ms += 0.1;
      if (this.cut.has(`${m.from}>${m.to}`) || this.random.float() < this.loss) return true;
      if (this.random.float() < this.duplication) this.inFlight.push({ ...m });
      this.delivered++;
      this.deliveredByType.set(m.body.type, (this.deliveredByType.get(m.body.type) ?? 0) + 1);
      this.handlers.get(m.to)?.(m.from, m.body);
      return true;
    }
    if (!timerDue) return false;
    const t = this.timers.shift() as { at: number; fn: () => void };
    this.now_ms = Math.max(this.now_ms, t.at);
    t.fn();
    return true;
  }

  /** Runs until `done()` or `max_ms` of virtual time passed; returns whether done() held. */
  runUntil(done: () => boolean, max_ms: number): boolean {
    const end = this.now_ms + max_ms;
    while (!done()) {
      if (this.now_ms > end || !this.step()) return done();
    }
    return true;
  }

  /** Runs `ms` of virtual time: every message and every timer due by then. */
  runFor(ms: number): void {
    const end = this.now_ms + ms;
    while (this.step(end)) {}
    this.now_ms = Math.max(this.now_ms, end);
  }
}

/** Storage that survives a peer's "restart" (a new Paxos over the same object), like a file. */
export class DurableMemoryStorage implements PaxosStorage {
  readonly slots = new Map<number, PersistedInstance>();
  floor = 0;
  syncedSaves = 0;
  load() {
    return { instances: structuredClone(this.slots), floor: this.floor };
  }
  save(seq: number, instance: PersistedInstance, sync: boolean): void {
    this.slots.set(seq, structuredClone(instance));
    if (sync) this.syncedSaves++;
  }
  compact(floor: number, live: Map<number, PersistedInstance>): void {
    this.floor = floor;
    this.slots.clear();
    for (const [seq, inst] of live) if (seq >= floor) this.slots.set(seq, structuredClone(inst));
  }
}

export const names = (n: number) => Array.from({ length: n }, (_, i) => `n${i}`);
