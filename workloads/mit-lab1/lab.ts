// What lab mode knows of MIT 6.5840 Lab 1 (workloads/mit-lab1/README.md): the test script's
// scenarios, and where a student's programs are — a repository to build, or a folder of
// programs already built.
import { accessSync, constants, existsSync, statSync } from "node:fs";
import { join, resolve } from "node:path";
import type { MrApp } from "../mapreduce/job.js";
import { SetupError } from "../plugin.js";

/** The lab's do-not-change mrcoordinator.go: MakeCoordinator(files, 10). */
export const LAB_N_REDUCE = 10;
/** The lab's inputs: its 8 books, one map task each. */
export const LAB_FILES = 8;

export interface LabTest {
  /** The app plugin the workers load (src/mrapps/<app>.go, <app>.so). */
  app: MrApp;
  /** Workers at once, as test-mr.sh starts them. */
  workers: number;
  /** jobcount: the second half starts when one of the first exits (test-mr.sh's `wait`). */
  staggered?: boolean;
  /** crash: slots after the first are relaunched 1 s after each exit while the job runs. */
  relaunch?: boolean;
  /** test-mr.sh's `timeout` for this test: a job may legitimately take this long. */
  limit_s: number;
}

/** test-mr.sh's tests, by the names lab mode takes (`--lab-test`). */
export const LAB_TESTS = {
  wc: { app: "wc", workers: 3, limit_s: 45 },
  indexer: { app: "indexer", workers: 2, limit_s: 45 },
  "map-parallelism": { app: "mtiming", workers: 2, limit_s: 45 },
  "reduce-parallelism": { app: "rtiming", workers: 2, limit_s: 45 },
  "job-count": { app: "jobcount", workers: 4, staggered: true, limit_s: 45 },
  "early-exit": { app: "early_exit", workers: 3, limit_s: 45 },
  crash: { app: "crash", workers: 4, relaunch: true, limit_s: 120 },
} as const satisfies Record<string, LabTest>;

export type LabTestName = keyof typeof LAB_TESTS;
export const LAB_TEST_NAMES = Object.keys(LAB_TESTS) as LabTestName[];

/** The student's programs: Go sources to build, or a folder of built ones. */
export type LabPrograms = { kind: "source"; src: string } | { kind: "built"; dir: string };

/**
 * `--bin PATH`: the repository (PATH/src/main/mrcoordinator.go), its src/ or src/main/, or a
 * folder holding built mrcoordinator, mrworker and app plugins (src/main after the lab's build).
 */
export function locateLab(path: string): LabPrograms {
  const root = resolve(path);
  for (const src of [join(root, "src"), root, join(root, "..")]) {
    if (isFile(join(src, "main", "mrcoordinator.go")) && isDir(join(src, "mr"))) {
      return { kind: "source", src };
    }
  }
  if (isExecutable(join(root, "mrcoordinator")) && isExecutable(join(root, "mrworker"))) {
    return { kind: "built", dir: root };
  }
  throw new SetupError(
    `${root} is not an MIT 6.5840 Lab 1 repository (no src/main/mrcoordinator.go beside src/mr) nor a folder of built programs (mrcoordinator, mrworker and app .so files)`,
  );
}

/** The built plugin for `app` in a folder of built programs; a SetupError says how to build it. */
export function builtPlugin(dir: string, app: MrApp): string {
  const file = join(dir, `${app}.so`);
  if (!isFile(file)) {
    throw new SetupError(
      `${file} is missing: build it in src/main with "go build -buildmode=plugin ../mrapps/${app}.go", or give the repository instead`,
    );
  }
  return file;
}

function isFile(path: string): boolean {
  return existsSync(path) && statSync(path).isFile();
}

function isDir(path: string): boolean {
  return existsSync(path) && statSync(path).isDirectory();
}

function isExecutable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return statSync(path).isFile();
  } catch {
    return false;
  }
}
