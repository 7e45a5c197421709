// A node may forward a client's request unchanged to another node, src still the client's id
// (Maelstrom's demo/python/raft.py does): faultline accepts it as Maelstrom does, and routes it
// over the link from the node that wrote it, so forwarding cannot slip through a partition.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { type Op, parseHistory } from "../../checkers/history.js";
import { FIXTURES, ROOT, readResults, runLine, tempStore } from "../helpers.js";

const FORWARD = join(FIXTURES, "forward.mjs");
const CUT = `${join(ROOT, "test", "fixtures", "scripts", "fixed-faults.mjs")}#cutN1FromN0`;
const RUN = `test -w echo --bin ${FORWARD} --node-count 2 --time-limit 2 --rate 20 --recovery-time 0`;

/** Each client op's completion with the node its request went to. */
function completions(store: string): Array<{ node: string; type: Op["type"]; error: unknown }> {
  const ops = parseHistory(readFileSync(join(store, "latest", "history.jsonl"), "utf8"));
  const nodeOf = new Map<Op["process"], string | undefined>();
  return ops.flatMap((op) => {
    if (op.process === "nemesis") return [];
    if (op.type === "invoke") {
      nodeOf.set(op.process, op.node);
      return [];
    }
    return [{ node: nodeOf.get(op.process) ?? "?", type: op.type, error: op.error }];
  });
}

interface SendEvent {
  event: string;
  src?: string;
  dest?: string;
  via?: string;
  reason?: string;
  id?: number;
}

function journal(store: string): SendEvent[] {
  return readFileSync(join(store, "latest", "messages.jsonl"), "utf8")
    .trim()
    .split("\n")
    .map((line) => JSON.parse(line) as SendEvent);
}

describe("forwarded client requests", () => {
  it("are delivered and answered by the node they were forwarded to; the run is valid", async () => {
    const store = tempStore();
    const r = await runLine(RUN, store);
    expect(r.exitCode, r.stdout).toBe(0);
    expect(readResults(store).checkers.protocol.valid).toBe(true);
    const viaN1 = completions(store).filter((op) => op.node === "n1");
    expect(viaN1.length).toBeGreaterThan(0);
    for (const op of viaN1) expect(op.type).toBe("ok");
    // The journal names the node that wrote each forwarded message.
    const forwarded = journal(store).filter((e) => e.event === "send" && e.via === "n1");
    expect(forwarded.length).toBe(viaN1.length);
    for (const e of forwarded)
      expect(e).toMatchObject({ src: expect.stringMatching(/^c/), dest: "n0" });
  });

  it("do not get through when the forwarder is cut from their destination", async () => {
    const store = tempStore();
    const r = await runLine(`${RUN} --nemesis-script ${CUT}`, store);
    expect(r.exitCode, r.stdout).toBe(0);
    expect(readResults(store).checkers.protocol.valid).toBe(true);
    const ops = completions(store);
    const viaN1 = ops.filter((op) => op.node === "n1");
    expect(viaN1.length).toBeGreaterThan(0);
    for (const op of viaN1) expect((op.error as string[] | undefined)?.[0]).toBe("net-timeout");
    for (const op of ops.filter((o) => o.node === "n0")) expect(op.type).toBe("ok");
    const events = journal(store);
    const forwardedIds = new Set(
      events.filter((e) => e.event === "send" && e.via === "n1").map((e) => e.id),
    );
    expect(forwardedIds.size).toBe(viaN1.length);
    const dropped = events.filter((e) => e.event === "drop" && forwardedIds.has(e.id));
    expect(dropped.map((e) => e.reason)).toEqual([...forwardedIds].map(() => "partitioned"));
  });
});
