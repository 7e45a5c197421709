// The reports' entry point (ARCHITECTURE.md "The store"): after a run's results.json is written,
// render report.html, junit.xml and summary.md into the run directory, append the summary to
// $GITHUB_STEP_SUMMARY when CI sets it, and refresh the store's index.html.
import { appendFile, realpath, rename, writeFile } from "node:fs/promises";
import { dirname, isAbsolute, join, relative } from "node:path";
import { renderReport } from "./html-report.js";
import { renderJunit } from "./junit.js";
import { type LoadOptions, loadRun, RUN_FILES } from "./load-run.js";
import { renderMarkdown } from "./markdown.js";
import { writeStoreIndex } from "./store-index.js";
import { runFacts } from "./stored.js";

export { renderReport } from "./html-report.js";
export { loadRun } from "./load-run.js";
export { listRuns, renderStoreIndex, writeStoreIndex } from "./store-index.js";

/**
 * Writes report.html, junit.xml and summary.md into `runDir`, appends summary.md to
 * $GITHUB_STEP_SUMMARY when set, and rewrites `<store>/index.html` (the store is runDir's
 * grandparent; a symlink such as `store/latest` is resolved first). Every output is attempted
 * even when an earlier one fails; then the failures are thrown together.
 */
export async function writeRunReports(runDir: string, options: LoadOptions = {}): Promise<void> {
  const dir = await realpath(runDir);
  const run = await loadRun(dir, options);
  const facts = runFacts(run.test, run.results, run.problems);
  const reportPath = join(dir, RUN_FILES.report);
  // Relative to where faultline runs when the run is below it (as CI shows it), else absolute.
  const fromCwd = relative(process.cwd(), reportPath);
  const shownPath = fromCwd.startsWith("..") || isAbsolute(fromCwd) ? reportPath : fromCwd;
  const failures: unknown[] = [];
  const attempt = async (what: () => Promise<unknown>) => {
    try {
      await what();
    } catch (err) {
      failures.push(err);
    }
  };
  await attempt(() => writeAtomic(reportPath, renderReport(run)));
  await attempt(() =>
    writeAtomic(join(dir, RUN_FILES.junit), renderJunit(facts, run.name, shownPath)),
  );
  const markdown = renderMarkdown(facts, run.name, shownPath);
  await attempt(() => writeAtomic(join(dir, RUN_FILES.summary), markdown));
  const stepSummary = process.env.GITHUB_STEP_SUMMARY;
  if (stepSummary) await attempt(() => appendFile(stepSummary, markdown));
  await attempt(() => writeStoreIndex(dirname(dirname(dir))));
  if (failures.length === 1) throw failures[0];
  if (failures.length > 1)
    throw new AggregateError(failures, `${failures.length} reports of ${dir} failed`);
}

async function writeAtomic(path: string, text: string): Promise<void> {
  const tmp = `${path}.${process.pid}.tmp`;
  await writeFile(tmp, text);
  await rename(tmp, path);
}
