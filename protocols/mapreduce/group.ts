// Groups a reduce task's pairs by key, keys in sorted order (JS string order), values in the
// order they came: the input of Reduce, as in mrsequential after sort.Sort(ByKey(intermediate)).
import type { KeyValue } from "./apps/index.js";

export class Grouper {
  private readonly groups = new Map<string, string[]>();

  add(key: string, value: string): void {
    const values = this.groups.get(key);
    if (values) values.push(value);
    else this.groups.set(key, [value]);
  }

  sorted(): Array<[string, string[]]> {
    return [...this.groups].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  }
}

export function groupByKey(pairs: Iterable<KeyValue>): Array<[string, string[]]> {
  const grouper = new Grouper();
  for (const { key, value } of pairs) grouper.add(key, value);
  return grouper.sorted();
}
