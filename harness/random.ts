// The run's single source of randomness: every generator, nemesis and network decision draws
// from a Random seeded from the run's seed, so `--seed` repeats the same inputs.
import { uniformFloat64 } from "pure-rand/distribution/uniformFloat64";
import { uniformInt } from "pure-rand/distribution/uniformInt";
import { xoroshiro128plus } from "pure-rand/generator/xoroshiro128plus";
import type { RandomGenerator } from "pure-rand/types/RandomGenerator";

export const MAX_SEED = 0x7fff_ffff;

export class Random {
  private readonly rng: RandomGenerator;

  constructor(readonly seed: number) {
    if (!Number.isSafeInteger(seed) || seed < 0 || seed > MAX_SEED) {
      throw new RangeError(`seed must be an integer in [0, ${MAX_SEED}], got ${seed}`);
    }
    this.rng = xoroshiro128plus(seed);
  }

  /** A fresh seed for when the user gave none. */
  static freshSeed(): number {
    return Math.floor(Math.random() * MAX_SEED);
  }

  /** An independent stream for one concern (e.g. the network), so concerns don't perturb each other. */
  fork(label: string): Random {
    let h = this.seed ^ 0x9e37_79b9;
    for (let i = 0; i < label.length; i++) h = Math.imul(h ^ label.charCodeAt(i), 0x0100_0193);
    return new Random((h >>> 1) & MAX_SEED);
  }

  /** Uniform float in [0, 1). */
  float(): number {
    return uniformFloat64(this.rng);
  }

  /** Uniform integer in [from, to], both included. */
  int(from: number, to: number): number {
    return uniformInt(this.rng, from, to);
  }

  /** True with probability p. */
  chance(p: number): boolean {
    return p > 0 && this.float() < p;
  }

  pick<T>(items: readonly T[]): T {
    if (items.length === 0) throw new RangeError("pick from an empty list");
    return items[this.int(0, items.length - 1)] as T;
  }

  /** Exponentially distributed with the given mean. */
  exponential(mean: number): number {
    return -mean * Math.log(1 - this.float());
  }

  shuffle<T>(items: readonly T[]): T[] {
    const out = [...items];
    for (let i = out.length - 1; i > 0; i--) {
      const j = this.int(0, i);
      [out[i], out[j]] = [out[j] as T, out[i] as T];
    }
    return out;
  }
}
