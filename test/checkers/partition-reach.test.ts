// The warning that a run's partitions never cut off a pair of nodes that talked (issue 13).
import { describe, expect, it } from "vitest";
import { partitionReachWarning, type TalkGraph } from "../../checkers/partition-reach.js";
import { makePartition, type PartitionShape } from "../../harness/nemesis/partition-shapes.js";
import { Random } from "../../harness/random.js";
import { HistoryBuilder } from "./build-history.js";

const NODES = ["n0", "n1", "n2", "n3", "n4"];
/** Every node talks to every other, as a broadcast or a leader's replication does. */
const EVERYONE: TalkGraph = new Map(NODES.map((n) => [n, new Set(NODES.filter((m) => m !== n))]));

function history(shapes: PartitionShape[]) {
  const h = new HistoryBuilder();
  shapes.forEach((shape, seed) => {
    h.op(0, "read", null, "ok", 1);
    h.nemesis("start-partition", makePartition(shape, NODES, new Random(seed)));
    h.op(0, "read", null, "ok", 1);
    h.nemesis("stop-partition", {});
  });
  return h.ops;
}

describe("partitionReachWarning", () => {
  it("warns when every partition kept talking pairs connected through others", () => {
    expect(partitionReachWarning(history(["majorities-ring", "majorities-ring"]), EVERYONE)).toBe(
      "no partition disconnected nodes that talked: majorities-ring ×2 kept every pair that exchanged messages connected through others",
    );
    expect(partitionReachWarning(history(["bridge"]), EVERYONE)).toMatch(/bridge ×1 kept/);
  });

  it("says so plainly when the nodes never talked to each other (e.g. only to a kv service)", () => {
    expect(partitionReachWarning(history(["halves"]), new Map())).toBe(
      "no partition cut anything the run used: its nodes sent each other no messages (partitions cut only node-to-node links)",
    );
  });

  it("is silent once a partition cut talking nodes apart (halves, even after a ring)", () => {
    expect(partitionReachWarning(history(["majorities-ring", "halves"]), EVERYONE)).toBeUndefined();
    expect(partitionReachWarning(history(["isolate-one"]), EVERYONE)).toBeUndefined();
  });

  it("counts only links that carried traffic: a relay nobody used is no path", () => {
    // n0 and n1 talk only to each other: the other nodes hear both, but relay nothing for them.
    const pair: TalkGraph = new Map([
      ["n0", new Set(["n1"])],
      ["n1", new Set(["n0"])],
    ]);
    const h = new HistoryBuilder();
    h.nemesis("start-partition", {
      shape: "bridge",
      cut: [
        ["n0", "n1"],
        ["n1", "n0"],
      ],
    });
    expect(partitionReachWarning(h.ops, pair)).toBeUndefined();
  });

  it("is silent without partitions, and leaves a script's own cuts out", () => {
    expect(partitionReachWarning(history([]), EVERYONE)).toBeUndefined();
    const h = new HistoryBuilder();
    h.nemesis("start-partition", { shape: "script", cut: [] });
    expect(partitionReachWarning(h.ops, EVERYONE)).toBeUndefined();
  });
});
