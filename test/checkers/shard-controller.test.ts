import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  type ConfigObservation,
  type ConfigProblem,
  checkShardConfigs,
} from "../../checkers/shard-controller.js";
import { type Config, type Gid, initialConfig, NSHARDS } from "../../protocols/shard-kv.js";
import { ControllerMachine } from "../../systems/shard-kv/controller.js";
import { type GidOrder, join, leave, move } from "../../systems/shard-kv/rebalance.js";

const servers = (gid: Gid) => [`n${gid * 3}`, `n${gid * 3 + 1}`, `n${gid * 3 + 2}`];

/** A config from its shards; its groups are the gids listed (default: those owning shards). */
function cfg(num: number, shards: Gid[], gids: Gid[] = shards.filter((g) => g !== 0)): Config {
  return {
    num,
    shards,
    groups: Object.fromEntries([...new Set(gids)].map((g) => [String(g), servers(g)])),
  };
}

const seen = (configs: readonly Config[], node = "n0"): ConfigObservation[] =>
  configs.map((config, i) => ({ num: config.num, config, node, op_index: 10 + i }));

const kinds = (result: ReturnType<typeof checkShardConfigs>) =>
  (result.problems as ConfigProblem[]).map((p) => p.kind);

const c0 = initialConfig();
const c1 = cfg(1, new Array(NSHARDS).fill(1));
const c2 = cfg(2, [1, 1, 1, 1, 1, 2, 2, 2, 2, 2]);
const c3 = cfg(3, [2, 1, 1, 1, 1, 2, 2, 2, 2, 2]); // move shard 0 to gid 2
const c4 = cfg(4, new Array(NSHARDS).fill(2), [2]); // gid 1 leaves

