// The delivery checker (checkers/delivery.ts) on hand-written LSP histories: a clean run, and
// one history per violation kind, each naming the ops involved; and the ok Close after a loss
// that the course allows (issue 24, item 2), told apart from an ok Close that lost data on a
// healthy connection.
import { describe, expect, it } from "vitest";
import { checkDelivery, type DeliveryOptions } from "../../checkers/delivery.js";
import type { CompletionType, Op } from "../../checkers/history.js";

const OPTIONS: DeliveryOptions = {
  epoch_limit: 5,
  epoch_ms: 100,
  slack_ms: 200,
  faults_injected: true,
};

const b64 = (s: string) => Buffer.from(s).toString("base64");

/** A history whose clock the test moves explicitly (ms). */
class H {
  readonly ops: Op[] = [];
  now_ms = 0;

  at(ms: number): this {
    this.now_ms = ms;
    return this;
  }

  private push(op: Omit<Op, "index" | "time">): number {
    this.now_ms += 1;
    this.ops.push({ index: this.ops.length, time: this.now_ms * 1e6, ...op });
    return this.ops.length - 1;
  }

  op(
    process: number,
    f: string,
    value: unknown,
    type: CompletionType,
    done: unknown = value,
  ): number {
    this.push({ process, type: "invoke", f, value });
    return this.push({ process, type, f, value: done });
  }

  invoke(process: number, f: string, value: unknown): number {
    return this.push({ process, type: "invoke", f, value });
  }

  complete(process: number, f: string, type: CompletionType, value: unknown): number {
    return this.push({ process, type, f, value });
  }

  nemesis(f: string, value: unknown): number {
    return this.push({ process: "nemesis", type: "info", f, value });
  }

  connect(client: string, conn: number, server = "server"): this {
    this.op(100, "connect", { client }, "ok", { client, conn, server });
    return this;
  }

  write(client: string, text: string, type: CompletionType = "ok"): number {
    return this.op(1, "write", { client, conn: 1, data: b64(text) }, type);
  }

  serverRead(client: string, text: string): number {
    return this.op(2, "server-read", {}, "ok", { conn: 1, client, data: b64(text) });
  }

  serverWrite(client: string, text: string): number {
    return this.op(3, "server-write", { conn: 1, client, data: b64(text) }, "ok");
  }

  read(client: string, text: string): number {
    return this.op(4, "read", { client, conn: 1 }, "ok", { client, conn: 1, data: b64(text) });
  }
}

const check = (h: H, options: Partial<DeliveryOptions> = {}) =>
  checkDelivery(h.ops, { ...OPTIONS, ...options });

/** A client that wrote a, b, c; the server read them and echoed them back. */
function clean(): H {
  const h = new H().connect("c0.1", 1);
  for (const t of ["a", "b", "c"]) h.write("c0.1", t);
  for (const t of ["a", "b", "c"]) {
    h.serverRead("c0.1", t);
    h.serverWrite("c0.1", t);
  }
  for (const t of ["a", "b", "c"]) h.read("c0.1", t);
  h.op(1, "close", { client: "c0.1", conn: 1 }, "ok");
  return h;
}

const kinds = (r: ReturnType<typeof checkDelivery>) =>
  (r.violations as Array<{ kind: string }>).map((v) => v.kind);

