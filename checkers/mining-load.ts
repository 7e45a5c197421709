// The bitcoin server's load balance (systems/bitcoin/README.md "What faultline checks"): were
// miners kept busy while work waited to be handed out?
//
// The spec's wording is "work is spread roughly evenly over miners, minimising idle time", and
// its suggested test compares nonce counts "with equal-speed miners". Nonce counts judge the
// machine and the tie-breaking, not the scheduler: a miner the OS runs half as often finishes
// half as many chunks under a perfect scheduler, and a scheduler that hands a one-chunk job to
// the first free miner in join order gives that miner most small jobs. Both are correct. What a
// scheduler controls is whether a free miner gets work when there is work: so this checker
// replays what the proxy saw (jobs reaching the server, chunks handed out, results coming back)
// and counts, per miner, the chunks the server handed to others while it sat free and some job
// still had nonces nobody had been given, and still had a while later. Counting chunks the server
// chose to hand out, not idle time, keeps a stalled server or machine (every miner idle, no
// chunk handed out) from looking like an imbalance, and needs no idea of how fast a miner is.

import type { CheckResult } from "./result.js";

/** What the proxy saw that bears on load, in the order it saw it. */
export type LoadEvent =
  | { kind: "join"; time_ns: number; miner: string }
  /** A client's Request reached the server. */
  | { kind: "job"; time_ns: number; message: string; nonces: number }
  /** The server's Result left for a client whose job was `message`. */
  | { kind: "answer"; time_ns: number; message: string }
  /** The server handed `miner` a chunk of `message`. */
  | { kind: "chunk"; time_ns: number; miner: string; message: string; nonces: number }
  /** A miner's Result reached the server. */
  | { kind: "result"; time_ns: number; miner: string };

/** Thresholds (faultline's, tunable; systems/bitcoin/README.md "What faultline checks"). */
export const LOAD_BALANCE = {
  /**
   * A chunk handed to one miner passes over another if, this long after, the other still holds
   * nothing and work still waits: longer than a server takes to finish handing out one round
   * and the proxy to see it, even on a loaded machine.
   */
  pass_over_ms: 250,
  /** A miner passed over this often was left out, not unlucky once or twice. */
  max_passed_over: 10,
};

export interface MinerLoad {
  nonces: number;
  chunks: number;
  /** Chunks handed to other miners while this one sat free and work waited. */
  passed_over: number;
}

interface MinerState extends MinerLoad {
  outstanding: number;
  /** Since when it holds no chunk; undefined while it holds one. */
  free_since_ns: number | undefined;
}

/** A chunk went to another miner at `at_ns` while `miner` was free: judged `pass_over_ms` on. */
interface Candidate {
  miner: MinerState;
  at_ns: number;
}

/** Per miner: nonces handed to it, and how often work went to others while it sat free. */
export function loadByMiner(
  events: readonly LoadEvent[],
  pass_over_ms = LOAD_BALANCE.pass_over_ms,
): Record<string, MinerLoad> {
  const miners = new Map<string, MinerState>();
  const minerState = (name: string, time_ns: number): MinerState => {
    let m = miners.get(name);
    if (!m) {
      m = { nonces: 0, chunks: 0, passed_over: 0, outstanding: 0, free_since_ns: time_ns };
      miners.set(name, m);
    }
    return m;
  };
  const work = new PendingWork();
  // At most (miners - 1) per chunk, resolved in time order.
  const candidates: Candidate[] = [];
  let next = 0;
  const resolveUntil = (time_ns: number) => {
    for (; next < candidates.length; next++) {
      const c = candidates[next] as Candidate;
      if (c.at_ns + pass_over_ms * 1e6 > time_ns) break;
      const still_free = c.miner.free_since_ns !== undefined && c.miner.free_since_ns <= c.at_ns;
      if (still_free && work.waiting()) c.miner.passed_over++;
    }
  };
  for (const event of events) {
    resolveUntil(event.time_ns);
    switch (event.kind) {
      case "join":
        minerState(event.miner, event.time_ns);
        break;
      case "job":
        work.add(event.message, event.nonces);
        break;
      case "answer":
        work.answered(event.message);
        break;
      case "chunk": {
        work.handOut(event.message, event.nonces);
        const m = minerState(event.miner, event.time_ns);
        m.nonces += event.nonces;
        m.chunks++;
        m.outstanding++;
        m.free_since_ns = undefined;
        if (!work.waiting()) break;
        for (const other of miners.values()) {
          if (other.free_since_ns !== undefined)
            candidates.push({ miner: other, at_ns: event.time_ns });
        }
        break;
      }
      case "result": {
        const m = minerState(event.miner, event.time_ns);
        m.outstanding = Math.max(0, m.outstanding - 1);
        if (m.outstanding === 0) m.free_since_ns ??= event.time_ns;
        break;
      }
    }
  }
  resolveUntil(Number.POSITIVE_INFINITY);
  return Object.fromEntries(
    [...miners].map(([name, { nonces, chunks, passed_over }]) => [
      name,
      { nonces, chunks, passed_over },
    ]),
  );
}
/**
 * Nonces of unanswered jobs not yet handed to a miner, per message (identical jobs share one
 * message, so they share one count). Never negative: a server may hand a range out twice.
 */
