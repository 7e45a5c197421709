// Runs once around the whole suite: afterwards, no process started from this checkout may
// still be alive (DESIGN.md §2: the harness never leaves a process behind).
import { execFileSync } from "node:child_process";
import { resolve } from "node:path";

const root = resolve(import.meta.dirname, "..");

export function leftoverProcesses(): string[] {
  const out = execFileSync("ps", ["-eo", "pid=,ppid=,args="], { encoding: "utf8" });
  return out
    .split("\n")
    .filter((line) => line.includes(`${root}/dist/`) || line.includes(`${root}/test/fixtures/`))
    .filter((line) => !line.includes("vitest"))
    .map((line) => line.trim());
}

export function teardown(): void {
  const left = leftoverProcesses();
  if (left.length > 0) {
    throw new Error(`processes left behind by the test suite:\n${left.join("\n")}`);
  }
}
