// The mining workload's jobs: boundary jobs (and the fairness probe's small job, which is one)
// have their minimum hash exactly at maxNonce, so an exclusive upper bound answers wrongly.
import { describe, expect, it } from "vitest";
import { oracleMin } from "../../checkers/mining.js";
import { Random } from "../../harness/random.js";
import {
  MiningJobs,
  PROBE_LARGE_NONCE,
  PROBE_SMALL_NONCE,
} from "../../workloads/mining/workload.js";

const atUpperBound = (job: { message: string; max_nonce: number }) =>
  oracleMin(job.message, job.max_nonce).nonce === BigInt(job.max_nonce);

describe("MiningJobs", () => {
  it("starts the free-running load with a boundary job, then one in every three", () => {
    const jobs = new MiningJobs(new Random(5), 3);
    const kinds = Array.from({ length: 10 }, () => jobs.nextJob());
    expect(kinds.map((j) => j.kind)).toEqual([
      "boundary",
      "mixed",
      "mixed",
      "boundary",
      "mixed",
      "mixed",
      "boundary",
      "mixed",
      "mixed",
      "mixed",
    ]);
    for (const job of kinds.filter((j) => j.kind === "boundary")) {
      expect(job.max_nonce).toBeGreaterThan(0);
      expect(atUpperBound(job)).toBe(true);
    }
  });

  it("the probe's small job is a boundary job at least 100 times smaller than the large one", () => {
    const jobs = new MiningJobs(new Random(8), 0);
    for (let i = 0; i < 20; i++) {
      const [large, small] = jobs.probePair();
      expect(large.max_nonce).toBe(PROBE_LARGE_NONCE);
      expect(small.max_nonce).toBeGreaterThan(0);
      expect(small.max_nonce).toBeLessThanOrEqual(PROBE_SMALL_NONCE);
      expect(large.max_nonce).toBeGreaterThanOrEqual(100 * small.max_nonce);
      expect(atUpperBound(small)).toBe(true);
      expect(small.group).toBe(large.group);
    }
  });
});
