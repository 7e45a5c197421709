// The Wing–Gong linearizability search with Lowe's memoization, for one partition.
//
// Call and return entries form a doubly linked list in time order (calls before returns on
// equal times: touching intervals are concurrent). The search walks the list from its head:
// at a call it tries to linearize that op next (model step legal and the resulting
// (linearized set, state) never seen before), lifting the op's call and return out of the
// list; reaching a return means the op it closes cannot be placed after the current prefix,
// so the last linearized op is undone (unlifted) and the walk resumes after it. An empty
// list is a complete linearization; backtracking past the start proves there is none.
//
// Speed: everything in the loop is integers in typed arrays. States are interned to ids;
// model steps are memoized per (state id, op class); the linearized set is a bitset with an
// incrementally maintained Zobrist hash, so the cache key costs O(1) to hash. Two sound
// prunings cut the search: read-only ops are placed greedily, and of two equal ops only the
// one that is called and returns no later is tried first (see the loop). A third, for models
// whose state only grows (Model.reaches), starts once a search has run long: see `prunes`.

import { type Model, mix32 } from "./model.js";
import { operationClasses, PairTable, StateTable } from "./tables.js";

export type SearchStatus = "running" | "ok" | "illegal" | "memory";

/** One operation of a partition, times already resolved (Infinity = never returned). */
export interface SearchOp {
  input: unknown;
  output: unknown;
  call: number;
  ret: number;
}

const NIL = -1;
const LOOP_RUNNING = 0;
const LOOP_OK = 1;
const LOOP_ILLEGAL = 2;
/** Largest dense step table (cells of 4 bytes); past it steps are memoized in a hash table. */
const DENSE_MAX_CELLS = 1 << 16;
/** Past the dense table, keep memoizing steps only while at least this share of lookups hit. */
const MEMO_MIN_HIT_RATE = 0.3;
/** Memo misses between reviews of the sparse memo's hit rate. */
const MEMO_REVIEW_EVERY = 1 << 12;
const UNKNOWN_STEP = -2;
const NO_STATE = -1;
const ILLEGAL_STEP = -1;
/** Entries per chunk of the cache's arena (chunks avoid copying a huge array to grow). */
const CHUNK_SHIFT = 10;
/** Small first: most partitions are small, and checks of thousands of them should stay cheap. */
const INITIAL_SLOTS_SHIFT = 8;
const CHUNK_ENTRIES = 1 << CHUNK_SHIFT;

/**
 * The set of (linearized bitset, state id) pairs seen so far. An open-addressing index of
 * (hash, entry) pairs points into an arena of entries [state, bitset words...], so a probe
 * touches one index slot and, only when the hashes match, one arena entry.
 */
class LinearizedCache {
  private readonly words: number;
  private readonly stride: number;
  private readonly chunks: Int32Array[] = [];
  /** Pairs (hash, entry + 1); entry + 1 = 0 marks an empty slot. */
  private index: Int32Array;
  private mask: number;
  size = 0;

  constructor(words: number) {
    this.words = words;
    this.stride = words + 1;
    this.index = new Int32Array(2 << INITIAL_SLOTS_SHIFT);
    this.mask = (1 << INITIAL_SLOTS_SHIFT) - 1;
  }

  get bytes(): number {
    return this.chunks.length * CHUNK_ENTRIES * this.stride * 4 + this.index.length * 4;
  }

  /** Adds (bits, state) unless present; returns whether it was added. */
  addIfAbsent(hash: number, state: number, bits: Int32Array): boolean {
    const W = this.words;
    const index = this.index;
    let i = hash & this.mask;
    for (;;) {
      const e1 = index[2 * i + 1] as number;
      if (e1 === 0) break;
      if (index[2 * i] === hash) {
        const e = e1 - 1;
        const chunk = this.chunks[e >>> CHUNK_SHIFT] as Int32Array;
        let off = (e & (CHUNK_ENTRIES - 1)) * this.stride;
        if (chunk[off] === state) {
          off++;
          let w = 0;
          while (w < W && chunk[off + w] === bits[w]) w++;
          if (w === W) return false;
        }
      }
      i = (i + 1) & this.mask;
    }
    const e = this.size++;
    if ((e & (CHUNK_ENTRIES - 1)) === 0)
      this.chunks.push(new Int32Array(CHUNK_ENTRIES * this.stride));
    const chunk = this.chunks[e >>> CHUNK_SHIFT] as Int32Array;
    const off = (e & (CHUNK_ENTRIES - 1)) * this.stride;
    chunk[off] = state;
    // A loop beats TypedArray.set for the few words a bitset has.
    for (let w = 0; w < W; w++) chunk[off + 1 + w] = bits[w] as number;
    index[2 * i] = hash;
    index[2 * i + 1] = e + 1;
    if (this.size * 10 > (this.mask + 1) * 7) this.grow();
    return true;
  }

