// The one way in for each output format: properties over arbitrary strings (fast-check).
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  escapeHtml,
  escapeMarkdown,
  escapeXml,
  html,
  jsonForScript,
  markdownFence,
  printable,
  truncate,
  trusted,
} from "../../reports/escape.js";

/** Undoes escapeHtml/escapeXml's entities (what a parser does to text and attributes). */
function unescapeEntities(text: string): string {
  return text
    .replace(/&lt;/g, "<")
    .replace(/&gt;/g, ">")
    .replace(/&quot;/g, '"')
    .replace(/&#39;|&apos;/g, "'")
    .replace(/&#10;/g, "\n")
    .replace(/&#13;/g, "\r")
    .replace(/&#9;/g, "\t")
    .replace(/&amp;/g, "&");
}

/** Strings rich in the characters that matter (uniform code points almost never hit them). */
const special = fc.constantFrom(
  ..."<>&\"'`*_|[]~\\/=!-\n\r\t\u0000\u0007\u001b\u007f\u0085\u2028\u2029\ud800\udc00\ufffe",
);
const anyText = fc.string({
  unit: fc.oneof(special, fc.string({ unit: "binary", minLength: 1, maxLength: 1 })),
  maxLength: 60,
});

describe("escaping", () => {
  it("HTML: no markup character survives, and the text reads back (control chars made visible)", () => {
    fc.assert(
      fc.property(anyText, (s) => {
        const e = escapeHtml(s);
        expect(e).not.toMatch(/[<>"']/);
        expect(unescapeEntities(e)).toBe(printable(s));
      }),
    );
  });

  it("the html tag escapes every interpolation, but not trusted markup or nested html", () => {
    const name = `<script>alert("x")</script>`;
    const inner = html`<b>${name}</b>`;
    expect(
      html`<p title="${name}">${inner}${trusted("<br>")}${[1, null, false, "&"]}</p>`.text,
    ).toBe(
      '<p title="&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;"><b>&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;</b><br>1&amp;</p>',
    );
  });

  it("JSON in a script block: no `<` at all, and JSON.parse gives the value back", () => {
    fc.assert(
      fc.property(fc.jsonValue(), anyText, (value, s) => {
        for (const v of [value, s, { s, list: [s, value] }]) {
          const text = jsonForScript(v);
          expect(text).not.toMatch(/[<>&\u2028\u2029]/);
          expect(JSON.parse(text)).toEqual(JSON.parse(JSON.stringify(v)));
        }
      }),
    );
  });

  it("XML: only characters XML 1.0 allows, and entities read back", () => {
    fc.assert(
      fc.property(anyText, (s) => {
        for (const attribute of [false, true]) {
          const e = escapeXml(s, attribute);
          // biome-ignore lint/suspicious/noControlCharactersInRegex: asserting their absence
          expect(e).not.toMatch(/[<>"'\u0000-\u0008\u000b\u000c\u000e-\u001f\ufffe\uffff]/);
          if (attribute) expect(e).not.toMatch(/[\n\r\t]/);
          expect(unescapeEntities(e)).toBe(printable(s));
        }
      }),
    );
  });

  it("Markdown: no raw HTML, no line break, no unescaped inline markup", () => {
    fc.assert(
      fc.property(anyText, (s) => {
        const e = escapeMarkdown(s);
        expect(e).not.toMatch(/[<>\n\r]/);
        // Every `*`, `_`, `` ` ``, `|`, `[`, `]`, `~` is preceded by a backslash.
        expect(e.replace(/\\[\\`*_[\]|~]/g, "")).not.toMatch(/[`*_[\]|~]/);
      }),
    );
    expect(escapeMarkdown("a|b <img> **c**")).toBe("a\\|b &lt;img&gt; \\*\\*c\\*\\*");
  });

  it("a Markdown fence is longer than any backtick run in the text", () => {
    expect(markdownFence("plain")).toBe("```");
    expect(markdownFence("a ```` b")).toBe("`````");
  });

  it("truncates to the bound without splitting a surrogate pair", () => {
    expect(truncate("abcdef", 4)).toBe("abc…");
    expect(truncate("ab😀cd", 4)).toBe("ab…");
    fc.assert(
      fc.property(anyText, fc.integer({ min: 1, max: 50 }), (s, n) => {
        expect(truncate(s, n).length).toBeLessThanOrEqual(Math.max(n, 1));
      }),
    );
  });
});
