// Appends JSON lines to a file with synchronous writes, so what was written survives a harness
// crash. `flush_bytes` 0 writes every line at once (the history); larger values batch lines
// (the message journal, which can see tens of thousands of lines a second).
import { closeSync, openSync, writeSync } from "node:fs";

export interface JsonlWriterOptions {
  /** Buffer up to this many bytes before writing; 0 = write every line immediately. */
  flush_bytes: number;
  /** Lines beyond this file size are dropped (and counted); one note line marks the cut. */
  max_bytes: number;
  /** With buffering, also write at least this often. */
  flush_interval_ms?: number;
  /** Write a `{"event":"truncated"}` line at the cut (not for files of another schema). */
  truncation_note?: boolean;
}

export class JsonlWriter {
  private fd: number | undefined;
  private buffer: string[] = [];
  private buffered_bytes = 0;
  private written_bytes = 0;
  private timer: NodeJS.Timeout | undefined;
  dropped_lines = 0;

  constructor(
    readonly path: string,
    private readonly options: JsonlWriterOptions,
  ) {
    this.fd = openSync(path, "a");
    if (options.flush_bytes > 0 && options.flush_interval_ms) {
      this.timer = setInterval(() => this.flush(), options.flush_interval_ms);
      this.timer.unref();
    }
  }

  write(line: string): boolean {
    if (this.fd === undefined) throw new Error(`${this.path} is closed`);
    const size_bytes = Buffer.byteLength(line) + 1;
    // Once a line is dropped every later one is too, so the file is a clean prefix.
    if (
      this.dropped_lines > 0 ||
      this.written_bytes + this.buffered_bytes + size_bytes > this.options.max_bytes
    ) {
      if (this.dropped_lines++ === 0 && this.options.truncation_note !== false) {
        this.buffer.push(JSON.stringify({ event: "truncated", max_bytes: this.options.max_bytes }));
        this.flush();
      }
      return false;
    }
    this.buffer.push(line);
    this.buffered_bytes += size_bytes;
    if (this.buffered_bytes >= this.options.flush_bytes) this.flush();
    return true;
  }

  flush(): void {
    if (this.fd === undefined || this.buffer.length === 0) return;
    const text = `${this.buffer.join("\n")}\n`;
    this.buffer = [];
    this.buffered_bytes = 0;
    this.written_bytes += Buffer.byteLength(text);
    writeSync(this.fd, text);
  }

  close(): void {
    if (this.fd === undefined) return;
    this.flush();
    if (this.timer) clearInterval(this.timer);
    closeSync(this.fd);
    this.fd = undefined;
  }
}