  private grow(): void {
    const old = this.index;
    const slots = (this.mask + 1) * 2;
    const index = new Int32Array(2 * slots);
    const mask = slots - 1;
    for (let j = 0; j < old.length; j += 2) {
      const e1 = old[j + 1] as number;
      if (e1 === 0) continue;
      const hash = old[j] as number;
      let i = hash & mask;
      while (index[2 * i + 1] !== 0) i = (i + 1) & mask;
      index[2 * i] = hash;
      index[2 * i + 1] = e1;
    }
    this.index = index;
    this.mask = mask;
  }
}

/** How far back among equal ops a dominator is looked for. */
const DOMINATOR_SCAN = 32;

/**
 * For each op, an op of the same class (same input and output) whose call comes earlier in
 * `order` and whose return is no later: swapping the two in a linearization keeps it valid.
 */
function dominators(
  ops: readonly SearchOp[],
  classes: Int32Array,
  order: readonly number[],
): Int32Array {
  const dominator = new Int32Array(ops.length).fill(-1);
  const byClass = new Map<number, number[]>();
  for (const e of order) {
    if (e & 1) continue;
    const op = e >> 1;
    const cls = classes[op] as number;
    let seen = byClass.get(cls);
    if (!seen) {
      seen = [];
      byClass.set(cls, seen);
    }
    const ret = (ops[op] as SearchOp).ret;
    for (let k = seen.length - 1; k >= 0 && k >= seen.length - DOMINATOR_SCAN; k--) {
      const other = seen[k] as number;
      if ((ops[other] as SearchOp).ret <= ret) {
        dominator[op] = other;
        break;
      }
    }
    seen.push(op);
  }
  return dominator;
}

/** Deterministic per-op random words for Zobrist hashing (xorshift32, fixed seed). */
function zobristKeys(n: number): Int32Array {
  const keys = new Int32Array(n);
  let x = 0x9e3779b9;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    keys[i] = mix32(x) | 0;
  }
  return keys;
}

export interface SearchLimits {
  /** Bytes the cache, the step memo and the interned states may use before giving up. */
  max_bytes: number;
  /**
   * Loop iterations before pruning by Model.reaches starts. It can cut the longest partial
   * linearization short (the report's explanation), so small searches go without it.
   */
  prune_after_iterations?: number;
}

/** About 0.1 s of search: past it, a history is hard enough that a verdict beats a diagram. */
const PRUNE_AFTER_ITERATIONS = 1 << 20;

/**
 * The search over one partition, resumable: `run(iterations)` does at most that many loop
 * iterations, so the caller can check its deadline and cancellation in between.
 */
export class PartitionSearch {
  readonly n: number;
  status: SearchStatus = "running";

  private readonly model: Model<unknown, unknown, unknown>;
  private readonly inputs: unknown[];
  private readonly outputs: unknown[];
  private readonly classes: Int32Array;
  /** An op of the same class called and returning no later (see loop), or -1. */
  private readonly dominator: Int32Array;
  /** 1 for ops that never change the state (Model.readOnly, Model.readState). */
  private readonly readOnly: Uint8Array;
  /** The state id a read pins down (Model.readState), or NO_STATE. */
  private readonly readState: Int32Array;
  private readonly states: StateTable<unknown>;
  /** Memoized steps: dense (state id × op class) while small, else the sparse `memo`. */
  private trans: Int32Array;
  private transRows = 0;
  private dense = true;
  /** False once steps proved too rarely repeated to be worth remembering. */
  private memoized = true;
  private readonly classCount: number;
  private memo = new PairTable(64);
  private memoHits = 0;
  private memoMisses = 0;
  private readonly cache: LinearizedCache;
  private readonly zobrist: Int32Array;
  private readonly limits: SearchLimits;

