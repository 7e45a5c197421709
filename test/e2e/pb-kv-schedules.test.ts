// pb-kv's nemesis script (`--nemesis-script isolate-primary`, systems/pb-kv/schedules.ts), end
// to end through the CLI: the correct variant survives it, and the script really isolated the
// primary three times. The no-forward bug is caught by it in test/e2e/bug-runs.test.ts (its
// manifest run names the script).
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parseHistory } from "../../checkers/history.js";
import { loadManifest } from "../../harness/target.js";
import { runCli, tempStore } from "../helpers.js";

const scripts = loadManifest("pb-kv").scripts ?? {};

describe("pb-kv's isolate-primary script", () => {
  it("is shipped with the run it needs", () => {
    expect(Object.keys(scripts)).toEqual(["isolate-primary"]);
    expect(loadManifest("pb-kv").bugs["no-forward"]?.run).toMatch(
      /^--nemesis-script isolate-primary /,
    );
  });

  it("the correct variant survives it: valid, three isolations, the script done", async ({
    onTestFinished,
  }) => {
    const store = tempStore(onTestFinished);
    const flags = (scripts["isolate-primary"]?.flags ?? "").split(" ");
    const r = await runCli(
      ["test", "--system", "pb-kv", "--nemesis-script", "isolate-primary", ...flags].concat([
        "--recovery-time",
        "3",
        "--seed",
        "1",
        "--store",
        store,
        "-q",
      ]),
      120_000,
    );
    expect(r.exitCode, r.stdout).toBe(0);
    const nemesis = parseHistory(readFileSync(join(store, "latest", "history.jsonl"), "utf8"))
      .filter((op) => op.process === "nemesis")
      .map((op) => op.f);
    expect(nemesis).toContain("script-done");
    expect(nemesis.filter((f) => f === "start-partition")).toHaveLength(3);
  }, 100_000);
});
