// The built-in models. Values are JSON values compared structurally; `null` means absent.

import {
  canonicalJson,
  hashJson,
  hashString,
  ILLEGAL,
  jsonEqual,
  type Model,
  mix32,
  type StepResult,
  showJson,
} from "./model.js";

// ---------------------------------------------------------------------------------------
// Single registers.

export type RegisterInput =
  | { f: "read" }
  | { f: "write"; value: unknown }
  | { f: "cas"; from: unknown; to: unknown };

/** read: `{value}` (null = absent); cas: `{ok}` (false = precondition did not hold); write: `{}`. */
export interface RegisterOutput {
  value?: unknown;
  ok?: boolean;
}

function registerStep(
  state: unknown,
  input: RegisterInput,
  output: RegisterOutput | undefined,
): StepResult<unknown> {
  switch (input.f) {
    case "read":
      return output === undefined || jsonEqual(state, output.value ?? null)
        ? { ok: true, state }
        : ILLEGAL;
    case "write":
      return { ok: true, state: input.value ?? null };
    case "cas": {
      const holds = jsonEqual(state, input.from ?? null);
      // Unknown outcome: it took effect exactly when its precondition held.
      if (output === undefined) return { ok: true, state: holds ? (input.to ?? null) : state };
      if (output.ok) return holds ? { ok: true, state: input.to ?? null } : ILLEGAL;
      return holds ? ILLEGAL : { ok: true, state };
    }
    default:
      throw new TypeError(
        `register model: unknown f ${JSON.stringify((input as { f: unknown }).f)}`,
      );
  }
}

/** A read that returned a value: the register must hold exactly it. */
const registerReadState = (
  input: { f: string },
  output: RegisterOutput | undefined,
): { state: unknown } | undefined =>
  input.f === "read" && output !== undefined ? { state: output.value ?? null } : undefined;

/** Reads and failed cas never change a register. */
const registerReadOnly = (input: { f: string }, output: RegisterOutput | undefined): boolean =>
  input.f === "read" || (input.f === "cas" && output !== undefined && output.ok === false);

function describeRegisterOp(input: RegisterInput, output: RegisterOutput | undefined): string {
  const unknown = output === undefined ? " (outcome unknown)" : "";
  switch (input.f) {
    case "read":
      return output === undefined ? "read → ?" : `read → ${showJson(output.value)}`;
    case "write":
      return `write ${showJson(input.value)}${unknown}`;
    case "cas":
      return `cas ${showJson(input.from)}→${showJson(input.to)}${output !== undefined && !output.ok ? " (failed)" : unknown}`;
    default:
      return JSON.stringify(input);
  }
}

/** A register holding one value, initially null (absent): read and write. */
export const registerModel: Model<unknown, RegisterInput, RegisterOutput> = {
  name: "register",
  init: () => null,
  step(state, input, output) {
    if (input.f === "cas") {
      throw new TypeError("the register model has no cas; check with the cas-register model");
    }
    return registerStep(state, input, output);
  },
  equal: jsonEqual,
  hash: hashJson,
  readOnly: registerReadOnly,
  readState: registerReadState,
  describeOperation: describeRegisterOp,
  describeState: showJson,
};

/** A register with compare-and-set, initially null (absent). */
export const casRegisterModel: Model<unknown, RegisterInput, RegisterOutput> = {
  name: "cas-register",
  init: () => null,
  step: registerStep,
  equal: jsonEqual,
  hash: hashJson,
  readOnly: registerReadOnly,
  readState: registerReadState,
  describeOperation: describeRegisterOp,
  describeState: showJson,
};

// ---------------------------------------------------------------------------------------
// Key-value stores, partitioned by key: each partition holds one key's ops, so the state is
// that key's value alone. `unpartitioned(model)` checks the whole map as one state instead.

export type KvInput =
  | { f: "read"; key: unknown }
  | { f: "write"; key: unknown; value: unknown }
  | { f: "cas"; key: unknown; from: unknown; to: unknown };

