// pb-kv in process: the view service's rules (MIT viewservice Test1, plus a property test of
// its invariants over random pings, ticks, restarts and deaths), and the KV server's
// replication rules with two servers wired back to back.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { Body } from "../../systems/lib/maelstrom-node.js";
import { RPCError } from "../../systems/lib/maelstrom-node.js";
import type { ClientOp, OpResult } from "../../systems/paxos-kv/kv-machine.js";
import { type PbBug, PbServer } from "../../systems/pb-kv/server.js";
import {
  DEAD_PINGS,
  NO_VIEW,
  PING_INTERVAL_MS,
  type View,
  ViewService,
  type ViewServiceState,
} from "../../systems/pb-kv/view-service.js";

const DEAD_MS = DEAD_PINGS * PING_INTERVAL_MS;

/** A view service on a hand-driven clock, with servers that ping as MIT's test clerks do. */
class Harness {
  now = 0;
  saved: ViewServiceState | undefined;
  /** Every state the view service persisted, in order. */
  readonly persisted: ViewServiceState[] = [];
  vs: ViewService;
  /** Each server's incarnation and the view it last heard. */
  readonly servers = new Map<string, { inc: number; view: View }>();
  private nextInc = 1;

  constructor(restored?: ViewServiceState) {
    this.vs = this.make(restored);
  }

  private make(restored?: ViewServiceState): ViewService {
    return new ViewService({
      now_ms: () => this.now,
      persist: (s) => {
        this.saved = structuredClone(s);
        this.persisted.push(structuredClone(s));
      },
      ...(restored && { restored }),
    });
  }

  /** A (re)started server: a new incarnation that has heard of no view. */
  boot(server: string): void {
    this.servers.set(server, {
      inc: this.nextInc++,
      view: { ...NO_VIEW },
    });
  }

  /** Every (view, incarnation) a server claimed to hold the state for in a ping. */
  readonly syncClaims = new Set<string>();

  /**
   * One ping; a primary acknowledges the view it knows (these clerks set up instantly). With
   * `synced` the server also claims it received the state for that view (as a backup would).
   */
  ping(server: string, viewnum?: number, synced = -1): View {
    const s = this.servers.get(server);
    if (!s) throw new Error(`${server} not booted`);
    if (synced >= 0) this.syncClaims.add(`${synced}:${s.inc}`);
    s.view = this.vs.ping(server, s.inc, viewnum ?? s.view.viewnum, synced);
    return s.view;
  }

  /** `rounds` ping intervals in which `alive` servers ping (each twice, to learn and ack). */
  advance(rounds: number, alive: readonly string[]): View {
    for (let i = 0; i < rounds; i++) {
      this.now += PING_INTERVAL_MS;
      for (const s of alive) this.ping(s);
      for (const s of alive) this.ping(s);
      this.vs.tick();
    }
    return this.vs.view;
  }

  restartViewService(): void {
    this.vs = this.make(this.saved);
  }
}

