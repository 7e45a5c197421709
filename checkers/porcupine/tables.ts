// Integer hash tables on typed arrays for the search's hot loop: no per-lookup allocation.

import { hashJson, jsonEqual, type Model, mix32, sameValueZero } from "./model.js";

const EMPTY = -1;

/** Maps a pair of non-negative int32 (a, b) to an int32 value. Open addressing, linear probing. */
export class PairTable {
  private keysA: Int32Array;
  private keysB: Int32Array;
  private values: Int32Array;
  private mask: number;
  size = 0;

  constructor(initialCapacity = 1024) {
    let cap = 16;
    while (cap < initialCapacity * 2) cap *= 2;
    this.keysA = new Int32Array(cap).fill(EMPTY);
    this.keysB = new Int32Array(cap);
    this.values = new Int32Array(cap);
    this.mask = cap - 1;
  }

  get bytes(): number {
    return this.keysA.length * 12;
  }

  /** The value for (a, b), or `missing`. */
  get(a: number, b: number, missing: number): number {
    let i = mix32(Math.imul(a, 0x9e3779b1) ^ b) & this.mask;
    for (;;) {
      const k = this.keysA[i] as number;
      if (k === EMPTY) return missing;
      if (k === a && this.keysB[i] === b) return this.values[i] as number;
      i = (i + 1) & this.mask;
    }
  }

  /** Sets (a, b) -> value; (a, b) must not be present. */
  add(a: number, b: number, value: number): void {
    if ((this.size + 1) * 2 > this.keysA.length) this.grow();
    this.place(a, b, value);
    this.size++;
  }

  private place(a: number, b: number, value: number): void {
    let i = mix32(Math.imul(a, 0x9e3779b1) ^ b) & this.mask;
    while (this.keysA[i] !== EMPTY) i = (i + 1) & this.mask;
    this.keysA[i] = a;
    this.keysB[i] = b;
    this.values[i] = value;
  }

  private grow(): void {
    const { keysA, keysB, values } = this;
    const cap = keysA.length * 2;
    this.keysA = new Int32Array(cap).fill(EMPTY);
    this.keysB = new Int32Array(cap);
    this.values = new Int32Array(cap);
    this.mask = cap - 1;
    for (let i = 0; i < keysA.length; i++) {
      const a = keysA[i] as number;
      if (a !== EMPTY) this.place(a, keysB[i] as number, values[i] as number);
    }
  }
}

/**
 * Interns model states: equal states get the same small integer id, so the search compares
 * and hashes states as integers. Uses the model's hash when it has one; a model with neither
 * hash nor equal is keyed by the state value itself (right for primitive states); a model with
 * only `equal` is scanned linearly.
 */
export class StateTable<S> {
  readonly states: S[] = [];
  private readonly byValue: Map<unknown, number> | undefined;
  /** Open addressing over state ids by hash (-1 = empty); hashes[id] is each state's hash. */
  private slots = new Int32Array(0);
  private hashes = new Int32Array(0);
  private readonly equal: (a: S, b: S) => boolean;
  private readonly hash: ((s: S) => number) | undefined;

  constructor(model: Model<S, unknown, unknown>) {
    this.equal = model.equal ? model.equal.bind(model) : sameValueZero;
    this.hash = model.hash?.bind(model);
    if (this.hash) {
      this.slots = new Int32Array(64).fill(EMPTY);
      this.hashes = new Int32Array(32);
    } else if (!model.equal) {
      this.byValue = new Map();
    }
  }

  intern(s: S): number {
    if (this.hash) {
      const h = mix32(this.hash(s) | 0) | 0;
      const mask = this.slots.length - 1;
      let i = h & mask;
      for (;;) {
        const id = this.slots[i] as number;
        if (id === EMPTY) break;
        if (this.hashes[id] === h && this.equal(this.states[id] as S, s)) return id;
        i = (i + 1) & mask;
      }
      const id = this.push(s);
      if (id >= this.hashes.length) {
        const hashes = new Int32Array(this.hashes.length * 2);
        hashes.set(this.hashes);
        this.hashes = hashes;
      }
      this.hashes[id] = h;
      this.slots[i] = id;
      if (this.states.length * 2 > this.slots.length) this.grow();
      return id;
    }
    if (this.byValue) {
      // Map keys compare by SameValueZero, the default state equality.
      const found = this.byValue.get(s);
      if (found !== undefined) return found;
      const id = this.push(s);
      this.byValue.set(s, id);
      return id;
    }
    for (let id = 0; id < this.states.length; id++) {
      if (this.equal(this.states[id] as S, s)) return id;
    }
    return this.push(s);
  }

  private grow(): void {
    const slots = new Int32Array(this.slots.length * 2).fill(EMPTY);
    const mask = slots.length - 1;
    for (let id = 0; id < this.states.length; id++) {
      let i = (this.hashes[id] as number) & mask;
      while (slots[i] !== EMPTY) i = (i + 1) & mask;
      slots[i] = id;
    }
    this.slots = slots;
  }

  private push(s: S): number {
    this.states.push(s);
    return this.states.length - 1;
  }
}

/**
 * Groups operations whose (input, output) pairs are equal JSON values, so the transition memo
 * is shared between them (e.g. all reads of 3). Non-JSON values never share a class. Hashes
 * and compares in place: building key strings would copy every (long) read value.
 */
export function operationClasses(
  inputs: readonly unknown[],
  outputs: readonly unknown[],
): Int32Array {
  const classes = new Int32Array(inputs.length);
  /** Hash -> the first op of each class with that hash. */
  const byHash = new Map<number, number[]>();
  let next = 0;
  for (let i = 0; i < inputs.length; i++) {
    const input = inputs[i];
    const output = outputs[i];
    if (!isPlain(input) || !isPlain(output)) {
      classes[i] = next++;
      continue;
    }
    // An unknown output (undefined) is its own kind, never equal to any known one.
    const h =
      output === undefined ? hashJson(input) : mix32(hashJson(input) ^ (hashJson(output) + 1));
    let firsts = byHash.get(h);
    if (!firsts) {
      firsts = [];
      byHash.set(h, firsts);
    }
    const same = firsts.find((j) => {
      const o = outputs[j];
      return (
        (o === undefined) === (output === undefined) &&
        jsonEqual(inputs[j], input) &&
        jsonEqual(o, output)
      );
    });
    if (same === undefined) {
      firsts.push(i);
      classes[i] = next++;
    } else {
      classes[i] = classes[same] as number;
    }
  }
  return classes;
}

/** Plain JSON data (or undefined): what hashJson/jsonEqual treat as values. */
function isPlain(v: unknown, depth = 0): boolean {
  if (depth > 64) return false;
  switch (typeof v) {
    case "undefined":
    case "string":
    case "boolean":
      return true;
    case "number":
      return Number.isFinite(v);
    case "object": {
      if (v === null) return true;
      if (Array.isArray(v)) return v.every((x) => isPlain(x, depth + 1));
      const proto = Object.getPrototypeOf(v);
      if (proto !== Object.prototype && proto !== null) return false;
      return Object.values(v as Record<string, unknown>).every((x) => isPlain(x, depth + 1));
    }
    default:
      return false;
  }
}
