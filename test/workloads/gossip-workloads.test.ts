import { describe, expect, it } from "vitest";
import type { Op } from "../../checkers/history.js";
import { Random } from "../../harness/random.js";
import { broadcast } from "../../workloads/broadcast.js";
import { gCounter, pnCounter } from "../../workloads/counter.js";
import { echo } from "../../workloads/echo.js";
import { gSet } from "../../workloads/g-set.js";
import { WORKLOADS } from "../../workloads/index.js";
import { completionFor } from "../../workloads/maelstrom/completion.js";
import { type Body, ReplyError } from "../../workloads/protocol.js";
import { buildTopology } from "../../workloads/topology.js";
import { uniqueIds } from "../../workloads/unique-ids.js";
import type { OpSpec, WorkerView, Workload, WorkloadFactory } from "../../workloads/workload.js";

const NODES = ["n0", "n1", "n2", "n3", "n4"];

function make(factory: WorkloadFactory, seed = 1, topology = "grid", nodes = NODES): Workload {
  return factory({ nodes, concurrency: 10, rng: new Random(seed), latency_ms: 0, topology });
}

const worker = (i: number): WorkerView => ({
  worker: i,
  process: i,
  node: NODES[i % NODES.length] as string,
});

/** `count` ops from workers taking turns. */
function draw(w: Workload, count: number): OpSpec[] {
  return Array.from({ length: count }, (_, i) => {
    const op = w.generate(worker(i % 10));
    if (!op) throw new Error(`${w.name} produced no op`);
    return op;
  });
}

const reply = (type: string, extra: Record<string, unknown> = {}): Body => ({
  type,
  in_reply_to: 1,
  ...extra,
});

/** A minimal history: each op invoked and completed ok with `value`. */
function okHistory(entries: Array<{ f: string; value: unknown; final?: boolean }>): Op[] {
  const ops: Op[] = [];
  for (const [i, e] of entries.entries()) {
    const base = { process: i, f: e.f, ...(e.final && { final: true }) };
    ops.push({
      index: ops.length,
      time: ops.length,
      type: "invoke",
      value: e.f === "read" ? null : e.value,
      ...base,
    });
    ops.push({ index: ops.length, time: ops.length, type: "ok", value: e.value, ...base });
  }
  return ops;
}

describe("workload registry", () => {
  it("maps each --workload name to a factory whose workload has that name", () => {
    expect(Object.keys(WORKLOADS)).toEqual(
      expect.arrayContaining([
        "echo",
        "unique-ids",
        "broadcast",
        "g-set",
        "g-counter",
        "pn-counter",
      ]),
    );
    for (const name of ["echo", "unique-ids", "broadcast", "g-set", "g-counter", "pn-counter"]) {
      expect(make(WORKLOADS[name] as WorkloadFactory).name).toBe(name);
    }
  });

  it("only broadcast sends setup messages (a topology would crash Go nodes elsewhere)", () => {
    for (const factory of [echo, uniqueIds, gSet, gCounter, pnCounter])
      expect(make(factory).setup).toBeUndefined();
    expect(make(broadcast).setup).toBeDefined();
  });

  it("request bodies never carry msg_id (the client numbers requests)", () => {
    for (const factory of [echo, uniqueIds, broadcast, gSet, gCounter, pnCounter]) {
      const w = make(factory);
      for (const op of [...draw(w, 50), ...(w.final?.(worker(0)) ?? [])]) {
        const body = w.request(op);
        expect(body).not.toHaveProperty("msg_id");
        expect(typeof body.type).toBe("string");
      }
    }
  });

  it("every generator is reproducible from its seed", () => {
    for (const factory of [echo, uniqueIds, broadcast, gSet, gCounter, pnCounter]) {
      expect(draw(make(factory, 5), 100)).toEqual(draw(make(factory, 5), 100));
    }
  });
});

