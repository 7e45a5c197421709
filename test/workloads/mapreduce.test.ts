// The mapreduce workload's pieces without processes: the seeded corpus, the required outputs,
// and the job directory watcher that feeds atomic-output.
import { mkdtempSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it, onTestFinished } from "vitest";
import { RunClock } from "../../harness/clock.js";
import { Random } from "../../harness/random.js";
import { ihash } from "../../protocols/mapreduce/apps/index.js";
import { inputName, makeCorpus, requiredOutputs } from "../../workloads/mapreduce/job.js";
import { OutputWatcher } from "../../workloads/mapreduce/output-watcher.js";
import {
  MAX_QUOTED_REPLY_CHARS,
  MIN_REJECTIONS,
  ProtocolWatch,
  quoteReply,
} from "../../workloads/mapreduce/protocol-watch.js";

describe("makeCorpus", () => {
  it("is the same for the same seed, different for another, about the size asked", () => {
    const a = makeCorpus(new Random(5), 3, 4);
    const b = makeCorpus(new Random(5), 3, 4);
    const c = makeCorpus(new Random(6), 3, 4);
    expect(a).toEqual(b);
    expect(a[0]?.text).not.toEqual(c[0]?.text);
    expect(a.map((f) => f.name)).toEqual([
      "pg-being_ernest.txt",
      "pg-sherlock_holmes.txt",
      "pg-tom_sawyer.txt",
    ]);
    for (const file of a) {
      const size = Buffer.byteLength(file.text);
      expect(size).toBeGreaterThanOrEqual(4 * 1024);
      expect(size).toBeLessThan(5 * 1024);
    }
    // Non-ASCII letters are in there (letter-run splitting and UTF-8 hashing get exercised).
    expect(makeCorpus(new Random(1), 1, 32)[0]?.text).toMatch(/[éüßøñçåžőł]/);
    expect(inputName(11)).toBe("pg-extra_12.txt");
  });
});

describe("requiredOutputs", () => {
  it("is the partitions of the oracle's keys, or what the run produced", () => {
    const lines = ["a 1", "b 2", "zebra 3"];
    const want = [...new Set(["a", "b", "zebra"].map((k) => ihash(k) % 10))]
      .sort((x, y) => x - y)
      .map((y) => `mr-out-${y}`);
    expect(requiredOutputs({ expected: lines }, 10, [])).toEqual(want);
    expect(requiredOutputs({ expected_keys: ["a"] }, 1, [])).toEqual(["mr-out-0"]);
    expect(requiredOutputs({}, 10, ["mr-out-3"])).toEqual(["mr-out-3"]);
  });
});

describe("OutputWatcher", () => {
  it("records each distinct content of mr-out* once, and ignores other files", () => {
    const dir = mkdtempSync(join(tmpdir(), "faultline-mr-watch-"));
    onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
    const watcher = new OutputWatcher(dir, new RunClock());
    writeFileSync(join(dir, "mr-out-0"), "a 1\n");
    writeFileSync(join(dir, "mr-1-0"), "ignored");
    writeFileSync(join(dir, ".mr-tmp-1-mr-out-1"), "b 2\n");
    watcher.poll();
    watcher.poll();
    writeFileSync(join(dir, "mr-out-0"), "a 1\nb 2\n"); // grew in place
    watcher.poll();
    renameSync(join(dir, ".mr-tmp-1-mr-out-1"), join(dir, "mr-out-1"));
    watcher.poll();
    expect(watcher.polls).toBe(4);
    expect(watcher.versions.map((v) => [v.file, v.lines, v.complete])).toEqual([
      ["mr-out-0", 1, true],
      ["mr-out-0", 2, true],
      ["mr-out-1", 1, true],
    ]);
    expect(Object.keys(watcher.snapshot())).toEqual(["mr-out-0", "mr-out-1"]);
  });
});

