// wc: word count. Map emits (word, "1") per occurrence; Reduce counts the values.
import type { App, KeyValue } from "./app.js";
import { words } from "./words.js";

export const wc: App = {
  map(_filename: string, contents: string): KeyValue[] {
    return words(contents).map((key) => ({ key, value: "1" }));
  },
  reduce(_key: string, values: string[]): string {
    return String(values.length);
  },
};