describe("echo", () => {
  const w = make(echo);

  it("generates echo ops of 'Please echo k', k uniform in [0, 128)", () => {
    const ops = draw(make(echo, 3), 3000);
    const ks = new Set<number>();
    for (const op of ops) {
      expect(op.f).toBe("echo");
      const m = /^Please echo (\d+)$/.exec(op.value as string);
      expect(m, String(op.value)).not.toBeNull();
      ks.add(Number(m?.[1]));
    }
    expect(Math.min(...ks)).toBe(0);
    expect(Math.max(...ks)).toBe(127);
    expect(ks.size).toBe(128);
  });

  it("requests {type: echo, echo: value}", () => {
    expect(w.request({ f: "echo", value: "Please echo 5" })).toEqual({
      type: "echo",
      echo: "Please echo 5",
    });
  });

  it("takes the echoed value from echo_ok, whatever it is", () => {
    const op = { f: "echo", value: "Please echo 5" };
    expect(w.okValue(op, reply("echo_ok", { echo: "Please echo 5" }))).toBe("Please echo 5");
    expect(w.okValue(op, reply("echo_ok", { echo: "something else" }))).toBe("something else"); // the checker judges
    expect(w.okValue(op, reply("echo_ok", { echo: null }))).toBeNull();
  });

  it("throws ReplyError on an echo_ok without echo", () => {
    expect(() => w.okValue({ f: "echo", value: "x" }, reply("echo_ok"))).toThrow(ReplyError);
  });

  it("is idempotent, has no final ops, and times out after 5 s", () => {
    expect(w.idempotent("echo")).toBe(true);
    expect(w.final).toBeUndefined();
    expect(w.errorsIndefinite).toBeFalsy();
    expect(w.timeout_ms).toBe(5000);
  });

  it("checks with the echo checker", async () => {
    const result = await w.check(okHistory([{ f: "echo", value: "Please echo 1" }]));
    expect(Object.keys(result)).toEqual(["echo"]);
  });
});

describe("unique-ids", () => {
  const w = make(uniqueIds);

  it("generates generate ops with a null value", () => {
    for (const op of draw(w, 20)) expect(op).toEqual({ f: "generate", value: null });
  });

  it("requests {type: generate}", () => {
    expect(w.request({ f: "generate", value: null })).toEqual({ type: "generate" });
  });

  it("returns the id of generate_ok, any JSON value but null", () => {
    const op = { f: "generate", value: null };
    for (const id of [0, 17, "n1-5", "", false, [1, 2], { a: 1 }]) {
      expect(w.okValue(op, reply("generate_ok", { id }))).toEqual(id);
    }
  });

  it("throws ReplyError when generate_ok has no id", () => {
    expect(() => w.okValue({ f: "generate", value: null }, reply("generate_ok"))).toThrow(
      ReplyError,
    );
    expect(() =>
      w.okValue({ f: "generate", value: null }, reply("generate_ok", { id: null })),
    ).toThrow(ReplyError);
  });

  it("is not idempotent (a lost reply may still have used an id) and has no final ops", () => {
    expect(w.idempotent("generate")).toBe(false);
    expect(w.final).toBeUndefined();
    expect(w.errorsIndefinite).toBeFalsy();
  });

  it("checks with the unique-ids checker", async () => {
    const result = await w.check(
      okHistory([
        { f: "generate", value: 1 },
        { f: "generate", value: 2 },
      ]),
    );
    expect(Object.keys(result)).toEqual(["unique-ids"]);
  });
});

