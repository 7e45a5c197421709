// The LSP connection engine without sockets or timers (systems/lsp/connection.ts): the sending
// rule, the exact backoff schedule of systems/lsp/README.md "How it works", heartbeats, loss
// detection, buffering, CAck, the bug variants, and a property test over a lossy, duplicating,
// reordering channel.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  ackMessage,
  cackMessage,
  dataMessage,
  type LspMessage,
  MsgType,
} from "../../protocols/lsp/message.js";
import { DEFAULT_PARAMS, type LspParams } from "../../protocols/lsp/params.js";
import { Connection, type LspBug } from "../../systems/lsp/connection.js";

const ISN = 100;

function harness(params: Partial<LspParams> = {}, bug?: LspBug) {
  const sent: LspMessage[] = [];
  const delivered: string[] = [];
  const state = { lost: 0, drained: 0 };
  const conn = new Connection(
    7,
    ISN,
    { ...DEFAULT_PARAMS, ...params },
    {
      send: (m) => sent.push(m),
      deliver: (p) => {
        delivered.push(Buffer.from(p).toString());
        return true;
      },
      lost: () => state.lost++,
      drained: () => state.drained++,
    },
    bug,
  );
  const data = () => sent.filter((m) => m.type === MsgType.Data);
  return { conn, sent, delivered, state, data };
}

const write = (conn: Connection, ...texts: string[]) => {
  for (const t of texts) conn.write(Buffer.from(t));
};

describe("sending rule", () => {
  it("MaxUnackedMessages binds when it is below the window", () => {
    const { conn, data } = harness({ windowSize: 3, maxUnackedMessages: 2 });
    write(conn, "a", "b", "c", "d", "e");
    expect(data().map((m) => m.seqNum)).toEqual([ISN + 1, ISN + 2]);
  });

  it("the window counts from the oldest unacknowledged message", () => {
    const { conn, data } = harness({ windowSize: 2, maxUnackedMessages: 5 });
    write(conn, "a", "b", "c", "d");
    expect(data().map((m) => m.seqNum)).toEqual([ISN + 1, ISN + 2]);
    conn.receive(ackMessage(7, ISN + 2)); // the later one: the window cannot move yet
    expect(data()).toHaveLength(2);
    conn.receive(ackMessage(7, ISN + 1));
    expect(data().map((m) => m.seqNum)).toEqual([ISN + 1, ISN + 2, ISN + 3, ISN + 4]);
  });

  it("a CAck acknowledges everything up to its sequence number", () => {
    const { conn, data, state } = harness({ windowSize: 4, maxUnackedMessages: 4 });
    write(conn, "a", "b", "c");
    conn.receive(cackMessage(7, ISN + 3));
    expect(conn.idle).toBe(true);
    expect(state.drained).toBe(1);
    for (let e = 0; e < 3; e++) conn.epoch();
    expect(data()).toHaveLength(3); // nothing retransmitted
  });

  it("ignore-window sends everything at once", () => {
    const { conn, data } = harness({ windowSize: 1, maxUnackedMessages: 1 }, "ignore-window");
    write(conn, "a", "b", "c");
    expect(data()).toHaveLength(3);
  });
});

describe("epochs and backoff", () => {
  /** Epochs (0 = the first send) at which the first data message went out over `epochs` ticks. */
  function schedule(cap: number, epochs: number, bug?: LspBug): number[] {
    const { conn, sent } = harness({ epochLimit: 1000, maxBackOffInterval: cap }, bug);
    const at: number[] = [];
    write(conn, "x");
    for (let e = 0; e <= epochs; e++) {
      if (e > 0) {
        conn.receive(ackMessage(7, 0)); // the peer's heartbeat keeps the connection alive
        conn.epoch();
      }
      const count = sent.filter((m) => m.type === MsgType.Data).length;
      while (at.length < count) at.push(e);
    }
    return at;
  }

  it("backs off exponentially: sends at 0, 1, 3, 6, 11, 20 without a cap", () => {
    expect(schedule(1000, 22)).toEqual([0, 1, 3, 6, 11, 20]);
  });

  it("caps the backoff: MaxBackOffInterval 4 sends at 0, 1, 3, 6, 11, 16, 21", () => {
    expect(schedule(4, 22)).toEqual([0, 1, 3, 6, 11, 16, 21]);
  });

  it("MaxBackOffInterval 0 resends every epoch", () => {
    expect(schedule(0, 5)).toEqual([0, 1, 2, 3, 4, 5]);
  });

  it("no-retransmit never resends", () => {
    expect(schedule(0, 5, "no-retransmit")).toEqual([0]);
  });

  it("sends a heartbeat only in an epoch without data", () => {
    const { conn, sent } = harness();
    conn.epoch();
    expect(sent.at(-1)).toEqual(ackMessage(7, 0));
    write(conn, "a");
    const before = sent.length;
    conn.epoch(); // the data is resent: no heartbeat needed
    expect(sent.slice(before).map((m) => m.type)).toEqual([MsgType.Data]);
  });

  it("declares the connection lost after K epochs with nothing received, once", () => {
    const { conn, state } = harness({ epochLimit: 3 });
    conn.epoch();
    conn.epoch();
    conn.receive(ackMessage(7, 0)); // anything received resets the count
    conn.epoch();
    conn.epoch();
    expect(state.lost).toBe(0);
    conn.epoch();
    expect(state.lost).toBe(1);
    conn.epoch();
    expect(state.lost).toBe(1);
    expect(() => conn.write(Buffer.from("late"))).toThrow(/lost/);
  });
});

