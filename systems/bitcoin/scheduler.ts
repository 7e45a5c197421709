// The bitcoin server's scheduler (README.md "The scheduler"), free of I/O so it can be read
// and tested on its own. Requests are split lazily into chunks of `chunkSize` nonces; every idle
// miner gets one chunk at a time (so equal miners get equal work); a lost miner's chunk goes
// back to the front of its job; a lost client's jobs are dropped (results for them are ignored).
//
// Which job an idle miner serves: shortest remaining work first, which minimises mean response
// time (a small request after a large one finishes first), with ties broken by arrival, so
// similar requests finish in arrival order. Remaining work is divided by an aging factor that
// doubles a job's priority every AGING_S seconds it has waited, so a large job is never starved
// by a stream of small ones ("earlier requests have some priority").
import { better, type MinHash } from "../../protocols/bitcoin/message.js";

export const BITCOIN_BUGS = ["no-reassign", "off-by-one-range", "fifo-only", "one-miner"] as const;
export type BitcoinBug = (typeof BITCOIN_BUGS)[number];

export function parseBitcoinBug(name: string | undefined): BitcoinBug | undefined {
  if (name === undefined) return undefined;
  if (!(BITCOIN_BUGS as readonly string[]).includes(name)) {
    throw new RangeError(`unknown bug "${name}"; choose from ${BITCOIN_BUGS.join(", ")}`);
  }
  return name as BitcoinBug;
}

/** The handout's recommended chunk: about 10,000 nonces. */
export const DEFAULT_CHUNK_SIZE = 10_000n;
/** Seconds of waiting that double a job's priority. */
export const AGING_S = 10;

export interface Chunk {
  job: Job;
  lower: bigint;
  upper: bigint;
}

export interface Job {
  id: number;
  client: number;
  data: string;
  arrival_s: number;
  /** Next nonce not yet cut into a chunk, and the last nonce of the job. */
  next: bigint;
  last: bigint;
  /** Chunks taken back from lost miners: served before new ones. */
  returned: Chunk[];
  /** Nonces whose result is not in yet. */
  remaining: bigint;
  best: MinHash | undefined;
}

export interface Assignment {
  miner: number;
  chunk: Chunk;
}

export interface Finished {
  client: number;
  job: Job;
  result: MinHash;
}

export class Scheduler {
  private readonly jobs = new Map<number, Job>();
  /** Miner conn id → the chunk it holds (undefined when idle); insertion order = join order. */
  private readonly miners = new Map<number, Chunk | undefined>();
  private next_job = 1;

  constructor(
    private readonly chunkSize: bigint = DEFAULT_CHUNK_SIZE,
    private readonly bug: BitcoinBug | undefined = undefined,
  ) {
    if (chunkSize < 1n) throw new RangeError("chunk size must be at least 1");
  }

  get minerCount(): number {
    return this.miners.size;
  }

  get jobCount(): number {
    return this.jobs.size;
  }

  isMiner(conn: number): boolean {
    return this.miners.has(conn);
  }

  addMiner(conn: number): void {
    if (!this.miners.has(conn)) this.miners.set(conn, undefined);
  }

  /** A miner was lost: its chunk goes back to its job (unless the no-reassign bug). */
  removeMiner(conn: number): Chunk | undefined {
    const chunk = this.miners.get(conn);
    this.miners.delete(conn);
    if (chunk && this.jobs.has(chunk.job.id) && this.bug !== "no-reassign") {
      chunk.job.returned.push(chunk);
    }
    return chunk;
  }

  /** A client's request for nonces [lower, upper], both inclusive. */
  addJob(client: number, data: string, lower: bigint, upper: bigint, now_s: number): Job {
    // The off-by-one bug treats the upper bound as exclusive: nonce `upper` is never searched.
    const last = this.bug === "off-by-one-range" && upper > lower ? upper - 1n : upper;
    const job: Job = {
      id: this.next_job++,
      client,
      data,
      arrival_s: now_s,
      next: lower,
      last,
      returned: [],
      remaining: last >= lower ? last - lower + 1n : 0n,
      best: undefined,
    };
    this.jobs.set(job.id, job);
    return job;
  }

  /** A client was lost: its jobs are forgotten; chunks already on miners run to no purpose. */
  dropClient(client: number): number {
    let dropped = 0;
    for (const job of [...this.jobs.values()]) {
      if (job.client === client) {
        this.jobs.delete(job.id);
        dropped++;
      }
    }
    return dropped;
  }

  /** A miner's Result for the chunk it holds; the job's answer once every chunk is in. */
  result(miner: number, found: MinHash): Finished | undefined {
    const chunk = this.miners.get(miner);
    if (chunk === undefined) return undefined; // not a miner, or a Result we did not ask for
    this.miners.set(miner, undefined);
    const job = chunk.job;
    if (!this.jobs.has(job.id)) return undefined; // its client is gone
    job.best = job.best ? better(job.best, found) : found;
    job.remaining -= chunk.upper - chunk.lower + 1n;
    if (job.remaining > 0n) return undefined;
    this.jobs.delete(job.id);
    return { client: job.client, job, result: job.best };
  }

  /** Hands a chunk to every idle miner while there is work, in join order. */
  assign(now_s: number): Assignment[] {
    const out: Assignment[] = [];
    // The one-miner bug only ever uses the longest-joined miner; the others wait, idle.
    const usable = this.bug === "one-miner" ? [...this.miners].slice(0, 1) : this.miners;
    for (const [miner, held] of usable) {
      if (held) continue;
      const job = this.pick(now_s);
      if (!job) break;
      const chunk = this.cut(job);
      this.miners.set(miner, chunk);
      out.push({ miner, chunk });
    }
    return out;
  }

  private pick(now_s: number): Job | undefined {
    let best: Job | undefined;
    let bestScore = 0;
    for (const job of this.jobs.values()) {
      if (job.returned.length === 0 && job.next > job.last) continue; // all handed out
      if (this.bug === "fifo-only") {
        if (!best || job.arrival_s < best.arrival_s) best = job;
        continue;
      }
      const aging = 2 ** ((now_s - job.arrival_s) / AGING_S);
      const score = Number(job.remaining) / aging;
      if (!best || score < bestScore || (score === bestScore && job.arrival_s < best.arrival_s)) {
        best = job;
        bestScore = score;
      }
    }
    return best;
  }

  private cut(job: Job): Chunk {
    const returned = job.returned.shift();
    if (returned) return returned;
    const lower = job.next;
    const end = lower + this.chunkSize - 1n;
    const upper = end < job.last ? end : job.last;
    job.next = upper + 1n;
    return { job, lower, upper };
  }
}