describe("checkShardConfigs", () => {
  it("accepts a join, join, move, leave history seen by several replicas", () => {
    const result = checkShardConfigs([
      ...seen([c0, c1, c2, c3, c4], "n0"),
      ...seen([c2, c4], "n1"),
      ...seen([structuredClone(c3)], "n2"),
    ]);
    expect(result.valid).toBe(true);
    expect(result.pairs_judged).toBe(4);
    expect(result.summary).toContain("4 consecutive pairs");
  });

  it("is unknown with fewer than two configs observed", () => {
    const result = checkShardConfigs([...seen([c1], "n0"), ...seen([c1], "n1")]);
    expect(result.valid).toBe("unknown");
    expect(checkShardConfigs([]).valid).toBe("unknown");
  });

  it("does not judge movement between configs not observed consecutively", () => {
    // 1 → 3 moved every shard, but 2 is unseen: any number of moves may lie between.
    const far = cfg(3, [2, 2, 2, 2, 2, 1, 1, 1, 1, 1]);
    const result = checkShardConfigs(seen([c1, far]));
    expect(result.valid).toBe(true);
    expect(result.pairs_judged).toBe(0);
  });

  it("accepts shards moved between old groups when the config before was unbalanced", () => {
    const skewed = cfg(5, [1, 1, 1, 1, 1, 1, 1, 1, 2, 3]); // after moves
    const joined = cfg(6, [1, 1, 1, 2, 2, 3, 4, 4, 2, 3]); // 5 moves: the fewest possible
    expect(checkShardConfigs(seen([skewed, joined])).valid).toBe(true);
    const wasteful = cfg(6, [2, 2, 2, 1, 1, 3, 4, 4, 1, 3]); // balanced too, but 8 moves
    const result = checkShardConfigs(seen([skewed, wasteful]));
    expect(result.valid).toBe(false);
    expect(kinds(result)).toEqual(["extra-moves"]);
  });

  it("reports replicas that answer differently for the same num, naming them", () => {
    const other = cfg(2, [2, 2, 2, 2, 2, 1, 1, 1, 1, 1]);
    const result = checkShardConfigs([...seen([c1, c2], "n0"), ...seen([other], "n1")]);
    expect(result.valid).toBe(false);
    expect(kinds(result)).toEqual(["disagree"]);
    expect(result.summary).toMatch(/^Config 2 is not one config: n0 answered .*; n1 answered/);
    expect((result.problems as ConfigProblem[])[0]?.nodes).toEqual(["n0", "n1"]);
    expect(result.ops).toEqual([10, 11]);
    expect(result.pairs_judged).toBe(0); // 2 is not judged against 1
  });

  it("reports a config that is not the one asked for", () => {
    const result = checkShardConfigs([...seen([c0, c1]), { num: 2, config: c1, node: "n2" }]);
    expect(result.valid).toBe(false);
    expect(kinds(result)).toContain("misnumbered");
    expect(result.summary).toMatch(
      /^A query for config 2 was answered by n2 with a config numbered 1 \(/,
    );
  });

  it("reports shards on gid 0 or on a non-member while groups exist", () => {
    const onZero = cfg(2, [1, 1, 1, 1, 1, 0, 0, 0, 0, 0], [1]);
    expect(checkShardConfigs(seen([c1, onZero])).summary).toMatch(
      /^Config 2 leaves shards 5, 6, 7, 8 and 1 more on gid 0 \(no owner\) though gid 1 joined/,
    );
    const onStranger = cfg(2, [1, 1, 1, 1, 1, 7, 7, 7, 7, 7], [1]);
    const result = checkShardConfigs(seen([c1, onStranger]));
    expect(kinds(result)[0]).toBe("unassigned");
    expect(result.summary).toContain(
      "Config 2 puts shards 5, 6, 7, 8 and 1 more on gid 7, which is not one of its groups (gid 1)",
    );
    const noGroups = cfg(2, new Array(NSHARDS).fill(1), []);
    expect(kinds(checkShardConfigs(seen([c1, noGroups])))).toContain("unassigned");
  });

  it("reports an unbalanced join", () => {
    const result = checkShardConfigs(seen([c1, cfg(2, [1, 1, 1, 1, 1, 1, 1, 2, 2, 2])]));
    expect(kinds(result)).toEqual(["unbalanced"]);
    expect(result.summary).toContain("gid 1 has 7 shards and gid 2 has 3");
  });

  it("reports a join that moves shards between old groups", () => {
    const result = checkShardConfigs(seen([c2, cfg(3, [2, 1, 1, 1, 3, 1, 2, 2, 3, 3])]));
    expect(kinds(result)).toEqual(["extra-moves", "wrong-direction"]);
    expect(result.summary).toContain("moved 5 shards where 3 would do");
    const problems = result.problems as ConfigProblem[];
    expect(problems[1]?.text).toContain("moved shard 0 from gid 1 to gid 2");
  });

  it("reports a join that gives the new group more than it needs", () => {
    // Balanced and only onto gid 3, but the extra shard should have stayed with an old group.
    const result = checkShardConfigs(seen([c2, cfg(3, [1, 1, 1, 3, 3, 2, 2, 2, 3, 3])]));
    expect(kinds(result)).toEqual(["extra-moves"]);
    expect(result.summary).toBe(
      "Config 2 → 3 (gid 3 joining) moved 4 shards where 3 would do (1 consecutive pair of configs judged).",
    );
  });

  it("reports a leave that moves a remaining group's shard", () => {
    const before = cfg(3, [1, 1, 1, 1, 2, 2, 2, 3, 3, 3]);
    const after = cfg(4, [2, 1, 1, 1, 2, 2, 2, 1, 1, 2], [1, 2]);
    const result = checkShardConfigs(seen([before, after]));
    expect(kinds(result)).toEqual(["extra-moves", "wrong-direction"]);
    expect((result.problems as ConfigProblem[])[1]?.text).toContain(
      "moved shard 0 away from gid 1, which stayed",
    );
  });

  it("reports a move that changes more than one shard", () => {
    const result = checkShardConfigs(seen([c2, cfg(3, [2, 2, 1, 1, 1, 2, 2, 2, 2, 1])]));
    expect(kinds(result)).toEqual(["multi-move"]);
    expect(result.summary).toContain("3 shards changed owner");
  });

  it("catches the uneven-rebalance bug: two replicas' configs disagree", () => {
    const replicas = [0.1, 0.5, 0.9].map(
      (r) => new ControllerMachine({ unevenRebalance: true, random: () => r }),
    );
    for (const [i, gid] of [1, 2, 3].entries()) {
      for (const m of replicas) {
        m.apply({ op: "join", groups: { [gid]: servers(gid) }, client: "w", seq: i });
      }
    }
    const observations = replicas.flatMap((m, i) =>
      [0, 1, 2, 3].map((num) => ({ num, config: m.config(num) as Config, node: `n${i}` })),
    );
    const result = checkShardConfigs(observations);
    expect(result.valid).toBe(false);
    expect(kinds(result)).toContain("disagree");
  });

  it("property: configs from rebalance.ts, under any tie order, seen in part, are valid", () => {
    const gids = fc.uniqueArray(fc.integer({ min: 1, max: 12 }), { minLength: 1, maxLength: 3 });
    const step = fc.oneof(
      gids.map(
        (g) => (c: Config, order: GidOrder) =>
          join(c, Object.fromEntries(g.map((x) => [x, servers(x)])), order),
      ),
      gids.map((g) => (c: Config, order: GidOrder) => leave(c, g, order)),
      fc.tuple(fc.nat(NSHARDS - 1), fc.integer({ min: 1, max: 12 })).map(
        ([s, g]) =>
          (c: Config) =>
            move(c, s, g),
      ),
    );
    fc.assert(
      fc.property(
        fc.array(step, { maxLength: 30 }),
        fc.uniqueArray(fc.integer({ min: 1, max: 12 }), { minLength: 12, maxLength: 12 }),
        fc.array(fc.boolean(), { minLength: 31, maxLength: 31 }),
        (steps, ranking, shown) => {
          // Any tie order every replica shares is fine; the checker must not assume gid order.
          const order: GidOrder = (a, b) => ranking.indexOf(a) - ranking.indexOf(b);
          const configs = [initialConfig()];
          for (const s of steps) {
            const next = s(configs.at(-1) as Config, order);
            if (next !== undefined) configs.push(next);
          }
          const observed = configs.filter((_, i) => shown[i]);
          const result = checkShardConfigs([...seen(observed, "n0"), ...seen(observed, "n1")]);
          expect(result.valid).toBe(observed.length < 2 ? "unknown" : true);
        },
      ),
      { numRuns: 300 },
    );
  });
});
