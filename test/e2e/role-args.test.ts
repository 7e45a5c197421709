// Every role's program takes arguments on the command line (issue 24 item 12): `--ROLE-bin FILE`
// with `--ROLE-arg ARG` once per argument, and mapreduce's coordinator as `--coordinator-bin`.
// Before, a student whose binary needs an argument (a subcommand, a plugin file) wrote a
// two-line shell wrapper per role. Here Node itself is each role's "binary" and our reference
// program's script its argument: without the arguments reaching the programs no run could pass.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { ROOT, readResults, runCli, tempStore } from "../helpers.js";

const NODE = process.execPath;
const script = (path: string) => join(ROOT, "dist", "systems", path);

function testJson(store: string): Record<string, unknown> {
  return JSON.parse(readFileSync(join(store, "latest", "test.json"), "utf8"));
}

describe("per-role programs with arguments", () => {
  it("runs a MapReduce job from --coordinator-bin/--worker-bin and their --*-arg lists", {
    timeout: 120_000,
  }, async () => {
    const store = tempStore();
    const r = await runCli(
      [
        "test",
        "-w",
        "mapreduce",
        "--coordinator-bin",
        NODE,
        "--coordinator-arg",
        script("mapreduce/coordinator.js"),
        "--worker-bin",
        NODE,
        "--worker-arg",
        script("mapreduce/worker.js"),
        "--mr-app",
        "wc",
        "--mr-files",
        "3",
        "--node-count",
        "2",
        "--mr-time-scale",
        "0.2",
        "--seed",
        "1",
        "--store",
        store,
        "-q",
      ],
      90_000,
    );
    expect(r.exitCode, r.stdout + r.stderr).toBe(0);
    expect(readResults(store).checkers.output.valid).toBe(true);
    const roles = (testJson(store).mapreduce as { roles: Record<string, unknown> }).roles;
    expect(roles.coordinator).toEqual({ file: NODE, args: [script("mapreduce/coordinator.js")] });
    expect(roles.worker).toEqual({ file: NODE, args: [script("mapreduce/worker.js")] });
  });

  it("runs the miner and clients from --miner-bin/--client-bin and their --*-arg lists", {
    timeout: 120_000,
  }, async () => {
    const store = tempStore();
    const r = await runCli(
      [
        "test",
        "--system",
        "bitcoin",
        "--client-bin",
        NODE,
        "--client-arg",
        script("bitcoin/client.js"),
        "--miner-bin",
        NODE,
        "--miner-arg",
        script("bitcoin/miner.js"),
        "--time-limit",
        "3",
        "--recovery-time",
        "1",
        "--seed",
        "3",
        "--store",
        store,
        "-q",
      ],
      90_000,
    );
    expect(r.exitCode, r.stdout + r.stderr).toBe(0);
    const roles = testJson(store).roles;
    expect(roles).toMatchObject({
      client: { file: NODE, args: [script("bitcoin/client.js")] },
      miner: { file: NODE, args: [script("bitcoin/miner.js")] },
    });
  });

  it.for([
    [
      ["-w", "lsp", "--system", "lsp", "--worker-bin", NODE],
      /--worker-bin is an option of mapreduce, not of lsp/,
    ],
    [
      ["-w", "lsp", "--system", "lsp", "--miner-arg", "x"],
      /--miner-arg is an option of mining, not of lsp/,
    ],
    [
      ["-w", "mapreduce", "--system", "mapreduce", "--coordinator-bin", NODE],
      /--coordinator-bin names the program to test: give it or --bin\/--system/,
    ],
  ] as const)("refuses %j with one line, exit 3", async ([args, message]) => {
    const store = tempStore();
    const r = await runCli(["test", ...args, "--store", store, "-q"]);
    expect(r.exitCode).toBe(3);
    expect(r.stderr.trim().split("\n")).toHaveLength(1);
    expect(r.stderr).toMatch(message);
  });
});
