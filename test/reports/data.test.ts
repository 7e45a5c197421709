// The data the page's script draws from: timeline rows and encoding, the message diagram, fault
// descriptions.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import type { Op } from "../../checkers/history.js";
import { type FaultView, faultLabel, faultViews } from "../../reports/fault-labels.js";
import { journalFocus } from "../../reports/journal-focus.js";
import {
  ARROW,
  LABEL_MAX_CHARS,
  lamportPayload,
  TITLE_MAX_CHARS,
} from "../../reports/lamport-data.js";
import { type JournalEvent, type JournalLoad, loadJournal } from "../../reports/load-run.js";
import { faultIntervalsTouched } from "../../reports/stored.js";
import {
  OMITTED_VALUE,
  timelinePayload,
  VALUE_TABLE_MAX_CHARS,
} from "../../reports/timeline-data.js";

/** A history from [process, type, f, value, time_ms] rows. */
function history(rows: Array<[number | "nemesis", Op["type"], string, unknown, number]>): Op[] {
  return rows.map(([process, type, f, value, ms], index) => ({
    index,
    time: ms * 1e6,
    process,
    type,
    f,
    value,
    ...(type === "invoke" && process !== "nemesis" ? { node: `n${Number(process) % 2}` } : {}),
  }));
}

describe("timeline data", () => {
  const h = history([
    [0, "invoke", "read", null, 0],
    [1, "invoke", "write", 1, 1],
    [0, "info", "read", null, 5], // worker 0 times out: it goes on as process 2
    ["nemesis", "info", "start-partition", { shape: "halves", cut: [], sees: {} }, 6],
    [2, "invoke", "read", null, 7],
    [1, "ok", "write", 1, 8],
    [2, "ok", "read", 1, 9],
    [3, "invoke", "read", null, 9], // a final-phase extra worker, concurrent with nobody
    [5, "invoke", "write", 2, 9.5], // overlaps process 3, which is also worker 1's row (5 mod 2)
    [3, "ok", "read", 1, 10],
    ["nemesis", "info", "stop-partition", {}, 11],
  ]);

  it("keeps a worker on one row across its processes; overlapping processes get their own", () => {
    const t = timelinePayload(h, { concurrency: 2 });
    expect(t.rows).toEqual(["p0 n0", "p1 n1", "p5 n1"]);
    // Ops in invocation order: p0, p1, p2 (row 0), p3 (row 1, free by then), p5 (own row).
    expect(t.row).toEqual([0, 1, 0, 1, 2]);
    expect(t.row.map((r, i) => (t.row_proc[r] as number) + (t.proc[i] as number))).toEqual([
      0, 1, 2, 3, 5,
    ]);
    expect(t.type).toEqual([2, 0, 0, 0, 3]); // info, ok, ok, ok, pending
    // Delta-encoded starts in 10 µs units, and completions as offsets of the invoke index.
    expect(t.start).toEqual([0, 100, 600, 200, 50]);
    expect(t.dur).toEqual([500, 700, 200, 100, -1]);
    expect(t.cmp).toEqual([2, 4, 2, 2, -1]);
    expect(t.strings[t.r[2] as number]).toBe("1");
  });

  it("without the concurrency, gives each process a row", () => {
    expect(timelinePayload(h).rows).toEqual(["p0 n0", "p1 n1", "p2 n0", "p3 n1", "p5 n1"]);
  });

  it("keeps the value table within its budget and counts what it left out", () => {
    const big = "x".repeat(150);
    const rows: Array<[number, Op["type"], string, unknown, number]> = [];
    const count = Math.ceil(VALUE_TABLE_MAX_CHARS / 150) + 100;
    for (let i = 0; i < count; i++) {
      rows.push([0, "invoke", "write", `${i}${big}`, i], [0, "ok", "write", null, i + 0.5]);
    }
    const t = timelinePayload(history(rows));
    expect(t.strings.join("").length).toBeLessThanOrEqual(VALUE_TABLE_MAX_CHARS);
    expect(t.values_omitted).toBeGreaterThan(0);
    expect(t.v.at(-1)).toBe(OMITTED_VALUE);
  });
});