describe("broadcast", () => {
  it("sends the chosen topology once as setup", () => {
    const w = make(broadcast, 1, "line");
    const setup = w.setup?.("n2");
    expect(setup).toEqual([{ type: "topology", topology: buildTopology("line", NODES) }]);
    expect(make(broadcast, 1, "total").setup?.("n0")).toEqual([
      { type: "topology", topology: buildTopology("total", NODES) },
    ]);
  });

  it("rejects an unknown topology when the workload is built", () => {
    expect(() => make(broadcast, 1, "ring")).toThrow(/unknown topology "ring"/);
  });

  it("mixes broadcasts and reads about evenly", () => {
    const ops = draw(make(broadcast, 2), 4000);
    const broadcasts = ops.filter((op) => op.f === "broadcast").length;
    const reads = ops.filter((op) => op.f === "read");
    expect(broadcasts + reads.length).toBe(4000);
    expect(broadcasts / 4000).toBeGreaterThan(0.45);
    expect(broadcasts / 4000).toBeLessThan(0.55);
    for (const read of reads) expect(read).toEqual({ f: "read", value: null });
  });

  it("broadcasts 0, 1, 2, … across all workers, never repeating", () => {
    const values = draw(make(broadcast, 4), 2000)
      .filter((op) => op.f === "broadcast")
      .map((op) => op.value);
    expect(values).toEqual(values.map((_, i) => i));
  });

  it("builds broadcast and read requests", () => {
    const w = make(broadcast);
    expect(w.request({ f: "broadcast", value: 7 })).toEqual({ type: "broadcast", message: 7 });
    expect(w.request({ f: "read", value: null })).toEqual({ type: "read" });
    expect(w.request({ f: "read", value: null, final: true })).toEqual({ type: "read" });
  });

  it("completes a broadcast with its value and a read with the messages", () => {
    const w = make(broadcast);
    expect(w.okValue({ f: "broadcast", value: 7 }, reply("broadcast_ok"))).toBe(7);
    expect(
      w.okValue({ f: "read", value: null }, reply("read_ok", { messages: [3, 1, 2] })),
    ).toEqual([3, 1, 2]);
    expect(w.okValue({ f: "read", value: null }, reply("read_ok", { messages: [] }))).toEqual([]);
  });

  it.each([{}, { messages: null }, { messages: "1,2" }, { messages: { 0: 1 } }, { value: [1] }])(
    "throws ReplyError on a read_ok of %o",
    (extra) => {
      expect(() =>
        make(broadcast).okValue({ f: "read", value: null }, reply("read_ok", extra)),
      ).toThrow(ReplyError);
    },
  );

  it("treats reads as idempotent and broadcasts as not", () => {
    const w = make(broadcast);
    expect(w.idempotent("read")).toBe(true);
    expect(w.idempotent("broadcast")).toBe(false);
    expect(w.errorsIndefinite).toBeFalsy();
  });

  it("ends each worker with one final read", () => {
    expect(make(broadcast).final?.(worker(3))).toEqual([{ f: "read", value: null, final: true }]);
  });

  it("maps a lost broadcast to info but a lost read to fail (through completionFor)", () => {
    const w = make(broadcast);
    expect(completionFor(w, { f: "broadcast", value: 1 }, "broadcast", undefined).type).toBe(
      "info",
    );
    expect(completionFor(w, { f: "read", value: null }, "read", undefined).type).toBe("fail");
  });

  it("checks with set-full, broadcast counted as add", async () => {
    const w = make(broadcast);
    const result = await w.check(
      okHistory([
        { f: "broadcast", value: 0 },
        { f: "read", value: [0], final: true },
      ]),
    );
    expect(Object.keys(result)).toEqual(["set-full"]);
    expect(result["set-full"]?.valid).toBe(true);
  });
});

describe("g-set", () => {
  it("mixes adds and reads, adding 0, 1, 2, … with some repeats of earlier elements", () => {
    const ops = draw(make(gSet, 6), 4000);
    const adds = ops.filter((op) => op.f === "add").map((op) => op.value as number);
    expect(adds.length / 4000).toBeGreaterThan(0.45);
    expect(adds.length / 4000).toBeLessThan(0.55);
    let next = 0;
    let repeats = 0;
    for (const value of adds) {
      expect(Number.isInteger(value)).toBe(true);
      if (value === next) next++;
      else {
        expect(value).toBeGreaterThanOrEqual(0);
        expect(value).toBeLessThan(next); // a repeat is always of an element already added
        repeats++;
      }
    }
    expect(repeats / adds.length).toBeGreaterThan(0.05);
    expect(repeats / adds.length).toBeLessThan(0.15);
    expect(adds[0]).toBe(0); // nothing to repeat yet
  });

  it("builds add and read requests", () => {
    const w = make(gSet);
    expect(w.request({ f: "add", value: 4 })).toEqual({ type: "add", element: 4 });
    expect(w.request({ f: "read", value: null })).toEqual({ type: "read" });
  });

  it("reads the set from `value` (the schema's key), not `elements`", () => {
    const w = make(gSet);
    expect(w.okValue({ f: "read", value: null }, reply("read_ok", { value: [2, 0] }))).toEqual([
      2, 0,
    ]);
    expect(() =>
      w.okValue({ f: "read", value: null }, reply("read_ok", { elements: [2, 0] })),
    ).toThrow(ReplyError);
    expect(() => w.okValue({ f: "read", value: null }, reply("read_ok", { value: 3 }))).toThrow(
      ReplyError,
    );
  });

  it("completes an add with its element", () => {
    expect(make(gSet).okValue({ f: "add", value: 9 }, reply("add_ok"))).toBe(9);
  });

  it("maps a timed-out or failed read to fail (no effect), an add's error or timeout to info", () => {
    const w = make(gSet);
    expect(w.errorsIndefinite).toBe(true);
    expect(w.idempotent("read")).toBe(true);
    expect(w.idempotent("add")).toBe(false);
    const read = { f: "read", value: null };
    expect(completionFor(w, read, "read", undefined).type).toBe("fail");
    expect(completionFor(w, read, "read", reply("error", { code: 11 })).type).toBe("fail");
    const add = { f: "add", value: 1 };
    expect(completionFor(w, add, "add", undefined).type).toBe("info");
    expect(completionFor(w, add, "add", reply("error", { code: 14 })).type).toBe("info");
  });

  it("ends each worker with one final read", () => {
    expect(make(gSet).final?.(worker(0))).toEqual([{ f: "read", value: null, final: true }]);
  });

  it("checks with set-full", async () => {
    const result = await make(gSet).check(
      okHistory([
        { f: "add", value: 0 },
        { f: "read", value: [0], final: true },
      ]),
    );
    expect(Object.keys(result)).toEqual(["set-full"]);
  });
});