describe("view service (MIT viewservice Test1)", () => {
  it("first primary, first backup, backup takes over, restarted server becomes backup", () => {
    const h = new Harness();
    expect(h.vs.view.viewnum).toBe(0);
    h.boot("s1");
    expect(h.ping("s1")).toMatchObject({ viewnum: 1, primary: "s1", backup: "" });
    h.boot("s2");
    let v = h.advance(2, ["s1", "s2"]);
    expect(v).toMatchObject({ viewnum: 2, primary: "s1", backup: "s2" });
    // s1 stops pinging: s2 takes over once s1 has missed DEAD_PINGS intervals, not before.
    v = h.advance(DEAD_PINGS - 1, ["s2"]);
    expect(v.primary).toBe("s1");
    v = h.advance(2, ["s2"]);
    expect(v).toMatchObject({ viewnum: 3, primary: "s2", backup: "" });
    // s1 restarts and becomes backup.
    h.boot("s1");
    v = h.advance(2, ["s1", "s2"]);
    expect(v).toMatchObject({ viewnum: 4, primary: "s2", backup: "s1" });
    expect(v.backup_inc).toBe(h.servers.get("s1")?.inc);
  });

  it("an idle third server becomes backup in the same view change that promotes the backup", () => {
    const h = new Harness();
    for (const s of ["s1", "s2", "s3"]) h.boot(s);
    h.ping("s1");
    let v = h.advance(2, ["s1", "s2", "s3"]);
    expect(v).toMatchObject({ primary: "s1", backup: "s2" });
    const before = v.viewnum;
    v = h.advance(DEAD_PINGS + 1, ["s2", "s3"]);
    expect(v).toMatchObject({ viewnum: before + 1, primary: "s2", backup: "s3" });
  });

  it("a restarted primary is treated as dead even though it pings", () => {
    const h = new Harness();
    for (const s of ["s1", "s2"]) h.boot(s);
    h.ping("s1");
    let v = h.advance(2, ["s1", "s2"]);
    expect(v).toMatchObject({ primary: "s1", backup: "s2" });
    h.boot("s1"); // new incarnation
    h.ping("s1");
    v = h.vs.view;
    expect(v.primary).toBe("s2");
    expect(v.primary_inc).toBe(h.servers.get("s2")?.inc);
    // The restarted s1 may come back only as a backup (it will be given the state).
    v = h.advance(2, ["s1", "s2"]);
    expect(v).toMatchObject({ primary: "s2", backup: "s1" });
  });

  it("a dead backup is removed from the view", () => {
    const h = new Harness();
    for (const s of ["s1", "s2"]) h.boot(s);
    h.ping("s1");
    h.advance(2, ["s1", "s2"]);
    const v = h.advance(DEAD_PINGS + 1, ["s1"]);
    expect(v).toMatchObject({ primary: "s1", backup: "" });
  });

  it("waits for the primary to acknowledge: a primary that never acks and dies is not replaced", () => {
    const h = new Harness();
    for (const s of ["s1", "s2", "s3"]) h.boot(s);
    h.ping("s1");
    let v = h.advance(2, ["s1", "s2", "s3"]);
    expect(v).toMatchObject({ primary: "s1", backup: "s2" });
    // s2 dies; the view moves to {s1, s3} but s1 never acknowledges it (pings an old view).
    for (let i = 0; i < DEAD_PINGS + 2; i++) {
      h.now += PING_INTERVAL_MS;
      h.ping("s1", v.viewnum);
      h.ping("s3");
      h.vs.tick();
    }
    v = h.vs.view;
    expect(v).toMatchObject({ primary: "s1", backup: "s3" });
    expect(h.vs.primaryAcked).toBe(false);
    const stuck = v.viewnum;
    // Now s1 dies too: s3 must not be promoted (it may never have received the state).
    v = h.advance(DEAD_PINGS * 3, ["s3"]);
    expect(v.viewnum).toBe(stuck);
    expect(v.primary).toBe("s1");
  });

  it("a backup that reported holding the state replaces a primary that died before acknowledging", () => {
    const h = new Harness();
    for (const s of ["s1", "s2", "s3"]) h.boot(s);
    h.ping("s1");
    let v = h.advance(1, ["s1"]);
    expect(v).toMatchObject({ viewnum: 1, primary: "s1", backup: "" });
    h.ping("s2"); // view 2 = {s1, s2}; s1 dies before acknowledging it
    v = h.vs.view;
    expect(v).toMatchObject({ viewnum: 2, primary: "s1", backup: "s2" });
    expect(h.vs.primaryAcked).toBe(false);
    h.ping("s2", 2, 2); // s2: "I have the state for view 2" (the transfer arrived)
    v = h.advance(DEAD_PINGS + 1, ["s2", "s3"]);
    expect(v).toMatchObject({ viewnum: 3, primary: "s2", backup: "s3" });
  });

  it("the backup of an unacknowledged view that dies before getting the state is replaced", () => {
    const h = new Harness();
    for (const s of ["s1", "s2", "s3"]) h.boot(s);
    h.ping("s1");
    h.advance(1, ["s1"]);
    h.ping("s2");
    let v = h.vs.view;
    expect(v).toMatchObject({ viewnum: 2, primary: "s1", backup: "s2" });
    // s1 cannot finish the transfer (pings view 1: not acknowledged); s2 dies.
    for (let i = 0; i < DEAD_PINGS + 2; i++) {
      h.now += PING_INTERVAL_MS;
      h.ping("s1", 1);
      h.ping("s3");
      h.vs.tick();
    }
    v = h.vs.view;
    expect(v).toMatchObject({ viewnum: 3, primary: "s1", backup: "s3", primary_since: 1 });
  });

  it("an uninitialised server never becomes primary: with primary and backup gone, it waits", () => {
    const h = new Harness();
    for (const s of ["s1", "s2"]) h.boot(s);
    h.ping("s1");
    const v = h.advance(2, ["s1", "s2"]);
    expect(v).toMatchObject({ primary: "s1", backup: "s2" });
    h.boot("s3");
    const after = h.advance(DEAD_PINGS * 3, ["s3"]);
    expect(after.viewnum).toBe(v.viewnum);
    expect(after.primary).toBe("s1");
    // Even restarted primary and backup (new incarnations, empty) are not made primary.
    h.boot("s1");
    h.boot("s2");
    const later = h.advance(DEAD_PINGS * 3, ["s1", "s2", "s3"]);
    expect(later.viewnum).toBe(v.viewnum);
  });

  it("a restarted view service keeps its view and gives the members a dead interval", () => {
    const h = new Harness();
    for (const s of ["s1", "s2"]) h.boot(s);
    h.ping("s1");
    const v = h.advance(2, ["s1", "s2"]);
    h.now += 10 * PING_INTERVAL_MS; // the view service was down this long
    h.restartViewService();
    expect(h.vs.view).toEqual(v);
    expect(h.vs.primaryAcked).toBe(true);
    h.now += DEAD_MS - 1;
    h.vs.tick();
    expect(h.vs.view).toEqual(v); // nobody is declared dead for the view service's own silence
    h.ping("s1");
    h.ping("s2");
    expect(h.advance(3, ["s1", "s2"])).toEqual(v);
  });

  it("a view service cut off from every server does not fail over to whoever pings first", () => {
    const h = new Harness();
    for (const s of ["s1", "s2", "s3"]) h.boot(s);
    h.ping("s1");
    const v = h.advance(2, ["s1", "s2", "s3"]);
    expect(v).toMatchObject({ primary: "s1", backup: "s2" });
    h.advance(DEAD_PINGS * 3, []); // nobody gets through
    expect(h.vs.view).toEqual(v);
    h.ping("s2"); // the backup's ping happens to arrive first after the heal
    expect(h.vs.view).toEqual(v);
    expect(h.advance(2, ["s1", "s2", "s3"])).toEqual(v);
    // Whereas a primary that alone stays silent is replaced.
    expect(h.advance(DEAD_PINGS + 1, ["s2", "s3"])).toMatchObject({ primary: "s2", backup: "s3" });
  });

  it("invariants hold over random pings, deaths, restarts and view-service restarts", () => {
    const action = fc.oneof(
      fc.record({
        kind: fc.constant("ping" as const),
        s: fc.nat(3),
        stale: fc.boolean(),
        synced: fc.boolean(),
      }),
      fc.record({ kind: fc.constant("restart" as const), s: fc.nat(3) }),
      fc.record({ kind: fc.constant("wait" as const), ms: fc.integer({ min: 1, max: 300 }) }),
      fc.record({ kind: fc.constant("vs-restart" as const) }),
    );
    fc.assert(
      fc.property(fc.array(action, { maxLength: 250 }), (actions) => {
        const h = new Harness();
        const names = ["s1", "s2", "s3", "s4"];
        for (const s of names) h.boot(s);
        for (const a of actions) {
          if (a.kind === "ping") {
            const s = names[a.s] as string;
            const known = h.servers.get(s)?.view.viewnum ?? 0;
            h.ping(s, a.stale ? Math.max(0, known - 1) : known, a.synced ? known : -1);
          } else if (a.kind === "restart") h.boot(names[a.s] as string);
          else if (a.kind === "wait") {
            h.now += a.ms;
            h.vs.tick();
          } else h.restartViewService();
        }
        // Every state the view service ever made durable (what servers can have been told).
        /** Incarnations that were backup of an acknowledged view (so they got the state). */
        const initialised = new Set<number>();
        let prev: ViewServiceState = { view: { ...NO_VIEW }, acked: false };
        for (const state of h.persisted) {
          const [p, v] = [prev.view, state.view];
          if (v.viewnum !== p.viewnum) {
            expect(v.viewnum).toBe(p.viewnum + 1); // one view at a time
            expect(state.acked).toBe(false);
            if (p.viewnum > 0) {
              // The new primary carries the state: old primary or old backup, same process.
              const fromPrimary = v.primary === p.primary && v.primary_inc === p.primary_inc;
              const fromBackup = v.primary === p.backup && v.primary_inc === p.backup_inc;
              expect(fromPrimary || fromBackup).toBe(true);
              if (fromBackup) expect(initialised.has(v.primary_inc)).toBe(true);
              // Never past an unacknowledged view, except by promoting a backup that had
              // claimed the state of exactly that view, or by replacing a dead backup.
              if (!prev.acked) {
                if (fromBackup) {
                  expect(h.syncClaims.has(`${p.viewnum}:${p.backup_inc}`)).toBe(true);
                } else {
                  expect(v.backup === p.backup && v.backup_inc === p.backup_inc).toBe(false);
                }
              }
              // The tenure counter: kept while the same process stays primary.
              expect(v.primary_since).toBe(fromPrimary ? p.primary_since : v.viewnum);
            }
            expect(v.primary).not.toBe("");
            expect(v.primary).not.toBe(v.backup);
          } else {
            expect(v).toEqual(p); // within a view only the acknowledgement / sync flags change
            expect(state.acked || state.backup_synced).toBe(true);
          }
          if (
            v.backup !== "" &&
            (state.acked || h.syncClaims.has(`${v.viewnum}:${v.backup_inc}`))
          ) {
            initialised.add(v.backup_inc);
          }
          prev = state;
        }
        expect(h.vs.view).toEqual(h.persisted.at(-1)?.view ?? h.vs.view);
      }),
      { numRuns: 300 },
    );
  });
});