describe("OutputWatcher's writers", () => {
  it("stamps each new content with the workers holding the file, and remembers the last ones", () => {
    const dir = mkdtempSync(join(tmpdir(), "faultline-mr-writers-"));
    onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
    let holders = new Map([["mr-out-0", ["w1"]]]);
    const watcher = new OutputWatcher(dir, new RunClock(), () => holders);
    writeFileSync(join(dir, "mr-out-0"), "a 1\n");
    watcher.poll();
    holders = new Map(); // w1 died: the rest of its file is seen with no writer
    writeFileSync(join(dir, "mr-out-0"), "a 1\nb 2\n");
    watcher.poll();
    expect(watcher.versions.map((v) => v.writers)).toEqual([["w1"], undefined]);
    expect(watcher.lastWritersOf("mr-out-0")).toEqual(["w1"]);
    expect(watcher.filesLastWrittenBy("w1")).toEqual(["mr-out-0"]);
    holders = new Map([["mr-out-0", ["w2"]]]); // a re-execution took the file over
    writeFileSync(join(dir, "mr-out-0"), "");
    watcher.poll();
    expect(watcher.filesLastWrittenBy("w1")).toEqual([]);
  });
});

// Issue 24 item 9: a worker that does not speak the coordinator's protocol is a setup problem,
// and only a clear signal says so.
describe("ProtocolWatch", () => {
  const reply = (status: string, body = "") =>
    Buffer.from(`HTTP/1.1 ${status}\r\ncontent-type: application/json\r\n\r\n${body}`);
  const settled = async (watch: ProtocolWatch) =>
    Promise.race([watch.mismatch, new Promise((r) => setTimeout(() => r(undefined), 10))]);

  it("diagnoses a mismatch after MIN_REJECTIONS rejections with no call ever accepted", async () => {
    const watch = new ProtocolWatch(" (see README)");
    watch.onReply(reply("400 Bad Request", '{"error":"field \\"worker\\" must be a string"}'));
    for (let i = 1; i < MIN_REJECTIONS - 1; i++) watch.onReply(reply("404 Not Found"));
    expect(await settled(watch)).toBeUndefined();
    watch.onReply(reply("405 Method Not Allowed"));
    expect(await settled(watch)).toBe(
      `your worker does not speak the coordinator's protocol: none of its calls was accepted and ${MIN_REJECTIONS} replies rejected the request; the first reply it got was: HTTP/1.1 400 Bad Request: {"error":"field \\"worker\\" must be a string"} (see README)`,
    );
  });

  it("never fires once a call was accepted, nor on replies faults can cause, nor without HTTP", async () => {
    const accepted = new ProtocolWatch("");
    accepted.onReply(reply("200 OK", "{}"));
    for (let i = 0; i < 3 * MIN_REJECTIONS; i++) accepted.onReply(reply("400 Bad Request"));
    expect(await settled(accepted)).toBeUndefined();
    const faulty = new ProtocolWatch("");
    for (let i = 0; i < 3 * MIN_REJECTIONS; i++) {
      faulty.onReply(reply("408 Request Timeout")); // a request cut short by a partition
      faulty.onReply(reply("500 Internal Server Error"));
      faulty.onReply(Buffer.from('{"kind":"wait"}')); // a body in a chunk of its own
      faulty.onReply(Buffer.from([0x00, 0x01, 0x02])); // not HTTP at all
    }
    expect(await settled(faulty)).toBeUndefined();
  });

  it("quotes a reply on one bounded line: status and body, control characters escaped", () => {
    expect(quoteReply(reply("400 Bad Request", "no\u0007pe"))).toBe(
      "HTTP/1.1 400 Bad Request: no\\u0007pe",
    );
    const long = quoteReply(reply("404 Not Found", "x".repeat(5_000)));
    expect(long.length).toBe(MAX_QUOTED_REPLY_CHARS + 1);
    expect(long.endsWith("…")).toBe(true);
  });
});
