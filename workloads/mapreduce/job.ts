// Workload `mapreduce` (workloads/mapreduce/README.md): one MapReduce job over a generated input
// corpus, run by a coordinator and N workers over the tcp transport. The driver is ./driver.ts;
// this module makes the seeded corpus, knows what each app's output must look like, and
// composes the checkers of checkers/mapreduce.ts from what the driver observed. The oracle is
// the system's sequential run (protocols/mapreduce/sequential.ts), as test-mr.sh compares against
// mrsequential.
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import {
  type AtomicOutputCheckOptions,
  type CompletionCheckOptions,
  checkAtomicOutput,
  checkCompletion,
  checkEarlyExit,
  checkJobCount,
  checkOutput,
  checkParallelism,
  type EarlyExitCheckOptions,
  type OutputCheckOptions,
  splitLine,
} from "../../checkers/mapreduce.js";
import type { CheckResult } from "../../checkers/result.js";
import { APP_NAMES, type AppName, ihash } from "../../protocols/mapreduce/apps/index.js";
import { sequential } from "../../protocols/mapreduce/sequential.js";
import type { Rng } from "../workload.js";

export const MR_APPS = APP_NAMES;
export type MrApp = AppName;

export const MR_DEFAULTS = {
  app: "wc" as MrApp,
  /** Input files = map tasks: the MIT tests' 8 books. */
  files: 8,
  /** Size of each generated input file. */
  file_kib: 32,
  /** Reduce tasks: the MIT coordinator's nReduce. */
  n_reduce: 10,
  /** A task silent this long is re-assigned (the lab text's 10 s). */
  task_timeout_ms: 10_000,
};

/**
 * Input names: the MIT books first (early_exit sleeps on keys containing "sherlock" or "tom",
 * so those two come early), then numbered extras. Names are passed to Map exactly as given.
 */
const BOOKS = [
  "pg-being_ernest",
  "pg-sherlock_holmes",
  "pg-tom_sawyer",
  "pg-dorian_gray",
  "pg-frankenstein",
  "pg-grimm",
  "pg-huckleberry_finn",
  "pg-metamorphosis",
];

export function inputName(i: number): string {
  return `${BOOKS[i] ?? `pg-extra_${i + 1}`}.txt`;
}

// biome-ignore format: a table
const SYLLABLES = [
  "an", "ba", "ce", "do", "el", "fi", "ga", "he", "in", "jo", "ka", "li", "mo", "nu", "or",
  "pa", "qui", "ra", "se", "ti", "ul", "ve", "wa", "xe", "yo", "ze", "th", "st", "ch", "ou",
];
/** Letters beyond ASCII, so letter-run splitting and UTF-8 hashing are exercised. */
const ACCENTED = ["é", "ü", "ß", "ø", "ñ", "ç", "å", "ž", "ő", "ł"];
// biome-ignore format: a table
const COMMON = [
  "the", "and", "of", "to", "a", "in", "that", "it", "was", "he", "she", "his", "her", "you",
  "with", "for", "as", "had", "not", "but", "on", "at", "be", "said", "is", "my", "all", "so",
];
// biome-ignore format: a table
const PUNCTUATION = [" ", " ", " ", " ", ", ", ". ", "; ", "! ", "? ", " — ", "'s ", "-", " (", ") ", " 1884 ", ' "', '" '];

/** A seeded vocabulary: common words plus made-up ones (some with non-ASCII letters). */
function vocabulary(rng: Rng, size: number): string[] {
  const words = new Set(COMMON);
  while (words.size < size) {
    let word = "";
    const syllables = rng.int(1, 4);
    for (let s = 0; s < syllables; s++) word += rng.pick(SYLLABLES);
    if (rng.chance(0.08)) word += rng.pick(ACCENTED);
    if (rng.chance(0.1)) word = word[0]?.toUpperCase() + word.slice(1);
    words.add(word);
  }
  return [...words];
}

export interface CorpusFile {
  name: string;
  text: string;
}

/**
 * `files` texts of about `file_kib` KiB each: words drawn with a skewed (Zipf-like) frequency,
 * punctuation, digits, capitals and a few non-ASCII letters, in lines of varying length.
 */
