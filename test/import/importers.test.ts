// The EDN reader and the history importers: what they read, and the one-line errors (with
// line numbers) they give for malformed input.

import { describe, expect, it } from "vitest";
import { HistoryError } from "../../checkers/history.js";
import { checkLinearizable } from "../../checkers/linearizable.js";
import { EdnError, EdnReader } from "../../harness/import/edn.js";
import { detectFormat, type Format, importHistory } from "../../harness/import/index.js";

function errorOf(text: string, format: Format): HistoryError {
  try {
    importHistory(text, format);
  } catch (err) {
    if (err instanceof HistoryError) return err;
    throw err;
  }
  throw new Error("expected a HistoryError");
}

describe("EDN reader", () => {
  it("reads the subset Jepsen histories use", () => {
    const forms = EdnReader.readAll(
      [
        "; a comment",
        '{:type :invoke, :f :cas, :value [1 2], :process 3, :time 12, :error [:timeout "slow\\n"]}',
        "#jepsen.history.Op{:index 0 :f :read :value nil :ok? true :x -1.5e3 :big 123456789012345678901N}",
        '(1 #_ 2 3) #{:a} \\c "\\u00e9"',
      ].join("\n"),
    );
    expect(forms.map((f) => f.line)).toEqual([2, 3, 4, 4, 4, 4]);
    expect(forms[0]?.value).toEqual({
      type: "invoke",
      f: "cas",
      value: [1, 2],
      process: 3,
      time: 12,
      error: ["timeout", "slow\n"],
    });
    expect(forms[1]?.value).toEqual({
      index: 0,
      f: "read",
      value: null,
      "ok?": true,
      x: -1500,
      big: "123456789012345678901",
    });
    expect(forms.slice(2).map((f) => f.value)).toEqual([[1, 3], ["a"], "c", "é"]);
  });

  it("errors name the line", () => {
    expect(() => EdnReader.readAll('{:a 1}\n{:b "open')).toThrow(
      new EdnError(2, "string opened on line 2 is not closed"),
    );
    expect(() => EdnReader.readAll("{:a 1\n:b 2")).toThrow(
      /line 2: "}" missing for the collection opened on line 1/,
    );
    expect(() => EdnReader.readAll("{:a}")).toThrow(/even number of forms/);
    expect(() => EdnReader.readAll("\n\n]")).toThrow(new EdnError(3, 'unexpected "]"'));
    expect(() => EdnReader.readAll("12abc")).toThrow(/"12abc" is not a number/);
  });
});

