// The `reconfigure` fault for shard-kv (ARCHITECTURE.md "Faults"): the nemesis asks the driver,
// on its schedule, to change the configuration through the controller, the way MIT's shardkv
// tests do (TestJoinLeave, TestConcurrent*): a joined group leaves, or one shard moves to another
// group; the stop undoes it (the group joins back, the shard moves back).
import { type Config, type Gid, NSHARDS } from "../../protocols/shard-kv.js";
import type { Rng } from "../workload.js";

/** One change the nemesis makes, and what undoes it. */
export type Change =
  | { f: "leave"; gid: Gid }
  | { f: "join"; gid: Gid }
  | { f: "move"; shard: number; gid: Gid; from: Gid };

/**
 * The change a start makes: a leave of a random joined group (one always stays) or a move of a
 * random shard to another joined group, each as likely when both can be made; undefined when
 * neither can (one group only). A move needs the current config (who owns the shard now).
 */
export function planChange(
  joined: readonly Gid[],
  config: Config | undefined,
  random: Rng,
): Change | undefined {
  if (joined.length < 2) return undefined;
  const movable = config
    ? Array.from({ length: NSHARDS }, (_, s) => s).filter((s) =>
        joined.includes(config.shards[s] ?? 0),
      )
    : [];
  if (movable.length === 0 || random.chance(0.5)) {
    return { f: "leave", gid: random.pick(joined) };
  }
  const shard = random.pick(movable);
  const from = (config as Config).shards[shard] as Gid;
  return { f: "move", shard, gid: random.pick(joined.filter((g) => g !== from)), from };
}

/** The change that undoes `change`. */
export function undo(change: Change): Change {
  switch (change.f) {
    case "leave":
      return { f: "join", gid: change.gid };
    case "join":
      return { f: "leave", gid: change.gid };
    case "move":
      return { f: "move", shard: change.shard, gid: change.from, from: change.gid };
  }
}

/** "leave gid 2", "move shard 3 from gid 1 to gid 2": what the nemesis event says was done. */
export function describeChange(change: Change): string {
  return change.f === "move"
    ? `move shard ${change.shard} from gid ${change.from} to gid ${change.gid}`
    : `${change.f} gid ${change.gid}`;
}
