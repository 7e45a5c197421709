// The link-state table (ARCHITECTURE.md "Transports"): one entry per directed link (src, dest).
// Every transport consults the same table; the nemesis changes it and records what it changed.
import type { Random } from "./random.js";

export const LATENCY_DISTS = ["constant", "uniform", "exponential"] as const;
export type LatencyDist = (typeof LATENCY_DISTS)[number];

export interface Latency {
  mean_ms: number;
  dist: LatencyDist;
}

export interface LinkFaults {
  /** Drop everything on this link. */
  partitioned: boolean;
  /** Probability each message is dropped. */
  loss: number;
  /** Probability each message is delivered twice. */
  duplicate: number;
  /** Added on top of the base latency (packet delay faults; non-constant reorders). */
  extra_latency: Latency | undefined;
}

const UP: Readonly<LinkFaults> = Object.freeze({
  partitioned: false,
  loss: 0,
  duplicate: 0,
  extra_latency: undefined,
});

export function sampleLatency_ms(latency: Latency, random: Random): number {
  if (latency.mean_ms <= 0) return 0;
  switch (latency.dist) {
    case "constant":
      return latency.mean_ms;
    case "uniform":
      return random.float() * 2 * latency.mean_ms;
    case "exponential":
      return random.exponential(latency.mean_ms);
  }
}

export class LinkTable {
  private readonly faults = new Map<string, LinkFaults>();

  constructor(readonly base: Latency) {}

  get(src: string, dest: string): Readonly<LinkFaults> {
    return this.faults.get(linkKey(src, dest)) ?? UP;
  }

  /** Changes some fault parameters of one directed link. */
  set(src: string, dest: string, change: Partial<LinkFaults>): void {
    const next = { ...this.get(src, dest), ...change };
    if (!(next.loss >= 0 && next.loss <= 1 && next.duplicate >= 0 && next.duplicate <= 1)) {
      throw new RangeError(`link ${src}->${dest}: probabilities must be within [0, 1]`);
    }
    const up = !next.partitioned && next.loss === 0 && next.duplicate === 0 && !next.extra_latency;
    if (up) this.faults.delete(linkKey(src, dest));
    else this.faults.set(linkKey(src, dest), next);
  }

  /** Every directed link with a fault, for the history and the report. */
  faulty(): Array<{ src: string; dest: string; faults: LinkFaults }> {
    return [...this.faults].map(([key, faults]) => {
      const [src, dest] = key.split("\u0000") as [string, string];
      return { src, dest, faults };
    });
  }

  /** Back to every link up. */
  heal(): void {
    this.faults.clear();
  }

  latency_ms(src: string, dest: string, random: Random): number {
    const extra = this.get(src, dest).extra_latency;
    return sampleLatency_ms(this.base, random) + (extra ? sampleLatency_ms(extra, random) : 0);
  }
}

function linkKey(src: string, dest: string): string {
  return `${src}\u0000${dest}`;
}