describe("Jepsen history.edn", () => {
  const edn = [
    "{:type :invoke, :f :write, :value 3, :process 0, :time 100, :index 0}",
    "{:type :info, :f :start, :value nil, :process :nemesis, :time 150, :index 1}",
    "{:type :ok, :f :write, :value 3, :process 0, :time 200, :index 2}",
    "{:type :invoke, :f :cas, :value [3 4], :process 1, :time 300, :index 3}",
    "{:type :fail, :f :cas, :value [3 4], :process 1, :time 400, :index 4, :error :timeout}",
    "{:type :invoke, :f :read, :value nil, :process 0, :time 500, :index 5}",
    "{:type :ok, :f :read, :value 3, :process 0, :time 600, :index 6}",
  ].join("\n");

  it("imports ops, nemesis ops included (the checker skips them)", async () => {
    const imported = importHistory(edn, "jepsen-edn");
    if (imported.kind !== "history") throw new Error("expected a history");
    expect(imported.history[1]).toEqual({
      index: 1,
      time: 150,
      process: "nemesis",
      type: "info",
      f: "start",
      value: null,
    });
    expect(imported.history[4]).toMatchObject({
      type: "fail",
      f: "cas",
      value: [3, 4],
      error: "timeout",
    });
    expect(imported.lines).toEqual([1, 2, 3, 4, 5, 6, 7]);
    expect((await checkLinearizable(imported.history, { model: "cas-register" })).valid).toBe(true);
  });

  it("reads Knossos' one-vector form without times (times = positions)", () => {
    const imported = importHistory(
      "[{:process 0, :type :invoke, :f :read, :value nil}\n {:process 0, :type :ok, :f :read, :value 0}]",
      "jepsen-edn",
    );
    if (imported.kind !== "history") throw new Error("expected a history");
    expect(imported.history.map((op) => [op.index, op.time, op.type])).toEqual([
      [0, 0, "invoke"],
      [1, 1, "ok"],
    ]);
  });

  it("a :time that goes backwards: ops timed by their order in the file, as Knossos does", () => {
    const imported = importHistory(
      "{:type :invoke, :f :read, :process 0, :time 5}\n{:type :invoke, :f :write, :value 1, :process 1, :time 4}\n" +
        "{:type :ok, :f :read, :value nil, :process 0, :time 9}\n{:type :ok, :f :write, :value 1, :process 1, :time 8}",
      "jepsen-edn",
    );
    if (imported.kind !== "history") throw new Error("expected a history");
    expect(imported.retimedAt).toEqual({ op: 1, line: 2 });
    expect(imported.history.map((op) => op.time)).toEqual([0, 1, 2, 3]);
  });

  it("malformed ops: one line saying which line and what is wrong", () => {
    expect(
      errorOf(
        "{:type :invoke, :f :read, :process 0, :time 1}\n{:type :done, :f :read, :process 0, :time 2}",
        "jepsen-edn",
      ),
    ).toEqual(new HistoryError(2, ":type must be one of :invoke, :ok, :fail, :info"));
    expect(errorOf("{:type :invoke, :process 0}", "jepsen-edn").message).toBe(
      "history line 1: :f must be a keyword like :read",
    );
    expect(errorOf("{:type :invoke, :f :read, :process -1}", "jepsen-edn").message).toMatch(
      /line 1: :process must be/,
    );
    expect(errorOf("[1 2]\n[3]", "jepsen-edn").message).toMatch(/line 1: expected an op map/);
    expect(errorOf("{:type :invoke\n:f :read", "jepsen-edn").message).toMatch(
      /^history line 2: not valid EDN/,
    );
  });
});

describe("Porcupine etcd logs", () => {
  const log = [
    "INFO  jepsen.util - 0\t:invoke\t:write\t1",
    "INFO  jepsen.util - 0\t:ok\t:write\t1",
    "INFO  jepsen.util - 1\t:invoke\t:cas\t[1 2]",
    "INFO  jepsen.util - 2   :invoke :read   nil",
    "INFO  jepsen.util - 1\t:fail\t:cas\t[1 2]",
    "INFO  jepsen.util - 2   :fail   :read   :timed-out",
    "INFO  jepsen.util - 3\t:invoke\t:write\t4",
    "INFO  jepsen.util - 3\t:info\t:write\t:timed-out",
    "INFO  jepsen.util - 4\t:invoke\t:read\tnil",
    "INFO  jepsen.util - 4\t:ok\t:read\t4",
  ].join("\n");

  it("imports with Porcupine's semantics", () => {
    const imported = importHistory(log, "porcupine-etcd");
    if (imported.kind !== "operations") throw new Error("expected operations");
    expect(imported.model).toBe("cas-register");
    expect(imported.refs).toEqual([0, 2, 3, 6, 8]);
    expect(imported.operations).toEqual([
      { client: 0, input: { f: "write", value: 1 }, call: 0, output: {}, return: 1 },
      // A failed cas ran and saw another value.
      { client: 1, input: { f: "cas", from: 1, to: 2 }, call: 2, output: { ok: false }, return: 4 },
      // A timed-out read closes where it timed out, output unknown.
      { client: 2, input: { f: "read" }, call: 3, output: undefined, return: 5 },
      // An indeterminate write stays open to the end of time.
      {
        client: 3,
        input: { f: "write", value: 4 },
        call: 6,
        output: undefined,
        return: Number.POSITIVE_INFINITY,
      },
      { client: 4, input: { f: "read" }, call: 8, output: { value: 4 }, return: 9 },
    ]);
  });

  it("malformed lines: one line saying which line and what is wrong", () => {
    expect(errorOf("INFO  jepsen.util - 0\t:invoke\t:read\tnil\nhello", "porcupine-etcd")).toEqual(
      new HistoryError(2, 'expected "INFO jepsen.util - <process> :<type> :<f> <value>"'),
    );
    expect(errorOf("INFO  jepsen.util - 0\t:invoke\t:incr\t1", "porcupine-etcd").message).toBe(
      'history line 1: f must be :read, :write or :cas, got ":incr"',
    );
    expect(errorOf("INFO  jepsen.util - 0\t:invoke\t:cas\t[1]", "porcupine-etcd").message).toMatch(
      /cas value must be \[from to\]/,
    );
    expect(errorOf("INFO  jepsen.util - 0\t:ok\t:read\t1", "porcupine-etcd").message).toMatch(
      /completes an op it never invoked/,
    );
    expect(
      errorOf(
        "INFO  jepsen.util - 0\t:invoke\t:read\tnil\nINFO  jepsen.util - 0\t:invoke\t:read\tnil",
        "porcupine-etcd",
      ).message,
    ).toBe("history line 2: process 0 invokes while its op from line 1 is pending");
    expect(
      errorOf(
        "INFO  jepsen.util - 0\t:invoke\t:read\tnil\nINFO  jepsen.util - 0\t:ok\t:write\t1",
        "porcupine-etcd",
      ).message,
    ).toMatch(/completes :write but invoked :read on line 1/);
    expect(errorOf("INFO  jepsen.util - 0\t:invoke\t:write\t[1", "porcupine-etcd").message).toMatch(
      /line 1: bad value/,
    );
  });
});

