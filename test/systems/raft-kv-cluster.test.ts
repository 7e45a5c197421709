// The Raft core of raft-kv in a deterministic simulation: several RaftNodes with real storage
// (temporary directories) on a simulated network and clock, under seeded partitions, message
// loss and duplication, and crash-restarts. Checked: at most one leader per term, every node's
// applied commands are prefixes of one history, acknowledged commands survive, and the cluster
// recovers once the faults stop. Plus scripted scenarios for the election and durability rules
// the bug variants break.
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import fc from "fast-check";
import TinyQueue from "tinyqueue";
import { afterEach, describe, expect, it } from "vitest";
import { Random } from "../../harness/random.js";
import type { Body } from "../../systems/lib/maelstrom-node.js";
import {
  DEFAULT_RAFT_OPTIONS,
  RaftNode,
  type RaftNode as RaftNodeType,
  type RaftOptions,
  type StateMachine,
} from "../../systems/lib/raft/raft.js";
import { Storage } from "../../systems/lib/raft/storage.js";
import { type BugName, bugFlags } from "../../systems/raft-kv/bugs.js";

type Cmd = string;
const isCmd = (c: unknown): c is Cmd => typeof c === "string";

/** Its state is the list of every command applied, so replicas can be compared directly. */
class RecordingMachine implements StateMachine<Cmd> {
  applied: Cmd[] = [];
  apply(cmd: Cmd): unknown {
    this.applied.push(cmd);
    return this.applied.length;
  }
  snapshot(): unknown {
    return [...this.applied];
  }
  restore(state: unknown): void {
    this.applied = [...(state as Cmd[])];
  }
}

interface SimEvent {
  at: number;
  seq: number;
  fn: () => void;
  cancelled: boolean;
}

interface SimNode {
  id: string;
  dir: string;
  raft: RaftNodeType<Cmd> | undefined;
  sm: RecordingMachine;
  storage: Storage<Cmd> | undefined;
  incarnation: number;
}

const dirs: string[] = [];
/** tmpfs when there is one: the simulation fsyncs thousands of times and needs no real disk. */
const SIM_DIR_PARENT = existsSync("/dev/shm") ? "/dev/shm" : tmpdir();
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

/** Small timing so a simulated minute is cheap; snapshots often, to exercise InstallSnapshot. */
const SIM_OPTIONS: RaftOptions = { ...DEFAULT_RAFT_OPTIONS, snapshotThresholdEntries: 25 };

class Sim {
  now_ms = 0;
  private seq = 0;
  private readonly events = new TinyQueue<SimEvent>([], (a, b) => a.at - b.at || a.seq - b.seq);
  readonly nodes = new Map<string, SimNode>();
  /** Directed links that drop everything: "src>dest". */
  readonly cut = new Set<string>();
  loss = 0;
  duplicate = 0;
  /** term -> the nodes that were leader in it (must never exceed one). */
  readonly leaders = new Map<number, Set<string>>();
  readonly rng: Random;

  constructor(
    readonly ids: string[],
    seed: number,
    private readonly bug: BugName | undefined = undefined,
    private readonly options: RaftOptions = SIM_OPTIONS,
  ) {
    this.rng = new Random(seed);
    for (const id of ids) {
      const dir = mkdtempSync(join(SIM_DIR_PARENT, `raft-sim-${id}-`));
      dirs.push(dir);
      this.nodes.set(id, {
        id,
        dir,
        raft: undefined,
        sm: new RecordingMachine(),
        storage: undefined,
        incarnation: 0,
      });
    }
  }

  at(delay_ms: number, fn: () => void): SimEvent {
    const ev = { at: this.now_ms + delay_ms, seq: this.seq++, fn, cancelled: false };
    this.events.push(ev);
    return ev;
  }

  /**
   * Runs events until `until_ms`, checking Election Safety after each; awaits between events so
   * promise callbacks (the proposers waiting for their entries) run in simulated time too.
   */
  async runUntil(until_ms: number): Promise<void> {
    while (this.events.length > 0 && (this.events.peek() as SimEvent).at <= until_ms) {
      const ev = this.events.pop() as SimEvent;
      this.now_ms = ev.at;
      if (ev.cancelled) continue;
      ev.fn();
      this.recordLeaders();
      await Promise.resolve();
    }
    this.now_ms = until_ms;
  }