/** Maelstrom lin-kv: read/write/cas per key; a missing key reads as null. */
export const kvModel: Model<unknown, KvInput, RegisterOutput> = {
  name: "kv",
  init: () => null,
  step: registerStep,
  equal: jsonEqual,
  hash: hashJson,
  partition: (input) => canonicalJson(input.key),
  readOnly: registerReadOnly,
  readState: registerReadState,
  describeOperation: (input, output) =>
    describeRegisterOp(input, output).replace(/^(\w+)/, `$1 ${showJson(input.key)}`),
  describeState: showJson,
};

export type AppendKvInput =
  | { f: "get"; key: unknown }
  | { f: "put"; key: unknown; value: string }
  | { f: "append"; key: unknown; value: string };

/** get: `{value}` (the whole string, "" when absent); put/append: `{}`. */
export interface AppendKvOutput {
  value?: string;
}

/**
 * One key's string with a polynomial hash of its content, kept up to date as it grows, so an
 * append costs O(appended length) instead of rehashing the whole (ever longer) string.
 */
export interface AppendKvState {
  readonly text: string;
  readonly hash: number;
}

const POLY_BASE = 0x01000193;

/** POLY_BASE ** n mod 2^32. */
function polyPower(n: number): number {
  let result = 1;
  let base = POLY_BASE;
  for (let e = n; e > 0; e >>>= 1) {
    if (e & 1) result = Math.imul(result, base);
    base = Math.imul(base, base);
  }
  return result;
}

function polyHash(s: string): number {
  let h = 0;
  for (let i = 0; i < s.length; i++) h = (Math.imul(h, POLY_BASE) + s.charCodeAt(i)) | 0;
  return h;
}

const EMPTY_TEXT: AppendKvState = Object.freeze({ text: "", hash: 0 });

const textState = (text: string): AppendKvState =>
  text === "" ? EMPTY_TEXT : { text, hash: polyHash(text) };

/** MIT 6.824-style get/put/append on strings, per key, initially "". */
export const appendKvModel: Model<AppendKvState, AppendKvInput, AppendKvOutput> = {
  name: "append-kv",
  init: () => EMPTY_TEXT,
  step(state, input, output) {
    switch (input.f) {
      case "get":
        return output === undefined || (output.value ?? "") === state.text
          ? { ok: true, state }
          : ILLEGAL;
      case "put":
        return { ok: true, state: textState(input.value) };
      case "append":
        if (input.value === "") return { ok: true, state };
        return {
          ok: true,
          state: {
            text: state.text + input.value,
            hash:
              (Math.imul(state.hash, polyPower(input.value.length)) + polyHash(input.value)) | 0,
          },
        };
      default:
        throw new TypeError(
          `append-kv model: unknown f ${JSON.stringify((input as { f: unknown }).f)}`,
        );
    }
  },
  equal: (a, b) => a === b || (a.hash === b.hash && a.text === b.text),
  hash: (s) => s.hash,
  partition: (input) => canonicalJson(input.key),
  readOnly: (input) => input.f === "get",
  readState: (input, output) =>
    input.f === "get" && output !== undefined
      ? { state: textState(output.value ?? "") }
      : undefined,
  // Appends only extend the string; only a put can make it something else.
  reaches: (from, to) => to.text.startsWith(from.text),
  resets: (input) => input.f === "put",
  describeOperation(input, output) {
    const key = showJson(input.key);
    if (input.f === "get") {
      return output === undefined
        ? `get ${key} → ?`
        : `get ${key} → ${JSON.stringify(output.value ?? "")}`;
    }
    return `${input.f} ${key} ${JSON.stringify(input.value)}${output === undefined ? " (outcome unknown)" : ""}`;
  },
  describeState: (s) => JSON.stringify(s.text),
};

// ---------------------------------------------------------------------------------------
// A set and a FIFO queue. States hold canonical JSON strings of the elements.

export type SetInput = { f: "add"; value: unknown } | { f: "read" };
/** read: `{value: [...elements]}` (order and duplicates do not matter); add: `{}`. */
export interface SetOutput {
  value?: unknown;
}

const sortedUnique = (xs: readonly string[]): readonly string[] =>
  [...new Set(xs)].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));