  // Pruning for growing states (see `prunes`): pinned reads by return time, resetting ops by
  // call time, and per stack depth the first of each not yet linearized.
  private readonly reaches: Model<unknown, unknown, unknown>["reaches"];
  private readonly pinnedByRet: Int32Array;
  private readonly resetsByCall: Int32Array;
  private readonly ret: Float64Array;
  private readonly call: Float64Array;
  private readonly stackPin: Int32Array;
  private readonly stackReset: Int32Array;
  /** What `prunes` found for the depth a push creates. */
  private pinAfter = 0;
  private resetAfter = 0;
  private readonly reachMemo = new PairTable(64);
  private pruning = false;
  private iterationsRun = 0;
  /** Steps abandoned by pruning. */
  pruned = 0;

  // The entry list: entry 2i is op i's call, 2i+1 its return; `head` is the sentinel.
  private readonly next: Int32Array;
  private readonly prev: Int32Array;
  private readonly head: number;

  private readonly bits: Int32Array;
  private bitsHash = 0;
  private state: number;
  private cursor: number;
  /** The linearized calls (entries) in order, and the state before each. */
  private readonly stackEntry: Int32Array;
  private readonly stackState: Int32Array;
  /** 1 where the stacked op was linearized greedily (a read-only op). */
  private readonly stackGreedy: Uint8Array;
  /** stackMinBest[i] = min over stack[0..i] of bestLength: skip partial bookkeeping cheaply. */
  private readonly stackMinBest: Int32Array;
  private depth = 0;

  // Partial linearizations: for each op, the longest linearizable prefix containing it.
  private readonly bestLength: Int32Array;
  private readonly bestPrefix: (Int32Array | undefined)[];
  /** The longest prefix found overall, and the op whose return ended it. */
  longest: Int32Array = new Int32Array(0);
  /** longest.length, or -1 before any prefix was recorded. */
  private longestLength = -1;
  blocked = -1;

  constructor(
    model: Model<unknown, unknown, unknown>,
    ops: readonly SearchOp[],
    limits: SearchLimits,
  ) {
    const n = ops.length;
    this.n = n;
    this.model = model;
    this.limits = limits;
    this.inputs = ops.map((o) => o.input);
    this.outputs = ops.map((o) => o.output);
    this.classes = operationClasses(this.inputs, this.outputs);
    this.states = new StateTable(model);
    this.readState = Int32Array.from(ops, (o) => {
      const pinned = model.readState?.(o.input, o.output);
      return pinned ? this.states.intern(pinned.state) : NO_STATE;
    });
    this.readOnly = Uint8Array.from(ops, (o, i) =>
      this.readState[i] !== NO_STATE || model.readOnly?.(o.input, o.output) ? 1 : 0,
    );
    this.classCount = this.classes.reduce((max, c) => Math.max(max, c + 1), 0);
    this.trans = new Int32Array(0);
    this.state = this.states.intern(model.init());
    this.growDense();
    const words = Math.max(1, Math.ceil(n / 32));
    this.bits = new Int32Array(words);
    this.cache = new LinearizedCache(words);
    this.zobrist = zobristKeys(n);
    this.stackEntry = new Int32Array(n);
    this.stackState = new Int32Array(n);
    this.stackGreedy = new Uint8Array(n);
    this.stackMinBest = new Int32Array(n);
    this.bestLength = new Int32Array(n);
    this.bestPrefix = new Array(n).fill(undefined);
    this.reaches = model.reaches?.bind(model);
    this.call = Float64Array.from(ops, (o) => o.call);
    this.ret = Float64Array.from(ops, (o) => o.ret);
    const indexes = Array.from({ length: n }, (_, i) => i);
    const pinned = this.reaches ? indexes.filter((i) => this.readState[i] !== NO_STATE) : [];
    const resets = this.reaches ? indexes.filter((i) => model.resets?.(this.inputs[i])) : [];
    this.pinnedByRet = Int32Array.from(
      pinned.sort((a, b) => (this.ret[a] as number) - (this.ret[b] as number) || a - b),
    );
    this.resetsByCall = Int32Array.from(
      resets.sort((a, b) => (this.call[a] as number) - (this.call[b] as number) || a - b),
    );
    this.stackPin = new Int32Array(this.reaches ? n + 1 : 0);
    this.stackReset = new Int32Array(this.reaches ? n + 1 : 0);

    // Time order; on equal times calls first (so touching intervals overlap), then op order.
    const order = Array.from({ length: 2 * n }, (_, e) => e);
    const time = (e: number): number => {
      const op = ops[e >> 1] as SearchOp;
      return e & 1 ? op.ret : op.call;
    };
    order.sort((a, b) => time(a) - time(b) || (a & 1) - (b & 1) || a - b);
    this.dominator = dominators(ops, this.classes, order);
    this.head = 2 * n;
    this.next = new Int32Array(2 * n + 1);
    this.prev = new Int32Array(2 * n + 1);
    let last = this.head;
    this.prev[this.head] = NIL;
    for (const e of order) {
      this.next[last] = e;
      this.prev[e] = last;
      last = e;
    }
    this.next[last] = NIL;
    this.cursor = this.next[this.head] as number;
    for (let i = 0; i < n; i++) {
      const op = ops[i] as SearchOp;
      if (!(op.call <= op.ret)) throw new RangeError(`operation ${i} returns before it is called`);
    }
    if (n === 0) this.status = "ok";
  }