  private recordLeaders(): void {
    for (const n of this.nodes.values()) {
      if (!n.raft?.isLeader) continue;
      const set = this.leaders.get(n.raft.currentTerm) ?? new Set();
      set.add(n.id);
      this.leaders.set(n.raft.currentTerm, set);
    }
  }

  start(id: string): void {
    const n = this.nodes.get(id) as SimNode;
    const incarnation = ++n.incarnation;
    const alive = () => n.incarnation === incarnation && n.raft !== undefined;
    n.sm = new RecordingMachine();
    n.storage = new Storage<Cmd>(n.dir, {
      fsync: true,
      persistVote: !bugFlags(this.bug).noPersistVote,
    });
    const rng = this.rng;
    n.raft = new RaftNode<Cmd>(
      id,
      this.ids,
      {
        send: (dest, body) => {
          if (alive()) this.transmit(id, dest, body);
        },
        setTimer: (delay_ms, cb) => this.at(delay_ms, () => alive() && cb()),
        clearTimer: (ev) => {
          if (ev) (ev as SimEvent).cancelled = true;
        },
        defer: (cb) => this.at(0, () => alive() && cb()),
        now_ms: () => this.now_ms,
        random: () => rng.float(),
        log: () => {},
      },
      n.storage,
      n.sm,
      isCmd,
      bugFlags(this.bug),
      this.options,
    );
    n.raft.start();
  }

  crash(id: string): void {
    const n = this.nodes.get(id) as SimNode;
    n.raft?.stop();
    n.storage?.close();
    n.raft = undefined;
    n.storage = undefined;
  }

  private transmit(src: string, dest: string, body: Body): void {
    if (this.rng.chance(this.loss)) return;
    const copies = this.rng.chance(this.duplicate) ? 2 : 1;
    const wire = JSON.stringify(body);
    for (let i = 0; i < copies; i++) {
      this.at(this.rng.int(1, 8), () => {
        if (this.cut.has(`${src}>${dest}`)) return;
        this.nodes.get(dest)?.raft?.handle(src, JSON.parse(wire));
      });
    }
  }

  leader(): SimNode | undefined {
    return [...this.nodes.values()].find((n) => n.raft?.isLeader);
  }

  /** Proposes through the current leader; resolves true if it reports the command applied. */
  propose(cmd: Cmd, acked: Set<Cmd>): void {
    const raft = this.leader()?.raft;
    const p = raft?.propose(cmd);
    if (!raft || !p) return;
    void raft.waitApplied(p.index, p.term, 2000).then((o) => {
      if (o.kind === "applied") acked.add(cmd);
    });
  }
}

/** Every node's applied history must be a prefix of the longest one. */
function expectPrefixConsistent(sim: Sim): Cmd[] {
  const histories = [...sim.nodes.values()].map((n) => n.sm.applied);
  const longest = histories.reduce((a, b) => (b.length > a.length ? b : a), []);
  for (const h of histories) expect(longest.slice(0, h.length)).toEqual(h);
  return longest;
}

/** Seeded chaos: partitions, loss, duplication, crashes; then calm, and full recovery. */
async function chaos(
  seed: number,
  nodeCount: number,
  bug?: BugName,
  gap: [number, number] = [200, 900],
  down: [number, number] = [50, 800],
): Promise<void> {
  const ids = Array.from({ length: nodeCount }, (_, i) => `n${i}`);
  const sim = new Sim(ids, seed, bug);
  const r = sim.rng;
  for (const id of ids) sim.start(id);
  const acked = new Set<Cmd>();
  let k = 0;
  const CHAOS_MS = 12_000;
  for (let t = 0; t < CHAOS_MS; t += 15) sim.at(t, () => sim.propose(`c${k++}`, acked));
  for (let t = 500; t < CHAOS_MS; t += r.int(gap[0], gap[1])) {
    sim.at(t, () => {
      switch (r.int(0, 3)) {
        case 0: {
          sim.cut.clear();
          for (const a of ids)
            for (const b of ids) if (a !== b && r.chance(0.35)) sim.cut.add(`${a}>${b}`);
          break;
        }
        case 1:
          sim.cut.clear();
          break;
        case 2: {
          const victim = r.pick(ids);
          if (sim.nodes.get(victim)?.raft) {
            sim.crash(victim);
            sim.at(r.int(down[0], down[1]), () => {
              if (!sim.nodes.get(victim)?.raft) sim.start(victim);
            });
          }
          break;
        }
        case 3:
          sim.loss = r.chance(0.5) ? 0.2 : 0;
          sim.duplicate = r.chance(0.5) ? 0.2 : 0;
          break;
      }
    });
  }
  await sim.runUntil(CHAOS_MS);
  // Calm: heal everything, restart whoever is down, and let the cluster converge.
  sim.cut.clear();
  sim.loss = 0;
  sim.duplicate = 0;
  for (const id of ids) if (!sim.nodes.get(id)?.raft) sim.start(id);
  await sim.runUntil(CHAOS_MS + 3000);
  sim.propose("final", acked);
  await sim.runUntil(CHAOS_MS + 6000);

  for (const [term, leaders] of sim.leaders) {
    expect(leaders.size, `leaders of term ${term}: ${[...leaders]}`).toBe(1);
  }
  const history = expectPrefixConsistent(sim);
  expect(new Set(history).size, "a command applied twice").toBe(history.length);
  for (const cmd of acked) expect(history, `acknowledged ${cmd} lost`).toContain(cmd);
  expect(acked.has("final"), "no progress after the faults stopped").toBe(true);
  for (const n of sim.nodes.values()) expect(n.sm.applied).toEqual(history);
  expect(acked.size).toBeGreaterThan(50);
}