describe("delivery checker", () => {
  it("accepts exactly-once, in-order, intact delivery in both directions", () => {
    const r = check(clean());
    expect(r.valid).toBe(true);
    expect(r.delivered_count).toBe(6);
  });

  it("is unknown when nothing was delivered", () => {
    const h = new H().connect("c0.1", 1);
    h.write("c0.1", "a");
    expect(check(h).valid).toBe("unknown");
  });

  it("finds a duplicate", () => {
    const h = clean();
    const dup = h.serverRead("c0.1", "b");
    const r = check(h);
    expect(r.valid).toBe(false);
    expect(kinds(r)).toEqual(["duplicate"]);
    expect(r.ops).toContain(dup);
  });

  it("finds messages read out of order, and names both", () => {
    const h = new H().connect("c0.1", 1);
    for (const t of ["a", "b", "c"]) h.write("c0.1", t);
    h.serverRead("c0.1", "a");
    h.serverRead("c0.1", "c");
    const late = h.serverRead("c0.1", "b");
    const r = check(h);
    expect(kinds(r)).toEqual(["out-of-order"]);
    expect(r.summary).toMatch(/the server read "c0.1|b/);
    expect(r.ops).toContain(late);
  });

  it("finds a gap: a later message read while an earlier one never was", () => {
    const h = new H().connect("c0.1", 1);
    for (const t of ["a", "b", "c"]) h.write("c0.1", t);
    h.serverRead("c0.1", "a");
    h.serverRead("c0.1", "c");
    expect(kinds(check(h))).toEqual(["gap"]);
  });

  it("a failed write is not expected to arrive", () => {
    const h = new H().connect("c0.1", 1);
    h.write("c0.1", "a");
    h.write("c0.1", "b", "fail");
    h.write("c0.1", "c");
    h.serverRead("c0.1", "a");
    h.serverRead("c0.1", "c");
    expect(check(h).valid).toBe(true);
  });

  it("tells corrupted payloads from misrouted ones", () => {
    const h = new H().connect("c0.1", 1).connect("c1.1", 2);
    h.write("c0.1", "mine");
    h.write("c1.1", "theirs");
    h.serverRead("c0.1", "theirs");
    h.serverRead("c0.1", "m\u00ffne");
    expect(kinds(check(h)).sort()).toEqual(["corrupted", "misrouted"]);
  });

  it("a Close that returned ok must have delivered everything written before it", () => {
    const h = new H().connect("c0.1", 1);
    h.write("c0.1", "a");
    h.write("c0.1", "b");
    h.serverRead("c0.1", "a");
    h.op(1, "close", { client: "c0.1", conn: 1 }, "ok");
    const r = check(h);
    expect(kinds(r)).toEqual(["missing-after-close"]);
    expect(r.summary).toMatch(/Close returned ok, but the server never read "b"/);
  });

  it("CloseConn promises delivery of what the server wrote before it", () => {
    const h = new H().connect("c0.1", 1);
    h.serverWrite("c0.1", "x");
    h.serverWrite("c0.1", "y");
    h.op(3, "server-close-conn", { conn: 1, client: "c0.1" }, "ok");
    h.read("c0.1", "x");
    h.op(4, "read", { client: "c0.1" }, "fail", { client: "c0.1", error: "connection lost" });
    expect(kinds(check(h))).toEqual(["missing-after-close"]);
  });

  it("a killed client must be reported lost by the server within K epochs plus slack", () => {
    const h = new H().connect("c0.1", 1);
    h.write("c0.1", "a");
    h.serverRead("c0.1", "a");
    const kill = h.at(1000).nemesis("start-kill", { nodes: ["c0"], instances: ["c0.1"] });
    h.at(3000).op(2, "server-read", {}, "fail", {
      conn: 1,
      client: "c0.1",
      error: "connection lost",
    });
    const late = check(h);
    expect(kinds(late)).toEqual(["loss-not-reported"]);
    expect(late.summary).toMatch(/reported it lost only at 3.00 s/);
    expect(late.ops).toContain(kill);
    const h2 = new H().connect("c0.1", 1);
    h2.write("c0.1", "a");
    h2.serverRead("c0.1", "a");
    h2.at(1000).nemesis("start-kill", { nodes: ["c0"], instances: ["c0.1"] });
    h2.at(1600).op(2, "server-read", {}, "fail", {
      conn: 1,
      client: "c0.1",
      error: "connection lost",
    });
    expect(check(h2).valid).toBe(true);
  });

  it("no report is owed for a connection made with a server process that had died", () => {
    const h = new H().connect("c0.1", 1, "server");
    h.write("c0.1", "a");
    h.serverRead("c0.1", "a");
    h.at(500).nemesis("start-kill", { nodes: ["server"], instances: [], server: "server" });
    h.at(700).op(4, "read", { client: "c0.1" }, "fail", {
      client: "c0.1",
      error: "connection lost",
    });
    h.at(900).nemesis("stop-kill", { nodes: ["server"] });
    h.at(1000).nemesis("start-kill", { nodes: ["c0"], instances: ["c0.1"] });
    h.at(5000).nemesis("heal", {});
    expect(check(h).valid).toBe(true);
  });

  it("a killed server must be noticed by every client connected to it", () => {
    const h = new H().connect("c0.1", 1, "server.2");
    h.write("c0.1", "a");
    h.serverRead("c0.1", "a");
    h.invoke(4, "read", { client: "c0.1" });
    h.at(1000).nemesis("start-kill", { nodes: ["server"], instances: [], server: "server.2" });
    h.at(5000).nemesis("heal", {});
    expect(kinds(check(h))).toEqual(["loss-not-reported"]);
  });

  it("a loss report the harness cut short (it closed the client first) is a warning, not a violation", () => {
    const h = new H().connect("c0.1", 1, "server.2");
    h.write("c0.1", "a");
    h.serverRead("c0.1", "a");
    h.invoke(4, "read", { client: "c0.1" });
    h.at(1000).nemesis("start-kill", { nodes: ["server"], instances: [], server: "server.2" });
    h.at(1200).invoke(1, "close", { client: "c0.1", conn: 1 });
    h.at(5000).nemesis("heal", {});
    const r = check(h);
    expect(kinds(r)).toEqual([]);
    expect(r.valid).toBe(true);
    expect(r.warnings).toEqual([
      expect.stringMatching(/cut short by the harness\), e\.g\. c0\.1$/),
    ]);
    expect(r.loss_reports_cut_short).toEqual(["c0.1"]);
  });

  it("a close after the bound ran out does not excuse a loss never reported", () => {
    const h = new H().connect("c0.1", 1, "server.2");
    h.write("c0.1", "a");
    h.serverRead("c0.1", "a");
    h.invoke(4, "read", { client: "c0.1" });
    h.at(1000).nemesis("start-kill", { nodes: ["server"], instances: [], server: "server.2" });
    h.at(2500).invoke(1, "close", { client: "c0.1", conn: 1 });
    h.at(5000).nemesis("heal", {});
    expect(kinds(check(h))).toEqual(["loss-not-reported"]);
  });

  it("a client loss the harness cut short on the server side (close_conn first) is a warning", () => {
    const h = new H().connect("c0.1", 1);
    h.write("c0.1", "a");
    h.serverRead("c0.1", "a");
    h.invoke(2, "server-read", {});
    h.at(1000).nemesis("start-kill", { nodes: ["c0"], instances: ["c0.1"] });
    h.at(1100).invoke(3, "server-close-conn", { conn: 1, client: "c0.1" });
    h.at(5000).nemesis("heal", {});
    const r = check(h);
    expect(kinds(r)).toEqual([]);
    expect(r.loss_reports_cut_short).toEqual(["c0.1"]);
  });

  it("a paused client cannot report anything, so none is owed", () => {
    const h = new H().connect("c0.1", 1);
    h.write("c0.1", "a");
    h.serverRead("c0.1", "a");
    h.at(900).nemesis("start-pause", { nodes: ["c0"], instances: ["c0.1"] });
    h.at(1000).nemesis("start-kill", { nodes: ["server"], instances: [], server: "server" });
    h.at(5000).nemesis("heal", {});
    expect(check(h).valid).toBe(true);
  });

  it("a Close that timed out on a healthy network hung", () => {
    const h = clean();
    h.invoke(9, "close", { client: "c9.1" });
    h.ops.push({
      index: h.ops.length,
      time: (h.now_ms + 5000) * 1e6,
      process: 9,
      type: "info",
      f: "close",
      value: { client: "c9.1", error: "timeout" },
    });
    const r = check(h);
    expect(kinds(r)).toEqual(["close-hung"]);
    // The same timeout while a fault was active proves nothing.
    const f = clean();
    f.nemesis("start-partition", { nodes: ["c9"] });
    f.invoke(9, "close", { client: "c9.1" });
    f.ops.push({
      index: f.ops.length,
      time: (f.now_ms + 5000) * 1e6,
      process: 9,
      type: "info",
      f: "close",
      value: { client: "c9.1", error: "timeout" },
    });
    expect(check(f).valid).toBe(true);
  });

  it("without any fault injected, a lost connection is itself a violation", () => {
    const h = clean();
    h.op(2, "server-read", {}, "fail", { conn: 2, client: "c1.1", error: "connection lost" });
    h.connect("c1.1", 2);
    expect(check(h, { faults_injected: true }).valid).toBe(true);
    const r = check(h, { faults_injected: false });
    expect(kinds(r)).toEqual(["spurious-loss"]);
  });
});

