// Every file of Porcupine's own test data (shared/data/porcupine) gets exactly the verdict
// Porcupine's tests assert (verdicts.tsv): etcd logs with the cas-register model and
// Porcupine's etcd semantics, kv logs with append-kv partitioned by key, and unpartitioned
// where upstream checked them that way too.

import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { checkLinearizable, checkLinearizableOperations } from "../../checkers/linearizable.js";
import { importHistory } from "../../harness/import/index.js";
import { sharedDir } from "../../harness/paths.js";

const DATA = join(sharedDir(), "data", "porcupine");

interface Row {
  file: string;
  expected: "Ok" | "Illegal" | "none";
  checkedWith: string;
}

const rows: Row[] = readFileSync(join(DATA, "verdicts.tsv"), "utf8")
  .trim()
  .split("\n")
  .slice(1)
  .map((line) => {
    const [file, expected, checkedWith] = line.split("\t") as [string, Row["expected"], string];
    return { file, expected, checkedWith };
  });

const want = (expected: Row["expected"]): boolean => expected === "Ok";

describe("Porcupine's test data", () => {
  it("verdicts.tsv covers every data file", () => {
    const files = [
      ...readdirSync(join(DATA, "jepsen")).map((f) => `jepsen/${f}`),
      ...readdirSync(join(DATA, "kv")).map((f) => `kv/${f}`),
    ].sort();
    expect(rows.map((r) => r.file).sort()).toEqual(files);
    expect(rows.filter((r) => r.expected === "Ok")).toHaveLength(26);
    expect(rows.filter((r) => r.expected === "Illegal")).toHaveLength(82);
  });

  it("etcd logs: every verdict as upstream (cas-register, Porcupine's etcd semantics)", async () => {
    const etcd = rows.filter((r) => r.file.startsWith("jepsen/"));
    expect(etcd).toHaveLength(103);
    for (const row of etcd) {
      const imported = importHistory(readFileSync(join(DATA, row.file), "utf8"), "porcupine-etcd");
      if (imported.kind !== "operations")
        throw new Error("etcd logs import as Porcupine operations");
      if (row.expected === "none") {
        // etcd_095.log is empty: the cluster never started.
        expect(imported.operations).toHaveLength(0);
        continue;
      }
      const r = await checkLinearizableOperations(
        "cas-register",
        imported.operations,
        imported.refs,
        {
          timeout_ms: 60_000,
        },
      );
      expect({ file: row.file, valid: r.valid }).toEqual({
        file: row.file,
        valid: want(row.expected),
      });
    }
  });

  const kv = rows.filter((r) => r.file.startsWith("kv/"));
  for (const row of kv) {
    it(`${row.file}: ${row.expected} partitioned by key`, async () => {
      const imported = importHistory(readFileSync(join(DATA, row.file), "utf8"), "porcupine-kv");
      if (imported.kind !== "history") throw new Error("kv logs import as histories");
      const r = await checkLinearizable(imported.history, {
        model: "append-kv",
        timeout_ms: 60_000,
      });
      expect(r.valid).toBe(want(row.expected));
      expect((r.counts as { partitions: number }).partitions).toBeGreaterThan(1);
    });
    if (row.checkedWith.includes("unpartitioned")) {
      it(`${row.file}: ${row.expected} unpartitioned (the whole map as one state)`, async () => {
        const imported = importHistory(readFileSync(join(DATA, row.file), "utf8"), "porcupine-kv");
        if (imported.kind !== "history") throw new Error("kv logs import as histories");
        const r = await checkLinearizable(imported.history, {
          model: "append-kv",
          timeout_ms: 60_000,
          unpartitioned: true,
        });
        expect(r.valid).toBe(want(row.expected));
        expect((r.counts as { partitions: number }).partitions).toBe(1);
      });
    }
  }
});
