// LSP parameters (systems/lsp/README.md "The wire format") and the command-line flags every LSP
// program of ours takes (systems/lsp/README.md "The control channel"), with the staff runners'
// names accepted as aliases.

export interface LspParams {
  /** K: epochs with nothing received before a connection is declared lost. */
  epochLimit: number;
  /** δ: epoch length in milliseconds. */
  epochMillis: number;
  /** ω: with oldest unacked seq n, only n … n+ω−1 may be in flight. */
  windowSize: number;
  /** Cap, in epochs, on a data message's retransmission backoff; 0 resends every epoch. */
  maxBackOffInterval: number;
  /** M: most unacknowledged data messages outstanding; M ≤ ω. */
  maxUnackedMessages: number;
}

export const DEFAULT_PARAMS: Readonly<LspParams> = Object.freeze({
  epochLimit: 5,
  epochMillis: 2000,
  windowSize: 1,
  maxBackOffInterval: 0,
  maxUnackedMessages: 1,
});

/** Upper bounds that keep a typo from creating a connection that never times out. */
const MAX_EPOCH_LIMIT = 10_000;
const MAX_EPOCH_MILLIS = 600_000;
const MAX_WINDOW = 1 << 16;

export function validateParams(p: LspParams): LspParams {
  const check = (name: string, value: number, min: number, max: number) => {
    if (!Number.isSafeInteger(value) || value < min || value > max) {
      throw new RangeError(`${name} must be an integer from ${min} to ${max}, got ${value}`);
    }
  };
  check("epoch limit", p.epochLimit, 1, MAX_EPOCH_LIMIT);
  check("epoch millis", p.epochMillis, 1, MAX_EPOCH_MILLIS);
  check("window size", p.windowSize, 1, MAX_WINDOW);
  check("max backoff", p.maxBackOffInterval, 0, MAX_EPOCH_LIMIT);
  check("max unacked messages", p.maxUnackedMessages, 1, MAX_WINDOW);
  return p;
}

/** Flag name (without dashes) → params field; `--epoch-limit` and the staff `-elim` alike. */
const PARAM_FLAGS: Record<string, keyof LspParams> = {
  "epoch-limit": "epochLimit",
  elim: "epochLimit",
  "epoch-millis": "epochMillis",
  ems: "epochMillis",
  "window-size": "windowSize",
  wsize: "windowSize",
  "max-backoff": "maxBackOffInterval",
  maxbackoff: "maxBackOffInterval",
  "max-unacked": "maxUnackedMessages",
  maxUnackMessages: "maxUnackedMessages",
};

/** The LSP flags for a params object, as our programs (and faultline's runner) pass them. */
export function paramFlags(p: Partial<LspParams>): string[] {
  const out: string[] = [];
  if (p.epochLimit !== undefined) out.push("--epoch-limit", String(p.epochLimit));
  if (p.epochMillis !== undefined) out.push("--epoch-millis", String(p.epochMillis));
  if (p.windowSize !== undefined) out.push("--window-size", String(p.windowSize));
  if (p.maxBackOffInterval !== undefined) out.push("--max-backoff", String(p.maxBackOffInterval));
  if (p.maxUnackedMessages !== undefined) out.push("--max-unacked", String(p.maxUnackedMessages));
  return out;
}

export interface ParsedArgs {
  params: LspParams;
  /** Other `--name value` flags and bare `--name` switches. */
  flags: Map<string, string | true>;
  positionals: string[];
}

/**
 * Parses argv: LSP param flags (one or two dashes, `--x v` or `--x=v`), the switches listed in
 * `switches` (no value), other flags with a value, and positionals.
 */
export function parseArgv(argv: readonly string[], switches: readonly string[] = []): ParsedArgs {
  const params: LspParams = { ...DEFAULT_PARAMS };
  const flags = new Map<string, string | true>();
  const positionals: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    const m = /^--?([A-Za-z][A-Za-z0-9-]*)(?:=(.*))?$/.exec(arg);
    if (!m) {
      positionals.push(arg);
      continue;
    }
    const name = m[1] as string;
    if (switches.includes(name)) {
      flags.set(name, true);
      continue;
    }
    let value = m[2];
    if (value === undefined) {
      value = argv[++i];
      if (value === undefined) throw new RangeError(`flag ${arg} needs a value`);
    }
    const field = PARAM_FLAGS[name];
    if (field) {
      const n = Number(value);
      if (!Number.isSafeInteger(n))
        throw new RangeError(`flag ${arg} needs an integer, got ${value}`);
      params[field] = n;
    } else {
      flags.set(name, value);
    }
  }
  return { params: validateParams(params), flags, positionals };
}
