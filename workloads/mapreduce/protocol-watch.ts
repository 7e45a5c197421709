// Tells a worker that does not speak the coordinator's protocol from a worker that fails. Every
// reply a worker gets passes through faultline's TCP proxy, which shows the driver the head of
// each chunk coming back (TcpNet.listen's on_reply). When the coordinator speaks HTTP, a reply is
// an accepted call (2xx) or a rejection of the request itself (400 Bad Request, 404 Not Found,
// 405, 411, 415, 422, 501: what a server says to a client that asks the wrong way). When no call
// of any worker has ever been accepted and MIN_REJECTIONS replies were such rejections, the
// run cannot test anything: that is a setup problem, not a failed job. Faults never cause it: a
// reset or held connection gives no reply at all, and a request cut short times out (408).
// A coordinator that does not speak HTTP gives no signal, and the job is judged as usual.

/** Rejections, with no call ever accepted, that make the diagnosis. */
export const MIN_REJECTIONS = 5;
/** The first rejection is quoted in the message up to this many characters. */
export const MAX_QUOTED_REPLY_CHARS = 300;

/** HTTP statuses that reject the request's form rather than report a passing condition. */
const REJECTIONS = new Set([400, 404, 405, 411, 415, 422, 501]);
const STATUS_LINE = /^HTTP\/\d(?:\.\d)? (\d{3})/;

export class ProtocolWatch {
  accepted = 0;
  rejected = 0;
  private first: string | undefined;
  private decided: ((reason: string) => void) | undefined;
  /** Resolves with the reason once the diagnosis holds; never otherwise. */
  readonly mismatch: Promise<string>;

  constructor(private readonly pointer: string) {
    this.mismatch = new Promise((resolve) => {
      this.decided = resolve;
    });
  }

  /** The head of one chunk a worker received from the coordinator. */
  onReply(head: Buffer): void {
    const status = STATUS_LINE.exec(head.toString("latin1", 0, 16))?.[1];
    if (status === undefined) return; // not a reply's start (or not HTTP)
    const code = Number(status);
    if (code >= 200 && code < 300) this.accepted++;
    else if (REJECTIONS.has(code)) {
      this.rejected++;
      this.first ??= quoteReply(head);
    }
    if (this.accepted === 0 && this.rejected >= MIN_REJECTIONS && this.decided) {
      this.decided(this.reason());
      this.decided = undefined;
    }
  }

  private reason(): string {
    return `your worker does not speak the coordinator's protocol: none of its calls was accepted and ${this.rejected} replies rejected the request; the first reply it got was: ${this.first}${this.pointer}`;
  }
}

/**
 * A reply as one bounded line: its status line and its body (headers left out), control
 * characters escaped.
 */
export function quoteReply(head: Buffer): string {
  const text = head.toString("utf8");
  const status = text.split(/\r?\n/, 1)[0] ?? "";
  const blank = /\r?\n\r?\n/.exec(text);
  const body = blank ? text.slice(blank.index + blank[0].length) : "";
  const line = `${status}${body ? `: ${body}` : ""}`.replace(
    // biome-ignore lint/suspicious/noControlCharactersInRegex: escaping them is the point
    /[\u0000-\u001f\u007f]/g,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`,
  );
  return line.length <= MAX_QUOTED_REPLY_CHARS ? line : `${line.slice(0, MAX_QUOTED_REPLY_CHARS)}…`;
}
