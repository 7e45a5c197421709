// The shard controller's oracle (systems/shard-kv/README.md "Controller RPCs"), judged from the
// configs clients saw in query replies. It checks properties, it does not recompute configs
// (ties may be broken any way every replica agrees on):
//
// - one num, one config: every answer for config n is the same config (a config never changes,
//   and the replicas agree), and it is numbered n;
// - every shard is on a joined group while any group has joined, all on gid 0 otherwise;
// - between consecutive observed configs n−1 and n: when the groups changed (a join or leave),
//   n is balanced (max − min shards per group ≤ 1) and moved no more shards than the fewest any
//   balanced config could; from a balanced n−1, a join moves shards only onto the new groups and
//   a leave only the leaving groups' shards; when the groups did not change (a move), at most
//   one shard changed owner.
//
// Configs not observed consecutively are not judged for movement: the ones between them are
// unknown.
import type { Config, Gid } from "../protocols/shard-kv.js";
import { canonicalKey, listSome, plural } from "./canonical.js";
import type { CheckResult } from "./result.js";

/** A config a client saw: `num` is the one it asked for (the config's own num for "latest"). */
export interface ConfigObservation {
  num: number;
  config: Config;
  /** The controller replica that answered. */
  node: string;
  /** History index of the query's completion, for the report. */
  op_index?: number;
}

export type ProblemKind =
  | "misnumbered"
  | "disagree"
  | "unassigned"
  | "unbalanced"
  | "extra-moves"
  | "wrong-direction"
  | "multi-move";

export interface ConfigProblem {
  kind: ProblemKind;
  /** The config the problem is in (for a change, the newer one). */
  num: number;
  text: string;
  nodes: string[];
  /** History indexes of (some of) the queries that saw the configs involved. */
  ops: number[];
}

/** How many problems the result lists (all are counted). */
export const MAX_LISTED = 32;
/** How many nodes or shards one sentence names. */
const NAMED = 4;
/** How many query ops one problem points at (a config may have been queried thousands of times). */
const OPS_NAMED = 8;

export function checkShardConfigs(observations: readonly ConfigObservation[]): CheckResult {
  const problems: ConfigProblem[] = [];
  const byNum = new Map<number, ConfigObservation[]>();
  /** The nodes and history indexes behind the configs numbered `nums`. */
  const seenIn = (...nums: number[]) => {
    const seen = nums.flatMap((n) => byNum.get(n) ?? []);
    return { nodes: nodesOf(seen), ops: seen.flatMap((o) => o.op_index ?? []).slice(0, OPS_NAMED) };
  };
  for (const o of observations) {
    if (o.config.num !== o.num) {
      problems.push({
        kind: "misnumbered",
        num: o.num,
        text: `a query for config ${o.num} was answered by ${o.node} with a config numbered ${o.config.num}`,
        nodes: [o.node],
        ops: o.op_index === undefined ? [] : [o.op_index],
      });
      continue; // reported; judging it as config o.num would report it twice
    }
    const same = byNum.get(o.num);
    if (same === undefined) byNum.set(o.num, [o]);
    else same.push(o);
  }

  // One config per num; a num whose answers disagree is reported and judged no further.
  const agreed = new Map<number, Config>();
  for (const [num, seen] of byNum) {
    const variants = new Map<string, ConfigObservation[]>();
    for (const o of seen) {
      const key = canonicalKey(o.config);
      const same = variants.get(key);
      if (same === undefined) variants.set(key, [o]);
      else same.push(o);
    }
    if (variants.size === 1) {
      agreed.set(num, (seen[0] as ConfigObservation).config);
      continue;
    }
    const answers = [...variants.values()].map(
      (v) => `${nodesOf(v).join(", ")} answered ${describe((v[0] as ConfigObservation).config)}`,
    );
    problems.push({
      kind: "disagree",
      num,
      text: `config ${num} is not one config: ${answers.slice(0, NAMED).join("; ")}`,
      ...seenIn(num),
    });
  }
  for (const [num, config] of agreed) {
    const wrong = misplaced(config);
    if (wrong !== undefined) {
      problems.push({ kind: "unassigned", num, text: wrong, ...seenIn(num) });
    }
  }

  const nums = [...agreed.keys()].sort((a, b) => a - b);
  let pairs = 0;
  for (const num of nums) {
    const prev = agreed.get(num - 1);
    if (prev === undefined) continue;
    pairs++;
    for (const { kind, text } of judgeChange(prev, agreed.get(num) as Config)) {
      problems.push({ kind, num, text, ...seenIn(num - 1, num) });
    }
  }

  problems.sort((a, b) => a.num - b.num);
  const judged = `${plural(pairs, "consecutive pair")} of configs judged`;
  const details = {
    observation_count: observations.length,
    config_count: byNum.size,
    pairs_judged: pairs,
    problem_count: problems.length,
    problems: problems.slice(0, MAX_LISTED),
  };
  if (problems.length > 0) {
    const first = problems[0] as ConfigProblem;
    const more = problems.length > 1 ? `; ${plural(problems.length - 1, "more problem")}` : "";
    return {
      valid: false,
      summary: `${capitalise(first.text)} (${judged}${more}).`,
      ops: [...new Set(problems.slice(0, MAX_LISTED).flatMap((p) => p.ops))].sort((a, b) => a - b),
      ...details,
    };
  }
  if (byNum.size < 2) {
    return {
      valid: "unknown",
      summary: `Only ${plural(byNum.size, "config")} observed in query replies; judging the controller needs at least two.`,
      ...details,
    };
  }
  const judgement =
    pairs === 0
      ? "no two consecutive configs were observed, so no change was judged"
      : `${judged}, each a balanced join or leave moving the fewest shards, or a move of one`;
  return {
    valid: true,
    summary:
      `All ${byNum.size} observed configs (${nums[0]} to ${nums.at(-1)}) agree across replicas and ` +
      `give every shard to a joined group; ${judgement}.`,
    ...details,
  };
}

