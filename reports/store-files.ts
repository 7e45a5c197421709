// The files of a stored run (ARCHITECTURE.md "The store"). Reports read this layout, so reports/
// owns it and harness/store.ts, which writes it, imports it from here: reports never import the
// engine.
export const STORE_FILES = {
  history: "history.jsonl",
  messages: "messages.jsonl",
  results: "results.json",
  test: "test.json",
  log: "faultline.log",
  nodeLogs: "node-logs",
  /** --against-reference: a symlink to the reference system's run beside this one. */
  reference: "reference",
} as const;
