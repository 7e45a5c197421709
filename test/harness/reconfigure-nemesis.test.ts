// The `reconfigure` fault kind: the maelstrom nemesis runs it through the driver's hook on the
// shared schedule, records each start and stop with what the hook did, undoes one still in force
// at the heal, and will not run without a hook.
import { describe, expect, it } from "vitest";
import type { Cluster } from "../../harness/cluster.js";
import type { HistoryRecorder } from "../../harness/history-recorder.js";
import { LinkTable } from "../../harness/links.js";
import type { Logger } from "../../harness/logger.js";
import { DEFAULT_PACKET_FAULTS, Nemesis } from "../../harness/nemesis/nemesis.js";
import { Random } from "../../harness/random.js";
import type { HistoryEvent, ReconfigureHook } from "../../workloads/plugin.js";

function nemesis(hook: ReconfigureHook | undefined) {
  const events: HistoryEvent[] = [];
  const history = { record: (e: HistoryEvent) => events.push(e) } as unknown as HistoryRecorder;
  const log = { info: () => {} } as unknown as Logger;
  const made = () =>
    new Nemesis(
      { faults: ["reconfigure"], interval_s: 0.01, packet: DEFAULT_PACKET_FAULTS },
      ["n0", "n1", "n2", "n3", "n4", "n5", "n6", "n7", "n8"],
      {} as Cluster,
      new LinkTable({ mean_ms: 0, dist: "constant" }),
      history,
      new Random(1),
      log,
      undefined,
      hook,
    );
  return { made, events };
}

describe("reconfigure faults", () => {
  it("records what the hook did at each start and stop, and undoes one in force at the heal", async () => {
    let n = 0;
    const calls: string[] = [];
    const stop = new AbortController();
    const hook: ReconfigureHook = {
      start: async (random) => {
        random.float();
        calls.push("start");
        // The run ends while this change is in force: the heal must undo it.
        stop.abort();
        return `leave gid ${++n}: ok (n0)`;
      },
      stop: async () => {
        calls.push("stop");
        return `join gid ${n}: ok (n0)`;
      },
    };
    const { made, events } = nemesis(hook);
    const nem = made();
    await nem.run(stop.signal);
    await nem.heal();
    expect(calls).toEqual(["start", "stop"]);
    expect(events.map((e) => [e.f, e.value])).toEqual([
      ["start-reconfigure", { change: "leave gid 1: ok (n0)" }],
      ["heal", { reconfigure: "join gid 1: ok (n0)" }],
    ]);
  });

  it("records nothing when the hook had nothing to change, and never stops it", async () => {
    const calls: string[] = [];
    const { made, events } = nemesis({
      start: async () => {
        calls.push("start");
        return false;
      },
      stop: async () => {
        calls.push("stop");
        return "";
      },
    });
    const nem = made();
    const stop = new AbortController();
    const run = nem.run(stop.signal);
    while (calls.length < 3) await new Promise((r) => setTimeout(r, 1));
    stop.abort();
    await run;
    await nem.heal();
    expect(calls.every((c) => c === "start")).toBe(true);
    expect(events.map((e) => e.f)).toEqual(["heal"]);
  });

  it("needs the driver's hook", () => {
    expect(() => nemesis(undefined).made()).toThrow(
      "reconfigure faults need a driver with a reconfigure hook",
    );
  });
});
