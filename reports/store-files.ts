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

/** Where a store keeps its sweeps (reports/sweep.ts): <store>/sweeps/<test>/<stamp>/. */
export const SWEEPS_FOLDER = "sweeps";

/** The files of a sweep's folder. */
export const SWEEP_FILES = {
  summary: "sweep.json",
  markdown: "sweep.md",
  junit: "junit.xml",
  page: "sweep.html",
  /** One store per seed: runs/<seed>/<test>/<stamp>/ is that seed's run. */
  runs: "runs",
} as const;