describe("receiving", () => {
  const incoming = (seq: number, text: string) => dataMessage(7, seq, Buffer.from(text));

  it("buffers out-of-order data, delivers in order, acks everything, drops duplicates", () => {
    const { conn, sent, delivered } = harness();
    conn.receive(incoming(ISN + 3, "c"));
    conn.receive(incoming(ISN + 2, "b"));
    expect(delivered).toEqual([]);
    conn.receive(incoming(ISN + 1, "a"));
    expect(delivered).toEqual(["a", "b", "c"]);
    conn.receive(incoming(ISN + 2, "b"));
    expect(delivered).toEqual(["a", "b", "c"]);
    const acks = sent.filter((m) => m.type === MsgType.Ack).map((m) => m.seqNum);
    expect(acks).toEqual([ISN + 3, ISN + 2, ISN + 1, ISN + 2]);
  });

  it("neither acks nor delivers a corrupted or shortened message", () => {
    const { conn, sent, delivered } = harness();
    const good = incoming(ISN + 1, "hello");
    conn.receive({ ...good, payload: Buffer.from("jello") });
    conn.receive({ ...good, payload: Buffer.from("he") });
    expect(sent).toEqual([]);
    expect(delivered).toEqual([]);
  });

  it("reorder-deliver hands data over as it arrives", () => {
    const { conn, delivered } = harness({}, "reorder-deliver");
    conn.receive(incoming(ISN + 2, "b"));
    conn.receive(incoming(ISN + 1, "a"));
    conn.receive(incoming(ISN + 2, "b"));
    expect(delivered).toEqual(["b", "a"]);
  });

  it("no-checksum delivers a corrupted message", () => {
    const { conn, delivered } = harness({}, "no-checksum");
    conn.receive({ ...incoming(ISN + 1, "hello"), payload: Buffer.from("jello") });
    expect(delivered).toEqual(["jello"]);
  });
});

describe("two connections over a hostile channel", () => {
  it("deliver every message exactly once, in order, in both directions", () => {
    // Each action: 0-5 deliver the in-flight datagram at (action % n), 6 drop one, 7 duplicate
    // one, 8 an epoch on A, 9 an epoch on B. Then the channel heals and epochs run until done.
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 0, max: 9 }), { maxLength: 400 }),
        fc.integer({ min: 1, max: 8 }),
        fc.integer({ min: 0, max: 4 }),
        fc.integer({ min: 1, max: 20 }),
        (actions, window, cap, count) => {
          const params: LspParams = {
            epochLimit: 1_000_000,
            epochMillis: 1,
            windowSize: window,
            maxBackOffInterval: cap,
            maxUnackedMessages: Math.max(1, window - 1),
          };
          const wire: Array<{ to: "a" | "b"; m: LspMessage }> = [];
          const got = { a: [] as string[], b: [] as string[] };
          const make = (self: "a" | "b") =>
            new Connection(1, 10, params, {
              send: (m) => wire.push({ to: self === "a" ? "b" : "a", m }),
              deliver: (p) => {
                got[self].push(Buffer.from(p).toString());
                return true;
              },
              lost: () => {
                throw new Error("lost");
              },
              drained: () => {},
            });
          const a = make("a");
          const b = make("b");
          const ends = { a, b };
          const sentA = Array.from({ length: count }, (_, i) => `a${i}`);
          const sentB = Array.from({ length: count }, (_, i) => `b${i}`);
          write(a, ...sentA);
          write(b, ...sentB);
          for (const action of actions) {
            if (action === 8) a.epoch();
            else if (action === 9) b.epoch();
            else if (wire.length === 0) continue;
            else if (action === 6) wire.splice(action % wire.length, 1);
            else if (action === 7) wire.push(wire[action % wire.length] as (typeof wire)[number]);
            else {
              const [item] = wire.splice(action % wire.length, 1);
              if (item) ends[item.to].receive(item.m);
            }
          }
          for (let round = 0; round < 10_000 && !(a.idle && b.idle && wire.length === 0); round++) {
            const item = wire.shift();
            if (item) ends[item.to].receive(item.m);
            else {
              a.epoch();
              b.epoch();
            }
          }
          expect(got.b).toEqual(sentA);
          expect(got.a).toEqual(sentB);
        },
      ),
      { numRuns: 200 },
    );
  });
});
