// The model contract of our Porcupine port, and the hashing helpers models use.
// A model is a sequential specification: a state machine whose `step` says whether an
// operation (input + observed output) is legal in a state, and what the state becomes.

/** The outcome of one model step: illegal, or legal leading to `state`. */
export type StepResult<State> = { ok: true; state: State } | { ok: false };

/** Shared by every illegal step so a model need not allocate for it. */
export const ILLEGAL: { ok: false } = Object.freeze({ ok: false });

export interface Model<State, Input, Output> {
  /** A name for messages; registry models (MODELS) can also run in worker threads. */
  readonly name: string;
  init(): State;
  /**
   * Pure: is `input` returning `output` legal in `state`, and what state follows?
   * `output === undefined` means the outcome is unknown (an indeterminate op): accept it
   * and apply whatever effect the op would have had.
   */
  step(state: State, input: Input, output: Output | undefined): StepResult<State>;
  /** State equality; defaults to === (with NaN equal to itself), right for primitive states. */
  equal?(a: State, b: State): boolean;
  /** Any number; equal states must hash equal. Without it states are compared by scanning. */
  hash?(state: State): number;
  /**
   * P-compositionality: the key of the independent sub-history an op belongs to (e.g. its
   * key in a key-value store), from its input alone (an indeterminate op has no output).
   * Each part is checked on its own, starting from `init()`.
   */
  partition?(input: Input): string | number;
  /**
   * Optional speed-up: true when this op leaves every state it is legal in unchanged (a read,
   * a failed cas). The search then places it as soon as it is legal instead of trying every
   * order. Must be exact: a wrong `true` can turn a linearizable history illegal.
   */
  readOnly?(input: Input, output: Output | undefined): boolean;
  /**
   * Optional speed-up for reads that return the whole state: the one state this op is legal
   * in (which it leaves unchanged), or undefined when it does not pin the state down (e.g. an
   * unknown output). The search then compares state ids instead of stepping.
   */
  readState?(input: Input, output: Output | undefined): { state: State } | undefined;
  /**
   * Optional pruning for states that only grow (append-kv's strings, a set): false when no
   * sequence of ops that `resets` says no to can lead from `from` to `to`. The search then
   * drops a state from which the next pinned read (readState) is out of reach. Must be exact
   * when it says false; true when unsure is always safe.
   */
  reaches?(from: State, to: State): boolean;
  /** With `reaches`: true for ops that can replace the state by an unrelated one (a put). */
  resets?(input: Input): boolean;
  describeOperation?(input: Input, output: Output | undefined): string;
  describeState?(state: State): string;
}

/**
 * A nondeterministic specification: `step` returns every state the op may lead to (empty =
 * illegal). `nondeterministic()` turns it into a Model by the power-set construction.
 */
export interface NondeterministicModel<State, Input, Output> {
  readonly name: string;
  /** The possible initial states (at least one). */
  init(): readonly State[];
  step(state: State, input: Input, output: Output | undefined): readonly State[];
  equal?(a: State, b: State): boolean;
  hash?(state: State): number;
  partition?(input: Input): string | number;
  describeOperation?(input: Input, output: Output | undefined): string;
  describeState?(state: State): string;
}

/** An operation in real time. Intervals are closed: touching intervals are concurrent. */
export interface Operation<Input, Output> {
  /** The client (process) that ran it; informational. */
  client?: number;
  input: Input;
  /** Invocation time (any unit, consistently used). */
  call: number;
  /** Undefined = unknown outcome (see Model.step). */
  output?: Output | undefined;
  /** Response time; undefined or Infinity = never returned: it may take effect at any later time. */
  return?: number | undefined;
}

/** The default state equality (what Map keys use): === except that NaN equals NaN. */
export function sameValueZero(a: unknown, b: unknown): boolean {
  return a === b || (Number.isNaN(a) && Number.isNaN(b));
}

// ---------------------------------------------------------------------------------------
// Hashing helpers (32-bit, non-cryptographic).

/** Murmur3's 32-bit finalizer: spreads every input bit over the result. */
export function mix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** FNV-1a over UTF-16 code units, finalized. */
export function hashString(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return mix32(h);
}

const NUMBER_VIEW = new Float64Array(1);
const NUMBER_WORDS = new Uint32Array(NUMBER_VIEW.buffer);