class PendingWork {
  private readonly pending = new Map<string, number>();
  /** Sizes of the unanswered jobs per message, oldest first. */
  private readonly open = new Map<string, number[]>();
  private total = 0;

  add(message: string, nonces: number): void {
    this.set(message, (this.pending.get(message) ?? 0) + nonces);
    const sizes = this.open.get(message) ?? [];
    sizes.push(nonces);
    this.open.set(message, sizes);
  }

  handOut(message: string, nonces: number): void {
    this.set(message, Math.max(0, (this.pending.get(message) ?? 0) - nonces));
  }

  /** One job of `message` was answered: what it never handed out no longer waits. */
  answered(message: string): void {
    const sizes = this.open.get(message) ?? [];
    sizes.shift();
    if (sizes.length === 0) this.open.delete(message);
    const still_open = sizes.reduce((s, n) => s + n, 0);
    this.set(message, Math.min(this.pending.get(message) ?? 0, still_open));
  }

  waiting(): boolean {
    return this.total > 0;
  }

  private set(message: string, nonces: number): void {
    this.total += nonces - (this.pending.get(message) ?? 0);
    if (nonces === 0) this.pending.delete(message);
    else this.pending.set(message, nonces);
  }
}

export function checkLoadBalance(
  events: readonly LoadEvent[],
  options: { faults_injected: boolean; complete: boolean },
): CheckResult {
  const load = loadByMiner(events);
  const details = { load };
  const byNonces = Object.entries(load).sort((a, b) => a[1].nonces - b[1].nonces);
  const spread =
    byNonces.length >= 2
      ? `nonces: busiest ${byNonces.at(-1)?.[0]} ${byNonces.at(-1)?.[1].nonces}, least busy ${byNonces[0]?.[0]} ${byNonces[0]?.[1].nonces}`
      : "fewer than two miners";
  if (options.faults_injected) {
    return {
      valid: true,
      summary: `not judged (faults change who can work); ${spread}`,
      ...details,
    };
  }
  if (!options.complete) {
    return {
      valid: true,
      summary: `not judged (too many messages to keep); ${spread}`,
      ...details,
    };
  }
  const [name, worst] =
    Object.entries(load).sort((a, b) => b[1].passed_over - a[1].passed_over)[0] ?? [];
  const passed = worst?.passed_over ?? 0;
  if (passed >= LOAD_BALANCE.max_passed_over) {
    return {
      valid: false,
      summary: `a miner left idle while work waited: ${name} held nothing while the server handed ${passed} chunks to other miners, work still waiting ${LOAD_BALANCE.pass_over_ms} ms after each; ${spread}`,
      ...details,
    };
  }
  const most = passed === 0 ? "no miner" : `${name} at most ${passed} times`;
  return {
    valid: true,
    summary: `balanced: free miners got work (passed over: ${most}); ${spread}`,
    ...details,
  };
}
