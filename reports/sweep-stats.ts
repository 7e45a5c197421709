// The statistics of a sweep (reports/sweep.ts): a proportion with its confidence interval, and
// quantiles of detection times. Pure functions of numbers.

/** z for a two-sided 95% interval. */
export const Z_95 = 1.959963984540054;

export interface Proportion {
  /** successes / trials */
  point: number;
  low: number;
  high: number;
  /** The interval's confidence level, e.g. 0.95. */
  confidence: number;
}

/**
 * The Wilson score interval for `successes` out of `trials`: unlike the normal approximation it
 * stays inside [0, 1] and is not empty at 0 or n successes, which a sweep of a few seeds hits
 * often. Undefined without trials.
 */
export function wilsonInterval(successes: number, trials: number): Proportion | undefined {
  if (trials <= 0) return undefined;
  const z = Z_95;
  const p = successes / trials;
  const z2n = (z * z) / trials;
  const centre = (p + z2n / 2) / (1 + z2n);
  const half = (z / (1 + z2n)) * Math.sqrt((p * (1 - p)) / trials + z2n / (4 * trials));
  // In exact arithmetic low ≤ p ≤ high within [0, 1]; floating point can miss by 1e-16 at 0 or
  // n successes (high = 0.9999999999999999 at 10 of 10), so the bounds are clamped to hold.
  return {
    point: p,
    low: Math.min(p, Math.max(0, centre - half)),
    high: Math.max(p, Math.min(1, centre + half)),
    confidence: 0.95,
  };
}

/** The q-quantile of ascending `sorted` values, interpolating between ranks (numpy's default). */
export function quantile(sorted: readonly number[], q: number): number | undefined {
  if (sorted.length === 0) return undefined;
  const rank = (sorted.length - 1) * q;
  const below = Math.floor(rank);
  const low = sorted[below] as number;
  const high = sorted[Math.min(below + 1, sorted.length - 1)] as number;
  return low + (high - low) * (rank - below);
}
