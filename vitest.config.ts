import { defineConfig } from "vitest/config";
import SummaryLineReporter from "./test/summary-reporter.ts";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    testTimeout: 60_000,
    hookTimeout: 30_000,
    // End-to-end suites start real subprocesses; two cores are all CI has.
    maxWorkers: 2,
    globalSetup: ["test/global-setup.ts"],
    reporters: ["default", new SummaryLineReporter()],
  },
});