function stringsEqual(a: readonly string[], b: readonly string[]): boolean {
  if (a === b) return true;
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

const hashStrings = (xs: readonly string[]): number => {
  let h = 0x6a09e667 ^ xs.length;
  for (const x of xs) h = mix32(Math.imul(h, 31) + hashString(x));
  return h;
};

/** A grow-only set, initially empty. */
export const setModel: Model<readonly string[], SetInput, SetOutput> = {
  name: "set",
  init: () => [],
  step(state, input, output) {
    switch (input.f) {
      case "add": {
        const v = canonicalJson(input.value);
        return state.includes(v)
          ? { ok: true, state }
          : { ok: true, state: sortedUnique([...state, v]) };
      }
      case "read": {
        if (output === undefined) return { ok: true, state };
        if (!Array.isArray(output.value)) return ILLEGAL;
        return stringsEqual(sortedUnique(output.value.map(canonicalJson)), state)
          ? { ok: true, state }
          : ILLEGAL;
      }
      default:
        throw new TypeError(`set model: unknown f ${JSON.stringify((input as { f: unknown }).f)}`);
    }
  },
  equal: stringsEqual,
  hash: hashStrings,
  readOnly: (input) => input.f === "read",
  readState: (input, output) =>
    input.f === "read" && output !== undefined && Array.isArray(output.value)
      ? { state: sortedUnique(output.value.map(canonicalJson)) }
      : undefined,
  describeOperation: (input, output) =>
    input.f === "add"
      ? `add ${showJson(input.value)}${output === undefined ? " (outcome unknown)" : ""}`
      : output === undefined
        ? "read → ?"
        : `read → ${showJson(output.value)}`,
  describeState: (s) => `#{${s.join(" ")}}`,
};

export type QueueInput = { f: "enqueue"; value: unknown } | { f: "dequeue" };
/** dequeue: `{value}` = the element taken, or `{empty: true}`; enqueue: `{}`. */
export interface QueueOutput {
  value?: unknown;
  empty?: boolean;
}

/** A FIFO queue, initially empty. */
export const fifoQueueModel: Model<readonly string[], QueueInput, QueueOutput> = {
  name: "fifo-queue",
  init: () => [],
  step(state, input, output) {
    switch (input.f) {
      case "enqueue":
        return { ok: true, state: [...state, canonicalJson(input.value)] };
      case "dequeue":
        // Unknown outcome: if it happened it took the head (when there was one).
        if (output === undefined)
          return { ok: true, state: state.length === 0 ? state : state.slice(1) };
        if (output.empty) return state.length === 0 ? { ok: true, state } : ILLEGAL;
        return state.length > 0 && state[0] === canonicalJson(output.value)
          ? { ok: true, state: state.slice(1) }
          : ILLEGAL;
      default:
        throw new TypeError(
          `fifo-queue model: unknown f ${JSON.stringify((input as { f: unknown }).f)}`,
        );
    }
  },
  equal: stringsEqual,
  hash: hashStrings,
  readOnly: (input, output) => input.f === "dequeue" && output?.empty === true,
  readState: (input, output) =>
    input.f === "dequeue" && output?.empty === true ? { state: [] } : undefined,
  describeOperation: (input, output) => {
    if (input.f === "enqueue") {
      return `enqueue ${showJson(input.value)}${output === undefined ? " (outcome unknown)" : ""}`;
    }
    if (output === undefined) return "dequeue → ?";
    return output.empty ? "dequeue → empty" : `dequeue → ${showJson(output.value)}`;
  },
  describeState: (s) => `[${s.join(" ")}]`,
};

/** The built-in models by name; these (and only these) can be checked in worker threads. */
export const MODELS = {
  register: registerModel,
  "cas-register": casRegisterModel,
  kv: kvModel,
  "append-kv": appendKvModel,
  set: setModel,
  "fifo-queue": fifoQueueModel,
} as const;

export type ModelName = keyof typeof MODELS;

export function isModelName(name: string): name is ModelName {
  return Object.hasOwn(MODELS, name);
}