describe("Raft core in simulation", () => {
  it("elects one leader and replicates to everyone on a quiet network", async () => {
    const sim = new Sim(["n0", "n1", "n2"], 1);
    for (const id of sim.ids) sim.start(id);
    await sim.runUntil(1500);
    const leader = sim.leader();
    expect(leader).toBeDefined();
    const acked = new Set<Cmd>();
    for (let i = 0; i < 60; i++) sim.at(i * 5, () => sim.propose(`x${i}`, acked));
    await sim.runUntil(3000);
    expect(acked.size).toBe(60);
    for (const n of sim.nodes.values()) expect(n.sm.applied).toEqual([...acked]);
    // 60 entries with a threshold of 25: everyone has compacted its log at least twice.
    for (const n of sim.nodes.values())
      expect(n.raft?.log.snapshotIndex).toBeGreaterThanOrEqual(50);
    expect(sim.leader()?.id).toBe(leader?.id); // no needless elections
  });

  it("a node that was down catches up through InstallSnapshot", async () => {
    const sim = new Sim(["n0", "n1", "n2"], 2);
    for (const id of sim.ids) sim.start(id);
    await sim.runUntil(1500);
    const follower = [...sim.nodes.values()].find((n) => !n.raft?.isLeader) as SimNode;
    sim.crash(follower.id);
    const acked = new Set<Cmd>();
    for (let i = 0; i < 80; i++) sim.at(i * 5, () => sim.propose(`y${i}`, acked));
    await sim.runUntil(3000);
    expect(acked.size).toBe(80);
    sim.start(follower.id);
    await sim.runUntil(4500);
    expect(follower.sm.applied).toEqual([...acked]);
    expect(follower.raft?.log.snapshotIndex).toBeGreaterThanOrEqual(50);
  });

  it("restarts recover term, vote, log and commit index from disk", async () => {
    const sim = new Sim(["n0", "n1", "n2"], 3);
    for (const id of sim.ids) sim.start(id);
    await sim.runUntil(1500);
    const acked = new Set<Cmd>();
    for (let i = 0; i < 10; i++) sim.at(i, () => sim.propose(`z${i}`, acked));
    await sim.runUntil(2000);
    const before = [...sim.nodes.values()].map((n) => ({
      term: n.raft?.currentTerm,
      vote: n.raft?.votedFor,
      last: n.raft?.log.lastIndex,
    }));
    for (const id of sim.ids) sim.crash(id);
    for (const id of sim.ids) sim.start(id);
    const after = [...sim.nodes.values()].map((n) => ({
      term: n.raft?.currentTerm,
      vote: n.raft?.votedFor,
      last: n.raft?.log.lastIndex,
    }));
    expect(after).toEqual(before);
    // Each replica re-applied what it knew to be committed before anyone talked to it.
    for (const n of sim.nodes.values()) expect(n.sm.applied.length).toBeGreaterThan(0);
    await sim.runUntil(4000);
    for (const n of sim.nodes.values()) expect(n.sm.applied).toEqual([...acked]);
  });

  it("property: safety and recovery under seeded partitions, loss, duplication and crashes (3 and 5 nodes)", async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 0, max: 1_000_000 }), fc.constantFrom(3, 5), (seed, n) =>
        chaos(seed, n),
      ),
      { numRuns: 12 },
    );
  }, 120_000);
});

