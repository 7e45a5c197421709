import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { type Config, type Gid, initialConfig, NSHARDS } from "../../protocols/shard-kv.js";
import { balance, byGid, gidsOf, join, leave, move } from "../../systems/shard-kv/rebalance.js";

type Step =
  | { op: "join"; gids: Gid[] }
  | { op: "leave"; gids: Gid[] }
  | { op: "move"; shard: number; gid: Gid };

const MAX_GID = 13; // more groups than shards, so a group may own nothing
const gids = fc.uniqueArray(fc.integer({ min: 1, max: MAX_GID }), { minLength: 1, maxLength: 4 });
const step: fc.Arbitrary<Step> = fc.oneof(
  fc.record({ op: fc.constant("join" as const), gids }),
  fc.record({ op: fc.constant("leave" as const), gids }),
  fc.record({
    op: fc.constant("move" as const),
    shard: fc.integer({ min: 0, max: NSHARDS - 1 }),
    gid: fc.integer({ min: 1, max: MAX_GID }),
  }),
);
const steps = fc.array(step, { maxLength: 30 });

const servers = (gid: Gid) => [`s${gid}a`, `s${gid}b`, `s${gid}c`];
function groupsRecord(list: readonly Gid[]): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const gid of list) out[gid] = servers(gid);
  return out;
}

/** Frozen all the way down, so a function that mutates its input throws. */
function deepFreeze<T>(value: T): T {
  if (typeof value === "object" && value !== null) {
    for (const v of Object.values(value)) deepFreeze(v);
    Object.freeze(value);
  }
  return value;
}

function apply(prev: Config, s: Step): Config | undefined {
  switch (s.op) {
    case "join":
      return join(prev, groupsRecord(s.gids));
    case "leave":
      return leave(prev, s.gids);
    case "move":
      return move(prev, s.shard, s.gid);
  }
}

function counts(config: Config): Map<Gid, number> {
  const out = new Map<Gid, number>(gidsOf(config.groups).map((g) => [g, 0]));
  for (const g of config.shards) if (out.has(g)) out.set(g, (out.get(g) as number) + 1);
  return out;
}

function isBalanced(config: Config): boolean {
  const c = [...counts(config).values()];
  return c.length === 0 || Math.max(...c) - Math.min(...c) <= 1;
}

/** Every shard on a member, or every shard on 0 when there are none. */
function allAssigned(config: Config): boolean {
  const members = new Set(gidsOf(config.groups));
  return config.shards.every((g) => (members.size === 0 ? g === 0 : members.has(g)));
}

function subsets<T>(items: readonly T[], size: number): T[][] {
  if (size === 0) return [[]];
  if (items.length < size) return [];
  const [first, ...rest] = items as [T, ...T[]];
  return [...subsets(rest, size - 1).map((s) => [first, ...s]), ...subsets(rest, size)];
}

/** The fewest shards any balanced config over `members` can move from `prev`, by brute force. */
function minimumMoved(prev: Config, members: readonly Gid[]): number {
  if (members.length === 0) return prev.shards.filter((g) => g !== 0).length;
  const have = (g: Gid) => prev.shards.filter((o) => o === g).length;
  const base = Math.floor(NSHARDS / members.length);
  let best = 0;
  for (const bigger of subsets(members, NSHARDS % members.length)) {
    const kept = members.reduce(
      (sum, g) => sum + Math.min(have(g), base + (bigger.includes(g) ? 1 : 0)),
      0,
    );
    best = Math.max(best, kept);
  }
  return NSHARDS - best;
}

const movedShards = (a: Config, b: Config) =>
  a.shards.flatMap((g, s) => (b.shards[s] === g ? [] : [s]));

