// The shard-kv contract (systems/shard-kv/README.md "The interface a replacement must speak"),
// shared by the reference system and the workload that tests any system speaking it: the shard
// count, which shard a key lives in, the config shape, and who is who among the nodes.

/** MIT 6.5840's NShards. */
export const NSHARDS = 10;

/** The controller replicas: the first nodes of init's node_ids. */
export const CONTROLLER_COUNT = 3;
/** Servers per replica group: the next nodes, in consecutive runs of this many. */
export const GROUP_SIZE = 3;

/** Text an error 11 starts with when the shard is not this group's (MIT's ErrWrongGroup). */
export const WRONG_GROUP = "ErrWrongGroup";
/** Text of an error 11 from a replica that cannot propose (MIT's ErrWrongLeader). */
export const WRONG_LEADER = "ErrWrongLeader";

/** A replica group id; 0 owns nothing (config 0's shards, all unassigned). */
export type Gid = number;

/** One configuration: never changes once made. */
export interface Config {
  num: number;
  /** shards[s] is the gid that owns shard s (0 = nobody). */
  shards: Gid[];
  /** Each joined group's servers, keyed by the gid in decimal. */
  groups: Record<string, string[]>;
}

/** Config 0: no groups, every shard unassigned. */
export function initialConfig(): Config {
  return { num: 0, shards: new Array<Gid>(NSHARDS).fill(0), groups: {} };
}

/** MIT's key2shard: the key's first character code mod NSHARDS, 0 for "". */
export function key2shard(key: string): number {
  return key.length === 0 ? 0 : key.charCodeAt(0) % NSHARDS;
}

export type Role =
  | { kind: "controller"; peers: string[] }
  | { kind: "group"; gid: Gid; peers: string[] };

/** How many groups a cluster of `nodeCount` nodes has, or undefined when it is not 3 + 3G, G ≥ 1. */
export function groupCount(nodeCount: number): number | undefined {
  const rest = nodeCount - CONTROLLER_COUNT;
  if (rest < GROUP_SIZE || rest % GROUP_SIZE !== 0) return undefined;
  return rest / GROUP_SIZE;
}

/** Every group's servers by gid (1, 2, …), from init's node_ids in order. */
export function groupsOf(nodeIds: readonly string[]): Map<Gid, string[]> {
  const groups = new Map<Gid, string[]>();
  for (let i = CONTROLLER_COUNT; i + GROUP_SIZE <= nodeIds.length; i += GROUP_SIZE) {
    groups.set(1 + (i - CONTROLLER_COUNT) / GROUP_SIZE, nodeIds.slice(i, i + GROUP_SIZE));
  }
  return groups;
}

/** The controller replicas, from init's node_ids in order. */
export function controllersOf(nodeIds: readonly string[]): string[] {
  return nodeIds.slice(0, CONTROLLER_COUNT);
}

/** A node's role from init; throws when node_ids is not 3 + 3G nodes or does not contain it. */
export function roleOf(nodeId: string, nodeIds: readonly string[]): Role {
  if (groupCount(nodeIds.length) === undefined) {
    throw new RangeError(
      `shard-kv needs ${CONTROLLER_COUNT} + ${GROUP_SIZE}×G nodes (G ≥ 1), got ${nodeIds.length}`,
    );
  }
  const controllers = controllersOf(nodeIds);
  if (controllers.includes(nodeId)) return { kind: "controller", peers: controllers };
  for (const [gid, peers] of groupsOf(nodeIds)) {
    if (peers.includes(nodeId)) return { kind: "group", gid, peers };
  }
  throw new RangeError(`${nodeId} is not in node_ids`);
}

/** A config from a reply, or undefined when it does not have the shape (values are untrusted). */
export function parseConfig(value: unknown): Config | undefined {
  if (typeof value !== "object" || value === null) return undefined;
  const { num, shards, groups } = value as Record<string, unknown>;
  if (!Number.isSafeInteger(num) || (num as number) < 0) return undefined;
  if (!Array.isArray(shards) || shards.length !== NSHARDS) return undefined;
  if (!shards.every((g) => Number.isSafeInteger(g) && g >= 0)) return undefined;
  if (typeof groups !== "object" || groups === null || Array.isArray(groups)) return undefined;
  for (const [gid, servers] of Object.entries(groups)) {
    if (!/^[1-9]\d*$/.test(gid)) return undefined;
    if (!Array.isArray(servers) || !servers.every((s) => typeof s === "string")) return undefined;
  }
  return {
    num: num as number,
    shards: shards as Gid[],
    groups: groups as Record<string, string[]>,
  };
}
