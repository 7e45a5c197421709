// The generic Paxos replicated state machine (systems/lib/paxos/rsm.ts) over the simulated
// network of paxos-sim.ts, with a small counter as the state machine: every replica applies
// the same sequence, each command's outcome is honest (applied: applied exactly once;
// not-done: never applied; unknown: at most once), under loss, duplication, reordering,
// partitions and restarts; a cut-off replica catches up, from a peer's snapshot when its peers
// have forgotten the slots it missed.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { PaxosStorage } from "../../systems/lib/paxos/paxos.js";
import {
  MemorySnapshotStore,
  PaxosReplicated,
  type RsmMessage,
  SNAPSHOT_REPLY,
  type SnapshotStore,
} from "../../systems/lib/paxos/rsm.js";
import { FilePaxosStorage, FileSnapshotStore } from "../../systems/lib/paxos/storage.js";
import type { StateMachine, Submitted } from "../../systems/lib/replicated.js";
import { DurableMemoryStorage, names, World } from "./paxos-sim.js";

interface Add {
  id: string;
  add: number;
}

/** A counter that also remembers which commands it applied, in order. */
class Counter implements StateMachine<Add> {
  total = 0;
  history: string[] = [];
  apply(cmd: Add): number {
    this.total += cmd.add;
    this.history.push(cmd.id);
    return this.total;
  }
  snapshot(): unknown {
    return { total: this.total, history: [...this.history] };
  }
  restore(state: unknown): void {
    const s = state as { total: number; history: string[] };
    this.total = s.total;
    this.history = [...s.history];
  }
}

type Outcome = Submitted<number>;

/** Replicas over the simulated network; with `dir`, their storage is real files under it. */
function rsmCluster(seed: number, options: { max_lag_slots?: number; dir?: string } = {}) {
  const { dir, ...rsmOptions } = options;
  const world = new World<RsmMessage>(seed);
  const ids = names(3);
  // In memory, the same objects survive a restart; files are opened anew, as by a new process.
  const memory = new Map(ids.map((id) => [id, new DurableMemoryStorage()]));
  const memorySnapshots = new Map(ids.map((id) => [id, new MemorySnapshotStore()]));
  const storageOf = (id: string): PaxosStorage =>
    dir === undefined ? (memory.get(id) as PaxosStorage) : new FilePaxosStorage(join(dir, id));
  const snapshotsOf = (id: string): SnapshotStore =>
    dir === undefined
      ? (memorySnapshots.get(id) as SnapshotStore)
      : new FileSnapshotStore(join(dir, id));
  const replicas = new Map<string, PaxosReplicated<Add, number>>();
  const machines = new Map<string, Counter>();
  const outcomes = new Map<string, Outcome>();
  const make = (me: string) => {
    const machine = new Counter();
    const r = new PaxosReplicated<Add, number>({
      me,
      peers: ids,
      send: (to, body) => world.send(me, to, body),
      storage: storageOf(me),
      snapshots: snapshotsOf(me),
      machine,
      now_ms: () => world.now_ms,
      timers: world.timersApi,
      random: () => world.random.float(),
      ...rsmOptions,
    });
    r.start();
    replicas.set(me, r);
    machines.set(me, machine);
    world.handlers.set(me, (from, body) => r.receive(from, body));
  };
  for (const id of ids) make(id);
  const r = (id: string) => replicas.get(id) as PaxosReplicated<Add, number>;
  return {
    world,
    ids,
    replicas,
    machines,
    outcomes,
    r,
    machine: (id: string) => machines.get(id) as Counter,
    submit(peer: string, id: string, add = 1, timeout_ms = 2_000) {
      r(peer).submitWith({ id, add }, timeout_ms, (o) => {
        expect(outcomes.has(id), `${id} answered twice`).toBe(false);
        outcomes.set(id, o);
      });
    },
    restart(peer: string) {
      r(peer).stop();
      make(peer);
    },
    converged(): boolean {
      const applied = new Set(ids.map((id) => r(id).applied));
      const states = new Set(ids.map((id) => JSON.stringify(machines.get(id)?.snapshot())));
      return applied.size === 1 && states.size === 1;
    },
  };
}

type RsmCluster = ReturnType<typeof rsmCluster>;

