// A program of the tcp transport (a MapReduce coordinator or worker): a ProgramProcess in a
// working directory the runner chooses (the job directory every program of the job shares), its
// last stdout lines kept for error messages.
import { ProgramProcess, type ProgramProcessOptions } from "../program-process.js";

const MAX_STDOUT_LINES = 20;

export type { ProgramExit as TcpProgramExit } from "../program-process.js";

export interface TcpProgramOptions extends ProgramProcessOptions {
  cwd: string;
  env?: Record<string, string>;
}

export class TcpProgram extends ProgramProcess {
  /** The last stdout lines (the programs log on stderr; stdout is kept for error messages). */
  readonly stdout: string[] = [];

  constructor(options: TcpProgramOptions) {
    super(options, options.cwd, options.env);
  }

  protected override onLine(line: string): void {
    this.stdout.push(line);
    if (this.stdout.length > MAX_STDOUT_LINES) this.stdout.shift();
  }
}
