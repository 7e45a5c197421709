// An exhaustive linearizability checker for small histories, written as directly from the
// definition as possible, to judge the Porcupine port against: try every order of the ops
// that respects real time (a before b whenever a returned before b was called), stepping the
// model; linearizable iff some order is legal throughout.

import type { Model, NondeterministicModel, Operation } from "../../checkers/porcupine/index.js";

type Op = Operation<unknown, unknown>;

const ret = (op: Op): number => op.return ?? Number.POSITIVE_INFINITY;

/** Ops that may go next: unplaced, and no unplaced op returned before their call. */
function eligible(ops: readonly Op[], placed: readonly boolean[]): number[] {
  const out: number[] = [];
  for (let i = 0; i < ops.length; i++) {
    if (placed[i]) continue;
    const call = (ops[i] as Op).call;
    if (ops.every((p, j) => placed[j] || j === i || !(ret(p) < call))) out.push(i);
  }
  return out;
}

/** Exhaustive search over orders (n ≤ ~8). */
export function bruteLinearizable(
  model: Model<unknown, unknown, unknown>,
  ops: readonly Op[],
): boolean {
  const placed = ops.map(() => false);
  const go = (state: unknown, count: number): boolean => {
    if (count === ops.length) return true;
    for (const i of eligible(ops, placed)) {
      const op = ops[i] as Op;
      const r = model.step(state, op.input, op.output);
      if (!r.ok) continue;
      placed[i] = true;
      const found = go(r.state, count + 1);
      placed[i] = false;
      if (found) return true;
    }
    return false;
  };
  return go(model.init(), 0);
}

/** The length of the longest legal prefix (an order respecting real time among its ops). */
export function bruteLongestPrefix(
  model: Model<unknown, unknown, unknown>,
  ops: readonly Op[],
): number {
  const placed = ops.map(() => false);
  let best = 0;
  const go = (state: unknown, count: number): void => {
    best = Math.max(best, count);
    for (const i of eligible(ops, placed)) {
      const op = ops[i] as Op;
      const r = model.step(state, op.input, op.output);
      if (!r.ok) continue;
      placed[i] = true;
      go(r.state, count + 1);
      placed[i] = false;
    }
  };
  go(model.init(), 0);
  return best;
}

/** The same for a nondeterministic model, following every possible successor state. */
export function bruteLinearizableNd(
  model: NondeterministicModel<unknown, unknown, unknown>,
  ops: readonly Op[],
): boolean {
  const placed = ops.map(() => false);
  const go = (state: unknown, count: number): boolean => {
    if (count === ops.length) return true;
    for (const i of eligible(ops, placed)) {
      const op = ops[i] as Op;
      for (const next of model.step(state, op.input, op.output)) {
        placed[i] = true;
        const found = go(next, count + 1);
        placed[i] = false;
        if (found) return true;
      }
    }
    return false;
  };
  return model.init().some((s) => go(s, 0));
}

/** Is `seq` (op indexes) a legal run of the model that respects real time among all ops? */
export function isLegalPrefix(
  model: Model<unknown, unknown, unknown>,
  ops: readonly Op[],
  seq: readonly number[],
): boolean {
  const inSeq = new Set(seq);
  if (inSeq.size !== seq.length) return false;
  // Every op that had to precede a placed op must itself be placed, earlier.
  const position = new Map(seq.map((op, k) => [op, k]));
  for (const [k, i] of seq.entries()) {
    const call = (ops[i] as Op).call;
    for (let j = 0; j < ops.length; j++) {
      if (ret(ops[j] as Op) < call) {
        const pj = position.get(j);
        if (pj === undefined || pj > k) return false;
      }
    }
  }
  let state = model.init();
  for (const i of seq) {
    const op = ops[i] as Op;
    const r = model.step(state, op.input, op.output);
    if (!r.ok) return false;
    state = r.state;
  }
  return true;
}
