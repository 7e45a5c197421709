// `--nemesis-script`: an exact fault schedule from an ES module the user wrote, or one that a
// built-in system ships (its manifest's `scripts`). A script is `async (control) => void`,
// with ScriptControl (nemesis.ts) to wait for messages, cut links, kill, crash and restart.
import { existsSync } from "node:fs";
import { resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { SetupError } from "../exit-codes.js";
import { packageRoot } from "../paths.js";
import type { Manifest } from "../target.js";
import type { NemesisScript } from "./nemesis.js";

/**
 * Resolves `spec`: the name of a script in the system's manifest, or `FILE[#EXPORT]` (the
 * default export unless named). Errors are one line saying what to fix.
 */
export async function loadNemesisScript(spec: string, manifest?: Manifest): Promise<NemesisScript> {
  const shipped = manifest?.scripts?.[spec];
  const [file, exportName] = shipped
    ? [resolve(packageRoot(), shipped.module), shipped.export]
    : splitSpec(spec);
  if (!existsSync(file)) {
    const names = Object.keys(manifest?.scripts ?? {});
    const builtIn = manifest
      ? names.length > 0
        ? `, and ${manifest.name} ships no script of that name (its scripts: ${names.join(", ")})`
        : `, and ${manifest.name} ships no scripts`
      : "";
    throw new SetupError(`--nemesis-script: no file ${file}${builtIn}`);
  }
  let module: Record<string, unknown>;
  try {
    module = (await import(pathToFileURL(file).href)) as Record<string, unknown>;
  } catch (err) {
    throw new SetupError(
      `--nemesis-script: ${file} does not load as an ES module: ${(err as Error).message}`,
    );
  }
  const script = module[exportName ?? "default"];
  if (typeof script !== "function") {
    const what = exportName ? `a function named ${exportName}` : "a default function";
    throw new SetupError(
      `--nemesis-script: ${file} must export ${what}: export default async function (control) { … }`,
    );
  }
  return script as NemesisScript;
}

function splitSpec(spec: string): [string, string | undefined] {
  const hash = spec.lastIndexOf("#");
  if (hash <= 0) return [resolve(spec), undefined];
  return [resolve(spec.slice(0, hash)), spec.slice(hash + 1)];
}
