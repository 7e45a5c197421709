// Every lifecycle step is logged: to stderr (unless quiet) and to faultline.log in the run dir.
import { appendFileSync } from "node:fs";

export class Logger {
  private file: string | undefined;
  private readonly early: string[] = [];

  constructor(
    private readonly quiet: boolean,
    private readonly clear: () => void = () => {},
  ) {}

  /** From now on lines also go to this file (earlier lines are written there first). */
  attach(file: string): void {
    this.file = file;
    if (this.early.length > 0) appendFileSync(file, this.early.join(""));
    this.early.length = 0;
  }

  /** The faultline.log lines go to, once a run directory exists. */
  get attachedFile(): string | undefined {
    return this.file;
  }

  info(message: string): void {
    this.toFile(message);
    if (!this.quiet) {
      this.clear();
      process.stderr.write(`faultline: ${message}\n`);
    }
  }

  /** Only onto stderr, even when quiet: output the user asked for by flag (--log-stderr). */
  echo(line: string): void {
    this.clear();
    process.stderr.write(`${line}\n`);
  }

  /** Only into faultline.log, for what the user is told on stderr some other way. */
  toFile(message: string): void {
    const line = `${new Date().toISOString()} ${message}\n`;
    if (this.file) appendFileSync(this.file, line);
    else this.early.push(line);
  }
}
