// The MapReduce system's parts without processes (systems/mapreduce): ihash against known FNV-1a
// values, the eight apps, the sequential oracle, the task table (re-assignment, phases, the
// coordinator's two bugs), the storage helpers, and the RPC client's time bounds.
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type Server, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { Random } from "../../harness/random.js";
import { APP_NAMES, APPS, ihash, type KeyValue } from "../../protocols/mapreduce/apps/index.js";
import { timeScale } from "../../protocols/mapreduce/apps/time.js";
import { words } from "../../protocols/mapreduce/apps/words.js";
import { groupByKey } from "../../protocols/mapreduce/group.js";
import { sequential } from "../../protocols/mapreduce/sequential.js";
import { CALL_TIMEOUT_MS, call, post, Unreachable } from "../../systems/mapreduce/rpc.js";
import {
  appendFileDurable,
  decodePairs,
  encodePairs,
  readPairs,
  writeFileAtomic,
} from "../../systems/mapreduce/storage.js";
import { TaskTable } from "../../systems/mapreduce/tasks.js";
import { inputName, writeCorpus } from "../../workloads/mapreduce/job.js";

let dir = "";
const home = process.cwd();
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "faultline-mr-unit-"));
});
afterEach(() => {
  process.chdir(home);
  delete process.env.FAULTLINE_MR_TIME_SCALE;
  rmSync(dir, { recursive: true, force: true });
});

/** FNV-1a 32 over the UTF-8 bytes, straight from the definition. */
function fnv1a(key: string): number {
  let h = 0x811c9dc5;
  for (const byte of Buffer.from(key, "utf8")) h = Math.imul(h ^ byte, 0x01000193) >>> 0;
  return h;
}

describe("ihash", () => {
  it("is FNV-1a 32 & 0x7fffffff (published test vectors)", () => {
    expect(ihash("")).toBe(0x811c9dc5 & 0x7fffffff);
    expect(ihash("a")).toBe(0xe40c292c & 0x7fffffff);
    expect(ihash("foobar")).toBe(0xbf9cf968 & 0x7fffffff);
  });

  it("hashes UTF-8 bytes, including 2-, 3- and 4-byte characters", () => {
    for (const key of ["é", "straße", "αβγ", "日本語", "𝔘𝔫𝔦", "mixé𝔘z"]) {
      expect(ihash(key)).toBe(fnv1a(key) & 0x7fffffff);
    }
  });
});