/** Gids of a config's groups, ascending. */
function members(config: Config): Gid[] {
  return Object.keys(config.groups)
    .map(Number)
    .sort((a, b) => a - b);
}

/** Shards per group of `groups`, counting `shards` (shards on other gids are not counted). */
function load(shards: readonly Gid[], groups: readonly Gid[]): Map<Gid, number> {
  const out = new Map<Gid, number>(groups.map((g) => [g, 0]));
  for (const g of shards) {
    const n = out.get(g);
    if (n !== undefined) out.set(g, n + 1);
  }
  return out;
}

/** Why a config has a shard on nobody or on a non-member, or undefined when it does not. */
function misplaced(config: Config): string | undefined {
  const gids = members(config);
  const joined = new Set(gids);
  const wrong = new Map<Gid, number[]>();
  config.shards.forEach((g, s) => {
    if (joined.size === 0 ? g !== 0 : !joined.has(g)) wrong.set(g, [...(wrong.get(g) ?? []), s]);
  });
  const first = [...wrong].sort((a, b) => a[0] - b[0])[0];
  if (first === undefined) return undefined;
  const [gid, shards] = first;
  const list = `${shards.length === 1 ? "shard" : "shards"} ${listSome(shards.map(String), NAMED)}`;
  const more =
    wrong.size > 1 ? ` (and shards on ${plural(wrong.size - 1, "other wrong gid")})` : "";
  if (joined.size === 0) {
    return `config ${config.num} has no groups yet puts ${list} on gid ${gid}; with no groups every shard is on gid 0${more}`;
  }
  const groups = `${gids.length === 1 ? "gid" : "gids"} ${gids.join(", ")}`;
  return gid === 0
    ? `config ${config.num} leaves ${list} on gid 0 (no owner) though ${groups} joined${more}`
    : `config ${config.num} puts ${list} on gid ${gid}, which is not one of its groups (${groups})${more}`;
}

/** Whether every group holds within one shard of every other (trivially so with no groups). */
function isBalanced(config: Config): boolean {
  const counts = [...load(config.shards, members(config)).values()];
  return counts.length === 0 || Math.max(...counts) - Math.min(...counts) <= 1;
}

