// Maelstrom's message body conventions and error codes (README.md "The node protocol").

import type { Body } from "../protocols/maelstrom.js";

// Body is protocols/'s (nemesis scripts, which systems ship, match on it); re-exported here.
export type { Body };

export interface Envelope {
  id?: number;
  src: string;
  dest: string;
  body: Body;
}

export interface ErrorCode {
  name: string;
  /** Definite: the operation certainly did not happen. */
  definite: boolean;
}

export const ERROR_CODES: Readonly<Record<number, ErrorCode>> = {
  0: { name: "timeout", definite: false },
  1: { name: "node-not-found", definite: true },
  10: { name: "not-supported", definite: true },
  11: { name: "temporarily-unavailable", definite: true },
  12: { name: "malformed-request", definite: true },
  13: { name: "crash", definite: false },
  14: { name: "abort", definite: true },
  20: { name: "key-does-not-exist", definite: true },
  21: { name: "key-already-exists", definite: true },
  22: { name: "precondition-failed", definite: true },
  30: { name: "txn-conflict", definite: true },
};

/** Codes >= 1000 are user-defined and always indefinite, as is any code we do not know. */
export function describeErrorCode(code: number): ErrorCode {
  return (
    ERROR_CODES[code] ?? {
      name: code >= 1000 ? `user-${code}` : `unknown-${code}`,
      definite: false,
    }
  );
}

/** A reply that breaks the workload's schema; the op becomes `info` and the error is reported. */
export class ReplyError extends Error {
  override name = "ReplyError";
}
