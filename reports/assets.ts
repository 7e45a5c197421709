// The browser code and styles inlined into every report. They live as plain files in
// reports/client/ (linted and type-checked as browser code: `npx tsc -p reports/client`) rather
// than as strings in TypeScript, and are read from the package at run time. Each inline block
// gets a CSP hash, so a page only runs the scripts faultline wrote: even if some target text
// escaped its escaping, the browser would refuse to run it.
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { packageRoot } from "./package-root.js";

export interface Asset {
  text: string;
  /** `'sha256-…'` for a Content-Security-Policy source list. */
  csp: string;
}

const cache = new Map<string, Asset>();

/** A file of reports/client/, with its CSP hash. */
export function asset(name: string): Asset {
  let a = cache.get(name);
  if (!a) {
    const path = join(packageRoot(), "reports", "client", name);
    let text: string;
    try {
      text = readFileSync(path, "utf8");
    } catch (err) {
      throw new Error(
        `faultline: the report asset ${path} is missing (${(err as Error).message}); reinstall faultline`,
      );
    }
    // `</script` or `</style` would end the inline block early, and `<script`/`<!--` inside a
    // script switch the HTML parser into its legacy escaped states.
    if (/<\/?(script|style)|<!--/i.test(text)) {
      throw new Error(`${name} must not contain "<script", "</style" or "<!--"`);
    }
    a = { text, csp: `'sha256-${createHash("sha256").update(text, "utf8").digest("base64")}'` };
    cache.set(name, a);
  }
  return a;
}

/** The page's policy: nothing from the network, only faultline's own script and style. */
export function contentSecurityPolicy(script: Asset, style: Asset): string {
  return [
    "default-src 'none'",
    `script-src ${script.csp}`,
    `style-src ${style.csp}`,
    "img-src data:",
    "base-uri 'none'",
    "form-action 'none'",
  ].join("; ");
}
