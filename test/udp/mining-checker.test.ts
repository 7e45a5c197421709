// The mining checkers (checkers/mining.ts): the oracle's own hash against the spec's vectors,
// each violation kind on a hand-written history, fairness probes, and load balance.
import { describe, expect, it } from "vitest";
import type { CompletionType, Op } from "../../checkers/history.js";
import { checkFairness, checkMiningOracle, oracleHash, oracleMin } from "../../checkers/mining.js";

class H {
  readonly ops: Op[] = [];
  now_ms = 0;

  at(ms: number): this {
    this.now_ms = ms;
    return this;
  }

  push(op: Omit<Op, "index" | "time">): number {
    this.now_ms += 1;
    this.ops.push({ index: this.ops.length, time: this.now_ms * 1e6, ...op });
    return this.ops.length - 1;
  }

  job(
    process: number,
    spec: { message: string; max_nonce: number; kind?: string; group?: number },
    type: CompletionType,
    outcome: Record<string, unknown>,
    took_ms = 1,
  ): number {
    this.push({ process, type: "invoke", f: "mine", value: spec });
    this.now_ms += took_ms - 1;
    return this.push({ process, type, f: "mine", value: { ...spec, ...outcome } });
  }

  nemesis(f: string, value: unknown): number {
    return this.push({ process: "nemesis", type: "info", f, value });
  }
}

const truth = oracleMin("msg", 2);
const answer = (hash: bigint, nonce: bigint) => ({
  hash: String(hash),
  nonce: String(nonce),
  output: [`Result ${hash} ${nonce}`],
});
const kinds = (r: ReturnType<typeof checkMiningOracle>) =>
  (r.violations as Array<{ kind: string }>).map((v) => v.kind);

describe("mining oracle", () => {
  it("recomputes the spec's vectors with its own hash", () => {
    expect(oracleHash("msg", 0n)).toBe(13781283048668101583n);
    expect(oracleHash("msg", 1n)).toBe(4754799531757243342n);
    expect(truth).toEqual({ hash: 4754799531757243342n, nonce: 1n });
  });

  it("accepts the true minimum", () => {
    const h = new H();
    h.job(0, { message: "msg", max_nonce: 2 }, "ok", answer(truth.hash, truth.nonce));
    const r = checkMiningOracle(h.ops);
    expect(r.valid).toBe(true);
    expect(r.checked_count).toBe(1);
  });

  it("names a wrong minimum, a hash that does not match its nonce, and a nonce out of range", () => {
    const h = new H();
    h.job(0, { message: "msg", max_nonce: 2 }, "ok", answer(13781283048668101583n, 0n));
    h.job(0, { message: "msg", max_nonce: 2 }, "ok", answer(4754799531757243341n, 1n));
    h.job(0, { message: "msg", max_nonce: 0 }, "ok", answer(truth.hash, 1n));
    const r = checkMiningOracle(h.ops);
    expect(r.valid).toBe(false);
    expect(kinds(r)).toEqual(["wrong-answer", "hash-mismatch", "nonce-out-of-range"]);
    expect(r.summary).toMatch(/minimum is 4754799531757243342 at nonce 1/);
  });

  it("says when the missed minimum was the upper bound itself (off by one)", () => {
    // Find a prefix whose minimum is at its last nonce.
    let n = 1;
    while (oracleMin("edge", n).nonce !== BigInt(n)) n++;
    const below = oracleMin("edge", n - 1);
    const h = new H();
    h.job(0, { message: "edge", max_nonce: n }, "ok", answer(below.hash, below.nonce));
    expect(checkMiningOracle(h.ops).summary).toMatch(/the upper bound itself/);
  });

  it("holds clients to exactly one line of output", () => {
    const h = new H();
    h.job(0, { message: "msg", max_nonce: 2 }, "info", {
      error: "bad output",
      output: ["debug: hi", "Result 1 1"],
    });
    h.job(1, { message: "msg", max_nonce: 2 }, "info", { error: "no output", output: [] });
    expect(kinds(checkMiningOracle(h.ops))).toEqual(["bad-output", "bad-output"]);
  });

  it("a job that timed out was left unanswered; a killed client's job was not", () => {
    const h = new H();
    h.job(0, { message: "a", max_nonce: 9 }, "info", { error: "timeout", output: [] });
    h.job(1, { message: "b", max_nonce: 9 }, "info", { error: "killed", output: [] });
    const r = checkMiningOracle(h.ops);
    expect(kinds(r)).toEqual(["unanswered"]);
    expect(r.killed_count).toBe(1);
  });

  it("Disconnected is only right when a fault cut the client off", () => {
    const h = new H();
    h.job(0, { message: "a", max_nonce: 9 }, "fail", {
      error: "Disconnected",
      output: ["Disconnected"],
    });
    expect(kinds(checkMiningOracle(h.ops))).toEqual(["spurious-disconnect"]);
    const f = new H();
    f.nemesis("start-partition", { nodes: ["c0"] });
    f.job(0, { message: "a", max_nonce: 9 }, "fail", {
      error: "Disconnected",
      output: ["Disconnected"],
    });
    expect(checkMiningOracle(f.ops).valid).toBe("unknown"); // nothing answered, nothing wrong
  });

  it("after the server is killed, running clients print Disconnected and miners exit", () => {
    const h = new H();
    h.job(0, { message: "msg", max_nonce: 2 }, "ok", answer(truth.hash, truth.nonce));
    h.push({ process: 1, type: "invoke", f: "mine", value: { message: "x", max_nonce: 9 } });
    h.nemesis("start-kill", { nodes: ["server"], final: true });
    h.push({ process: 2, type: "invoke", f: "miner-shutdown", value: { miner: "m0" } });
    h.push({
      process: 2,
      type: "info",
      f: "miner-shutdown",
      value: { miner: "m0", error: "still running" },
    });
    h.push({
      process: 1,
      type: "info",
      f: "mine",
      value: { message: "x", max_nonce: 9, error: "timeout" },
    });
    expect(kinds(checkMiningOracle(h.ops))).toEqual(["no-disconnect", "miner-survived"]);
  });

  it("a killed client's job must stop being handed out after the server can know", () => {
    const h = new H();
    h.job(0, { message: "big", max_nonce: 999_999 }, "info", { error: "killed", output: [] });
    const killed_ns = (h.ops.at(-1) as Op).time;
    const dispatches = [
      { message: "big", time_ns: killed_ns - 1e6, miner: "m0" },
      { message: "big", time_ns: killed_ns + 500e6, miner: "m1" },
    ];
    expect(checkMiningOracle(h.ops, { dispatches, drop_bound_ms: 1000 }).valid).not.toBe(false);
    dispatches.push({ message: "big", time_ns: killed_ns + 1500e6, miner: "m0" });
    const r = checkMiningOracle(h.ops, { dispatches, drop_bound_ms: 1000 });
    expect(kinds(r)).toEqual(["job-not-dropped"]);
  });
});