  get cacheEntries(): number {
    return this.cache.size;
  }

  get stateCount(): number {
    return this.states.states.length;
  }

  get bytes(): number {
    return (
      this.cache.bytes +
      this.trans.length * 4 +
      this.memo.bytes +
      this.reachMemo.bytes +
      this.states.states.length * 64
    );
  }

  /** The state after `op` from state id `from` when the dense table does not know it. */
  private slowTransition(from: number, op: number): number {
    const cls = this.classes[op] as number;
    if (!this.dense && this.memoized) {
      const memoized = this.memo.get(from, cls, UNKNOWN_STEP);
      if (memoized !== UNKNOWN_STEP) {
        this.memoHits++;
        return memoized;
      }
      if (++this.memoMisses === MEMO_REVIEW_EVERY) this.reviewMemo();
    }
    const r = this.model.step(this.states.states[from], this.inputs[op], this.outputs[op]);
    const to = r.ok ? this.states.intern(r.state) : ILLEGAL_STEP;
    if (this.dense) this.growDense();
    if (this.dense) this.trans[from * this.classCount + cls] = to;
    else if (this.memoized) this.memo.add(from, cls, to);
    return to;
  }

  /** Stops memoizing when most lookups miss (as when every step makes a new state). */
  private reviewMemo(): void {
    if (this.memoHits < (this.memoHits + this.memoMisses) * MEMO_MIN_HIT_RATE) {
      this.memoized = false;
      this.memo = new PairTable(64);
    }
    this.memoHits = 0;
    this.memoMisses = 0;
  }

  /** Makes room for every interned state in the dense table, or moves to the sparse memo. */
  private growDense(): void {
    const need = this.states.states.length;
    if (need <= this.transRows) return;
    let rows = Math.max(16, this.transRows * 2);
    while (rows < need) rows *= 2;
    const nc = this.classCount;
    if (rows * nc > DENSE_MAX_CELLS) {
      for (let i = 0; i < this.transRows * nc; i++) {
        const to = this.trans[i] as number;
        if (to !== UNKNOWN_STEP) this.memo.add(Math.floor(i / nc), i % nc, to);
      }
      this.dense = false;
      this.trans = new Int32Array(0);
      return;
    }
    const trans = new Int32Array(rows * nc).fill(UNKNOWN_STEP);
    trans.set(this.trans);
    this.trans = trans;
    this.transRows = rows;
  }

  /** Runs at most `iterations` loop iterations; returns the status afterwards. */
  run(iterations: number): SearchStatus {
    if (this.status !== "running") return this.status;
    if (
      this.reaches &&
      this.iterationsRun >= (this.limits.prune_after_iterations ?? PRUNE_AFTER_ITERATIONS)
    )
      this.pruning = true;
    this.iterationsRun += iterations;
    const code = this.loop(iterations);
    let status: SearchStatus =
      code === LOOP_OK ? "ok" : code === LOOP_ILLEGAL ? "illegal" : "running";
    if (status === "running" && this.bytes > this.limits.max_bytes) status = "memory";
    if (status === "ok") this.complete(this.depth);
    this.status = status;
    return status;
  }

