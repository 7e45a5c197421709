import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { type Config, NSHARDS } from "../../protocols/shard-kv.js";
import type { Body } from "../../systems/lib/maelstrom-node.js";
import type { Replicated, Submitted } from "../../systems/lib/replicated.js";
import {
  type ControllerCommand,
  ControllerMachine,
  ControllerService,
  MAX_DEDUP_CLIENTS,
  parseControllerRequest,
} from "../../systems/shard-kv/controller.js";

const servers = (gid: number) => [`n${gid * 3}`, `n${gid * 3 + 1}`, `n${gid * 3 + 2}`];
const groups = (...gids: number[]) => Object.fromEntries(gids.map((g) => [String(g), servers(g)]));

let nextSeq = 1;
const joinCmd = (gids: number[], client = "c1", seq = nextSeq++): ControllerCommand => ({
  op: "join",
  groups: groups(...gids),
  client,
  seq,
});
const leaveCmd = (gids: number[], client = "c1", seq = nextSeq++): ControllerCommand => ({
  op: "leave",
  gids,
  client,
  seq,
});
const moveCmd = (
  shard: number,
  gid: number,
  client = "c1",
  seq = nextSeq++,
): ControllerCommand => ({
  op: "move",
  shard,
  gid,
  client,
  seq,
});

const configOf = (reply: Body) => reply.config as Config;

describe("parseControllerRequest", () => {
  it("accepts the four requests", () => {
    expect(
      parseControllerRequest({ type: "join", groups: { "1": ["n3"] }, client: "a", seq: 1 }),
    ).toEqual({ op: "join", groups: { "1": ["n3"] }, client: "a", seq: 1 });
    expect(parseControllerRequest({ type: "leave", gids: [1, 2], client: "a", seq: 0 })).toEqual({
      op: "leave",
      gids: [1, 2],
      client: "a",
      seq: 0,
    });
    expect(parseControllerRequest({ type: "move", shard: 9, gid: 2, client: "a", seq: 3 })).toEqual(
      { op: "move", shard: 9, gid: 2, client: "a", seq: 3 },
    );
    expect(parseControllerRequest({ type: "query", num: -1 })).toEqual({ op: "query", num: -1 });
  });

  it.each([
    { type: "query", num: -2 },
    { type: "query", num: 1.5 },
    { type: "query" },
    { type: "join", groups: { "1": ["n3"] }, seq: 1 },
    { type: "join", groups: { "1": ["n3"] }, client: "a", seq: -1 },
    { type: "join", groups: {}, client: "a", seq: 1 },
    { type: "join", groups: { "0": ["n3"] }, client: "a", seq: 1 },
    { type: "join", groups: { "01": ["n3"] }, client: "a", seq: 1 },
    { type: "join", groups: { "1": [] }, client: "a", seq: 1 },
    { type: "join", groups: { "1": [3] }, client: "a", seq: 1 },
    { type: "join", groups: [["n3"]], client: "a", seq: 1 },
    { type: "leave", gids: [], client: "a", seq: 1 },
    { type: "leave", gids: [0], client: "a", seq: 1 },
    { type: "leave", gids: "1", client: "a", seq: 1 },
    { type: "move", shard: NSHARDS, gid: 1, client: "a", seq: 1 },
    { type: "move", shard: -1, gid: 1, client: "a", seq: 1 },
    { type: "move", shard: 0, gid: 0, client: "a", seq: 1 },
  ])("refuses %j with error 12", (body) => {
    expect(() => parseControllerRequest(body)).toThrow(expect.objectContaining({ code: 12 }));
  });

  it("refuses an unknown type with error 10", () => {
    expect(() => parseControllerRequest({ type: "shutdown", client: "a", seq: 1 })).toThrow(
      expect.objectContaining({ code: 10 }),
    );
  });
});

