// Runs once around the whole suite. Every process the suite starts inherits a token in its
// environment; afterwards none carrying it may still be alive (README.md "Guarantees": the harness
// never leaves a process behind). If one is, the suite fails.
import { randomUUID } from "node:crypto";
import { readdirSync, readFileSync } from "node:fs";

const TOKEN_NAME = "FAULTLINE_SUITE_TOKEN";

/** Live processes (not vitest's own, not zombies) whose environment holds `name=value`. */
export function processesWithEnv(
  name: string,
  value: string,
): Array<{ pid: number; args: string }> {
  const found: Array<{ pid: number; args: string }> = [];
  for (const entry of readdirSync("/proc")) {
    const pid = Number(entry);
    if (!Number.isInteger(pid) || pid === process.pid) continue;
    try {
      if (!readFileSync(`/proc/${pid}/environ`, "latin1").includes(`${name}=${value}`)) continue;
      const args = readFileSync(`/proc/${pid}/cmdline`, "latin1").split("\0").join(" ").trim();
      const state = /^State:\s+(\S)/m.exec(readFileSync(`/proc/${pid}/status`, "latin1"))?.[1];
      // vitest's own workers carry the token too; zombies are dead already.
      if (!args.includes("vitest") && state !== "Z") found.push({ pid, args });
    } catch {
      // the process ended while we looked
    }
  }
  return found;
}

export function setup(): void {
  process.env[TOKEN_NAME] = randomUUID();
}

export async function teardown(): Promise<void> {
  const token = process.env[TOKEN_NAME] as string;
  // A process killed a moment ago may not be reaped yet: look again for up to 2 s.
  let left = processesWithEnv(TOKEN_NAME, token);
  for (let i = 0; i < 20 && left.length > 0; i++) {
    await new Promise((r) => setTimeout(r, 100));
    left = processesWithEnv(TOKEN_NAME, token);
  }
  if (left.length > 0) {
    console.error(
      `FAIL: processes left behind by the test suite:\n${left.map((p) => `${p.pid} ${p.args}`).join("\n")}`,
    );
    console.log("tests: 0 passed, 1 failed (processes left behind)");
    process.exitCode = 1;
  }
}