describe("apps", () => {
  const run = async (app: keyof typeof APPS, filename: string, contents: string) => {
    const pairs: KeyValue[] = await APPS[app].map(filename, contents);
    const out: string[] = [];
    for (const [k, vs] of groupByKey(pairs)) out.push(`${k} ${await APPS[app].reduce(k, vs)}`);
    return { pairs, out };
  };

  it("splits words at everything that is not a Unicode letter", () => {
    expect(words("Hello, wörld! 42 straße-αβγ's\nx_y")).toEqual([
      "Hello",
      "wörld",
      "straße",
      "αβγ",
      "s",
      "x",
      "y",
    ]);
    expect(words("123 ... ")).toEqual([]);
  });

  it("wc counts every occurrence", async () => {
    const { pairs, out } = await run("wc", "f", "a b a; é a");
    expect(pairs).toHaveLength(5);
    expect(out).toEqual(["a 3", "b 1", "é 1"]);
  });

  it("indexer emits each distinct word once and reduces to count and sorted files", async () => {
    const { pairs } = await run("indexer", "pg-x.txt", "b a b a");
    expect(pairs.map((p) => `${p.key}:${p.value}`).sort()).toEqual(["a:pg-x.txt", "b:pg-x.txt"]);
    expect(await APPS.indexer.reduce("w", ["z.txt", "a.txt", "m.txt"])).toBe("3 a.txt,m.txt,z.txt");
  });

  it("early_exit emits (filename, 1) and counts; only sherlock and tom keys sleep", async () => {
    process.env.FAULTLINE_MR_TIME_SCALE = "0.05";
    expect(await APPS.early_exit.map("../pg-grimm.txt", "ignored text")).toEqual([
      { key: "../pg-grimm.txt", value: "1" },
    ]);
    const t0 = performance.now();
    expect(await APPS.early_exit.reduce("pg-grimm.txt", ["1", "1"])).toBe("2");
    const fast_ms = performance.now() - t0;
    expect(await APPS.early_exit.reduce("pg-sherlock.txt", ["1"])).toBe("1");
    const slow_ms = performance.now() - t0 - fast_ms;
    expect(fast_ms).toBeLessThan(100);
    expect(slow_ms).toBeGreaterThanOrEqual(145); // 3 s × 0.05
  });

  it("nocrash emits a..d with UTF-8 byte lengths and reduces to sorted values", async () => {
    expect(await APPS.nocrash.map("é.txt", "αβ")).toEqual([
      { key: "a", value: "é.txt" },
      { key: "b", value: "6" },
      { key: "c", value: "4" },
      { key: "d", value: "xyzzy" },
    ]);
    expect(await APPS.nocrash.reduce("b", ["9", "10", "8"])).toBe("10 8 9");
  });

  it("rtiming maps to the ten keys a..j and counts live reduce markers", async () => {
    process.chdir(dir);
    process.env.FAULTLINE_MR_TIME_SCALE = "0.01";
    expect((await APPS.rtiming.map("f", "")).map((p) => p.key).join("")).toBe("abcdefghij");
    writeFileSync("mr-worker-reduce-1", "x"); // pid 1 is alive (init)
    writeFileSync("mr-worker-reduce-999999999", "x"); // no such pid
    expect(await APPS.rtiming.reduce("a", ["1"])).toBe("2");
    expect(readdirSync(".").sort()).toEqual(["mr-worker-reduce-1", "mr-worker-reduce-999999999"]);
  });

  it("mtiming reports its start time with one decimal and the live map markers", async () => {
    process.chdir(dir);
    process.env.FAULTLINE_MR_TIME_SCALE = "0.01";
    const pairs = await APPS.mtiming.map("f", "");
    expect(pairs).toHaveLength(2);
    expect(pairs[0]?.key).toBe(`times-${process.pid}`);
    expect(pairs[0]?.value).toMatch(/^\d+\.\d$/);
    expect(Math.abs(Number(pairs[0]?.value) - Date.now() / 1000)).toBeLessThan(5);
    expect(pairs[1]).toEqual({ key: `parallel-${process.pid}`, value: "1" });
    expect(await APPS.mtiming.reduce("k", ["2", "1"])).toBe("1 2");
  });

  it("jobcount leaves one marker per Map call and reduces to the marker count", async () => {
    process.chdir(dir);
    process.env.FAULTLINE_MR_TIME_SCALE = "0.001";
    await APPS.jobcount.map("f", "");
    await APPS.jobcount.map("g", "");
    const markers = readdirSync(".").filter((n) => n.startsWith("mr-worker-jobcount-"));
    expect(markers).toHaveLength(2);
    expect(await APPS.jobcount.reduce("a", ["x", "x"])).toBe("2");
  });

  it("FAULTLINE_MR_TIME_SCALE defaults to 1 and refuses garbage", () => {
    expect(timeScale({})).toBe(1);
    expect(timeScale({ FAULTLINE_MR_TIME_SCALE: "0.2" })).toBe(0.2);
    expect(() => timeScale({ FAULTLINE_MR_TIME_SCALE: "fast" })).toThrow(/FAULTLINE_MR_TIME_SCALE/);
  });

  it("has exactly the eight MIT apps", () => {
    expect([...APP_NAMES].sort()).toEqual(
      ["crash", "early_exit", "indexer", "jobcount", "mtiming", "nocrash", "rtiming", "wc"].sort(),
    );
  });
});

