// Escaping for every output format the reports write. Anything a target or a history said is
// untrusted (a node can reply with `<script>`), so each format has exactly one way in:
//  - HTML: the `html` template tag escapes every interpolation unless it is already SafeHtml;
//  - JSON inside <script type="application/json">: jsonForScript escapes `<`, `>`, `&`;
//  - XML (JUnit): escapeXml, which also drops characters XML 1.0 cannot carry at all;
//  - Markdown (GitHub step summary, which renders inline HTML): escapeMarkdown.

/** HTML that is safe to insert as is: built by `html`, or escaped text. */
export class SafeHtml {
  constructor(readonly text: string) {}
  toString(): string {
    return this.text;
  }
}

const HTML_ESCAPES: Record<string, string> = {
  "&": "&amp;",
  "<": "&lt;",
  ">": "&gt;",
  '"': "&quot;",
  "'": "&#39;",
};

/** Escapes text for an HTML text node or a quoted attribute value. */
export function escapeHtml(text: string): string {
  return printable(text).replace(/[&<>"']/g, (c) => HTML_ESCAPES[c] as string);
}

/** What `html` accepts in a `${}` slot. Arrays are joined; null/undefined/false render nothing. */
export type HtmlValue = SafeHtml | string | number | boolean | null | undefined | HtmlValue[];

function renderValue(value: HtmlValue): string {
  if (value === null || value === undefined || value === false) return "";
  if (value instanceof SafeHtml) return value.text;
  if (Array.isArray(value)) return value.map(renderValue).join("");
  return escapeHtml(String(value));
}

/**
 * Template tag: the literal parts are trusted markup, every interpolation is escaped unless it
 * is SafeHtml. This is the only way report code builds HTML, so escaping cannot be forgotten.
 */
export function html(strings: TemplateStringsArray, ...values: HtmlValue[]): SafeHtml {
  let out = strings[0] as string;
  for (let i = 0; i < values.length; i++) {
    out += renderValue(values[i] as HtmlValue) + (strings[i + 1] as string);
  }
  return new SafeHtml(out);
}

/** Marks a trusted, constant piece of markup (never pass data through this). */
export function trusted(markup: string): SafeHtml {
  return new SafeHtml(markup);
}

/**
 * JSON for a `<script type="application/json">` block: `<` is written as \u003c (so neither
 * `</script>` nor `<!--` can end or confuse the block), and `>`/`&` and the JS line separators
 * likewise. JSON.parse reads it back unchanged.
 */
export function jsonForScript(value: unknown): string {
  return JSON.stringify(value)
    .replace(/</g, "\\u003c")
    .replace(/>/g, "\\u003e")
    .replace(/&/g, "\\u0026")
    .replace(/\u2028/g, "\\u2028")
    .replace(/\u2029/g, "\\u2029");
}

const XML_ESCAPES: Record<string, string> = {
  "&": "&amp;",
  "<": "&lt;",
  ">": "&gt;",
  '"': "&quot;",
  "'": "&apos;",
};

/**
 * Escapes text for XML content or a quoted attribute. Control characters other than tab,
 * newline and carriage return are not allowed in XML 1.0 even as references, so they are
 * shown as \u00XX text; in attributes newlines become &#10; so they survive normalisation.
 */
export function escapeXml(text: string, attribute = false): string {
  const escaped = printable(text).replace(/[&<>"']/g, (c) => XML_ESCAPES[c] as string);
  return attribute
    ? escaped.replace(/\n/g, "&#10;").replace(/\r/g, "&#13;").replace(/\t/g, "&#9;")
    : escaped;
}

/**
 * Escapes text for one line of GitHub-flavoured Markdown (a paragraph or a table cell): HTML
 * metacharacters become entities (GitHub renders inline HTML), inline Markdown punctuation
 * gets a backslash, and line breaks become spaces so a value cannot start a new block. Callers
 * never put escaped text at the start of a line, so block markers (`#`, `-`, `1.`) are inert.
 */
export function escapeMarkdown(text: string): string {
  return printable(text)
    .replace(/\r?\n|\r/g, " ")
    .replace(/&/g, "&amp;")
    .replace(/</g, "&lt;")
    .replace(/>/g, "&gt;")
    .replace(/[\\`*_[\]|~]/g, (c) => `\\${c}`);
}

/** A Markdown code fence longer than any run of backticks in `text`. */
export function markdownFence(text: string): string {
  const longest = Math.max(0, ...[...text.matchAll(/`+/g)].map((m) => m[0].length));
  return "`".repeat(Math.max(3, longest + 1));
}

/**
 * Replaces C0/C1 control characters (other than tab, newline, carriage return) and lone
 * surrogates with visible escapes: they are invisible or invalid in every output format.
 */
export function printable(text: string): string {
  return text.replace(
    // biome-ignore lint/suspicious/noControlCharactersInRegex: finding them is the point
    /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f\ufffe\uffff]|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`,
  );
}

/** Cuts text to at most `max_chars` characters, marking the cut with an ellipsis. */
export function truncate(text: string, max_chars: number): string {
  if (text.length <= max_chars) return text;
  // Do not split a surrogate pair.
  let end = Math.max(0, max_chars - 1);
  const code = text.charCodeAt(end - 1);
  if (code >= 0xd800 && code <= 0xdbff) end--;
  return `${text.slice(0, end)}…`;
}

/** A value in short JSON form (strings keep their quotes), cut to `max_chars`. */
export function showValue(value: unknown, max_chars: number): string {
  let text: string;
  try {
    text = JSON.stringify(value) ?? String(value);
  } catch {
    text = String(value);
  }
  return truncate(text, max_chars);
}