// ------------------------------------------------------------------------------------------
// Two PbServers wired back to back: `rpc` calls the other server's handler directly (after a
// microtask), so replication can be exercised without processes.

interface Pair {
  servers: Map<string, PbServer>;
  /** Messages from -> to that get no answer (a partition). */
  cut: Set<string>;
  answers: Map<string, OpResult>;
  pings: number;
  submit(server: string, client: string, req: number, op: ClientOp["op"]): void;
  settle(): Promise<void>;
}

function pair(bug?: PbBug): Pair {
  const servers = new Map<string, PbServer>();
  const cut = new Set<string>();
  const answers = new Map<string, OpResult>();
  const p: Pair = {
    servers,
    cut,
    answers,
    pings: 0,
    submit(server, client, req, op) {
      servers.get(server)?.submit({ client, req, op }, (r) => answers.set(`${client} ${req}`, r));
    },
    async settle() {
      for (let i = 0; i < 50; i++) await new Promise((r) => setImmediate(r));
    },
  };
  for (const me of ["n1", "n2", "n3"]) {
    const server = new PbServer({
      me,
      rpc: async (dest, body: Body): Promise<Body> => {
        await Promise.resolve();
        if (cut.has(`${me}>${dest}`)) throw new RPCError(0, "timed out");
        const target = servers.get(dest) as PbServer;
        if (body.type === "pb_forward") return target.onForward(me, body);
        if (body.type === "pb_transfer") return target.onTransfer(me, body);
        throw new Error(`unexpected ${body.type}`);
      },
      now_ms: () => 0,
      pingSoon: () => {
        p.pings++;
      },
      schedule: () => {}, // retries are not needed here
      ...(bug && { bug }),
    });
    servers.set(me, server);
  }
  return p;
}

