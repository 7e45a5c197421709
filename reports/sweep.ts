// `faultline sweep`'s report layer: the same test once per seed, summarised from the stored
// runs alone. The orchestrator (harness/) runs the seeds and calls summarizeSweep, then
// writeSweepFiles into <store>/sweeps/<test>/<stamp>/; `sweep merge` calls findRunRecords first.

export { SWEEP_FILES, SWEEPS_FOLDER } from "./store-files.js";
export { findRunRecords } from "./sweep-find.js";
export { sweepJunit, sweepMarkdown, writeSweepFiles } from "./sweep-render.js";
export {
  type SweepFailure,
  type SweepMeta,
  type SweepRun,
  type SweepRunRecord,
  type SweepStatus,
  type SweepSummary,
  summarizeSweep,
  sweepExitCode,
} from "./sweep-summary.js";
