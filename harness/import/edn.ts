// A small EDN reader for the subset Jepsen and Porcupine histories use: maps, vectors, lists,
// sets, keywords, strings, integers, floats, nil/true/false, symbols, comments, `#_` discard
// and tagged literals (the tag is dropped: `#jepsen.history.Op{...}` reads as its map).
// Written here rather than taken from npm because errors must name the line, and the reader
// must stream a file of many top-level forms; the subset is small.
//
// Reading: keywords become strings without the colon (`:read` -> "read"), nil -> null,
// vectors, lists and sets -> arrays, maps -> objects (keys rendered as strings), integers
// beyond 2^53 -> strings of their digits.

/** An EDN syntax error; `line` is 1-based. */
export class EdnError extends Error {
  constructor(
    readonly line: number,
    reason: string,
  ) {
    super(`line ${line}: ${reason}`);
    this.name = "EdnError";
  }
}

/** A top-level form and the line it starts on. */
export interface EdnForm {
  value: unknown;
  line: number;
}

const DISCARDED: unique symbol = Symbol("discarded");
const DELIMITERS = new Set(["(", ")", "[", "]", "{", "}", '"', ";"]);
const MAX_DEPTH = 200;

export class EdnReader {
  private pos = 0;
  private line = 1;

  constructor(private readonly text: string) {}

  /** Every top-level form in the text. */
  static readAll(text: string): EdnForm[] {
    const r = new EdnReader(text);
    const forms: EdnForm[] = [];
    for (;;) {
      r.skipSpace();
      if (r.pos >= r.text.length) return forms;
      const line = r.line;
      const value = r.read(0);
      if (value !== DISCARDED) forms.push({ value, line });
    }
  }

  private fail(reason: string): never {
    throw new EdnError(this.line, reason);
  }

  private skipSpace(): void {
    const t = this.text;
    while (this.pos < t.length) {
      const c = t[this.pos] as string;
      if (c === "\n") {
        this.line++;
        this.pos++;
      } else if (c === " " || c === "\t" || c === "\r" || c === ",") {
        this.pos++;
      } else if (c === ";") {
        while (this.pos < t.length && t[this.pos] !== "\n") this.pos++;
      } else {
        return;
      }
    }
  }

  private read(depth: number): unknown {
    if (depth > MAX_DEPTH) this.fail(`forms nested deeper than ${MAX_DEPTH}`);
    this.skipSpace();
    const t = this.text;
    if (this.pos >= t.length) this.fail("unexpected end of input");
    const c = t[this.pos] as string;
    switch (c) {
      case "{":
        this.pos++;
        return this.readMap(depth);
      case "[":
        this.pos++;
        return this.readSeq("]", depth);
      case "(":
        this.pos++;
        return this.readSeq(")", depth);
      case '"':
        return this.readString();
      case "}":
      case "]":
      case ")":
        this.fail(`unexpected "${c}"`);
        break;
      case "#":
        return this.readDispatch(depth);
      case "\\":
        return this.readChar();
    }
    return this.readAtom();
  }

  private readSeq(close: string, depth: number): unknown[] {
    const out: unknown[] = [];
    const start = this.line;
    for (;;) {
      this.skipSpace();
      if (this.pos >= this.text.length)
        this.fail(`"${close}" missing for the collection opened on line ${start}`);
      if (this.text[this.pos] === close) {
        this.pos++;
        return out;
      }
      const v = this.read(depth + 1);
      if (v !== DISCARDED) out.push(v);
    }
  }

  private readMap(depth: number): Record<string, unknown> {
    const items = this.readSeq("}", depth);
    if (items.length % 2 !== 0) this.fail("a map needs an even number of forms (key value pairs)");
    const out: Record<string, unknown> = {};
    for (let i = 0; i < items.length; i += 2) {
      const k = items[i];
      const key = typeof k === "string" ? k : JSON.stringify(k);
      out[key] = items[i + 1];
    }
    return out;
  }

  private readDispatch(depth: number): unknown {
    const t = this.text;
    const next = t[this.pos + 1];
    if (next === "{") {
      this.pos += 2;
      return this.readSeq("}", depth);
    }
    if (next === "_") {
      this.pos += 2;
      this.read(depth + 1);
      return DISCARDED;
    }
    // A tagged literal: #tag form. The tag is dropped.
    this.pos++;
    const tag = this.readToken();
    if (tag === "") this.fail('"#" must be followed by a tag, "{" or "_"');
    return this.read(depth + 1);
  }

  private readString(): string {
    const t = this.text;
    const start = this.line;
    let out = "";
    this.pos++;
    for (;;) {
      if (this.pos >= t.length) this.fail(`string opened on line ${start} is not closed`);
      const c = t[this.pos++] as string;
      if (c === '"') return out;
      if (c === "\n") this.line++;
      if (c !== "\\") {
        out += c;
        continue;
      }
      const e = t[this.pos++];
      switch (e) {
        case "n":
          out += "\n";
          break;
        case "t":
          out += "\t";
          break;
        case "r":
          out += "\r";
          break;
        case '"':
        case "\\":
          out += e;
          break;
        case "u": {
          const hex = t.slice(this.pos, this.pos + 4);
          if (!/^[0-9a-fA-F]{4}$/.test(hex)) this.fail(`bad unicode escape "\\u${hex}"`);
          out += String.fromCharCode(Number.parseInt(hex, 16));
          this.pos += 4;
          break;
        }
        default:
          this.fail(`unknown string escape "\\${e ?? ""}"`);
      }
    }
  }

  private readChar(): string {
    this.pos++;
    const token = this.readToken();
    const named: Record<string, string> = { newline: "\n", space: " ", tab: "\t", return: "\r" };
    if (token.length === 0) {
      const c = this.text[this.pos];
      if (c === undefined) this.fail("unexpected end of input after \\");
      this.pos++;
      return c;
    }
    return named[token] ?? token;
  }

  private readToken(): string {
    const t = this.text;
    const start = this.pos;
    while (this.pos < t.length) {
      const c = t[this.pos] as string;
      if (c === " " || c === "\t" || c === "\n" || c === "\r" || c === "," || DELIMITERS.has(c))
        break;
      this.pos++;
    }
    return t.slice(start, this.pos);
  }

  private readAtom(): unknown {
    const token = this.readToken();
    if (token === "") this.fail(`unexpected "${this.text[this.pos]}"`);
    if (token === "nil") return null;
    if (token === "true") return true;
    if (token === "false") return false;
    if (token.startsWith(":")) {
      if (token.length === 1) this.fail('a keyword needs a name after ":"');
      return token.slice(1);
    }
    if (/^[-+]?\d/.test(token)) return this.number(token);
    return token; // a symbol
  }

  private number(token: string): number | string {
    const int = /^([-+]?\d+)N?$/.exec(token);
    if (int) {
      const n = Number(int[1]);
      return Number.isSafeInteger(n) ? n : (int[1] as string);
    }
    if (/^[-+]?\d+(\.\d*)?([eE][-+]?\d+)?M?$/.test(token)) return Number(token.replace(/M$/, ""));
    const ratio = /^([-+]?\d+)\/(\d+)$/.exec(token);
    if (ratio) return Number(ratio[1]) / Number(ratio[2]);
    return this.fail(`"${token}" is not a number`);
  }
}