describe("faults", () => {
  it("says how many intervals touched client operations, in words that mean it", () => {
    expect(faultIntervalsTouched(4, 4)).toBe("all 4 intervals touched client operations");
    expect(faultIntervalsTouched(5, 3)).toBe("3 of 5 intervals touched client operations");
    expect(faultIntervalsTouched(2, 0)).toBe(
      "2 intervals, none of which touched a client operation",
    );
    expect(faultIntervalsTouched(1, 1)).toBe("1 interval, which touched client operations");
    expect(faultIntervalsTouched(1, 0)).toBe("1 interval, which touched no client operation");
    expect(faultIntervalsTouched(0, 0)).toBe("no interval started");
  });

  it("describes exactly what each fault did", () => {
    expect(
      faultLabel("partition", {
        shape: "majority-minority",
        cut: [
          ["n0", "n1"],
          ["n1", "n0"],
        ],
        sees: { n0: ["n0"], n1: ["n1", "n2"], n2: ["n1", "n2"] },
      }),
    ).toBe("partition majority-minority: n0 | n1 n2 (2 links cut)");
    expect(faultLabel("kill", { nodes: ["n1", "n2"] })).toBe("kill n1, n2");
    expect(faultLabel("clock", { mode: "bump", offsets_s: { n0: -2.5, n1: 0.012 } })).toBe(
      "clock bump n0 −2.5 s, n1 +12 ms",
    );
    expect(faultLabel("membership", { joined: "n9" })).toBe('membership {"joined":"n9"}');
  });

  it("pairs start and stop events into intervals, and a heal closes them all", () => {
    const f = faultViews(
      history([
        ["nemesis", "info", "start-kill", { nodes: ["n1"] }, 1],
        ["nemesis", "info", "start-pause", { nodes: ["n0"] }, 2],
        ["nemesis", "info", "stop-kill", {}, 3],
        ["nemesis", "info", "heal", {}, 4],
      ]),
    );
    expect(f.map((x) => [x.kind, x.start_ns / 1e6, (x.stop_ns ?? 0) / 1e6])).toEqual([
      ["kill", 1, 3],
      ["pause", 2, 4],
    ]);
  });
});

/** A journal drawn whole: no window, no focus. */
function wholeJournal(events: JournalEvent[]): JournalLoad {
  return {
    events,
    truncated: false,
    total: events.length,
    before: 0,
    focus: undefined,
    skipped: 0,
    exists: true,
  };
}