describe("ControllerMachine", () => {
  it("makes one config per join, leave and move that changes something", () => {
    const m = new ControllerMachine();
    expect(m.apply(joinCmd([1, 2]))).toEqual({ type: "join_ok" });
    expect(m.apply(joinCmd([2]))).toEqual({ type: "join_ok" }); // already joined: no config
    expect(m.latest).toBe(1);
    expect(m.apply(moveCmd(0, 2))).toEqual({ type: "move_ok" });
    expect(m.apply(leaveCmd([7]))).toEqual({ type: "leave_ok" }); // not a member: no config
    expect(m.apply(leaveCmd([1]))).toEqual({ type: "leave_ok" });
    expect(m.latest).toBe(3);
    expect(m.config(1)?.shards).toEqual([1, 1, 1, 1, 1, 2, 2, 2, 2, 2]);
    expect(m.config(2)?.shards).toEqual([2, 1, 1, 1, 1, 2, 2, 2, 2, 2]);
    expect(m.config(3)?.shards).toEqual(new Array(NSHARDS).fill(2));
    expect(configOf(m.apply({ op: "query", num: -1 })).num).toBe(3);
    expect(configOf(m.apply({ op: "query", num: 99 })).num).toBe(3);
    expect(configOf(m.apply({ op: "query", num: 0 }))).toEqual({
      num: 0,
      shards: new Array(NSHARDS).fill(0),
      groups: {},
    });
    expect(m.config(4)).toBeUndefined();
  });

  it("refuses a move to a gid that has not joined, making no config", () => {
    const m = new ControllerMachine();
    m.apply(joinCmd([1]));
    expect(m.apply(moveCmd(3, 2))).toMatchObject({ type: "error", code: 12 });
    expect(m.latest).toBe(1);
  });

  it("answers a retry with the first reply and skips an older request", () => {
    const m = new ControllerMachine();
    m.apply(joinCmd([1, 2], "a", 5));
    const first = m.apply(moveCmd(0, 2, "a", 6));
    m.apply(joinCmd([3], "b", 1)); // another client in between
    expect(m.apply(moveCmd(0, 2, "a", 6))).toEqual(first);
    expect(m.latest).toBe(3);
    expect(m.apply(moveCmd(1, 2, "a", 4))).toMatchObject({ type: "error", code: 13 });
    expect(m.latest).toBe(3);
    // A refused move is an answer too: its retry gets the same refusal, even after the gid joins.
    const refused = m.apply(moveCmd(0, 9, "b", 2));
    m.apply(joinCmd([9], "c", 1));
    expect(m.apply(moveCmd(0, 9, "b", 2))).toEqual(refused);
  });

  it(`forgets the least recently applied client beyond ${MAX_DEDUP_CLIENTS} clients`, () => {
    const m = new ControllerMachine();
    m.apply(joinCmd([1, 2], "first", 5));
    m.apply(moveCmd(0, 2, "mover", 1));
    // No-op joins from enough clients to push "first" (the least recently applied) out.
    for (let i = 0; i < MAX_DEDUP_CLIENTS - 1; i++) m.apply(joinCmd([1], `other${i}`, 1));
    expect(m.snapshot().dedup.length).toBe(MAX_DEDUP_CLIENTS);
    expect(m.latest).toBe(2);
    m.apply(moveCmd(0, 2, "mover", 1)); // still remembered: a retry, no new config
    expect(m.latest).toBe(2);
    // "first" is forgotten: its older seq is no longer recognised as stale, so it is applied.
    expect(m.apply(moveCmd(5, 1, "first", 4))).toEqual({ type: "move_ok" });
    expect(m.latest).toBe(3);
  });

  it("configs never change: stored configs are frozen", () => {
    const m = new ControllerMachine();
    m.apply(joinCmd([1]));
    const c = m.config(1) as Config;
    expect(() => {
      c.shards[0] = 7;
    }).toThrow();
    expect(() => {
      (c.groups["1"] as string[]).push("x");
    }).toThrow();
  });

  it("restores from a JSON snapshot to a machine that answers as the original", () => {
    const a = new ControllerMachine();
    a.apply(joinCmd([1, 2], "a", 1));
    a.apply(moveCmd(4, 1, "a", 2));
    const b = new ControllerMachine();
    b.restore(JSON.parse(JSON.stringify(a.snapshot())));
    expect(b.snapshot()).toEqual(a.snapshot());
    expect(b.apply(moveCmd(4, 1, "a", 2))).toEqual({ type: "move_ok" });
    expect(b.latest).toBe(2);
    for (const m of [a, b]) m.apply(joinCmd([3], "z", 1));
    expect(b.snapshot()).toEqual(a.snapshot());
  });

  it.each([
    undefined,
    {},
    { configs: [], dedup: [] },
    { configs: [{ num: 1, shards: new Array(NSHARDS).fill(0), groups: {} }], dedup: [] },
    { configs: [{ num: 0, shards: [0], groups: {} }], dedup: [] },
    { configs: [{ num: 0, shards: new Array(NSHARDS).fill(0), groups: {} }], dedup: [[1, {}]] },
  ])("refuses to restore %j", (state) => {
    expect(() => new ControllerMachine().restore(state)).toThrow();
  });

  const commands: fc.Arbitrary<ControllerCommand[]> = fc.array(
    fc.oneof(
      fc.record({
        op: fc.constant("join" as const),
        groups: fc
          .uniqueArray(fc.integer({ min: 1, max: 6 }), { minLength: 1, maxLength: 3 })
          .map((g) => groups(...g)),
        client: fc.constantFrom("a", "b"),
        seq: fc.nat(20),
      }),
      fc.record({
        op: fc.constant("leave" as const),
        gids: fc.uniqueArray(fc.integer({ min: 1, max: 6 }), { minLength: 1, maxLength: 3 }),
        client: fc.constantFrom("a", "b"),
        seq: fc.nat(20),
      }),
      fc.record({
        op: fc.constant("move" as const),
        shard: fc.nat(NSHARDS - 1),
        gid: fc.integer({ min: 1, max: 6 }),
        client: fc.constantFrom("a", "b"),
        seq: fc.nat(20),
      }),
    ),
    { maxLength: 25 },
  );

  it("property: replicas applying the same commands agree, whatever their random source", () => {
    fc.assert(
      fc.property(commands, fc.double({ min: 0, max: 1, maxExcluded: true }), (list, r) => {
        const a = new ControllerMachine({ random: () => r });
        const b = new ControllerMachine({ random: () => 1 - r });
        for (const cmd of list) expect(b.apply(cmd)).toEqual(a.apply(cmd));
        expect(b.snapshot()).toEqual(a.snapshot());
      }),
      { numRuns: 200 },
    );
  });

  it("uneven-rebalance: replicas with different random orders make different configs", () => {
    const run = (r: number) => {
      const m = new ControllerMachine({ unevenRebalance: true, random: () => r });
      for (const cmd of [joinCmd([1, 2, 3]), joinCmd([4]), leaveCmd([2])]) m.apply(cmd);
      return [1, 2, 3].map((n) => JSON.stringify(m.config(n)));
    };
    const seen = new Set([0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9].map((r) => run(r)[0]));
    expect(seen.size).toBeGreaterThan(1);
    // And the same process (the same order) agrees with itself.
    expect(run(0.3)).toEqual(run(0.3));
  });
});

