// Helpers the value-comparing checkers share: history values are arbitrary JSON, so equality is
// structural (object key order ignored) and summaries show values in short JSON form.

/** A string that is equal for two values exactly when they are deep-equal JSON. */
export function canonicalKey(value: unknown): string {
  if (value === undefined) return "null"; // a missing JSON value reads back as null
  if (value === null || typeof value !== "object") return JSON.stringify(value) ?? "null";
  if (Array.isArray(value)) return `[${value.map(canonicalKey).join(",")}]`;
  const entries = Object.entries(value as Record<string, unknown>)
    .filter(([, v]) => v !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalKey(v)}`).join(",")}}`;
}

export function deepEqual(a: unknown, b: unknown): boolean {
  return canonicalKey(a) === canonicalKey(b);
}

/** Longest rendering of one value in a summary sentence. */
export const SHOW_MAX_CHARS = 40;

/** A value as a student would write it, cut to SHOW_MAX_CHARS. */
export function show(value: unknown): string {
  const text = JSON.stringify(value) ?? String(value);
  return text.length <= SHOW_MAX_CHARS ? text : `${text.slice(0, SHOW_MAX_CHARS - 1)}…`;
}

/** "a, b, c" or "a, b, c and 7 more" (at most `limit` shown). */
export function listSome(items: readonly string[], limit: number): string {
  if (items.length <= limit) return items.join(", ");
  return `${items.slice(0, limit).join(", ")} and ${items.length - limit} more`;
}

/** "1 read" / "3 reads". */
export function plural(count: number, noun: string, pluralNoun = `${noun}s`): string {
  return `${count} ${count === 1 ? noun : pluralNoun}`;
}