  /** The hot loop; cold paths are separate methods. */
  private loop(iterations: number): number {
    const { next, prev, head, bits, zobrist, classes, readOnly, readState, dominator, cache } =
      this;
    const { stackEntry, stackState, stackGreedy, stackMinBest, bestLength } = this;
    const nc = this.classCount;
    const growing = this.reaches !== undefined;
    const { stackPin, stackReset } = this;
    let trans = this.trans;
    let dense = this.dense;
    let e = this.cursor;
    let state = this.state;
    let hash = this.bitsHash;
    let depth = this.depth;
    let code = LOOP_RUNNING;
    for (let it = 0; it < iterations; it++) {
      if (next[head] === NIL) {
        code = LOOP_OK;
        break;
      }
      if ((e & 1) === 0) {
        // A call: try to linearize its op next.
        const op = e >> 1;
        let to: number;
        const pinned = readState[op] as number;
        if (pinned !== NO_STATE) {
          to = pinned === state ? state : ILLEGAL_STEP;
        } else if (dense) {
          to = trans[state * nc + (classes[op] as number)] as number;
          if (to === UNKNOWN_STEP) {
            to = this.slowTransition(state, op);
            trans = this.trans;
            dense = this.dense;
          }
        } else {
          to = this.slowTransition(state, op);
        }
        // Symmetry: an equal op called no later and returning no later, still unplaced, can
        // take this op's place in any linearization; trying it suffices.
        const d = dominator[op] as number;
        if (d >= 0 && ((bits[d >>> 5] as number) & (1 << (d & 31))) === 0) {
          e = next[e] as number;
          continue;
        }
        if (to >= 0) {
          const word = op >>> 5;
          const bit = 1 << (op & 31);
          bits[word] = (bits[word] as number) | bit;
          const h = hash ^ (zobrist[op] as number);
          // A read-only op legal here can be linearized right now: if no linearization
          // extends prefix+op, none extends the prefix (moving a read-only op earlier keeps
          // every later step legal), so its siblings need no trying.
          const greedy = readOnly[op] === 1 && to === state;
          if (
            cache.addIfAbsent(h ^ Math.imul(to + 1, 0x9e3779b1), to, bits) &&
            !(growing && this.prunes(to, depth))
          ) {
            if (growing) {
              stackPin[depth + 1] = this.pinAfter;
              stackReset[depth + 1] = this.resetAfter;
            }
            stackEntry[depth] = e;
            stackState[depth] = state;
            stackGreedy[depth] = greedy ? 1 : 0;
            const below = depth === 0 ? 0x7fffffff : (stackMinBest[depth - 1] as number);
            const best = bestLength[op] as number;
            stackMinBest[depth] = Math.min(best, below);
            depth++;
            state = to;
            hash = h;
            // Lift the call and its return (e + 1) out of the list.
            const m = e + 1;
            next[prev[e] as number] = next[e] as number;
            prev[next[e] as number] = prev[e] as number;
            next[prev[m] as number] = next[m] as number;
            if (next[m] !== NIL) prev[next[m] as number] = prev[m] as number;
            e = next[head] as number;
            continue;
          }
          bits[word] = (bits[word] as number) & ~bit;
          if (!greedy) {
            e = next[e] as number;
            continue;
          }
          // prefix+op was explored before and failed, so this prefix fails too.
        } else {
          e = next[e] as number;
          continue;
        }
      } else {
        // A return: its op cannot be placed after the current prefix.
        if (depth > this.longestLength) this.recordLongest(depth, e >> 1);
        if (depth > 0 && (stackMinBest[depth - 1] as number) < depth) this.recordPartials(depth);
      }
      // Backtrack: undo the last op (and past greedy ops, whose siblings cannot succeed).
      let greedyPop = true;
      while (greedyPop) {
        if (depth === 0) {
          code = LOOP_ILLEGAL;
          break;
        }
        depth--;
        e = stackEntry[depth] as number;
        state = stackState[depth] as number;
        greedyPop = stackGreedy[depth] === 1;
        const op = e >> 1;
        bits[op >>> 5] = (bits[op >>> 5] as number) & ~(1 << (op & 31));
        hash = hash ^ (zobrist[op] as number);
        // Unlift in the reverse order of lifting.
        const m = e + 1;
        next[prev[m] as number] = m;
        if (next[m] !== NIL) prev[next[m] as number] = m;
        next[prev[e] as number] = e;
        prev[next[e] as number] = e;
      }
      if (code === LOOP_ILLEGAL) break;
      e = next[e] as number;
    }
    this.cursor = e;
    this.state = state;
    this.bitsHash = hash;
    this.depth = depth;
    return code;
  }

