import {
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  realpathSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { dirname, isAbsolute, join, relative } from "node:path";
import fc from "fast-check";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { HistoryError, type Op, serializeOp } from "../../checkers/history.js";
import { createRunDir, readHistory, STORE_FILES, writeJson } from "../../harness/store.js";

let root: string;
let store: string;

beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), "faultline-store-"));
  store = join(root, "store");
});

afterEach(() => {
  rmSync(root, { recursive: true, force: true });
});

const T0 = new Date("2024-03-05T06:07:08.901Z");

describe("createRunDir", () => {
  it("creates <store>/<name>/<stamp> from the given time", () => {
    const dir = createRunDir(store, "lin-kv-raft", T0);
    expect(dir).toBe(join(store, "lin-kv-raft", "2024-03-05T060708"));
    expect(lstatSync(dir).isDirectory()).toBe(true);
    expect(readdirSync(dir)).toEqual([]);
  });

  it("points <store>/latest at the new run with a relative symlink", () => {
    const dir = createRunDir(store, "echo-x", T0);
    const link = join(store, "latest");
    expect(lstatSync(link).isSymbolicLink()).toBe(true);
    const target = readlinkSync(link);
    expect(isAbsolute(target)).toBe(false); // the store can be moved
    expect(realpathSync(link)).toBe(realpathSync(dir));
  });

  it("moves latest to the newest run, across test names", () => {
    createRunDir(store, "a", T0);
    const second = createRunDir(store, "b", new Date(T0.getTime() + 5000));
    expect(realpathSync(join(store, "latest"))).toBe(realpathSync(second));
    const third = createRunDir(store, "a", new Date(T0.getTime() + 9000));
    expect(realpathSync(join(store, "latest"))).toBe(realpathSync(third));
    // No temporary links left behind.
    expect(readdirSync(store).sort()).toEqual(["a", "b", "latest"]);
  });

  it("gives runs started in the same second distinct directories", () => {
    const dirs = Array.from({ length: 5 }, () => createRunDir(store, "echo", T0));
    expect(new Set(dirs).size).toBe(5);
    expect(dirs[0]).toBe(join(store, "echo", "2024-03-05T060708"));
    expect(dirs[1]).toBe(join(store, "echo", "2024-03-05T060708-1"));
    for (const dir of dirs) expect(lstatSync(dir).isDirectory()).toBe(true);
    expect(realpathSync(join(store, "latest"))).toBe(realpathSync(dirs[4] as string));
  });

  it("uses the current time by default", () => {
    const before = Date.now();
    const dir = createRunDir(store, "now");
    const stamp = dir.split("/").at(-1) as string;
    expect(stamp).toMatch(/^\d{4}-\d\d-\d\dT\d{6}$/);
    const parsed = Date.parse(
      `${stamp.slice(0, 11)}${stamp.slice(11, 13)}:${stamp.slice(13, 15)}:${stamp.slice(15, 17)}Z`,
    );
    expect(parsed).toBeGreaterThanOrEqual(Math.floor(before / 1000) * 1000);
    expect(parsed).toBeLessThanOrEqual(Date.now());
  });

  it("sanitises names: separators and odd characters become _", () => {
    const dir = createRunDir(store, "lin-kv/../../etc passwd:$x", T0);
    const name = relative(store, dirname(dir));
    expect(name).not.toContain("/");
    expect(name).toMatch(/^[A-Za-z0-9._-]+$/);
    expect(dirname(dirname(dir))).toBe(store);
  });

  it("property: whatever the name, the run dir is two levels below the store and latest points at it", () => {
    fc.assert(
      fc.property(
        fc.string({ maxLength: 12 }).filter((n) => ![".", "..", "", "latest"].includes(n)),
        (name) => {
          rmSync(store, { recursive: true, force: true });
          const dir = createRunDir(store, name, T0);
          expect(dirname(dirname(dir))).toBe(store);
          expect(realpathSync(join(store, "latest"))).toBe(realpathSync(dir));
        },
      ),
      { numRuns: 200 },
    );
  });

  // Names that survive the character filter but are special as path segments.
  it.each([".", "..", "", "latest"])(
    "keeps a run named %j inside its own <store>/<name>/ directory, with latest intact",
    (name) => {
      const earlier = createRunDir(store, "earlier", T0);
      const dir = createRunDir(store, name, new Date(T0.getTime() + 1000));
      expect(dirname(dirname(dir))).toBe(store); // not the store itself, nor its parent
      expect(relative(store, dir).startsWith("..")).toBe(false);
      expect(dirname(dir)).not.toBe(store);
      expect(dir.startsWith(`${earlier}/`)).toBe(false); // not inside another run
      expect(realpathSync(join(store, "latest"))).toBe(realpathSync(dir)); // no ELOOP
    },
  );

  it("creates the store itself when it does not exist yet", () => {
    const deep = join(root, "a", "b", "store");
    const dir = createRunDir(deep, "x", T0);
    expect(existsSync(dir)).toBe(true);
    expect(realpathSync(join(deep, "latest"))).toBe(realpathSync(dir));
  });

  it("returns an absolute path for a relative store: targets run in other directories", () => {
    const dir = createRunDir(relative(process.cwd(), store), "x", T0);
    expect(dir).toBe(join(store, "x", "2024-03-05T060708"));
  });
});