/** A hash of any JSON value, consistent with jsonEqual. */
export function hashJson(v: unknown): number {
  switch (typeof v) {
    case "number":
      if (Number.isInteger(v) && v >= -0x80000000 && v <= 0x7fffffff) return mix32(v | 0);
      NUMBER_VIEW[0] = v;
      return mix32((NUMBER_WORDS[0] as number) ^ mix32(NUMBER_WORDS[1] as number));
    case "string":
      return hashString(v);
    case "boolean":
      return v ? 0x2545f491 : 0x6c8e9cf5;
    case "undefined":
      return 0x1b873593;
    case "object": {
      if (v === null) return 0x9e3779b9;
      if (Array.isArray(v)) {
        let h = 0x3c6ef372 ^ v.length;
        for (const x of v) h = mix32(Math.imul(h, 31) + hashJson(x));
        return h;
      }
      // Key order must not matter: combine per-entry hashes commutatively.
      let h = 0x7f4a7c15;
      for (const [k, x] of Object.entries(v as Record<string, unknown>)) {
        if (x === undefined) continue;
        h = (h + mix32(hashString(k) ^ Math.imul(hashJson(x), 0x27d4eb2d))) | 0;
      }
      return mix32(h);
    }
    default:
      throw new TypeError(`cannot hash a ${typeof v}`);
  }
}

/** Deep equality of JSON values (object key order ignored; undefined fields ignored). */
export function jsonEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== "object" || typeof b !== "object" || a === null || b === null) {
    return typeof a === "number" && typeof b === "number" && Number.isNaN(a) && Number.isNaN(b);
  }
  if (Array.isArray(a) || Array.isArray(b)) {
    if (!Array.isArray(a) || !Array.isArray(b) || a.length !== b.length) return false;
    for (let i = 0; i < a.length; i++) if (!jsonEqual(a[i], b[i])) return false;
    return true;
  }
  const ra = a as Record<string, unknown>;
  const rb = b as Record<string, unknown>;
  const ka = Object.keys(ra).filter((k) => ra[k] !== undefined);
  const kb = Object.keys(rb).filter((k) => rb[k] !== undefined);
  if (ka.length !== kb.length) return false;
  for (const k of ka) if (!jsonEqual(ra[k], rb[k])) return false;
  return true;
}

/** A canonical string for a JSON value: equal values (by jsonEqual) give equal strings. */
export function canonicalJson(v: unknown): string {
  if (v === undefined) return "undefined";
  if (typeof v !== "object" || v === null) return JSON.stringify(v);
  if (Array.isArray(v)) return `[${v.map(canonicalJson).join(",")}]`;
  const r = v as Record<string, unknown>;
  const keys = Object.keys(r)
    .filter((k) => r[k] !== undefined)
    .sort();
  return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson(r[k])}`).join(",")}}`;
}

/** A short human rendering of a JSON value for descriptions. */
export function showJson(v: unknown): string {
  if (v === null || v === undefined) return "nil";
  if (typeof v === "string") return JSON.stringify(v);
  return canonicalJson(v);
}

// ---------------------------------------------------------------------------------------
// The power-set construction.

/**
 * Turns a nondeterministic model into a deterministic one whose state is the set of states
 * the nondeterministic one may be in (kept as a duplicate-free array). A step is legal when
 * at least one member state allows it.
 */
export function nondeterministic<S, I, O>(
  m: NondeterministicModel<S, I, O>,
): Model<readonly S[], I, O> {
  const eq = m.equal ?? sameValueZero;
  const h = m.hash;
  const dedupe = (states: Iterable<S>): S[] => {
    const out: S[] = [];
    for (const s of states) if (!out.some((t) => eq(s, t))) out.push(s);
    return out;
  };
  const model: Model<readonly S[], I, O> = {
    name: m.name,
    init: () => {
      const states = dedupe(m.init());
      if (states.length === 0) throw new Error(`model ${m.name}: init() returned no state`);
      return states;
    },
    step(states, input, output) {
      const next: S[] = [];
      for (const s of states) {
        for (const t of m.step(s, input, output)) if (!next.some((u) => eq(t, u))) next.push(t);
      }
      return next.length === 0 ? ILLEGAL : { ok: true, state: next };
    },
    // Sets: same size and every member of one is in the other (members are duplicate-free).
    equal: (a, b) => a.length === b.length && a.every((s) => b.some((t) => eq(s, t))),
    describeState: (states) =>
      `{${states.map((s) => (m.describeState ? m.describeState(s) : String(s))).join(", ")}}`,
  };
  // XOR of member hashes does not depend on member order, as set equality requires.
  if (h) model.hash = (states) => states.reduce((acc, s) => acc ^ mix32(h(s) | 0), 0x5bd1e995);
  if (m.partition) model.partition = m.partition.bind(m);
  if (m.describeOperation) model.describeOperation = m.describeOperation.bind(m);
  return model;
}