  /**
   * Whether the state `to`, reached by linearizing one more op (already in `bits`) at `depth`,
   * is a dead end for a model whose state only grows between resets: the first unplaced pinned
   * read P (by return) must still come, and if no unplaced resetting op can come before it
   * (each is called after P returned), the state at P is `to` grown by other ops, so
   * `reaches(to, P's state)` must hold. Also works out the pointers for the next depth.
   */
  private prunes(to: number, depth: number): boolean {
    const { bits, pinnedByRet, resetsByCall } = this;
    const placed = (op: number) => ((bits[op >>> 5] as number) & (1 << (op & 31))) !== 0;
    let p = this.stackPin[depth] as number;
    while (p < pinnedByRet.length && placed(pinnedByRet[p] as number)) p++;
    let r = this.stackReset[depth] as number;
    while (r < resetsByCall.length && placed(resetsByCall[r] as number)) r++;
    this.pinAfter = p;
    this.resetAfter = r;
    if (!this.pruning || p === pinnedByRet.length) return false;
    const read = pinnedByRet[p] as number;
    if (
      r < resetsByCall.length &&
      (this.call[resetsByCall[r] as number] as number) <= (this.ret[read] as number)
    )
      return false;
    const target = this.readState[read] as number;
    if (to === target) return false;
    let reachable = this.reachMemo.get(to, target, -1);
    if (reachable < 0) {
      const { states } = this.states;
      reachable = (this.reaches as NonNullable<typeof this.reaches>)(states[to], states[target])
        ? 1
        : 0;
      this.reachMemo.add(to, target, reachable);
    }
    if (reachable === 1) return false;
    this.pruned++;
    return true;
  }

  private snapshot(depth: number): Int32Array {
    const seq = new Int32Array(depth);
    for (let i = 0; i < depth; i++) seq[i] = (this.stackEntry[i] as number) >> 1;
    return seq;
  }

  private recordLongest(depth: number, blocked: number): void {
    this.longest = this.snapshot(depth);
    this.longestLength = depth;
    this.blocked = blocked;
  }

  /** Some op on the stack has no recorded prefix this long: give it (and others) this one. */
  private recordPartials(depth: number): void {
    const seq = this.snapshot(depth);
    let min = 0x7fffffff;
    for (let i = 0; i < depth; i++) {
      const op = seq[i] as number;
      if ((this.bestLength[op] as number) < depth) {
        this.bestLength[op] = depth;
        this.bestPrefix[op] = seq;
      }
      min = Math.min(min, this.bestLength[op] as number);
      this.stackMinBest[i] = min;
    }
  }

  /** A complete linearization: it is every op's longest prefix. */
  private complete(depth: number): void {
    if (depth !== this.n)
      throw new Error(`internal: complete linearization of ${depth}/${this.n} ops`);
    const seq = this.snapshot(depth);
    this.longest = seq;
    this.longestLength = depth;
    this.blocked = -1;
    this.bestLength.fill(depth);
    this.bestPrefix.fill(seq);
  }

  /** Distinct partial linearizations, and for each op the index of its longest one (-1: none). */
  partials(): { partials: number[][]; partialOf: number[] } {
    const index = new Map<Int32Array, number>();
    const partials: number[][] = [];
    const partialOf: number[] = [];
    for (let op = 0; op < this.n; op++) {
      const seq = this.bestPrefix[op];
      if (!seq) {
        partialOf.push(-1);
        continue;
      }
      let k = index.get(seq);
      if (k === undefined) {
        k = partials.length;
        index.set(seq, k);
        partials.push(Array.from(seq));
      }
      partialOf.push(k);
    }
    return { partials, partialOf };
  }
}
