// README's test command must work on a fresh Debian machine: `npm test` installs the system
// packages the suite needs when it can and otherwise says exactly what to run; .ci/run calls
// exactly README's commands, so CI cannot know something README does not.
import { mkdtempSync, readFileSync, rmSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { execa } from "execa";
import { describe, expect, it } from "vitest";
import { type Machine, plan } from "../../scripts/test-deps.js";

const ROOT = resolve(import.meta.dirname, "..", "..");
const chromium = { apt_package: "chromium", why: "a browser", present: () => false };
const faketime = { apt_package: "libfaketime", why: "clocks", present: () => false };
const root: Machine = { is_root: true, has_apt: true, has_sudo: false };

describe("test-deps plan", () => {
  it("does nothing when everything is there", () => {
    expect(plan([], { ...root, has_apt: false })).toEqual({ kind: "ready" });
  });

  it("installs with apt-get as root, and through password-less sudo otherwise", () => {
    expect(plan([chromium, faketime], root)).toEqual({
      kind: "install",
      commands: [
        ["apt-get", "update", "-qq"],
        ["apt-get", "install", "-y", "-qq", "chromium", "libfaketime"],
      ],
    });
    const sudo = plan([faketime], { is_root: false, has_apt: true, has_sudo: true });
    expect(sudo.kind === "install" && sudo.commands[1]).toEqual([
      "sudo",
      "-n",
      "apt-get",
      "install",
      "-y",
      "-qq",
      "libfaketime",
    ]);
  });

  it("names the exact command when it cannot install", () => {
    const told = plan([chromium, faketime], { is_root: false, has_apt: true, has_sudo: false });
    expect(told).toEqual({
      kind: "tell",
      message: expect.stringContaining(
        "sudo apt-get update && sudo apt-get install -y chromium libfaketime",
      ),
    });
  });
});

describe("the real script", () => {
  it("fails with one line naming what is missing on a machine without apt-get", async () => {
    // A PATH holding only node and bash: no apt-get, no sudo.
    const bin = mkdtempSync(join(tmpdir(), "faultline-deps-"));
    try {
      symlinkSync(process.execPath, join(bin, "node"));
      symlinkSync("/bin/bash", join(bin, "bash"));
      const r = await execa("node", [join(ROOT, "dist", "scripts", "test-deps.js")], {
        env: { PATH: bin, FAULTLINE_CHROMIUM: "/nonexistent/chromium" },
        extendEnv: false,
        reject: false,
      });
      expect(r.exitCode).toBe(1);
      expect(r.stderr.trim().split("\n")).toHaveLength(1);
      expect(r.stderr).toMatch(/^test-deps: npm test needs chromium .*no apt-get/);
    } finally {
      rmSync(bin, { recursive: true, force: true });
    }
  });
});

describe(".ci/run and README", () => {
  const commandLines = (text: string) =>
    text
      .split("\n")
      .map((line) => line.replace(/#.*/, "").trim())
      .filter((line) => /^(npm|apt-get|sudo|npx)\b/.test(line));

  it(".ci/run runs exactly README's install and test commands and installs nothing itself", () => {
    const ci = readFileSync(join(ROOT, ".ci", "run"), "utf8");
    const readme = readFileSync(join(ROOT, "README.md"), "utf8");
    const development = readme.slice(readme.indexOf("## Development"));
    const documented = commandLines(development).filter((l) => l === "npm ci" || l === "npm test");
    expect(documented).toEqual(["npm ci", "npm test"]);
    expect(commandLines(ci)).toEqual(documented);
    expect(ci).not.toMatch(/apt-get|dpkg/);
  });

  it("npm test runs the package check before the suite", () => {
    const pkg = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8"));
    expect(pkg.scripts.pretest).toContain("dist/scripts/test-deps.js");
  });
});