describe("sequential (the oracle)", () => {
  it("is mrsequential: map all, group, reduce, sorted lines", async () => {
    writeFileSync(join(dir, "one.txt"), "the cat; the hat");
    writeFileSync(join(dir, "two.txt"), "The hat!");
    expect(await sequential("wc", ["one.txt", "two.txt"], dir)).toEqual([
      "The 1",
      "cat 1",
      "hat 2",
      "the 2",
    ]);
    expect(await sequential("indexer", ["two.txt", "one.txt"], dir)).toEqual([
      "The 1 two.txt",
      "cat 1 one.txt",
      "hat 2 one.txt,two.txt",
      "the 1 one.txt",
    ]);
  });

  it("checks crash against nocrash, early_exit without sleeping, jobcount as one run per file", async () => {
    const names = writeCorpus(dir, new Random(3), 8, 2);
    expect(names).toEqual(Array.from({ length: 8 }, (_, i) => inputName(i)));
    const nocrash = await sequential("nocrash", names, dir);
    expect(await sequential("crash", names, dir)).toEqual(nocrash);
    expect(nocrash).toHaveLength(4);
    expect(nocrash[3]).toBe(`d ${Array(8).fill("xyzzy").join(" ")}`);
    const t0 = performance.now();
    const early = await sequential("early_exit", names, dir);
    expect(performance.now() - t0).toBeLessThan(1_000);
    expect(early).toContain("pg-sherlock_holmes.txt 1");
    expect(await sequential("jobcount", names, dir)).toEqual(["a 8"]);
    await expect(sequential("mtiming", names, dir)).rejects.toThrow(/no sequential oracle/);
    expect(readdirSync(dir).filter((n) => n.startsWith("mr-"))).toEqual([]);
  });

  it("writes the same corpus for the same seed", () => {
    const other = mkdtempSync(join(tmpdir(), "faultline-mr-unit-"));
    try {
      const names = writeCorpus(dir, new Random(9), 2, 5);
      writeCorpus(other, new Random(9), 2, 5);
      for (const name of names) {
        expect(readFileSync(join(dir, name), "utf8")).toBe(readFileSync(join(other, name), "utf8"));
      }
    } finally {
      rmSync(other, { recursive: true, force: true });
    }
  });
});

describe("task table", () => {
  const files = ["f0", "f1"];

  it("hands out maps, then reduces only once every map finished, then done", () => {
    const t = new TaskTable({ files, n_reduce: 2, task_timeout_ms: 100 });
    expect(t.next("w1", 0)).toMatchObject({ kind: "map", task: 0, file: "f0", n_reduce: 2 });
    expect(t.next("w2", 0)).toMatchObject({ kind: "map", task: 1, file: "f1" });
    expect(t.next("w3", 50)).toEqual({ kind: "wait" });
    expect(t.report("map", 0)).toBe("accepted");
    expect(t.next("w3", 60)).toEqual({ kind: "wait" }); // map 1 still running
    expect(t.report("map", 1)).toBe("accepted");
    expect(t.report("map", 1)).toBe("duplicate");
    expect(t.next("w1", 70)).toMatchObject({ kind: "reduce", task: 0, n_map: 2 });
    expect(t.next("w2", 70)).toMatchObject({ kind: "reduce", task: 1 });
    expect(t.done()).toBe(false);
    t.report("reduce", 0);
    t.report("reduce", 1);
    expect(t.done()).toBe(true);
    expect(t.next("w1", 80)).toEqual({ kind: "done" });
  });

  it("re-assigns a task silent for task_timeout_ms, the oldest first; the first report wins", () => {
    const t = new TaskTable({ files, n_reduce: 1, task_timeout_ms: 100 });
    t.next("w1", 0);
    t.next("w2", 10);
    expect(t.next("w3", 99)).toEqual({ kind: "wait" });
    expect(t.next("w3", 100)).toMatchObject({ kind: "map", task: 0, attempt: 2 });
    expect(t.next("w4", 110)).toMatchObject({ kind: "map", task: 1, attempt: 2 });
    expect(t.report("map", 0)).toBe("accepted");
    expect(t.report("map", 0)).toBe("duplicate");
    expect(t.report("reduce", 0)).toBe("unknown"); // never handed out
  });

  it("bug no-reassign: a silent task is never handed out again", () => {
    const t = new TaskTable({ files, n_reduce: 1, task_timeout_ms: 100, no_reassign: true });
    t.next("w1", 0);
    t.next("w2", 0);
    expect(t.next("w3", 1_000_000)).toEqual({ kind: "wait" });
  });

  it("bug early-exit: done once every reduce is handed out", () => {
    const t = new TaskTable({
      files: ["f"],
      n_reduce: 2,
      task_timeout_ms: 100,
      done_when_assigned: true,
    });
    t.next("w1", 0);
    t.report("map", 0);
    t.next("w1", 1);
    expect(t.done()).toBe(false);
    t.next("w2", 1);
    expect(t.done()).toBe(true);
  });

  it("reopens a finished task whose output vanished", () => {
    const t = new TaskTable({ files: ["f"], n_reduce: 1, task_timeout_ms: 100 });
    t.next("w", 0);
    t.report("map", 0);
    t.next("w", 0);
    t.report("reduce", 0);
    t.reopen("reduce", 0);
    expect(t.done()).toBe(false);
    expect(t.next("w", 1)).toMatchObject({ kind: "reduce", task: 0, attempt: 2 });
  });
});