describe("the rules the bugs break, scripted", () => {
  /** A node alone with the test: we hand it messages and read what it sends. */
  function lone(bug?: BugName) {
    const sim = new Sim(["n0", "n1", "n2"], 9, bug);
    const sent: Array<{ dest: string; body: Body }> = [];
    const x = sim.nodes.get("n2") as SimNode;
    const boot = () => {
      sim.start("n2");
      // Capture its messages instead of routing them.
      (x.raft as unknown as { io: { send: (d: string, b: Body) => void } }).io.send = (
        dest,
        body,
      ) => sent.push({ dest, body });
    };
    boot();
    return { sim, x, sent, boot };
  }
  const vote = (term: number) => ({
    type: "request_vote",
    term,
    last_log_index: 0,
    last_log_term: 0,
  });

  it("a vote is on disk before the reply leaves, and a restarted node does not vote twice", async () => {
    const { sim, x, sent, boot } = lone();
    x.raft?.handle("n0", vote(1));
    expect(sent).toEqual([]); // nothing leaves before the flush
    await sim.runUntil(1);
    expect(sent).toEqual([
      { dest: "n0", body: { type: "request_vote_reply", term: 1, granted: true } },
    ]);
    sim.crash("n2");
    boot();
    x.raft?.handle("n1", vote(1));
    await sim.runUntil(2);
    expect(sent[1]).toEqual({
      dest: "n1",
      body: { type: "request_vote_reply", term: 1, granted: false },
    });
  });

  it("no-persist-vote: after a restart the node votes again in the same term", async () => {
    const { sim, x, sent, boot } = lone("no-persist-vote");
    x.raft?.handle("n0", vote(1));
    await sim.runUntil(1);
    sim.crash("n2");
    boot();
    x.raft?.handle("n1", vote(1));
    await sim.runUntil(2);
    expect(sent.map((s) => [s.dest, s.body.granted])).toEqual([
      ["n0", true],
      ["n1", true],
    ]);
  });

  it("a follower that meets a second leader in one term stops (Election Safety)", () => {
    const { x } = lone();
    const heartbeat = {
      type: "append_entries",
      term: 1,
      prev_index: 0,
      prev_term: 0,
      entries: [],
      leader_commit: 0,
    };
    x.raft?.handle("n0", heartbeat);
    expect(() => x.raft?.handle("n1", heartbeat)).toThrow(/two leaders in term 1/);
  });

  /** Cuts every link between different groups (nodes in no group are cut off from all). */
  function partition(sim: Sim, groups: string[][]): void {
    sim.cut.clear();
    const groupOf = new Map<string, number>();
    groups.forEach((g, i) => {
      for (const id of g) groupOf.set(id, i);
    });
    for (const a of sim.ids) {
      for (const b of sim.ids) {
        if (a !== b && (groupOf.get(a) === undefined || groupOf.get(a) !== groupOf.get(b))) {
          sim.cut.add(`${a}>${b}`);
        }
      }
    }
  }

  async function leaderAmong(sim: Sim, ids: string[], within_ms = 5000): Promise<string> {
    const end = sim.now_ms + within_ms;
    while (sim.now_ms < end) {
      const leader = ids.find((id) => sim.nodes.get(id)?.raft?.isLeader);
      if (leader) return leader;
      await sim.runUntil(sim.now_ms + 5);
    }
    throw new Error(`no leader among ${ids} within ${within_ms} ms`);
  }

  /**
   * The schedule of the Raft paper's Figure 8, on five nodes: (a) S1 leads and gets entry e at
   * index k onto S2 only; (b) S5 is elected by S3, S4, S5 and appends f at k, alone; (c) S1 (or
   * S2) is elected again and copies e onto S3: e is now on a majority, but from an old term;
   * (d) S5 is elected again (its last term beats e's) and overwrites index k everywhere.
   * Returns the index k and the node that saw e committed in (c), if any did.
   */
  async function figure8(bug?: BugName) {
    const sim = new Sim(["n0", "n1", "n2", "n3", "n4"], 8, bug);
    for (const id of sim.ids) sim.start(id);
    const s1 = await leaderAmong(sim, sim.ids);
    const acked = new Set<Cmd>();
    sim.propose("base", acked);
    await sim.runUntil(sim.now_ms + 300);
    expect(acked.has("base")).toBe(true);
    const [s2, s3, s4, s5] = sim.ids.filter((id) => id !== s1) as [string, string, string, string];
    // (a)
    partition(sim, [
      [s1, s2],
      [s3, s4, s5],
    ]);
    sim.nodes.get(s1)?.raft?.propose("e");
    const k = sim.nodes.get(s1)?.raft?.log.lastIndex as number;
    await sim.runUntil(sim.now_ms + 50);
    expect(sim.nodes.get(s2)?.raft?.log.entry(k).cmd).toBe("e");
    // (b)
    const leaderB = await leaderAmong(sim, [s3, s4, s5]);
    const others = [s3, s4, s5].filter((id) => id !== leaderB);
    partition(sim, [[s1, s2], others, [leaderB]]);
    sim.nodes.get(leaderB)?.raft?.propose("f");
    expect(sim.nodes.get(leaderB)?.raft?.log.lastIndex).toBe(k);
    // (c): only S1 or S2 can win now (S3 and S4 lack e, so they lose to them).
    partition(sim, [[s1, s2, ...others], [leaderB]]);
    await sim.runUntil(sim.now_ms + 100);
    await leaderAmong(sim, [s1, s2]);
    await sim.runUntil(sim.now_ms + 300);
    const committedE = others.filter((id) => (sim.nodes.get(id)?.raft?.commitIndex ?? 0) >= k);
    // (d)
    // S5 with S3 and S4: a majority in which only S5 can win (its last term is the newest).
    const majorityD = [leaderB, ...others];
    partition(sim, [majorityD, [s1, s2]]);
    await sim.runUntil(sim.now_ms + 3000);
    const leaderD = await leaderAmong(sim, majorityD);
    sim.cut.clear();
    await sim.runUntil(sim.now_ms + 2000);
    return { sim, k, committedE, leaderB, leaderD };
  }

  it("Figure 8: an old-term entry on a majority is not committed by counting, so overwriting it is safe", async () => {
    const { sim, k, committedE, leaderB, leaderD } = await figure8();
    expect(committedE).toEqual([]);
    // S5 won (d), and after healing its f is at k everywhere; nobody ever applied e.
    expect(leaderD).toBe(leaderB);
    for (const n of sim.nodes.values()) {
      expect(n.sm.applied).not.toContain("e");
      expect(n.raft?.log.entry(k).cmd).toBe("f");
    }
  });

  it("commit-old-term: the Figure 8 schedule overwrites a committed entry, and the follower stops", async () => {
    await expect(figure8("commit-old-term")).rejects.toThrow(/committed/);
  });

  /**
   * A split vote made deterministic: election timeouts are too long to fire on their own, and
   * the test starts each candidacy. A and B cannot hear each other; X hears both. A wins term 1
   * with X's vote; X crashes and restarts; then B stands in term 1 and asks X.
   */
  async function forgottenVote(bug?: BugName) {
    const never = { ...SIM_OPTIONS, electionTimeoutMinMs: 1e9, electionTimeoutMaxMs: 2e9 };
    const sim = new Sim(["a", "b", "x"], 5, bug, never);
    for (const id of sim.ids) sim.start(id);
    // Stands for election now, as its timer would (startElection is private to the core).
    const stand = (id: string) =>
      ((sim.nodes.get(id) as SimNode).raft as unknown as { startElection(): void }).startElection();
    sim.cut.add("a>b").add("b>a");
    stand("a");
    await sim.runUntil(sim.now_ms + 100);
    expect(sim.nodes.get("a")?.raft?.isLeader).toBe(true);
    sim.crash("x");
    sim.start("x");
    stand("b");
    await sim.runUntil(sim.now_ms + 500);
    return sim;
  }

  it("a restarted node remembers its vote, so a term has one leader", async () => {
    const sim = await forgottenVote();
    expect(sim.nodes.get("b")?.raft?.isLeader).toBe(false);
    expect(sim.leaders.get(1)).toEqual(new Set(["a"]));
  });

  it("no-persist-vote: the forgotten vote elects a second leader in the same term, and the voter stops", async () => {
    await expect(forgottenVote("no-persist-vote")).rejects.toThrow(/two leaders in term 1/);
  });
});
