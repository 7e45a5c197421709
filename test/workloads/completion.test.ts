import { describe, expect, it } from "vitest";
import { completionFor } from "../../workloads/maelstrom/completion.js";
import { type Body, ERROR_CODES, ReplyError } from "../../workloads/protocol.js";
import type { Completion, OpSpec, Workload } from "../../workloads/workload.js";

/** A workload where `read` is idempotent and `write` is not. */
function workload(overrides: Partial<Workload> = {}): Workload {
  return {
    name: "test",
    timeout_ms: 1234,
    generate: () => undefined,
    request: (op) => ({ type: op.f }),
    okValue: (op, reply) => {
      if (op.f === "read") {
        if (!("value" in reply)) throw new ReplyError(`read_ok has no "value"`);
        return reply.value;
      }
      return op.value;
    },
    idempotent: (f) => f === "read",
    check: async () => ({}),
    ...overrides,
  };
}

const READ: OpSpec = { f: "read", value: null };
const WRITE: OpSpec = { f: "write", value: 7 };

const err = (code: unknown, text?: string, extra: Record<string, unknown> = {}): Body => ({
  type: "error",
  in_reply_to: 1,
  code,
  ...(text !== undefined && { text }),
  ...extra,
});

const DEFINITE = Object.entries(ERROR_CODES)
  .filter(([, e]) => e.definite)
  .map(([code, e]) => [Number(code), e.name] as const);
const INDEFINITE = [
  [0, "timeout"],
  [13, "crash"],
  [1000, "user-1000"],
  [4242, "user-4242"],
  [2, "unknown-2"],
  [999, "unknown-999"],
] as const;

describe("completionFor: ok replies", () => {
  it("maps the expected *_ok reply to ok with the workload's value", () => {
    expect(
      completionFor(workload(), READ, "read", { type: "read_ok", in_reply_to: 1, value: 5 }),
    ).toEqual({
      type: "ok",
      value: 5,
    });
    expect(completionFor(workload(), WRITE, "write", { type: "write_ok", in_reply_to: 1 })).toEqual(
      {
        type: "ok",
        value: 7,
      },
    );
  });

  it("tolerates extra keys and an echoed msg_id in the reply", () => {
    const reply = { type: "read_ok", in_reply_to: 1, msg_id: 9, value: [1], note: "x" };
    expect(completionFor(workload(), READ, "read", reply)).toEqual({ type: "ok", value: [1] });
  });

  it("uses the request type, not op.f, to decide the expected reply type", () => {
    const op: OpSpec = { f: "broadcast", value: 3 };
    expect(completionFor(workload(), op, "bcast", { type: "bcast_ok" }).type).toBe("ok");
    expect(completionFor(workload(), op, "bcast", { type: "broadcast_ok" }).type).toBe("info");
  });
});