/**
 * The fewest shards that must change owner to reach a balanced config over `groups` from
 * `shards`: a group can keep at most its target (⌊N/G⌋, or one more for N mod G of them), and
 * keeping the most means giving the larger targets to the groups that hold the most.
 */
function fewestMoves(shards: readonly Gid[], groups: readonly Gid[]): number {
  if (groups.length === 0) return shards.filter((g) => g !== 0).length;
  const held = [...load(shards, groups).values()].sort((a, b) => b - a);
  const small = Math.floor(shards.length / groups.length);
  const larger = shards.length % groups.length;
  const kept = held.reduce((sum, h, i) => sum + Math.min(h, small + (i < larger ? 1 : 0)), 0);
  return shards.length - kept;
}

function judgeChange(prev: Config, next: Config): Array<{ kind: ProblemKind; text: string }> {
  const before = new Set(members(prev));
  const after = members(next);
  const added = after.filter((g) => !before.has(g));
  const removed = [...before].filter((g) => !after.includes(g));
  const moved = next.shards.flatMap((g, s) => (prev.shards[s] === g ? [] : [s]));
  const change = `${prev.num} → ${next.num}`;
  if (added.length === 0 && removed.length === 0) {
    if (moved.length <= 1) return [];
    return [
      {
        kind: "multi-move",
        text:
          `config ${change} kept the same groups, so it is a move, yet ${moved.length} shards ` +
          `changed owner (${listSome(moved.map(String), NAMED)}); a move changes one`,
      },
    ];
  }
  const gids = (list: Gid[]) => `${list.length === 1 ? "gid" : "gids"} ${list.join(", ")}`;
  const what = [
    ...(added.length > 0 ? [`${gids(added)} joining`] : []),
    ...(removed.length > 0 ? [`${gids(removed)} leaving`] : []),
  ].join(" and ");
  const out: Array<{ kind: ProblemKind; text: string }> = [];
  if (!isBalanced(next)) {
    const counts = [...load(next.shards, after)].sort((a, b) => b[1] - a[1]);
    const [most, least] = [counts[0] as [Gid, number], counts.at(-1) as [Gid, number]];
    out.push({
      kind: "unbalanced",
      text:
        `config ${change} (${what}) is unbalanced: gid ${most[0]} has ${plural(most[1], "shard")} ` +
        `and gid ${least[0]} has ${least[1]}`,
    });
  }
  const fewest = fewestMoves(prev.shards, after);
  if (moved.length > fewest) {
    out.push({
      kind: "extra-moves",
      text: `config ${change} (${what}) moved ${plural(moved.length, "shard")} where ${fewest} would do`,
    });
  }
  // From a balanced config the fewest moves go one way; after a move they may have to go both.
  if (
    isBalanced(prev) &&
    misplaced(prev) === undefined &&
    (added.length === 0) !== (removed.length === 0)
  ) {
    const stray =
      added.length > 0
        ? moved.filter((s) => !added.includes(next.shards[s] as Gid))
        : moved.filter(
            (s) => before.has(prev.shards[s] as Gid) && after.includes(prev.shards[s] as Gid),
          );
    if (stray.length > 0) {
      const s = stray[0] as number;
      out.push({
        kind: "wrong-direction",
        text:
          added.length > 0
            ? `config ${change} (${what}) moved shard ${s} from gid ${prev.shards[s]} to gid ${next.shards[s]}, ` +
              `which was already there; a join should move shards only onto the new groups`
            : `config ${change} (${what}) moved shard ${s} away from gid ${prev.shards[s]}, which stayed; ` +
              `a leave should move only the leaving groups' shards`,
      });
    }
  }
  return out;
}

/** "shards [1,1,2,…] over gids 1, 2" for a sentence. */
function describe(config: Config): string {
  const gids = members(config);
  return `shards [${config.shards.join(",")}] over ${gids.length === 0 ? "no groups" : `gids ${gids.join(", ")}`}`;
}

function nodesOf(seen: readonly ConfigObservation[]): string[] {
  return [...new Set(seen.map((o) => o.node))].sort();
}

function capitalise(text: string): string {
  return text.charAt(0).toUpperCase() + text.slice(1);
}