describe("message diagram", () => {
  const events: JournalEvent[] = [
    { time: 0, event: "send", id: 0, src: "c1", dest: "n0", body: { type: "read", msg_id: 1 } },
    { time: 1, event: "recv", id: 0, src: "c1", dest: "n0" },
    {
      time: 2,
      event: "send",
      id: 1,
      src: "n0",
      dest: "n1",
      body: { type: "gossip", value: [1, 2] },
    },
    { time: 3, event: "send", id: 2, src: "n0", dest: "lin-kv", body: { type: "read", key: 1 } },
    { time: 4, event: "drop", id: 1, src: "n0", dest: "n1", reason: "partitioned" },
    {
      time: 5,
      event: "send",
      id: 3,
      src: "lin-kv",
      dest: "n0",
      body: { type: "error", code: 20, text: "not found" },
    },
    { time: 6, event: "recv", id: 3, src: "lin-kv", dest: "n0" },
    { time: 7, event: "recv", id: 2, src: "n0", dest: "lin-kv" },
    { time: 8, event: "protocol-error", node: "n1", reason: "not JSON", raw: "<b>" },
    { time: 9, event: "send", id: 4, src: "c10", dest: "n1", body: { type: "read" } },
  ];

  it("puts nodes with custom names (--nodes) between clients and services", () => {
    const named = [
      { time: 1, event: "send", id: 0, src: "c1", dest: "zeta", body: { type: "read" } },
      { time: 2, event: "send", id: 1, src: "zeta", dest: "lin-kv", body: { type: "read" } },
      { time: 3, event: "send", id: 2, src: "alpha", dest: "zeta", body: { type: "gossip" } },
    ];
    const d = lamportPayload(wholeJournal(named), []);
    expect(d.participants).toEqual(["c1", "alpha", "zeta", "lin-kv"]);
  });

  it("orders columns clients, nodes, services; draws delivered, dropped and error messages", () => {
    const d = lamportPayload(wholeJournal(events), [
      {
        kind: "partition",
        start_ns: 2,
        stop_ns: 7,
        label: "p",
        start_index: 0,
        stop_index: 1,
        ops_overlapping: 0,
        ops_failed: 0,
        ops_info: 0,
      },
    ]);
    expect(d.participants).toEqual(["c1", "c10", "n0", "n1", "lin-kv"]);
    expect(d.rows).toBe(events.length);
    const arrows = [];
    for (let i = 0; i < d.arrows.length; i += 5) arrows.push(d.arrows.slice(i, i + 5));
    expect(arrows).toEqual([
      [0, 2, 0, 1, ARROW.client],
      [2, 3, 2, 4, ARROW.server | ARROW.DROPPED],
      [4, 2, 5, 6, ARROW.error],
      [2, 4, 3, 7, ARROW.server],
    ]);
    expect(d.labels).toEqual(["read", "gossip value=[1,2]", "error not found", "read key=1"]);
    expect(d.titles[1]).toContain("dropped (partitioned)");
    expect(d.errors).toEqual([[3, 8, "protocol error: not JSON — <b>"]]);
    // The fault from 2 ns to 7 ns covers rows 2..7 (event order, not time).
    expect(d.faults).toEqual([["partition", 2, 7, "p"]]);
  });

  it("draws a forwarded message from the node that wrote it, naming the src it carried", () => {
    const forwarded: JournalEvent[] = [
      { time: 0, event: "send", id: 0, src: "c6", dest: "n0", via: "n1", body: { type: "read" } },
      { time: 1, event: "recv", id: 0, src: "c6", dest: "n0" },
    ];
    const d = lamportPayload(wholeJournal(forwarded), []);
    expect(d.participants).toEqual(["n0", "n1"]);
    expect(d.arrows).toEqual([1, 0, 0, 1, ARROW.server]);
    expect(d.titles[0]).toMatch(/^c6 → n0 \(written by n1\) #0: /);
  });
});

describe("message diagram of gRPC calls", () => {
  // Lines as the tcp proxy writes them (harness/tcp/README.md "Journal"): w1 dials coord.
  const chunk = (id: number, src: string, dest: string, conn: number, text?: string) => ({
    event: "send",
    id,
    src,
    dest,
    conn,
    bytes: 100,
    body: { type: "data", ...(text ? { text } : {}), bytes: 100, conn },
  });
  const connect = (id: number, conn: number) => ({
    event: "send",
    id,
    src: "w1",
    dest: "coord",
    conn,
    bytes: 0,
    body: { type: "connect", conn, client: "127.0.0.1:5000" },
  });
  const call = { src: "w1", dest: "coord", conn: 1 };
  const EVIL_METHOD = "/pkg.Svc/<b>Put</b>\u0007";
  const lines = [
    connect(0, 1), // row 0
    { event: "recv", id: 0, conn: 1 },
    chunk(1, "w1", "coord", 1), // row 2: preface, SETTINGS, HEADERS of stream 1
    { event: "h2-call-start", ...call, stream_id: 1, method: "/pkg.Svc/Get", chunk: 1 },
    { event: "recv", id: 1 },
    chunk(2, "coord", "w1", 1), // row 5: SETTINGS
    { event: "recv", id: 2 },
    chunk(3, "coord", "w1", 1), // row 7: the answer
    {
      event: "h2-call-end",
      ...call,
      stream_id: 1,
      method: "/pkg.Svc/Get",
      request_bytes: 13,
      response_bytes: 20,
      grpc_status: 0,
      http_status: 200,
      chunk: 3,
    },
    { event: "recv", id: 3 },
    chunk(4, "w1", "coord", 1), // row 10: two HEADERS in one chunk
    { event: "h2-call-start", ...call, stream_id: 3, method: EVIL_METHOD, chunk: 4 },
    { event: "h2-call-start", ...call, stream_id: 5, method: "/pkg.Svc/Get", chunk: 4 },
    { event: "recv", id: 4 },
    chunk(5, "coord", "w1", 1), // row 14: stream 3's trailers, dropped by a reset
    {
      event: "h2-call-end",
      ...call,
      stream_id: 3,
      method: EVIL_METHOD,
      request_bytes: 13,
      response_bytes: 0,
      grpc_status: 5,
      grpc_message: "no <such> key",
      chunk: 5,
    },
    { event: "drop", id: 5, reason: "reset" },
    {
      event: "h2-call-end",
      ...call,
      stream_id: 5,
      method: "/pkg.Svc/Get",
      request_bytes: 13,
      response_bytes: 0,
      aborted: "harness",
    },
    connect(6, 2), // row 18
    { event: "recv", id: 6, conn: 2 },
    chunk(7, "w1", "coord", 2), // row 20
    { event: "h2-call-start", ...call, conn: 2, stream_id: 1, method: "/pkg.Svc/Get", chunk: 7 },
    { event: "recv", id: 7 },
    chunk(8, "w1", "coord", 2), // row 23: too large a frame
    {
      event: "h2-undecodable",
      ...call,
      conn: 2,
      reason: "client sent a frame of 20000 bytes > SETTINGS_MAX_FRAME_SIZE 16384",
      chunk: 8,
    },
    { event: "recv", id: 8 },
    chunk(9, "coord", "w1", 3, "HTTP/1.1 200 OK"), // row 26: not HTTP/2
    { event: "recv", id: 9 },
    chunk(10, "w1", "coord", 1), // row 28: the client cancels stream 7
    {
      event: "h2-call-end",
      ...call,
      stream_id: 7,
      method: "/pkg.Svc/Slow",
      request_bytes: 13,
      response_bytes: 0,
      reset: { code: 8, by: "client" },
      chunk: 10,
    },
    { event: "recv", id: 10 },
  ];
  const events = lines.map((line, time) => ({ time, ...line }) as JournalEvent);

  it("draws a call and its answer instead of the chunks of a decoded connection", () => {
    const d = lamportPayload(wholeJournal(events), []);
    expect(d.participants).toEqual(["coord", "w1"]);
    const arrows = [];
    for (let i = 0; i < d.arrows.length; i += 5) arrows.push(d.arrows.slice(i, i + 5));
    const { server, error, DROPPED } = ARROW;
    expect(arrows.map((a, k) => [...a, d.labels[k]])).toEqual([
      [1, 0, 0, 1, server, 'connect conn=1 client="127.0.0.1:5000"'],
      [1, 0, 2, 4, server, "/pkg.Svc/Get"],
      [0, 1, 7, 9, server, "OK"],
      [1, 0, 10, 13, server, "/pkg.Svc/<b>Put</b>\\u0007"],
      [1, 0, 10, 13, server, "/pkg.Svc/Get"],
      [0, 1, 14, 16, error | DROPPED, "NOT_FOUND"],
      [0, 1, 17, 17, error | DROPPED, "aborted (harness)"],
      [1, 0, 18, 19, server, 'connect conn=2 client="127.0.0.1:5000"'],
      [1, 0, 20, 22, server, "/pkg.Svc/Get"],
      // From the chunk the observer gave up on, bytes again; and a connection not HTTP/2.
      [1, 0, 23, 25, server, "data bytes=100 conn=2"],
      [0, 1, 26, 27, server, 'data text="HTTP/1.1 200 OK" bytes=100 conn=3'],
      [1, 0, 28, 30, error, "reset CANCEL"],
    ]);
    expect(d.call_arrows).toBe(8);
    expect(d.titles[2]).toBe(
      "coord → w1 #3: /pkg.Svc/Get (stream 1) ended OK (0); request 13 B, response 20 B, HTTP 200",
    );
    expect(d.titles[5]).toBe(
      "coord → w1 #5: /pkg.Svc/<b>Put</b>\\u0007 (stream 3) ended NOT_FOUND (5): no <such> key; " +
        "request 13 B, response 0 B — dropped (reset)",
    );
    expect(d.titles[6]).toContain("aborted (harness): the connection went with the call open");
    expect(d.titles[11]).toContain("reset CANCEL by client");
    expect(d.notes).toEqual([
      [
        1,
        24,
        "undecodable: client sent a frame of 20000 bytes > SETTINGS_MAX_FRAME_SIZE 16384, showing bytes",
      ],
    ]);
  });

  it("draws every chunk of a connection given up on before any call", () => {
    const d = lamportPayload(
      wholeJournal(
        [
          chunk(0, "coord", "w1", 4), // the server's SETTINGS, before the client's preface
          { event: "recv", id: 0 },
          chunk(1, "w1", "coord", 4),
          { event: "h2-undecodable", ...call, conn: 4, reason: "HPACK: bad", chunk: 1 },
          { event: "recv", id: 1 },
        ].map((e, time) => ({ ...e, time }) as JournalEvent),
      ),
      [],
    );
    expect(d.labels).toEqual(["data bytes=100 conn=4", "data bytes=100 conn=4"]);
    expect(d.notes).toEqual([[1, 3, "undecodable: HPACK: bad, showing bytes"]]);
  });

  it("cuts a long method and message, and draws nothing for a call whose chunk is not in the window", () => {
    const long = `/${"x".repeat(5_000)}`;
    const d = lamportPayload(
      wholeJournal(
        [
          { time: 0, event: "h2-call-start", ...call, stream_id: 1, method: long, chunk: 99 },
          { time: 1, event: "recv", id: 99 },
          { time: 0, ...chunk(1, "w1", "coord", 1) },
          { time: 3, event: "h2-call-start", ...call, stream_id: 3, method: long, chunk: 1 },
          { time: 4, event: "recv", id: 1 },
          { time: 0, ...chunk(2, "coord", "w1", 1) },
          {
            time: 6,
            event: "h2-call-end",
            ...call,
            stream_id: 3,
            method: long,
            grpc_status: 99,
            grpc_message: long,
            chunk: 2,
          },
          { time: 7, event: "recv", id: 2 },
        ].map((e, time) => ({ ...e, time }) as JournalEvent),
      ),
      [],
    );
    expect(d.labels.map((l) => l.length)).toEqual([LABEL_MAX_CHARS, "status 99".length]);
    expect(d.labels[1]).toBe("status 99");
    expect(d.titles.every((t) => t.length < TITLE_MAX_CHARS + 40)).toBe(true);
    expect(d.call_arrows).toBe(2);
  });
});

describe("message diagram window", () => {
  it("embeds a bounded window centred on the focus, shifted when one side runs out", async () => {
    const dir = mkdtempSync(join(tmpdir(), "faultline-journal-"));
    try {
      const path = join(dir, "messages.jsonl");
      const lines = Array.from({ length: 100 }, (_, t) =>
        JSON.stringify({ time: t * 1e6, event: "send", id: t, src: "n0", dest: "n1" }),
      );
      writeFileSync(path, `${lines.join("\n")}\n`);
      const times = (j: { events: JournalEvent[] }) => j.events.map((e) => e.time / 1e6);
      const range = (from: number, to: number) =>
        Array.from({ length: to - from + 1 }, (_, i) => from + i);
      const focus = (ms: number) => ({ time_ns: ms * 1e6, why: "x" });

      const first = await loadJournal(path, 10);
      expect(times(first)).toEqual(range(0, 9));
      expect(first).toMatchObject({ total: 100, before: 0, truncated: true });

      const middle = await loadJournal(path, 10, focus(50));
      expect(times(middle)).toEqual(range(45, 54));
      expect(middle).toMatchObject({ total: 100, before: 45, truncated: true });

      const late = await loadJournal(path, 10, focus(97));
      expect(times(late)).toEqual(range(90, 99));
      expect(late).toMatchObject({ total: 100, before: 90 });

      const early = await loadJournal(path, 10, focus(2));
      expect(times(early)).toEqual(range(0, 9));
      expect(early).toMatchObject({ total: 100, before: 0 });

      const whole = await loadJournal(path, 1_000, focus(50));
      expect(times(whole)).toEqual(range(0, 99));
      expect(whole.truncated).toBe(false);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("message diagram focus", () => {
  const h = history([
    [0, "invoke", "broadcast", 5, 1],
    [0, "ok", "broadcast", 5, 2],
    [1, "invoke", "read", null, 3],
    [1, "ok", "read", 1, 4],
  ]);
  const fault = (kind: string, start_ms: number, ops_failed: number): FaultView => ({
    kind,
    start_ns: start_ms * 1e6,
    stop_ns: undefined,
    label: kind,
    start_index: 0,
    stop_index: undefined,
    ops_overlapping: ops_failed,
    ops_failed,
    ops_info: 0,
  });

  it("looks at what a failing checker names: a lost value, the unplaceable op, a crash, an error, an op", () => {
    const invalid = (check: Record<string, unknown>) => ({
      checkers: { ok: { valid: true, ops: [0] }, bad: { valid: false, ...check } },
    });
    expect(journalFocus(invalid({ lost: [{ value: 5, known_index: 1 }] }), h, [])).toEqual({
      time_ns: 2e6,
      why: "the lost value 5",
    });
    expect(journalFocus(invalid({ failures: [{ blocked: { op: 3 } }], ops: [0] }), h, [])).toEqual({
      time_ns: 4e6,
      why: "op 3, which no linearization can place",
    });
    expect(journalFocus(invalid({ crashes: [{ node: "n1", time_ns: 7 }] }), h, [])).toEqual({
      time_ns: 7,
      why: "n1's crash",
    });
    expect(journalFocus(invalid({ errors: [{ node: "n0", time_ns: 9 }] }), h, [])).toEqual({
      time_ns: 9,
      why: "n0's first bad error",
    });
    expect(journalFocus(invalid({ ops: [2] }), h, [])).toEqual({
      time_ns: 3e6,
      why: "op 2, which the bad checker names",
    });
  });

  it("otherwise looks at the fault that failed the most ops, else nowhere (the start)", () => {
    const faults = [fault("pause", 1, 1), fault("partition", 3, 4), fault("kill", 5, 4)];
    expect(journalFocus({ checkers: {} }, h, faults)).toEqual({
      time_ns: 3e6,
      why: "the partition fault at 0.0 s, which failed or left unknown the most operations",
    });
    expect(journalFocus({ checkers: {} }, h, [fault("pause", 1, 0)])).toBeUndefined();
    expect(journalFocus(undefined, undefined, [])).toBeUndefined();
  });
});
