// Splits a byte stream into lines. Robust to lines split across chunks, and bounded: a line
// longer than `max_line_bytes` is reported once and discarded up to its newline, so a node that
// floods stdout without newlines cannot grow our memory without limit.

export class LineSplitter {
  private parts: Buffer[] = [];
  private pending_bytes = 0;
  private discarding = false;

  constructor(
    private readonly max_line_bytes: number,
    private readonly onLine: (line: string) => void,
    private readonly onOverflow: (seen_bytes: number) => void,
  ) {
    if (!(max_line_bytes > 0)) throw new RangeError("max_line_bytes must be positive");
  }

  push(chunk: Buffer): void {
    let start = 0;
    while (start < chunk.length) {
      const newline = chunk.indexOf(10, start);
      const end = newline === -1 ? chunk.length : newline;
      this.append(chunk.subarray(start, end));
      if (newline === -1) return;
      this.finishLine();
      start = newline + 1;
    }
  }

  /**
   * The stream ended: a last line without a newline still counts, or goes to `onFragment` when
   * given (a writer killed mid-line leaves a fragment that is no line of its protocol).
   */
  end(onFragment?: (line: string) => void): void {
    if (this.pending_bytes === 0 && this.parts.length === 0) return;
    if (onFragment && !this.discarding) {
      const line = Buffer.concat(this.parts, this.pending_bytes).toString("utf8");
      this.parts = [];
      this.pending_bytes = 0;
      onFragment(line);
      return;
    }
    this.finishLine();
  }

  private append(piece: Buffer): void {
    if (piece.length === 0) return;
    if (this.discarding) {
      this.pending_bytes += piece.length;
      return;
    }
    if (this.pending_bytes + piece.length > this.max_line_bytes) {
      this.discarding = true;
      this.parts = [];
      this.pending_bytes += piece.length;
      return;
    }
    this.parts.push(piece);
    this.pending_bytes += piece.length;
  }

  private finishLine(): void {
    if (this.discarding) {
      this.onOverflow(this.pending_bytes);
    } else {
      const line =
        this.parts.length === 1
          ? (this.parts[0] as Buffer).toString("utf8")
          : Buffer.concat(this.parts, this.pending_bytes).toString("utf8");
      this.onLine(line.endsWith("\r") ? line.slice(0, -1) : line);
    }
    this.parts = [];
    this.pending_bytes = 0;
    this.discarding = false;
  }
}