/** Each outcome against the converged history; an applied result is the running total there. */
function checkOutcomes(c: RsmCluster, adds: Map<string, number>): void {
  const history = c.machine("n0").history;
  expect(new Set(history).size, "a command was applied twice").toBe(history.length);
  const totals = new Map<string, number>();
  let total = 0;
  for (const id of history) {
    total += adds.get(id) ?? Number.NaN;
    totals.set(id, total);
  }
  for (const [id, o] of c.outcomes) {
    if (o.kind === "applied") expect(o.result, id).toBe(totals.get(id));
    if (o.kind === "not-done") expect(totals.has(id), `${id} was refused but applied`).toBe(false);
  }
  for (const id of history) expect(adds.has(id), `${id} was never submitted`).toBe(true);
}

describe("PaxosReplicated", () => {
  it("commands submitted at every replica at once are applied once each, in one order everywhere", () => {
    const c = rsmCluster(1);
    c.world.loss = 0.1;
    c.world.duplication = 0.1;
    const adds = new Map<string, number>();
    for (let i = 0; i < 60; i++) {
      const id = `c${i}`;
      adds.set(id, i);
      c.submit(c.ids[i % 3] as string, id, i, 10_000);
      if (i % 5 === 4) c.world.runFor(3); // bursts: several replicas propose at the same moment
    }
    expect(c.world.runUntil(() => c.outcomes.size === 60, 20_000)).toBe(true);
    expect([...c.outcomes.values()].every((o) => o.kind === "applied")).toBe(true);
    c.world.loss = 0;
    c.world.duplication = 0;
    expect(c.world.runUntil(() => c.converged(), 5_000)).toBe(true);
    expect(c.machine("n1").history.length).toBe(60);
    checkOutcomes(c, adds);
  });

  it("two proposals of equal content are told apart: both are applied", () => {
    const c = rsmCluster(2);
    c.r("n0").submitWith({ id: "same", add: 1 }, 5_000, (o) => c.outcomes.set("a", o));
    c.r("n1").submitWith({ id: "same", add: 1 }, 5_000, (o) => c.outcomes.set("b", o));
    expect(c.world.runUntil(() => c.outcomes.size === 2, 10_000)).toBe(true);
    const results = [c.outcomes.get("a"), c.outcomes.get("b")].map((o) =>
      o?.kind === "applied" ? o.result : undefined,
    );
    expect(results.sort()).toEqual([1, 2]);
    expect(c.machine("n0").history).toEqual(["same", "same"]);
  });

  it("submit() resolves its promise with the outcome", async () => {
    const c = rsmCluster(3);
    const pending = c.r("n2").submit({ id: "p", add: 5 }, 1_000);
    c.world.runFor(500);
    await expect(pending).resolves.toEqual({ kind: "applied", result: 5 });
    expect(c.r("n0").leading()).toBe(true);
  });

  it("a cut-off minority makes no progress, answers honestly, and catches up after the heal", () => {
    const c = rsmCluster(4);
    c.world.partition([["n2"], ["n0", "n1"]]);
    c.submit("n0", "a", 1);
    c.world.runFor(200);
    c.submit("n2", "b", 10, 1_000); // proposed, cannot be decided
    c.submit("n2", "c", 100, 1_000); // queued behind it, never proposed
    c.world.runFor(1_200);
    expect(c.outcomes.get("a")).toEqual({ kind: "applied", result: 1 });
    expect(c.outcomes.get("b")?.kind).toBe("unknown");
    expect(c.outcomes.get("c")?.kind).toBe("not-done");
    expect(c.r("n2").applied).toBe(-1);
    c.world.heal();
    expect(c.world.runUntil(() => c.converged(), 5_000)).toBe(true);
    // "b" was in accepts that may have been lost: it is either in the log or not, once.
    checkOutcomes(
      c,
      new Map([
        ["a", 1],
        ["b", 10],
        ["c", 100],
      ]),
    );
    expect(c.machine("n2").history).not.toContain("c");
  });

  it("a replica its peers stopped waiting for catches up from a snapshot; memory stays bounded", () => {
    const c = rsmCluster(5, { max_lag_slots: 20 });
    c.world.partition([["n2"], ["n0", "n1"]]);
    const adds = new Map<string, number>();
    for (let i = 0; i < 250; i++) {
      adds.set(`x${i}`, 1);
      c.submit(i % 2 === 0 ? "n0" : "n1", `x${i}`);
      c.world.runFor(8);
    }
    c.world.runFor(1_500); // time-based snapshots and done() everywhere in the majority
    for (let i = 250; i < 260; i++) {
      adds.set(`x${i}`, 1);
      c.submit("n0", `x${i}`); // carries the last done() values between n0 and n1
      c.world.runFor(20);
    }
    expect(c.r("n2").applied).toBe(-1);
    const min = c.r("n0").paxos.min();
    // n0 no longer waits for n2, and has freed the slots below min().
    expect(min).toBeGreaterThan(100);
    expect(c.r("n0").paxos.liveSlots).toBe(c.r("n0").paxos.max() + 1 - min);
    c.world.heal();
    // n2 learns it is behind from its first exchange with a peer: here its own submission, in
    // a slot its peers have forgotten, which steps aside (none of its accepts went out).
    adds.set("after", 1);
    c.submit("n2", "after", 1);
    expect(c.world.runUntil(() => c.outcomes.get("after")?.kind === "applied", 5_000)).toBe(true);
    expect(c.world.runUntil(() => c.converged(), 5_000)).toBe(true);
    expect(c.world.deliveredByType.get(SNAPSHOT_REPLY)).toBeGreaterThan(0);
    expect(c.machine("n2").total).toBe(261);
    checkOutcomes(c, adds);
  });

  it.each([
    ["in memory", false],
    ["in files", true],
  ])("restarted replicas recover from their snapshot and acceptor storage (%s)", (_, files) => {
    const dir = files ? mkdtempSync(join(tmpdir(), "paxos-rsm-")) : undefined;
    try {
      const c = rsmCluster(6, dir === undefined ? {} : { dir });
      for (let i = 0; i < 150; i++) {
        c.submit(`n${i % 3}`, `r${i}`);
        c.world.runFor(5);
      }
      expect(c.world.runUntil(() => c.outcomes.size === 150 && c.converged(), 10_000)).toBe(true);
      const before = JSON.stringify(c.machine("n1").snapshot());
      // Slots past the last snapshot come back from the acceptors' storage.
      expect(c.r("n1").applied).toBeGreaterThan(100);
      for (const id of c.ids) c.restart(id); // the whole cluster at once
      expect(JSON.stringify(c.machine("n1").snapshot())).toBe(before);
      c.submit("n1", "after", 1);
      expect(c.world.runUntil(() => c.outcomes.get("after")?.kind === "applied", 5_000)).toBe(true);
      expect(c.world.runUntil(() => c.converged(), 5_000)).toBe(true);
      expect(c.machine("n0").total).toBe(151);
    } finally {
      if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
    }
  });

  it("stop() answers what is pending: queued not-done, proposed unknown", () => {
    const c = rsmCluster(7);
    c.world.partition([["n0"], ["n1"], ["n2"]]);
    c.submit("n0", "proposed");
    c.submit("n0", "queued");
    c.world.runFor(50);
    c.r("n0").stop();
    expect(c.outcomes.get("proposed")?.kind).toBe("unknown");
    expect(c.outcomes.get("queued")?.kind).toBe("not-done");
    c.submit("n0", "late");
    expect(c.outcomes.get("late")?.kind).toBe("not-done");
  });

  it("outcomes are honest and replicas converge under loss, duplication, reordering, partitions and restarts", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 2 ** 30 }),
        fc.constantFrom(undefined, 10),
        fc.array(
          fc.record({
            peer: fc.nat(2),
            gap_ms: fc.constantFrom(0, 0, 5, 30, 200),
            timeout_ms: fc.constantFrom(100, 500),
            fault: fc.constantFrom("none", "none", "partition", "heal", "restart"),
          }),
          { minLength: 1, maxLength: 40 },
        ),
        (seed, max_lag_slots, steps) => {
          const c = rsmCluster(seed, max_lag_slots === undefined ? {} : { max_lag_slots });
          c.world.loss = 0.15;
          c.world.duplication = 0.15;
          const rnd = c.world.random;
          const adds = new Map<string, number>();
          for (const [i, s] of steps.entries()) {
            adds.set(`s${i}`, i + 1);
            c.submit(`n${s.peer}`, `s${i}`, i + 1, s.timeout_ms);
            c.world.runFor(s.gap_ms);
            if (s.fault === "partition") {
              const k = rnd.int(0, 2);
              c.world.partition([[`n${k}`], c.ids.filter((id) => id !== `n${k}`)]);
            } else if (s.fault === "heal") c.world.heal();
            else if (s.fault === "restart") c.restart(`n${rnd.int(0, 2)}`);
          }
          c.world.heal();
          c.world.loss = 0;
          c.world.duplication = 0;
          c.submit("n0", "final", 0, 5_000); // something to learn the highest slot from
          expect(c.world.runUntil(() => c.converged() && c.outcomes.has("final"), 30_000)).toBe(
            true,
          );
          adds.set("final", 0);
          checkOutcomes(c, adds);
        },
      ),
      { numRuns: 40 },
    );
  });
});