// Issue 24, item 2: the course's Close returns once the connection is lost, discarding what is
// pending, so an ok Close promises delivery only on a connection not already lost. Each history:
// c0.1 writes a and b, the server reads only a, then something happens and Close returns ok.
describe("an ok Close after the connection was lost", () => {
  const CLOSE = { client: "c0.1", conn: 1 };
  const LOST = { client: "c0.1", conn: 1, error: "connection lost" };

  /** a and b written, only a read by the server. */
  function bLost(server = "server"): H {
    const h = new H().connect("c0.1", 1, server);
    h.write("c0.1", "a");
    h.write("c0.1", "b");
    h.serverRead("c0.1", "a");
    return h;
  }

  /** The Close, invoked now and returning ok `wait_ms` later, with `during` in between. */
  function closeOk(h: H, wait_ms = 0, during: () => void = () => {}): H {
    h.invoke(1, "close", CLOSE);
    const returned_ms = h.now_ms + wait_ms;
    during();
    h.at(Math.max(returned_ms, h.now_ms)).complete(1, "close", "ok", CLOSE);
    return h;
  }

  const allowed = (h: H, why: RegExp) => {
    const r = check(h);
    expect(kinds(r)).toEqual([]);
    expect(r.valid).toBe(true);
    expect(r.closed_ok_after_loss).toEqual([
      { client: "c0.1", loss: expect.stringMatching(why), messages: 1 },
    ]);
    expect(r.warnings).toEqual([
      expect.stringMatching(
        /^1 client Close returned ok after the connection was lost and 1 message written before it never arrived .*course.*--strict\.$/,
      ),
    ]);
    return r;
  };

  it("(a) the client's Read had reported the loss: allowed, a warning; INVALID under --strict", () => {
    const h = bLost();
    const read = h.at(500).op(4, "read", CLOSE, "fail", LOST);
    closeOk(h.at(600));
    allowed(h, /^its Read reported the connection lost at 0\.50 s$/);
    const strict = check(h, { strict: true });
    expect(kinds(strict)).toEqual(["missing-after-close"]);
    expect(strict.summary).toMatch(
      /Close returned ok, but the server never read "b".*lost first \(its Read reported.*\), which the course allows, but --strict holds an ok Close to delivering everything/,
    );
    expect(strict.ops).toContain(read);
    expect(strict.warnings).toBeUndefined();
  });

  it("(b) one of the client's Writes had failed: allowed", () => {
    const h = bLost();
    h.at(500).write("c0.1", "c", "fail");
    closeOk(h.at(600));
    allowed(h, /^a Write failed at 0\.50 s$/);
  });

  it("(c) its server was killed, before the Close or while it waited: allowed", () => {
    const before = bLost("server.2");
    before.at(500).nemesis("start-kill", { nodes: ["server"], instances: [], server: "server.2" });
    closeOk(before.at(600));
    allowed(before, /^its server server\.2 was killed at 0\.50 s$/);
    const during = bLost("server.2");
    closeOk(during.at(400), 700, () =>
      during
        .at(600)
        .nemesis("start-kill", { nodes: ["server"], instances: [], server: "server.2" }),
    );
    allowed(during, /^its server server\.2 was killed at 0\.60 s$/);
  });

  it("a loss during the Close while a fault was active: allowed", () => {
    const h = bLost();
    closeOk(h.at(400), 700, () => {
      h.at(450).nemesis("start-partition", { shape: "isolate", nodes: ["c0"] });
      h.at(1000).op(4, "read", CLOSE, "fail", LOST);
    });
    h.at(1200).nemesis("stop-partition", {});
    allowed(h, /^its Read reported the connection lost at 1\.00 s$/);
  });

  it("an ok Close on a healthy connection that lost data is INVALID, whatever came after", () => {
    const h = bLost("server.2");
    closeOk(h.at(400), 50);
    // Losses after the Close returned excuse nothing: it had already promised.
    h.at(600).op(4, "read", CLOSE, "fail", LOST);
    h.at(700).nemesis("start-kill", { nodes: ["server"], instances: [], server: "server.2" });
    const r = check(h);
    expect(kinds(r)).toEqual(["missing-after-close"]);
    expect(r.summary).toMatch(
      /c0\.1's Close returned ok, but the server never read "b" \(written 2nd\)$/,
    );
    expect(r.closed_ok_after_loss).toBeUndefined();
  });

  it("a Read failing during the Close on a healthy network is the Close's own doing: INVALID", () => {
    // A Close that drops what is pending and tears the connection down at once: its Read fails
    // first, then it returns ok.
    const h = bLost();
    closeOk(h.at(400), 5, () => h.at(402).op(4, "read", CLOSE, "fail", LOST));
    expect(kinds(check(h))).toEqual(["missing-after-close"]);
  });

  it("another connection's loss, or the kill of another server process, excuses nothing", () => {
    const h = bLost("server.2").connect("c1.1", 2, "server.2");
    h.at(300).op(4, "read", { client: "c1.1", conn: 2 }, "fail", {
      client: "c1.1",
      conn: 2,
      error: "connection lost",
    });
    h.at(350).nemesis("start-kill", { nodes: ["server"], instances: [], server: "server" });
    closeOk(h.at(400));
    expect(kinds(check(h))).toEqual(["missing-after-close"]);
  });
});