describe("Porcupine kv logs", () => {
  it("imports get/put/append as our history", () => {
    const imported = importHistory(
      '{:process 0, :type :invoke, :f :get, :key "1", :value nil}\n{:process 0, :type :ok, :f :get, :key "1", :value ""}\n',
      "porcupine-kv",
    );
    if (imported.kind !== "history") throw new Error("expected a history");
    expect(imported.model).toBe("append-kv");
    expect(imported.history).toEqual([
      { index: 0, time: 0, process: 0, type: "invoke", f: "get", value: { key: "1", value: null } },
      { index: 1, time: 1, process: 0, type: "ok", f: "get", value: { key: "1", value: "" } },
    ]);
  });

  it("malformed lines: one line saying which line and what is wrong", () => {
    expect(
      errorOf(
        '{:process 0, :type :invoke, :f :get, :key "1", :value nil}\n{:process 0, :type :ok, :f :get, :key 1}',
        "porcupine-kv",
      ),
    ).toEqual(new HistoryError(2, ':key must be a string like "3"'));
    expect(
      errorOf('{:process 0, :type :invoke, :f :incr, :key "1"}', "porcupine-kv").message,
    ).toMatch(/:f must be :get, :put or :append/);
    expect(
      errorOf('{:process 0, :type :invoke, :f :put, :key "1", :value nil}', "porcupine-kv").message,
    ).toMatch(/a :put needs a string :value/);
    expect(errorOf("[:process 0]", "porcupine-kv").message).toMatch(
      /^history line 1: expected a map/,
    );
  });
});

describe("detectFormat", () => {
  it("from the name and the first line", () => {
    expect(detectFormat("store/x/history.jsonl", '{"index":0}')).toBe("jsonl");
    expect(detectFormat("a.log", "INFO  jepsen.util - 0\t:invoke\t:read\tnil")).toBe(
      "porcupine-etcd",
    );
    expect(
      detectFormat("c01-ok.txt", '{:process 0, :type :invoke, :f :get, :key "6", :value nil}'),
    ).toBe("porcupine-kv");
    expect(detectFormat("history.edn", "{:type :invoke, :f :read}")).toBe("jepsen-edn");
    expect(detectFormat("h.txt", "#jepsen.history.Op{:index 0}")).toBe("jepsen-edn");
    expect(detectFormat("empty.log", "")).toBe("porcupine-etcd");
    expect(detectFormat("notes.txt", "hello")).toBeUndefined();
  });
});