describe("fairness", () => {
  function probe(smallLatency_ms: number, smallFirst = true) {
    const h = new H();
    h.push({
      process: 0,
      type: "invoke",
      f: "mine",
      value: { message: "L", max_nonce: 300000, kind: "probe-large", group: 1 },
    });
    h.at(100).push({
      process: 1,
      type: "invoke",
      f: "mine",
      value: { message: "S", max_nonce: 2000, kind: "probe-small", group: 1 },
    });
    const large = {
      process: 0,
      type: "ok" as const,
      f: "mine",
      value: {
        message: "L",
        max_nonce: 300000,
        kind: "probe-large",
        group: 1,
        hash: "1",
        nonce: "1",
      },
    };
    const small = {
      process: 1,
      type: "ok" as const,
      f: "mine",
      value: {
        message: "S",
        max_nonce: 2000,
        kind: "probe-small",
        group: 1,
        hash: "1",
        nonce: "1",
      },
    };
    if (smallFirst) {
      h.at(100 + smallLatency_ms).push(small);
      h.at(1000).push(large);
    } else {
      h.at(1000).push(large);
      h.at(1100).push(small);
    }
    return h;
  }

  it("passes a small job that finishes first and fast", () => {
    const r = checkFairness(probe(50).ops);
    expect(r.valid).toBe(true);
    expect(r.judged).toEqual(["probe 1"]);
  });

  it("fails a small job that finishes after the large one, or waits behind it", () => {
    expect(checkFairness(probe(0, false).ops).summary).toMatch(/finished after it/);
    expect(checkFairness(probe(800).ops).summary).toMatch(/waited behind the large job/);
  });

  it("does not judge a probe a fault overlapped", () => {
    const h = probe(800);
    h.ops.splice(1, 0, {
      index: 0,
      time: 2e6,
      process: "nemesis",
      type: "info",
      f: "start-kill",
      value: { nodes: ["m0"] },
    });
    h.ops.forEach((op, i) => {
      op.index = i;
    });
    const r = checkFairness(h.ops);
    expect(r.valid).toBe(true);
    expect(r.skipped).toEqual(["probe 1"]);
  });

  /**
   * A probe pair timed at the server (as the proxy saw it): [Request in, Result out] in ms for the
   * large and the small job.
   */
  function serverProbe(large: [number, number], small: [number, number]) {
    const h = new H();
    const spec = (kind: string, message: string, max_nonce: number) => ({
      message,
      max_nonce,
      kind,
      group: 1,
    });
    const L = spec("probe-large", "L", 300000);
    const S = spec("probe-small", "S", 2000);
    h.push({ process: 0, type: "invoke", f: "mine", value: L });
    h.push({ process: 1, type: "invoke", f: "mine", value: S });
    const done = (v: object, [request, result]: [number, number]) => ({
      ...v,
      request_ns: request * 1e6,
      result_ns: result * 1e6,
      hash: "1",
      nonce: "1",
    });
    const ends = [
      { at: large[1], op: { process: 0, type: "ok" as const, f: "mine", value: done(L, large) } },
      { at: small[1], op: { process: 1, type: "ok" as const, f: "mine", value: done(S, small) } },
    ].sort((a, b) => a.at - b.at);
    for (const { at, op } of ends) h.at(at + 20).push(op);
    return h.ops;
  }
  /** Chunks handed out: [message, ms, miner]. */
  const chunks = (list: Array<[string, number, string]>) =>
    list.map(([message, ms, miner]) => ({ message, time_ns: ms * 1e6, miner }));

  it("does not judge a probe whose large job was done before the small one arrived", () => {
    // Fast miners: the large job took 90 ms at the server; the small one came 10 ms later.
    const r = checkFairness(serverProbe([0, 90], [100, 105]));
    expect(r.valid).toBe(true);
    expect(r.judged).toEqual([]);
    expect(r.summary).toMatch(/^fairness not tested: probe 1: the large job .* was done 90 ms/);
    expect(r.warnings).toEqual([expect.stringMatching(/^fairness not tested: probe 1: /)]);
  });

  it("still fails a small job that overlapped the large one and finished after it", () => {
    const r = checkFairness(serverProbe([0, 1000], [100, 1010]));
    expect(r.valid).toBe(false);
    expect(r.summary).toMatch(/finished after it \(910 ms vs 1000 ms at the server\)/);
  });

  it("with the chunks handed out: unfair only when the server passed the small job over", () => {
    const ops = serverProbe([0, 1000], [100, 990]);
    // FIFO: every remaining large chunk went out after the small job arrived, before its own.
    const fifo = chunks([
      ["L", 1, "m0"],
      ["L", 1, "m1"],
      ...Array.from({ length: 8 }, (_, i): [string, number, string] => ["L", 200 + 100 * i, "m0"]),
      ["S", 950, "m1"],
    ]);
    const unfair = checkFairness(ops, { dispatches: fifo });
    expect(unfair.valid).toBe(false);
    expect(unfair.summary).toMatch(/handed out 8 of the large job's chunks before its first/);
    // Fair: the small job got the next free miner, but that miner was slow.
    const prompt = chunks([
      ["L", 1, "m0"],
      ["L", 1, "m1"],
      ["S", 150, "m1"],
      ...Array.from({ length: 8 }, (_, i): [string, number, string] => ["L", 200 + 100 * i, "m0"]),
    ]);
    const fair = checkFairness(ops, { dispatches: prompt });
    expect(fair.valid).toBe(true);
    expect(fair.judged).toEqual(["probe 1"]);
  });

  it("does not judge a small job that arrived when the large one had nothing left to hand out", () => {
    // The large job's last chunks were all on miners: the small one had to wait for one.
    const tail = chunks([
      ["L", 1, "m0"],
      ["L", 1, "m1"],
      ["L", 80, "m0"],
      ["L", 85, "m1"],
      ["S", 104, "m0"],
    ]);
    const r = checkFairness(serverProbe([0, 105], [95, 110]), { dispatches: tail });
    expect(r.valid).toBe(true);
    expect(r.untested).toEqual([expect.stringMatching(/^probe 1: the large job's last chunk/)]);
  });

  it("judges a burst by its Kendall-tau distance from arrival order", () => {
    const burst = (finishOrder: number[]) => {
      const h = new H();
      for (let i = 0; i < 4; i++)
        h.push({
          process: i,
          type: "invoke",
          f: "mine",
          value: { message: `b${i}`, max_nonce: 10, kind: "burst", group: 2 },
        });
      for (const i of finishOrder)
        h.push({
          process: i,
          type: "ok",
          f: "mine",
          value: {
            message: `b${i}`,
            max_nonce: 10,
            kind: "burst",
            group: 2,
            hash: "1",
            nonce: "1",
          },
        });
      return checkFairness(h.ops);
    };
    expect(burst([0, 1, 3, 2]).valid).toBe(true); // 1 of 6 pairs discordant
    expect(burst([3, 2, 1, 0]).valid).toBe(false); // all 6
  });

  it("does not judge a burst whose jobs never met at the server", () => {
    const h = new H();
    for (let i = 0; i < 3; i++) {
      h.job(
        i,
        { message: `b${i}`, max_nonce: 10, kind: "burst", group: 2 },
        "ok",
        { request_ns: i * 100e6, result_ns: i * 100e6 + 50e6, hash: "1", nonce: "1" },
        5,
      );
    }
    const r = checkFairness(h.ops);
    expect(r.judged).toEqual([]);
    expect(r.warnings).toEqual([
      expect.stringMatching(/^fairness not tested: burst 2: each of its 3 jobs was done/),
    ]);
  });
});
