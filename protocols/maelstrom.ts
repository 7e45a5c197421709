// Maelstrom protocol facts that both the harness and its reports need
// (shared/specs/maelstrom-protocol.md §9).

/** The built-in services' node names: destinations that are not nodes of the test. */
export const SERVICE_NAMES: readonly string[] = Object.freeze([
  "lin-kv",
  "seq-kv",
  "lww-kv",
  "lin-tso",
]);
