// The process contract of the LSP family's programs (systems/lsp/README.md "The control channel"):
// no program exits on its own, stdout carries only well-formed control-channel lines, and a program
// exits within 1 s of answering close. The driver gathers what its programs did; this judges it.
import type { CheckResult } from "./result.js";

/** systems/lsp/README.md "The control channel": a program exits within 1 s of replying to close. */
export const EXIT_AFTER_CLOSE_MS = 1_000;

export interface ProgramCrash {
  id: string;
  role: string;
  code: number | null;
  signal: string | null;
  time_ns: number;
}

export interface ProgramProblem {
  program: string;
  line: number;
  reason: string;
  raw: string;
}

/** What the programs did; a crash keeps every field of the program's exit. */
export interface ProgramsReport {
  crashes: ProgramCrash[];
  slow_exits: Array<{ program: string; role: string; waited_ms: number }>;
  problems: ProgramProblem[];
  problem_count: number;
}

/** The process contract: no crashes, no junk on stdout, exit within 1 s of answering close. */
export function programsCheck(report: ProgramsReport): CheckResult {
  const problems: string[] = [];
  if (report.crashes.length > 0) {
    problems.push(
      report.crashes
        .map((c) => `${c.role} ${c.id} exited on its own (code ${c.code}, signal ${c.signal})`)
        .join("; "),
    );
  }
  if (report.problem_count > 0) {
    const first = report.problems[0];
    problems.push(
      `${report.problem_count} malformed control-channel line${report.problem_count === 1 ? "" : "s"}, e.g. ${first?.program} line ${first?.line}: ${first?.reason}`,
    );
  }
  if (report.slow_exits.length > 0) {
    problems.push(
      `${report.slow_exits.map((s) => s.program).join(", ")} did not exit within ${EXIT_AFTER_CLOSE_MS / 1000} s of answering close`,
    );
  }
  if (problems.length === 0) {
    return { valid: true, summary: "every program kept the process contract", ...report };
  }
  return { valid: false, summary: problems.join("; "), ...report };
}