describe("completionFor: error replies", () => {
  it.each(DEFINITE)("definite code %i (%s) -> fail with [name, text]", (code, name) => {
    for (const op of [READ, WRITE]) {
      expect(completionFor(workload(), op, op.f, err(code, "why"))).toEqual({
        type: "fail",
        value: op.value,
        error: [name, "why"],
      });
    }
  });

  it.each(INDEFINITE)(
    "indefinite or unknown code %i (%s) -> info, or fail when idempotent",
    (code, name) => {
      expect(completionFor(workload(), WRITE, "write", err(code, "t"))).toEqual({
        type: "info",
        value: 7,
        error: [name, "t"],
      });
      expect(completionFor(workload(), READ, "read", err(code, "t"))).toEqual({
        type: "fail",
        value: null,
        error: [name, "t"],
      });
    },
  );

  it("records a null text when the error has none, and cuts long texts to 1 KiB", () => {
    expect(completionFor(workload(), WRITE, "write", err(14)).error).toEqual(["abort", null]);
    expect(
      completionFor(workload(), WRITE, "write", err(14, 5 as unknown as string)).error,
    ).toEqual(["abort", null]);
    const long = completionFor(workload(), WRITE, "write", err(14, "e".repeat(5000))).error as [
      string,
      string,
    ];
    expect(long[1]).toHaveLength(1024);
  });

  it("errorsIndefinite workloads map every error on an op with effect to info, even a definite one", () => {
    const w = workload({ errorsIndefinite: true });
    for (const [code, name] of [...DEFINITE, ...INDEFINITE]) {
      expect(completionFor(w, WRITE, "write", err(code, "x"))).toEqual({
        type: "info",
        value: WRITE.value,
        error: [name, "x"],
      });
    }
  });

  it("errorsIndefinite workloads still map every error on an op without effect to fail", () => {
    const w = workload({ errorsIndefinite: true });
    for (const [code, name] of [...DEFINITE, ...INDEFINITE]) {
      expect(completionFor(w, READ, "read", err(code, "x"))).toEqual({
        type: "fail",
        value: READ.value,
        error: [name, "x"],
      });
    }
  });

  it("lets mapError override the mapping, and falls back when it returns undefined", () => {
    const calls: Array<[string, number, Body]> = [];
    const w = workload({
      mapError: (op, code, reply): Completion | undefined => {
        calls.push([op.f, code, reply]);
        return code === 20 ? { type: "ok", value: null } : undefined;
      },
    });
    const missing = err(20, "no key");
    expect(completionFor(w, READ, "read", missing)).toEqual({ type: "ok", value: null });
    expect(calls).toEqual([["read", 20, missing]]);
    expect(completionFor(w, WRITE, "write", err(22, "nope"))).toEqual({
      type: "fail",
      value: 7,
      error: ["precondition-failed", "nope"],
    });
  });

  it.each([
    ["missing", undefined],
    ["a string", "11"],
    ["a float", 11.5],
    ["null", null],
  ])("an error whose code is %s is malformed -> info", (_what, code) => {
    const body: Body = { type: "error", in_reply_to: 1, ...(code !== undefined && { code }) };
    for (const op of [READ, WRITE]) {
      const c = completionFor(workload(), op, op.f, body);
      expect(c.type).toBe("info");
      expect(c.value).toBe(op.value);
      expect(c.malformed).toMatch(/integer "code"/);
      expect((c.error as unknown[])[0]).toBe("malformed-reply");
    }
  });

  it("does not consult mapError for an error without an integer code", () => {
    let called = false;
    const w = workload({
      mapError: () => {
        called = true;
        return { type: "ok", value: 1 };
      },
    });
    expect(completionFor(w, READ, "read", { type: "error", code: "x" }).type).toBe("info");
    expect(called).toBe(false);
  });
});

describe("completionFor: timeouts", () => {
  it("no reply -> info with net-timeout naming the timeout", () => {
    const c = completionFor(workload(), WRITE, "write", undefined);
    expect(c).toEqual({
      type: "info",
      value: 7,
      error: ["net-timeout", expect.stringContaining("1234 ms")],
    });
  });

  it("no reply on an idempotent op -> fail", () => {
    expect(completionFor(workload(), READ, "read", undefined)).toMatchObject({
      type: "fail",
      value: null,
      error: ["net-timeout", expect.any(String)],
    });
  });

  it("no reply in an errorsIndefinite workload -> info for an op with effect, fail for a read", () => {
    const w = workload({ errorsIndefinite: true });
    expect(completionFor(w, WRITE, "write", undefined).type).toBe("info");
    expect(completionFor(w, READ, "read", undefined).type).toBe("fail");
  });

  it("a timeout is never malformed", () => {
    expect(completionFor(workload(), WRITE, "write", undefined).malformed).toBeUndefined();
  });
});

describe("completionFor: malformed replies", () => {
  it("a reply of the wrong type -> info with malformed, even for idempotent ops", () => {
    for (const op of [READ, WRITE]) {
      const c = completionFor(workload(), op, op.f, { type: "echo_ok", in_reply_to: 1 });
      expect(c.type).toBe("info");
      expect(c.value).toBe(op.value);
      expect(c.malformed).toContain(`answered ${op.f} with "echo_ok"`);
      expect(c.error).toEqual(["malformed-reply", c.malformed]);
    }
  });

  it("cuts an absurd reply type in the message", () => {
    const c = completionFor(workload(), READ, "read", { type: "z".repeat(10_000) });
    expect((c.malformed as string).length).toBeLessThan(200);
  });

  it("an *_ok reply that fails the workload's schema (ReplyError) -> info with malformed", () => {
    const c = completionFor(workload(), READ, "read", { type: "read_ok", in_reply_to: 1 });
    expect(c).toEqual({
      type: "info",
      value: null,
      error: ["malformed-reply", `read_ok has no "value"`],
      malformed: `read_ok has no "value"`,
    });
  });

  it("a malformed *_ok reply stays info in an errorsIndefinite workload", () => {
    const c = completionFor(workload({ errorsIndefinite: true }), READ, "read", {
      type: "read_ok",
    });
    expect(c.type).toBe("info");
    expect(c.malformed).toBeDefined();
  });

  it("lets errors other than ReplyError from okValue propagate (harness bugs are not hidden)", () => {
    const w = workload({
      okValue: () => {
        throw new TypeError("bug");
      },
    });
    expect(() => completionFor(w, READ, "read", { type: "read_ok", value: 1 })).toThrow(TypeError);
  });
});
