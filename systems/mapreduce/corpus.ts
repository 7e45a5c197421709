// A seeded text corpus for tests and the benchmark: files named after the MIT lab's eight books
// (pg-being_ernest.txt …, so early_exit's "sherlock" and "tom" keys occur), lines of words drawn
// from a skewed vocabulary (a few words very common, most rare, as in real text) with some
// non-ASCII letters (é, ß, Greek), digits and punctuation, so word splitting is exercised.
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";

export const BOOKS = [
  "pg-being_ernest.txt",
  "pg-dorian_gray.txt",
  "pg-frankenstein.txt",
  "pg-grimm.txt",
  "pg-huckleberry_finn.txt",
  "pg-metamorphosis.txt",
  "pg-sherlock_holmes.txt",
  "pg-tom_sawyer.txt",
];

export interface CorpusOptions {
  seed: number;
  files: number;
  /** Approximate size of each file (UTF-8 bytes). */
  bytes_per_file: number;
  /** Distinct words to draw from. */
  vocabulary?: number;
}

/** mulberry32: a tiny seeded PRNG, uniform in [0, 1). */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const LETTERS = "abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyzéßüαβγ";
const SEPARATORS = [" ", " ", " ", " ", " ", ", ", ". ", "; ", "'", "-", " 42 ", " (", ") "];

/** The file names of a corpus of `n` files: the eight books, then numbered copies. */
export function corpusNames(n: number): string[] {
  return Array.from({ length: n }, (_, i) => {
    const book = BOOKS[i % BOOKS.length] as string;
    return i < BOOKS.length ? book : book.replace(".txt", `-${Math.floor(i / BOOKS.length)}.txt`);
  });
}

/** Writes the corpus into `dir`; returns the file names (relative to `dir`). */
export function writeCorpus(dir: string, options: CorpusOptions): string[] {
  const random = prng(options.seed);
  const int = (n: number) => Math.floor(random() * n);
  const vocabulary = Array.from({ length: options.vocabulary ?? 5_000 }, () => {
    let w = "";
    for (let n = 1 + int(10); n > 0; n--) w += LETTERS[int(LETTERS.length)];
    return random() < 0.1 ? (w[0] as string).toUpperCase() + w.slice(1) : w;
  });
  mkdirSync(dir, { recursive: true });
  const names = corpusNames(options.files);
  for (const name of names) {
    const parts: string[] = [];
    let size = 0;
    while (size < options.bytes_per_file) {
      let line = "";
      for (let n = 4 + int(12); n > 0; n--) {
        // random()^3 skews towards the start of the vocabulary: a few words dominate.
        line += vocabulary[Math.floor(random() ** 3 * vocabulary.length)];
        line += SEPARATORS[int(SEPARATORS.length)];
      }
      line += "\n";
      parts.push(line);
      size += Buffer.byteLength(line);
    }
    writeFileSync(join(dir, name), parts.join(""));
  }
  return names;
}
