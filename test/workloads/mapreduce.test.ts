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