describe("rebalance", () => {
  it("first join spreads every shard over the groups, ties to the lowest gids", () => {
    const c = join(initialConfig(), groupsRecord([3, 1, 2])) as Config;
    expect(c.num).toBe(1);
    expect(c.shards).toEqual([1, 1, 1, 1, 2, 2, 2, 3, 3, 3]);
    expect(Object.keys(c.groups)).toEqual(["1", "2", "3"]);
  });

  it("a join takes shards only from over-full groups; a leave moves only the leaver's", () => {
    const one = join(initialConfig(), groupsRecord([1])) as Config;
    const two = join(one, groupsRecord([2])) as Config;
    expect(two.shards).toEqual([1, 1, 1, 1, 1, 2, 2, 2, 2, 2]);
    const three = join(two, groupsRecord([3])) as Config;
    expect(three.shards).toEqual([1, 1, 1, 1, 3, 2, 2, 2, 3, 3]);
    const left = leave(three, [1]) as Config;
    expect(left.shards).toEqual([2, 2, 3, 3, 3, 2, 2, 2, 3, 3]);
    expect(Object.keys(left.groups)).toEqual(["2", "3"]);
  });

  it("rejoin after leave, leave of everyone, no-ops and refused moves", () => {
    const one = join(initialConfig(), groupsRecord([1])) as Config;
    expect(join(one, groupsRecord([1]))).toBeUndefined();
    expect(leave(one, [2])).toBeUndefined();
    expect(move(one, 3, 2)).toBeUndefined();
    expect(move(one, NSHARDS, 1)).toBeUndefined();
    const empty = leave(one, [1]) as Config;
    expect(empty.shards).toEqual(new Array(NSHARDS).fill(0));
    expect(empty.groups).toEqual({});
    const again = join(empty, groupsRecord([1])) as Config;
    expect(again.num).toBe(3);
    expect(again.shards).toEqual(new Array(NSHARDS).fill(1));
  });

  it("a join naming joined and new gids adds only the new ones, old servers kept", () => {
    const one = join(initialConfig(), groupsRecord([1])) as Config;
    const both = join(one, { "1": ["other"], "2": servers(2) }) as Config;
    expect(both.groups).toEqual({ "1": servers(1), "2": servers(2) });
  });

  it("the tie-break order decides which group gets the extra shard", () => {
    const reversed = (a: Gid, b: Gid) => b - a;
    expect(balance(new Array(NSHARDS).fill(0), [1, 2, 3], byGid)).toEqual([
      1, 1, 1, 1, 2, 2, 2, 3, 3, 3,
    ]);
    expect(balance(new Array(NSHARDS).fill(0), [1, 2, 3], reversed)).toEqual([
      3, 3, 3, 3, 2, 2, 2, 1, 1, 1,
    ]);
  });

  it("property: balanced, all assigned, minimal and one-directional movement, inputs untouched", () => {
    fc.assert(
      fc.property(steps, (list) => {
        let prev = deepFreeze(initialConfig());
        for (const s of list) {
          const next = apply(prev, s);
          const before = new Set(gidsOf(prev.groups));
          if (next === undefined) {
            // Only no-ops and refused moves make no config.
            if (s.op === "join") expect(s.gids.every((g) => before.has(g))).toBe(true);
            if (s.op === "leave") expect(s.gids.some((g) => before.has(g))).toBe(false);
            if (s.op === "move") expect(before.has(s.gid)).toBe(false);
            continue;
          }
          expect(next.num).toBe(prev.num + 1);
          expect(allAssigned(next)).toBe(true);
          const moved = movedShards(prev, next);
          const after = gidsOf(next.groups);
          if (s.op === "move") {
            expect(next.groups).toEqual(prev.groups);
            expect(next.shards[s.shard]).toBe(s.gid);
            expect(moved.length).toBeLessThanOrEqual(1);
          } else {
            expect(isBalanced(next)).toBe(true);
            expect(moved.length).toBe(minimumMoved(prev, after));
            if (isBalanced(prev) && allAssigned(prev)) {
              for (const shard of moved) {
                if (s.op === "join") expect(before.has(next.shards[shard] as Gid)).toBe(false);
                else expect(s.gids).toContain(prev.shards[shard]);
              }
            }
          }
          prev = deepFreeze(next);
        }
      }),
      { numRuns: 300 },
    );
  });

  it("property: deterministic whatever the order the gids were listed in", () => {
    fc.assert(
      fc.property(steps, fc.integer(), (list, seed) => {
        // The same steps, each with its gids in another order (a join's groups record is built
        // in that insertion order, a leave's array is permuted).
        const shuffled = list.map((s): Step => {
          if (s.op === "move") return s;
          const order = [...s.gids].sort((a, b) => ((a * 7919) ^ seed) - ((b * 7919) ^ seed));
          return { ...s, gids: order };
        });
        let a = initialConfig();
        let b = initialConfig();
        for (let i = 0; i < list.length; i++) {
          a = apply(a, list[i] as Step) ?? a;
          b = apply(b, shuffled[i] as Step) ?? b;
          expect(b).toEqual(a);
          expect(JSON.stringify(b)).toBe(JSON.stringify(a));
        }
      }),
      { numRuns: 200 },
    );
  });
});