describe("storage", () => {
  it("round-trips pairs whose keys hold any text", () => {
    const pairs = [
      { key: "a b\nc\td\\e", value: '"q"\\n' },
      { key: "", value: "" },
    ];
    expect(decodePairs(encodePairs(pairs), "x")).toEqual(pairs);
    expect(decodePairs("", "x")).toEqual([]);
    const tricky = [{ key: "a\\tb\\\\", value: "\\n\t\\" }];
    expect(decodePairs(encodePairs(tricky), "x")).toEqual(tricky);
    expect(() => decodePairs("a\t1\nb\t", "mr-0-0")).toThrow(/mr-0-0 is malformed: .*cut off/);
    expect(() => decodePairs("a\t1\nb\n", "mr-0-0")).toThrow(/mr-0-0 is malformed/);
    expect(() => decodePairs("a\t1\t2\n", "mr-0-0")).toThrow(/mr-0-0 is malformed/);
    expect(() => decodePairs("a\\q\t1\n", "mr-0-0")).toThrow(/bad escape/);
  });

  it("writes atomically, leaving no temporary file behind; appends add up", () => {
    const path = join(dir, "mr-0-0");
    writeFileAtomic(path, encodePairs([{ key: "a", value: "1" }]));
    writeFileAtomic(path, encodePairs([{ key: "b", value: "1" }]));
    expect(readPairs(path)).toEqual([{ key: "b", value: "1" }]);
    expect(readdirSync(dir)).toEqual(["mr-0-0"]);
    appendFileDurable(path, encodePairs([{ key: "b", value: "1" }]));
    expect(readPairs(path)).toHaveLength(2);
  });
});

describe("rpc client", () => {
  let server: Server | undefined;
  const sockets: Socket[] = [];
  afterEach(async () => {
    for (const s of sockets.splice(0)) s.destroy();
    await new Promise<void>((r) => (server ? server.close(() => r()) : r()));
    server = undefined;
  });

  it("gives up on an unreachable coordinator after give_up_ms", async () => {
    const t0 = performance.now();
    await expect(call("127.0.0.1", 1, "/task", {}, 300, () => {})).rejects.toBeInstanceOf(
      Unreachable,
    );
    expect(performance.now() - t0).toBeLessThan(1_500);
  });

  it(`abandons a call whose reply never comes after CALL_TIMEOUT_MS (${CALL_TIMEOUT_MS} ms)`, async () => {
    // A listener that accepts and holds the bytes, as a partitioned proxy does.
    server = createServer((s) => sockets.push(s));
    await new Promise<void>((r) => server?.listen(0, "127.0.0.1", r));
    const port = (server.address() as { port: number }).port;
    const t0 = performance.now();
    await expect(post("127.0.0.1", port, "/task", { worker: "w", seq: 1 })).rejects.toThrow(
      /no reply within/,
    );
    const took = performance.now() - t0;
    expect(took).toBeGreaterThanOrEqual(CALL_TIMEOUT_MS - 50);
    expect(took).toBeLessThan(CALL_TIMEOUT_MS + 1_000);
  });
});