export function makeCorpus(rng: Rng, files: number, file_kib: number): CorpusFile[] {
  const vocab = vocabulary(rng, 3_000);
  const corpus: CorpusFile[] = [];
  for (let i = 0; i < files; i++) {
    const target = Math.max(1, Math.round(file_kib * 1024));
    const parts: string[] = [];
    let size = 0;
    let line = 0;
    while (size < target) {
      // u³ skews towards the front of the vocabulary: a few words are very common.
      const word = vocab[Math.floor(rng.float() ** 3 * vocab.length)] as string;
      const sep = ++line % rng.int(8, 16) === 0 ? "\n" : rng.pick(PUNCTUATION);
      parts.push(word, sep);
      size += Buffer.byteLength(word) + Buffer.byteLength(sep);
    }
    corpus.push({ name: inputName(i), text: `${parts.join("")}\n` });
  }
  return corpus;
}

/** Writes `makeCorpus`'s files into `dir`; returns their names (as passed to Map). */
export function writeCorpus(dir: string, rng: Rng, files: number, file_kib: number): string[] {
  mkdirSync(dir, { recursive: true });
  return makeCorpus(rng, files, file_kib).map((file) => {
    writeFileSync(join(dir, file.name), file.text);
    return file.name;
  });
}

/** What an app's output must be: the oracle's lines, or (timing apps) its keys. */
export interface Expectation {
  expected?: string[];
  oracle?: string;
  expected_keys?: string[];
  key_pattern?: RegExp;
}

/** The oracle for `app` over the corpus (crash is judged against nocrash, as test-mr.sh does). */
export async function expectationFor(
  app: MrApp,
  files: string[],
  cwd: string,
): Promise<Expectation> {
  switch (app) {
    case "mtiming":
      return { key_pattern: /^(times|parallel)-\d+$/ };
    case "rtiming":
      return { expected_keys: ["a", "b", "c", "d", "e", "f", "g", "h", "i", "j"] };
    case "jobcount":
      return { expected_keys: ["a"] }; // its value is judged by job-count
    default:
      return {
        expected: await sequential(app, files, cwd),
        oracle: `a sequential run of ${app === "crash" ? "nocrash" : app}`,
      };
  }
}

/** The output files a job must produce: the partitions (ihash % nReduce) of the expected keys. */
export function requiredOutputs(
  expectation: Expectation,
  n_reduce: number,
  produced: readonly string[],
): string[] {
  const keys = expectation.expected?.map((line) => splitLine(line)[0]) ?? expectation.expected_keys;
  if (!keys) return [...produced]; // mtiming: the keys are pids; what the run produced
  const partitions = new Set(keys.map((key) => ihash(key) % n_reduce));
  return [...partitions].sort((a, b) => a - b).map((y) => `mr-out-${y}`);
}

/** Everything the driver observed that the checkers judge. */
export interface MapReduceObservations {
  app: MrApp;
  /** Sorted non-blank lines of every mr-out* at the end. */
  lines: string[];
  expectation: Expectation;
  map_tasks: number;
  workers: number;
  /** A worker was killed by the nemesis or crashed, or replaced: re-execution is legitimate. */
  process_faults: boolean;
  early_exit: EarlyExitCheckOptions;
  atomic: AtomicOutputCheckOptions;
  completion: CompletionCheckOptions;
}

/** Apps whose reduce output is timing data: a re-executed reduce may change a complete file. */
const NONDETERMINISTIC_REDUCE: readonly MrApp[] = ["rtiming", "mtiming"];

export function isDeterministicReduce(app: MrApp): boolean {
  return !NONDETERMINISTIC_REDUCE.includes(app);
}

export function checkMapReduce(o: MapReduceObservations): Record<string, CheckResult> {
  const output: OutputCheckOptions = { app: o.app, actual: o.lines, ...o.expectation };
  const checks: Record<string, CheckResult> = { output: checkOutput(output) };
  if (o.app === "mtiming" || o.app === "rtiming") {
    checks.parallelism = checkParallelism({
      app: o.app,
      lines: o.lines,
      workers: Math.min(o.workers, o.map_tasks),
      exact: !o.process_faults,
    });
  }
  if (o.app === "jobcount") {
    checks["job-count"] = checkJobCount({
      lines: o.lines,
      map_tasks: o.map_tasks,
      process_faults: o.process_faults,
    });
  }
  checks["early-exit"] = checkEarlyExit(o.early_exit);
  checks["atomic-output"] = checkAtomicOutput(o.atomic);
  checks.completion = checkCompletion(o.completion);
  return checks;
}