/** A Replicated that applies at once to the machine, or answers as told. */
class FakeReplicated implements Replicated<ControllerCommand, Body> {
  submitted: ControllerCommand[] = [];
  answer: Submitted<Body>["kind"] = "applied";
  constructor(private readonly machine: ControllerMachine) {}
  async submit(cmd: ControllerCommand): Promise<Submitted<Body>> {
    this.submitted.push(cmd);
    if (this.answer === "applied") return { kind: "applied", result: this.machine.apply(cmd) };
    return { kind: this.answer, reason: "told to" };
  }
  leading = () => true;
  receive = () => false;
  start(): void {}
  stop(): void {}
}

describe("ControllerService", () => {
  const setup = () => {
    const machine = new ControllerMachine();
    const rsm = new FakeReplicated(machine);
    return {
      machine,
      rsm,
      service: new ControllerService(rsm, machine, { submit_timeout_ms: 500 }),
    };
  };

  it("submits changes and answers with the applied reply", async () => {
    const { rsm, service, machine } = setup();
    const reply = await service.handle({
      type: "join",
      groups: groups(1),
      client: "c",
      seq: 1,
      msg_id: 4,
    });
    expect(reply).toEqual({ type: "join_ok" });
    expect(rsm.submitted).toHaveLength(1);
    expect(machine.latest).toBe(1);
  });

  it("answers a query for a config it has locally, and submits the others", async () => {
    const { rsm, service } = setup();
    await service.handle({ type: "join", groups: groups(1), client: "c", seq: 1 });
    const local = await service.handle({ type: "query", num: 1 });
    expect(configOf(local).shards).toEqual(new Array(NSHARDS).fill(1));
    expect(await service.handle({ type: "query", num: 0 })).toMatchObject({ type: "query_ok" });
    expect(rsm.submitted).toHaveLength(1);
    expect(configOf(await service.handle({ type: "query", num: -1 })).num).toBe(1);
    expect(configOf(await service.handle({ type: "query", num: 2 })).num).toBe(1);
    expect(rsm.submitted).toEqual([
      expect.objectContaining({ op: "join" }),
      { op: "query", num: -1 },
      { op: "query", num: 2 },
    ]);
  });

  it("maps not-done to ErrWrongLeader, unknown to 13, malformed to 12", async () => {
    const { rsm, service } = setup();
    rsm.answer = "not-done";
    expect(await service.handle({ type: "leave", gids: [1], client: "c", seq: 1 })).toEqual({
      type: "error",
      code: 11,
      text: "ErrWrongLeader",
    });
    rsm.answer = "unknown";
    expect(
      await service.handle({ type: "move", shard: 1, gid: 1, client: "c", seq: 2 }),
    ).toMatchObject({ type: "error", code: 13 });
    expect(await service.handle({ type: "move", shard: 1, client: "c", seq: 3 })).toMatchObject({
      type: "error",
      code: 12,
    });
    expect(rsm.submitted).toHaveLength(2);
  });
});