describe.each([
  ["g-counter", gCounter, 0, 4],
  ["pn-counter", pnCounter, -5, 4],
] as const)("%s", (name, factory, min, max) => {
  it(`adds deltas uniform in [${min}, ${max}], mixed evenly with reads`, () => {
    const ops = draw(make(factory, 8), 4000);
    const deltas = ops.filter((op) => op.f === "add").map((op) => op.value as number);
    const reads = ops.filter((op) => op.f === "read");
    expect(deltas.length + reads.length).toBe(4000);
    expect(deltas.length / 4000).toBeGreaterThan(0.45);
    expect(deltas.length / 4000).toBeLessThan(0.55);
    for (const read of reads) expect(read).toEqual({ f: "read", value: null });
    expect(new Set(deltas)).toEqual(
      new Set(Array.from({ length: max - min + 1 }, (_, i) => min + i)),
    );
  });

  it("builds add and read requests", () => {
    const w = make(factory);
    expect(w.name).toBe(name);
    expect(w.request({ f: "add", value: 3 })).toEqual({ type: "add", delta: 3 });
    expect(w.request({ f: "read", value: null })).toEqual({ type: "read" });
  });

  it("reads an integer value, and completes an add with its delta", () => {
    const w = make(factory);
    expect(w.okValue({ f: "read", value: null }, reply("read_ok", { value: -12 }))).toBe(-12);
    expect(w.okValue({ f: "read", value: null }, reply("read_ok", { value: 0 }))).toBe(0);
    expect(w.okValue({ f: "add", value: 3 }, reply("add_ok"))).toBe(3);
  });

  it.each([
    {},
    { value: 1.5 },
    { value: "3" },
    { value: null },
    { value: 2 ** 60 },
    { value: [3] },
  ])("throws ReplyError on a read_ok of %o", (extra) => {
    expect(() =>
      make(factory).okValue({ f: "read", value: null }, reply("read_ok", extra)),
    ).toThrow(ReplyError);
  });

  it("maps a timed-out read to fail, an add's error or timeout to info; ends with a final read", () => {
    const w = make(factory);
    expect(w.errorsIndefinite).toBe(true);
    expect(completionFor(w, { f: "read", value: null }, "read", undefined).type).toBe("fail");
    const add = { f: "add", value: 1 };
    expect(completionFor(w, add, "add", undefined).type).toBe("info");
    expect(completionFor(w, add, "add", reply("error", { code: 11 })).type).toBe("info");
    expect(w.final?.(worker(1))).toEqual([{ f: "read", value: null, final: true }]);
  });

  it("checks the final reads with the counter checker", async () => {
    const result = await make(factory).check(
      okHistory([
        { f: "add", value: 2 },
        { f: "read", value: 2, final: true },
      ]),
    );
    expect(Object.values(result).map((r) => r.valid)).toEqual([true]);
  });
});
