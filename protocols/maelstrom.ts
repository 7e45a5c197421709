// Maelstrom protocol facts shared by the harness, its reports and the systems' nemesis scripts
// (README.md "The node protocol"; harness/services.md).

/** The built-in services' node names: destinations that are not nodes of the test. */
export const SERVICE_NAMES: readonly string[] = Object.freeze([
  "lin-kv",
  "seq-kv",
  "lww-kv",
  "lin-tso",
]);

/** A message body: `type` is mandatory; requests carry `msg_id`, replies `in_reply_to`. */
export type Body = { type: string; msg_id?: unknown; in_reply_to?: unknown } & Record<
  string,
  unknown
>;
