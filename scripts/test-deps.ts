// The system packages `npm test` needs beyond npm's own: Chromium (the report tests drive a real
// browser), libfaketime (clock faults and their tests) and Go (the student-code adapters and the
// MIT-lab-shaped programs are built and run in the suite). Run before the suite (`pretest`), it
// installs what is missing when it can (root or password-less sudo, with apt-get) and otherwise
// prints the one command to run and fails, so a fresh machine never gets a suite that fails or
// skips tests for a reason nobody told it.
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { $ } from "zx";
import { findLibfaketime } from "../harness/nemesis/clock-control.js";

/** Where the report tests look for Chromium; FAULTLINE_CHROMIUM names another binary. */
export function chromiumPath(): string {
  return process.env.FAULTLINE_CHROMIUM ?? "/usr/bin/chromium";
}

interface Requirement {
  /** The Debian/Ubuntu package that provides it. */
  apt_package: string;
  why: string;
  present: () => boolean;
}

const REQUIREMENTS: readonly Requirement[] = [
  {
    apt_package: "chromium",
    why: "the report tests drive a real browser",
    present: () => existsSync(chromiumPath()),
  },
  {
    apt_package: "libfaketime",
    why: "clock faults and their tests",
    present: () => findLibfaketime() !== undefined,
  },
  {
    apt_package: "golang-go",
    why: "the Go adapters for student code are built and run",
    present: () => goPresent(),
  },
];

/** Debian's golang-go puts `go` on PATH; an existing Go (say /usr/local/go/bin) counts too. */
function goPresent(): boolean {
  return spawnSync("go", ["version"], { stdio: "ignore" }).status === 0;
}

export interface Machine {
  is_root: boolean;
  has_apt: boolean;
  /** sudo that runs without asking for a password. */
  has_sudo: boolean;
}

export type Plan =
  | { kind: "ready" }
  | { kind: "install"; commands: string[][] }
  | { kind: "tell"; message: string };

/** What to do about the missing packages on this machine: pure, so it is tested directly. */
export function plan(missing: readonly Requirement[], machine: Machine): Plan {
  if (missing.length === 0) return { kind: "ready" };
  const packages = missing.map((r) => r.apt_package);
  const needs = missing.map((r) => `${r.apt_package} (${r.why})`).join(" and ");
  if (!machine.has_apt) {
    return {
      kind: "tell",
      message: `npm test needs ${needs}; this machine has no apt-get: install them with its package manager, then run npm test again`,
    };
  }
  const sudo = machine.is_root ? [] : machine.has_sudo ? ["sudo", "-n"] : undefined;
  if (sudo === undefined) {
    return {
      kind: "tell",
      message: `npm test needs ${needs}: run \`sudo apt-get update && sudo apt-get install -y ${packages.join(" ")}\`, then npm test again`,
    };
  }
  return {
    kind: "install",
    commands: [
      [...sudo, "apt-get", "update", "-qq"],
      [...sudo, "apt-get", "install", "-y", "-qq", ...packages],
    ],
  };
}

async function probeMachine(): Promise<Machine> {
  const has = async (command: string) =>
    (await $({ nothrow: true, quiet: true })`command -v ${command}`).exitCode === 0;
  const has_sudo =
    (await has("sudo")) && (await $({ nothrow: true, quiet: true })`sudo -n true`).exitCode === 0;
  return { is_root: process.getuid?.() === 0, has_apt: await has("apt-get"), has_sudo };
}

async function main(): Promise<number> {
  const missing = REQUIREMENTS.filter((r) => !r.present());
  const next = plan(missing, await probeMachine());
  if (next.kind === "ready") return 0;
  if (next.kind === "tell") {
    process.stderr.write(`test-deps: ${next.message}\n`);
    return 1;
  }
  process.stderr.write(
    `test-deps: installing ${missing.map((r) => r.apt_package).join(", ")} for the test suite\n`,
  );
  for (const command of next.commands) {
    await $({
      env: { ...process.env, DEBIAN_FRONTEND: "noninteractive" },
      stdio: "inherit",
    })`${command}`;
  }
  const still = REQUIREMENTS.filter((r) => !r.present());
  if (still.length > 0) {
    process.stderr.write(
      `test-deps: ${still.map((r) => r.apt_package).join(", ")} still missing after apt-get install\n`,
    );
    return 1;
  }
  return 0;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) process.exitCode = await main();