describe("writeJson", () => {
  it("writes pretty JSON with a trailing newline and leaves no .tmp file", () => {
    mkdirSync(store, { recursive: true });
    const path = join(store, STORE_FILES.results);
    writeJson(path, { valid: true, n: [1, 2] });
    expect(readFileSync(path, "utf8")).toBe(
      `${JSON.stringify({ valid: true, n: [1, 2] }, null, 2)}\n`,
    );
    expect(readdirSync(store)).toEqual(["results.json"]);
  });

  it("replaces an existing file whole", () => {
    mkdirSync(store, { recursive: true });
    const path = join(store, "test.json");
    writeJson(path, { long: "x".repeat(1000) });
    writeJson(path, { short: 1 });
    expect(JSON.parse(readFileSync(path, "utf8"))).toEqual({ short: 1 });
    expect(readdirSync(store)).toEqual(["test.json"]);
  });

  it("throws on a value JSON cannot hold, leaving the old file intact", () => {
    mkdirSync(store, { recursive: true });
    const path = join(store, "test.json");
    writeJson(path, { ok: 1 });
    expect(() => writeJson(path, { big: 1n })).toThrow();
    expect(JSON.parse(readFileSync(path, "utf8"))).toEqual({ ok: 1 });
  });
});

describe("readHistory", () => {
  const ops: Op[] = [
    { index: 0, time: 10, process: 0, type: "invoke", f: "read", value: null, node: "n0" },
    { index: 1, time: 20, process: 0, type: "ok", f: "read", value: 3 },
    {
      index: 2,
      time: 25,
      process: "nemesis",
      type: "info",
      f: "start-partition",
      value: { n0: ["n1"] },
    },
  ];
  const text = ops.map((op) => `${serializeOp(op)}\n`).join("");

  it("reads a complete history", () => {
    mkdirSync(store, { recursive: true });
    const path = join(store, STORE_FILES.history);
    writeFileSync(path, text);
    expect(readHistory(path)).toEqual(ops);
  });

  it("tolerates a torn last line (a crash mid-write)", () => {
    mkdirSync(store, { recursive: true });
    const path = join(store, STORE_FILES.history);
    writeFileSync(path, `${text}{"index":3,"time":30,"proc`);
    expect(readHistory(path)).toEqual(ops);
  });

  it("still rejects a malformed line that is not the last, naming its line", () => {
    mkdirSync(store, { recursive: true });
    const path = join(store, STORE_FILES.history);
    const lines = text.split("\n");
    lines[1] = "{not json";
    writeFileSync(path, lines.join("\n"));
    expect(() => readHistory(path)).toThrow(HistoryError);
    expect(() => readHistory(path)).toThrow(/line 2/);
  });

  it("rejects a broken last line that ends with a newline (not torn: written whole)", () => {
    mkdirSync(store, { recursive: true });
    const path = join(store, STORE_FILES.history);
    writeFileSync(path, `${text}{"index":3,\n`);
    expect(() => readHistory(path)).toThrow(/line 4/);
  });

  it("reads an empty history as no ops", () => {
    mkdirSync(store, { recursive: true });
    const path = join(store, STORE_FILES.history);
    writeFileSync(path, "");
    expect(readHistory(path)).toEqual([]);
  });
});
