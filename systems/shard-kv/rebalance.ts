// The shard controller's pure core (README.md "Controller RPCs"): the next config after a join,
// leave or move. Every controller replica applies the same commands and must compute the same
// config, so nothing here depends on Map/Object iteration order or randomness: ties among
// groups are broken by `order`, gid order unless the uneven-rebalance bug passes another.
//
// Join and leave rebalance with as few shards moved as possible. With G groups each gets
// ⌊NSHARDS/G⌋ shards and NSHARDS mod G of them one more; those extra places go to the groups
// that hold the most shards already (so they keep them), and each group keeps its lowest-numbered
// shards up to its target. Only what is left over moves, onto the groups still below target.
// From a balanced config this means a join takes shards only from over-full groups and gives
// them only to the new groups, and a leave moves only the leaving groups' shards.
import { type Config, type Gid, NSHARDS } from "../../protocols/shard-kv.js";

/** How groups are ranked when they tie (a comparator on gids). */
export type GidOrder = (a: Gid, b: Gid) => number;

/** The correct tie-break: ascending gid, the same on every replica. */
export const byGid: GidOrder = (a, b) => a - b;

/** The gids of a groups record (a config's `groups`), ascending. */
export function gidsOf(groups: Readonly<Record<string, unknown>>): Gid[] {
  return Object.keys(groups)
    .map(Number)
    .sort((a, b) => a - b);
}

/** A copy of a groups record, so a new config shares no array with the old one. */
function copyGroups(groups: Record<string, string[]>): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const gid of Object.keys(groups)) out[gid] = [...(groups[gid] as string[])];
  return out;
}

/**
 * Balanced shards over `members` (each gets ⌊N/G⌋ or ⌈N/G⌉), moving the fewest shards from
 * `shards`. Shards on a gid not in `members` (0, or a group that left) are unassigned and always
 * move. With no members every shard is 0.
 */
export function balance(
  shards: readonly Gid[],
  members: readonly Gid[],
  order: GidOrder = byGid,
): Gid[] {
  if (members.length === 0) return new Array<Gid>(NSHARDS).fill(0);
  const count = new Map<Gid, number>(members.map((g) => [g, 0]));
  for (const g of shards) if (count.has(g)) count.set(g, (count.get(g) as number) + 1);

  const base = Math.floor(NSHARDS / members.length);
  const extra = NSHARDS % members.length;
  const ranked = [...members].sort(
    (a, b) => (count.get(b) as number) - (count.get(a) as number) || order(a, b),
  );
  const target = new Map<Gid, number>(ranked.map((g, i) => [g, base + (i < extra ? 1 : 0)]));

  const next = [...shards];
  const kept = new Map<Gid, number>(members.map((g) => [g, 0]));
  const free: number[] = [];
  for (let s = 0; s < NSHARDS; s++) {
    const owner = next[s] as Gid;
    const k = kept.get(owner);
    if (k !== undefined && k < (target.get(owner) as number)) kept.set(owner, k + 1);
    else free.push(s);
  }
  for (const g of [...members].sort(order)) {
    for (let k = kept.get(g) as number; k < (target.get(g) as number); k++) {
      next[free.shift() as number] = g;
    }
  }
  return next;
}

/**
 * The config after joining `groups` (gid in decimal → servers), or undefined when every gid in
 * it has joined already (no new config). Gids already joined keep their servers; the new ones
 * are added.
 */
export function join(
  prev: Config,
  groups: Record<string, readonly string[]>,
  order: GidOrder = byGid,
): Config | undefined {
  const fresh = Object.keys(groups).filter((gid) => !Object.hasOwn(prev.groups, gid));
  if (fresh.length === 0) return undefined;
  const next = copyGroups(prev.groups);
  for (const gid of fresh) next[gid] = [...(groups[gid] as string[])];
  return { num: prev.num + 1, shards: balance(prev.shards, gidsOf(next), order), groups: next };
}

/** The config after `gids` leave, or undefined when none of them is a member (no new config). */
export function leave(
  prev: Config,
  gids: readonly Gid[],
  order: GidOrder = byGid,
): Config | undefined {
  const leaving = new Set(gids.map(String).filter((gid) => Object.hasOwn(prev.groups, gid)));
  if (leaving.size === 0) return undefined;
  const next: Record<string, string[]> = {};
  for (const [gid, servers] of Object.entries(copyGroups(prev.groups))) {
    if (!leaving.has(gid)) next[gid] = servers;
  }
  return { num: prev.num + 1, shards: balance(prev.shards, gidsOf(next), order), groups: next };
}

/** The config with `shard` on `gid`, or undefined when gid has not joined or the shard is not one. */
export function move(prev: Config, shard: number, gid: Gid): Config | undefined {
  if (!Object.hasOwn(prev.groups, String(gid))) return undefined;
  if (!Number.isSafeInteger(shard) || shard < 0 || shard >= NSHARDS) return undefined;
  const shards = [...prev.shards];
  shards[shard] = gid;
  return { num: prev.num + 1, shards, groups: copyGroups(prev.groups) };
}