function view(p: Pair, viewnum: number, primary: string, backup: string, since = viewnum): View {
  const inc = (s: string) => (s === "" ? 0 : (p.servers.get(s) as PbServer).inc);
  return {
    viewnum,
    primary,
    primary_inc: inc(primary),
    primary_since: since,
    backup,
    backup_inc: inc(backup),
  };
}

const put = (value: string) => ({ f: "put" as const, key: "k", value });
const get = { f: "get" as const, key: "k" };

describe("primary/backup replication", () => {
  it("the primary answers only after the backup applied the op, and the backup has the same state", async () => {
    const p = pair();
    const [n1, n2] = [p.servers.get("n1") as PbServer, p.servers.get("n2") as PbServer];
    n1.onView(view(p, 1, "n1", ""));
    p.submit("n1", "c1", 1, put("a")); // no backup: answered at once
    expect(p.answers.get("c1 1")).toEqual({ body: { type: "put_ok" } });
    const v2 = view(p, 2, "n1", "n2");
    n1.onView(v2);
    p.submit("n1", "c1", 2, put("b")); // held while the new backup gets the state
    expect(n1.ready).toBe(false);
    await p.settle();
    expect(n1.ready).toBe(true);
    expect(n1.pingViewnum()).toBe(2); // acknowledged only after the transfer
    expect(p.answers.get("c1 2")).toEqual({ body: { type: "put_ok" } });
    expect(n2.machine.snapshot()).toEqual(n1.machine.snapshot());
    p.cut.add("n1>n2");
    p.submit("n1", "c2", 1, get);
    await p.settle();
    expect(p.answers.has("c2 1")).toBe(false); // a read needs the backup too
    p.cut.clear();
  });

  it("a backup refuses forwards from a server that is not its view's primary, or for another view", () => {
    const p = pair();
    const [n2, n3] = [p.servers.get("n2") as PbServer, p.servers.get("n3") as PbServer];
    const v = view(p, 3, "n1", "n2");
    n2.onTransfer("n1", { type: "pb_transfer", view: v, seq: 0, state: { data: [], clients: [] } });
    const fwd = (viewnum: number) => ({
      type: "pb_forward",
      viewnum,
      first_seq: 1,
      ops: [{ client: "c1", req: 1, op: put("x") }],
    });
    expect(() => n2.onForward("n3", fwd(3))).toThrow(/not the synced backup/);
    expect(() => n2.onForward("n1", fwd(2))).toThrow(/not the synced backup/);
    expect(n2.onForward("n1", fwd(3))).toEqual({ type: "pb_forward_ok", seq: 1 });
    expect(n2.onForward("n1", fwd(3))).toEqual({ type: "pb_forward_ok", seq: 1 }); // a resend: once
    // A newer view in which n2 is primary: the old primary's forwards are refused.
    n2.onView({ ...view(p, 4, "n2", "n3") });
    expect(() => n2.onForward("n1", fwd(3))).toThrow(/not the synced backup/);
    // A transfer for another incarnation of n3 is refused.
    const other = { ...view(p, 5, "n2", "n3"), backup_inc: n3.inc + 1 };
    expect(() =>
      n3.onTransfer("n2", {
        type: "pb_transfer",
        view: other,
        seq: 0,
        state: { data: [], clients: [] },
      }),
    ).toThrow(/another incarnation/);
  });

  it("a duplicated transfer does not roll back ops forwarded after it", () => {
    const p = pair();
    const n2 = p.servers.get("n2") as PbServer;
    const v = view(p, 2, "n1", "n2");
    const transfer = { type: "pb_transfer", view: v, seq: 0, state: { data: [], clients: [] } };
    n2.onTransfer("n1", transfer);
    n2.onForward("n1", {
      type: "pb_forward",
      viewnum: 2,
      first_seq: 1,
      ops: [{ client: "c", req: 1, op: put("z") }],
    });
    n2.onTransfer("n1", transfer);
    expect(n2.seq).toBe(1);
    expect(n2.machine.lastResult("c", 1)).toEqual({ body: { type: "put_ok" } });
  });

  it("a primary that missed views of its own tenure, or of the one it was backup before, serves", () => {
    const p = pair();
    const [n1, n2] = [p.servers.get("n1") as PbServer, p.servers.get("n2") as PbServer];
    n1.onView(view(p, 1, "n1", ""));
    n1.onView(view(p, 3, "n1", "", 1)); // view 2 ({n1, someone}) never reached n1
    expect(n1.acting).toBe(true);
    n2.onTransfer("n1", {
      type: "pb_transfer",
      view: view(p, 4, "n1", "n2", 1),
      seq: 0,
      state: { data: [], clients: [] },
    });
    n2.onView(view(p, 6, "n2", "", 5)); // promoted in view 5, which it never heard of
    expect(n2.acting).toBe(true);
    const n3 = p.servers.get("n3") as PbServer;
    n3.onTransfer("n2", {
      type: "pb_transfer",
      view: view(p, 7, "n2", "n3", 5),
      seq: 0,
      state: { data: [], clients: [] },
    });
    // Primary since view 9, so it must have been the synced backup of view 8; it was synced
    // for view 7 only, and in view 8 someone else may have served ops it never saw.
    n3.onView(view(p, 10, "n3", "", 9));
    expect(n3.acting).toBe(false);
  });

  it("a server named primary without a valid state refuses to serve (restarted, or missed views)", () => {
    const p = pair();
    const n2 = p.servers.get("n2") as PbServer;
    n2.onView(view(p, 7, "n2", "n3")); // never was backup of view 6
    expect(n2.acting).toBe(false);
    p.submit("n2", "c1", 1, put("a"));
    expect(p.answers.get("c1 1")).toMatchObject({ code: 11 });
  });

  it("a primary that loses its role fails what the backup never confirmed, without a success", async () => {
    const p = pair();
    const n1 = p.servers.get("n1") as PbServer;
    n1.onView(view(p, 1, "n1", ""));
    n1.onView(view(p, 2, "n1", "n2"));
    await p.settle();
    p.cut.add("n1>n2");
    p.submit("n1", "c1", 1, put("lost?"));
    await p.settle();
    n1.onView(view(p, 3, "n2", "n3"));
    expect(p.answers.get("c1 1")).toMatchObject({ code: 13 }); // indefinite: it may be applied
    expect(n1.acting).toBe(false);
  });

  it("at most once: a repeated request is answered from the duplicate table", async () => {
    const p = pair();
    const n1 = p.servers.get("n1") as PbServer;
    n1.onView(view(p, 1, "n1", ""));
    n1.onView(view(p, 2, "n1", "n2"));
    await p.settle();
    p.submit("n1", "c1", 1, { f: "append", key: "k", value: "x" });
    p.submit("n1", "c1", 1, { f: "append", key: "k", value: "x" }); // while in the pipeline
    await p.settle();
    p.submit("n1", "c1", 1, { f: "append", key: "k", value: "x" }); // after
    p.submit("n1", "c2", 1, get);
    await p.settle();
    expect(p.answers.get("c2 1")).toEqual({ body: { type: "get_ok", value: "x" } });
    expect(n1.seq).toBe(2); // one append, one get
  });

  it("the no-forward bug answers before the backup has the op", () => {
    const p = pair("no-forward");
    const n1 = p.servers.get("n1") as PbServer;
    n1.onView(view(p, 1, "n1", ""));
    n1.onView(view(p, 2, "n1", "n2"));
    return p.settle().then(() => {
      p.cut.add("n1>n2");
      p.submit("n1", "c1", 1, put("a"));
      expect(p.answers.get("c1 1")).toEqual({ body: { type: "put_ok" } });
      expect((p.servers.get("n2") as PbServer).seq).toBe(0);
    });
  });

  it("the no-state-transfer bug leaves a new backup without the data", async () => {
    const p = pair("no-state-transfer");
    const n1 = p.servers.get("n1") as PbServer;
    n1.onView(view(p, 1, "n1", ""));
    p.submit("n1", "c1", 1, put("a"));
    n1.onView(view(p, 2, "n1", "n2"));
    await p.settle();
    const n2 = p.servers.get("n2") as PbServer;
    expect(n2.seq).toBe(n1.seq);
    expect(n2.machine.snapshot().data).toEqual([]);
    expect(n1.machine.snapshot().data).not.toEqual([]);
  });

  it("the split-brain bug serves alone once the backup is unreachable", async () => {
    const p = pair("split-brain");
    const n1 = p.servers.get("n1") as PbServer;
    n1.onView(view(p, 1, "n1", ""));
    n1.onView(view(p, 2, "n1", "n2"));
    await p.settle();
    p.cut.add("n1>n2");
    p.submit("n1", "c1", 1, put("a"));
    await p.settle();
    expect(p.answers.get("c1 1")).toEqual({ body: { type: "put_ok" } });
    p.submit("n1", "c2", 1, get);
    expect(p.answers.get("c2 1")).toEqual({ body: { type: "get_ok", value: "a" } });
  });
});
