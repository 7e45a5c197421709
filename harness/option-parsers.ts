// Readers of option text shared by every command and by the options workloads declare: each
// throws commander's InvalidArgumentError, which becomes one line and exit 3.
import { InvalidArgumentError } from "commander";

export function integer(min: number, max = Number.MAX_SAFE_INTEGER) {
  return (text: string): number => {
    const n = Number(text);
    if (!Number.isSafeInteger(n) || n < min || n > max) {
      throw new InvalidArgumentError(`expected an integer from ${min} to ${max}`);
    }
    return n;
  };
}

export function number(min: number) {
  return (text: string): number => {
    const n = Number(text);
    if (!Number.isFinite(n) || n < min)
      throw new InvalidArgumentError(`expected a number >= ${min}`);
    return n;
  };
}

export function probability(text: string): number {
  const p = Number(text);
  if (!(p >= 0 && p <= 1)) throw new InvalidArgumentError("expected a probability from 0 to 1");
  return p;
}