// ---------------------------------------------------------------------------------------
// Without P-compositionality.

/** The state of an unpartitioned model: every partition's state, and a hash kept up to date. */
export interface WholeState<S> {
  /**
   * Each partition's state, by the order the partition keys were first seen (a key table the
   * model keeps); undefined (or past the end) = still in the initial state.
   */
  readonly slots: readonly (S | undefined)[];
  /** Sum of the entries' hashes (0 without a model hash), updated per step in O(1). */
  readonly hash: number;
}

/**
 * The same specification checked as one whole: the state holds every partition's state.
 * Slower than partitioning; useful to cross-check it, as Porcupine's tests do.
 */
export function unpartitioned<S, I, O>(model: Model<S, I, O>): Model<WholeState<S>, I, O> {
  const partition = model.partition?.bind(model);
  if (!partition) throw new Error(`model ${model.name} has no partition to undo`);
  const eq = model.equal ? model.equal.bind(model) : sameValueZero;
  const h = model.hash?.bind(model);
  const initial = model.init();
  const empty: WholeState<S> = { slots: [], hash: 0 };
  const show = (s: S): string => (model.describeState ? model.describeState(s) : String(s));
  // Slots, not a Map per state: copying a short array is what each step costs.
  const keys: (string | number)[] = [];
  const slotOf = new Map<string | number, number>();
  // An op's input object is the same at every step: remember its slot, not its key.
  const slotOfInput = new WeakMap<object, number>();
  const slot = (input: I): number => {
    const remembered = typeof input === "object" && input !== null;
    if (remembered) {
      const known = slotOfInput.get(input);
      if (known !== undefined) return known;
    }
    const key = partition(input);
    let i = slotOf.get(key);
    if (i === undefined) {
      i = keys.length;
      keys.push(key);
      slotOf.set(key, i);
    }
    if (remembered) slotOfInput.set(input, i);
    return i;
  };
  // A commutative sum of entry hashes: entry order must not matter, and one entry's change
  // updates it in O(1).
  const entryHash = (i: number, v: S): number =>
    h ? mix32(Math.imul(i + 1, 0x9e3779b1) ^ (h(v) | 0)) : 0;
  const whole: Model<WholeState<S>, I, O> = {
    name: `${model.name} (unpartitioned)`,
    init: () => empty,
    step(state, input, output) {
      const i = slot(input);
      const stored = state.slots[i];
      const current = stored === undefined ? initial : stored;
      const r = model.step(current, input, output);
      if (!r.ok) return r;
      if (eq(r.state, current)) return { ok: true, state };
      const slots = state.slots.slice();
      let hash = stored === undefined ? state.hash : (state.hash - entryHash(i, stored)) | 0;
      if (eq(r.state, initial)) {
        slots[i] = undefined;
      } else {
        while (slots.length < i) slots.push(undefined);
        slots[i] = r.state;
        hash = (hash + entryHash(i, r.state)) | 0;
      }
      return { ok: true, state: { slots, hash } };
    },
    equal(a, b) {
      if (a === b) return true;
      if (a.hash !== b.hash) return false;
      const n = Math.max(a.slots.length, b.slots.length);
      for (let i = 0; i < n; i++) {
        const x = a.slots[i];
        const y = b.slots[i];
        if (x === undefined || y === undefined ? x !== y : !eq(x, y)) return false;
      }
      return true;
    },
    describeState: (state) =>
      `{${state.slots
        .map((v, i) => [keys[i] as string | number, v] as const)
        .filter(([, v]) => v !== undefined)
        .sort(([a], [b]) => (String(a) < String(b) ? -1 : 1))
        .map(([k, v]) => `${k}: ${show(v as S)}`)
        .join(", ")}}`,
  };
  if (h) whole.hash = (state) => state.hash;
  if (model.readOnly) whole.readOnly = model.readOnly.bind(model);
  // A read of one key does not pin down the whole map: no readState.
  if (model.describeOperation) whole.describeOperation = model.describeOperation.bind(model);
  return whole;
}
