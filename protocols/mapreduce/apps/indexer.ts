// indexer: inverted index. Map emits (word, filename) once per distinct word of the document;
// Reduce returns "<n> <f1>,<f2>,…", the count then the sorted filenames joined by commas.
import type { App, KeyValue } from "./app.js";
import { words } from "./words.js";

export const indexer: App = {
  map(filename: string, contents: string): KeyValue[] {
    return [...new Set(words(contents))].map((key) => ({ key, value: filename }));
  },
  reduce(_key: string, values: string[]): string {
    const sorted = [...values].sort();
    return `${sorted.length} ${sorted.join(",")}`;
  },
};
