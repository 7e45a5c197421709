// Workload `mining` (systems/bitcoin/README.md "What faultline checks (workload `mining`)"): client processes submit jobs of mixed sizes to
// the bitcoin server through the UDP proxy while miners work. The driver is
// workloads/mining/driver.ts; this module generates the jobs and holds the checks it uses.
//
// Job kinds:
//   mixed     a random message and maxNonce in [1,000, 40,000]
//   boundary  maxNonce chosen so the minimum hash over [0, maxNonce] is at maxNonce itself: an
//             upper bound treated as exclusive (off by one) misses the answer
//   probe     a fairness pair: a large job (≥ 100 × the small one), then a small one once the
//             server is handing out the large one's chunks; the small one must finish first (and
//             quickly) when the two overlapped at the server. The small one is also a
//             boundary job (its maxNonce ≤ PROBE_SMALL_NONCE), so the first jobs of every run
//             check the upper bound even when a loaded machine leaves no time for more
//   burst     k identical jobs submitted back to back; they must finish roughly in order
import type { Op } from "../../checkers/history.js";
import {
  checkFairness,
  checkMiningOracle,
  type Dispatch,
  oracleMin,
} from "../../checkers/mining.js";
import { checkLoadBalance, type LoadEvent } from "../../checkers/mining-load.js";
import type { CheckResult } from "../../checkers/result.js";
import type { Rng } from "../workload.js";

export const MIXED_MIN_NONCE = 1_000;
export const MIXED_MAX_NONCE = 40_000;
export const PROBE_SMALL_NONCE = 2_000;
/** 150 × the small probe: well past the spec's "≥ 100 ×" and many chunks of 10,000. */
export const PROBE_LARGE_NONCE = 300_000;
/** Identical jobs in a burst probe get this maxNonce (a few chunks each). */
export const BURST_NONCE = 20_000;
/** Boundary jobs search their prefix up to this far for a running minimum. */
const BOUNDARY_SCAN_MAX = 20_000;

export interface JobSpec {
  message: string;
  max_nonce: number;
  kind: "mixed" | "boundary" | "probe-large" | "probe-small" | "burst";
  /** Probe pair or burst number, shared by the jobs it groups. */
  group?: number;
}

const WORDS = ["alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel", "india"];

export class MiningJobs {
  private next = 0;
  private groups = 0;
  /** Free-running jobs handed out so far. */
  private jobs = 0;
  private readonly boundary: JobSpec[] = [];

  constructor(
    private readonly rng: Rng,
    boundaryJobs = 8,
  ) {
    // Boundary jobs cost a scan of up to 20,000 hashes each: made once, before the run starts.
    for (let i = 0; i < boundaryJobs; i++) this.boundary.push(this.makeBoundary());
  }

  private message(): string {
    return `${this.rng.pick(WORDS)}-${this.next++}-${this.rng.int(0, 999_999)}`;
  }

  private makeBoundary(): JobSpec {
    return { ...this.boundaryJob(this.rng.int(2_000, BOUNDARY_SCAN_MAX)), kind: "boundary" };
  }

  /**
   * A message and the maxNonce ≤ `scan` at which its minimum hash sits: the minimum over
   * [0, scan] is at `best`, so over [0, best] it is at the upper bound. Never 0, where an
   * exclusive upper bound would have nothing left to leave out.
   */
  private boundaryJob(scan: number): { message: string; max_nonce: number } {
    for (;;) {
      const message = this.message();
      const best = Number(oracleMin(message, scan).nonce);
      if (best > 0) return { message, max_nonce: best };
    }
  }

  /**
   * The next job of the free-running load: every third one a boundary job while they last,
   * starting with the first, so even a short or slow run answers some.
   */
  nextJob(): JobSpec {
    if (this.boundary.length > 0 && this.jobs++ % 3 === 0) return this.boundary.shift() as JobSpec;
    return {
      message: this.message(),
      max_nonce: this.rng.int(MIXED_MIN_NONCE, MIXED_MAX_NONCE),
      kind: "mixed",
    };
  }

  probePair(): [JobSpec, JobSpec] {
    const group = ++this.groups;
    return [
      { message: this.message(), max_nonce: PROBE_LARGE_NONCE, kind: "probe-large", group },
      { ...this.boundaryJob(PROBE_SMALL_NONCE), kind: "probe-small", group },
    ];
  }

  burst(k: number): JobSpec[] {
    const group = ++this.groups;
    return Array.from({ length: k }, () => ({
      message: this.message(),
      max_nonce: BURST_NONCE,
      kind: "burst" as const,
      group,
    }));
  }
}

export interface MiningCheckOptions {
  /** Jobs, chunks and results as the proxy saw them (checkers/mining-load.ts). */
  load_events: readonly LoadEvent[];
  /** false when the driver stopped keeping load events (too many). */
  load_events_complete: boolean;
  /** Every chunk handed out, with the time the proxy saw it. */
  dispatches: readonly Dispatch[];
  /** How long after a client dies its job may still be handed out. */
  drop_bound_ms: number;
  faults_injected: boolean;
}

export function checkMining(
  history: readonly Op[],
  options: MiningCheckOptions,
): Record<string, CheckResult> {
  return {
    mining: checkMiningOracle(history, {
      dispatches: options.dispatches,
      drop_bound_ms: options.drop_bound_ms,
    }),
    fairness: checkFairness(history, { dispatches: options.dispatches }),
    "load-balance": checkLoadBalance(options.load_events, {
      faults_injected: options.faults_injected,
      complete: options.load_events_complete,
    }),
  };
}
