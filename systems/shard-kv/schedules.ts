// Nemesis scripts for shard-kv (the manifest's `scripts`): schedules random faults reach too
// rarely to judge a bug by.

import type { ScriptControl, Sent } from "../../protocols/nemesis-script.js";
import {
  type Config,
  controllersOf,
  type Gid,
  groupsOf,
  key2shard,
  parseConfig,
} from "../../protocols/shard-kv.js";

/** How many times retryAcrossMove plays its schedule. */
export const RETRY_ACROSS_MOVE_ROUNDS = 6;
/** A controller request is tried this many times, round the replicas, before the script gives up. */
const MAX_CONTROLLER_ATTEMPTS = 9;
/** Rounds of hold-handoff (each moves one shard); the bug it targets shows in the first. */
export const HOLD_ROUNDS = 3;
/** Rounds of crash-puller and skip-ahead, whose rounds each catch most of the time, not always. */
export const CRASH_ROUNDS = 5;
/** hold-handoff keeps the two groups apart this long after the shard's data went across. */
const HOLD_MS = 3000;
/** skip-ahead: time for the middle owner to install the shard and take writes to it. */
const MIDDLE_OWNER_MS = 2000;
/** crash-puller waits this long for the pull before it lets the round go by (a leader changed). */
const CRASH_WAIT_MS = 5000;
/** Time for the clerk's retry to land after each round, before the next one. */
const ROUND_GAP_MS = 2500;

/** An AppendEntries from a group server carrying a client's append: the key it appends to. */
function appendedKey(sent: Sent, groupServers: ReadonlySet<string>): string | undefined {
  if (sent.body.type !== "append_entries" || !groupServers.has(sent.src)) return undefined;
  for (const entry of (sent.body.entries as Array<{ cmd?: Record<string, unknown> }>) ?? []) {
    const op = entry.cmd?.op as { type?: unknown; key?: unknown } | undefined;
    if (entry.cmd?.type === "op" && op?.type === "append" && typeof op.key === "string") {
      return op.key;
    }
  }
  return undefined;
}

/**
 * A client's append reaches the followers, and its leader crashes before it can answer: the
 * clerk hears nothing and, a second later, retries the same (client, seq). Meanwhile the
 * controller moves the key's shard to another group, so the new leader commits the append and
 * then the move, and the retry goes to the new owner, which must recognise it from the duplicate
 * table that came with the shard (catches no-dedup-transfer: the append lands twice). Each round
 * moves the shard to the next gid round the ring of groups, so every group gives and takes.
 */
export async function retryAcrossMove(control: ScriptControl): Promise<void> {
  const groups = groupsOf(control.nodes);
  const gidOf = new Map([...groups].flatMap(([gid, peers]) => peers.map((n) => [n, gid])));
  const servers = new Set(gidOf.keys());
  const controllers = controllersOf(control.nodes);
  for (let round = 0; round < RETRY_ACROSS_MOVE_ROUNDS; round++) {
    const carriesAppend = (s: Sent) => appendedKey(s, servers) !== undefined;
    const leader = (await control.message(carriesAppend, "a leader replicating an append")).src;
    const sent = await control.crashAfter(leader, carriesAppend, `an append from ${leader}`);
    const key = appendedKey(sent, servers) as string;
    const to = ((gidOf.get(leader) as number) % groups.size) + 1;
    const move = { type: "move", shard: key2shard(key), gid: to, client: "nemesis-script" };
    await askController(control, controllers, { ...move, seq: round + 1 });
    await control.sleep(ROUND_GAP_MS);
  }
}

/** Each controller replica in turn until one accepts (the others answer ErrWrongLeader). */
async function askController(
  control: ScriptControl,
  controllers: readonly string[],
  body: Record<string, unknown> & { type: string },
): Promise<void> {
  for (let attempt = 0; attempt < MAX_CONTROLLER_ATTEMPTS; attempt++) {
    const reply = await control.request(controllers[attempt % controllers.length] as string, body);
    if (reply?.type === `${body.type}_ok`) return;
  }
  throw new Error(`no controller replica accepted ${JSON.stringify(body)}`);
}

/** The controller's latest config, asked of each replica in turn. */
async function latestConfig(
  control: ScriptControl,
  controllers: readonly string[],
): Promise<Config> {
  for (let attempt = 0; attempt < MAX_CONTROLLER_ATTEMPTS; attempt++) {
    const node = controllers[attempt % controllers.length] as string;
    const reply = await control.request(node, { type: "query", num: -1 });
    const config = reply?.type === "query_ok" ? parseConfig(reply.config) : undefined;
    if (config !== undefined) return config;
  }
  throw new Error("no controller replica answered a query for the latest config");
}

/** The joined gids after `gid` round the ring of joined groups (gid itself excluded). */
function gidsAfter(config: Config, gid: Gid): Gid[] {
  const joined = Object.keys(config.groups)
    .map(Number)
    .sort((a, b) => a - b);
  const at = joined.indexOf(gid);
  return [...joined.slice(at + 1), ...joined.slice(0, Math.max(0, at))];
}

/** The node a group's heartbeats come from now: its Raft leader. */
async function leaderOf(
  control: ScriptControl,
  groups: ReadonlyMap<Gid, string[]>,
  gid: Gid,
): Promise<string> {
  const servers = new Set(groups.get(gid));
  const beat = await control.message(
    (s) => s.body.type === "append_entries" && servers.has(s.src),
    `a heartbeat from gid ${gid}'s leader`,
  );
  return beat.src;
}

/** Every directed link between two sets of nodes. */
const between = (a: readonly string[], b: readonly string[]): Array<[string, string]> =>
  a.flatMap((x) =>
    b.flatMap(
      (y): Array<[string, string]> => [
        [x, y],
        [y, x],
      ],
    ),
  );

/**
 * A move of a shard clients are writing to now (one whose append a leader is replicating) to the
 * next group, from the latest config.
 */
async function moveNext(control: ScriptControl, hops = 1) {
  const controllers = controllersOf(control.nodes);
  const servers = new Set([...groupsOf(control.nodes).values()].flat());
  const sent = await control.message(
    (s) => appendedKey(s, servers) !== undefined,
    "a client's append being replicated",
  );
  const shard = key2shard(appendedKey(sent, servers) as string);
  const config = await latestConfig(control, controllers);
  const from = config.shards[shard] as Gid;
  const path = gidsAfter(config, from).slice(0, hops);
  if (path.length < hops) throw new Error(`config ${config.num} has too few groups for the script`);
  return { controllers, shard, from, path };
}

const move = (shard: number, gid: Gid, seq: number) => ({
  type: "move",
  shard,
  gid,
  client: "nemesis-script",
  seq,
});

/**
 * A shard moves, its data reaches the new owner, and then the two groups are cut apart for 3 s,
 * so the old owner never hears that the new one installed it and keeps its copy. Clerks whose
 * cached config is older still send the shard's keys to the old owner, which must refuse them
 * (ErrWrongGroup) until it is told (catches serve-unowned: the old owner acknowledges appends the
 * new owner never sees, and answers reads with stale values).
 */
export async function holdHandoff(control: ScriptControl): Promise<void> {
  const groups = groupsOf(control.nodes);
  for (let round = 0; round < HOLD_ROUNDS; round++) {
    const { controllers, shard, from, path } = await moveNext(control);
    const [to] = path as [Gid];
    const oldOwner = new Set(groups.get(from));
    const handedOver = control.message(
      (s) => s.body.type === "shard_pull_ok" && oldOwner.has(s.src),
      `shard ${shard}'s data leaving gid ${from}`,
    );
    await askController(control, controllers, move(shard, to, round + 1));
    await handedOver;
    const links = between(groups.get(from) ?? [], groups.get(to) ?? []);
    control.cut(links);
    await control.sleep(HOLD_MS);
    control.heal(links);
    await control.sleep(ROUND_GAP_MS);
  }
}

/**
 * The new owner's leader asks the old owner for a shard and crashes at once, so the answer is
 * lost; its successor asks again. The old owner must still have the shard (catches early-gc: it
 * deleted the shard when it answered, and the second answer is empty: every write to the shard
 * is lost).
 */
export async function crashPuller(control: ScriptControl): Promise<void> {
  const groups = groupsOf(control.nodes);
  for (let round = 0; round < CRASH_ROUNDS; round++) {
    const { controllers, shard, from, path } = await moveNext(control);
    const [to] = path as [Gid];
    const [giver, taker] = await Promise.all([
      leaderOf(control, groups, from),
      leaderOf(control, groups, to),
    ]);
    // Only the giver's leader answers a pull (followers say ErrWrongLeader): crash on that one.
    const pulls = (s: Sent) =>
      s.body.type === "shard_pull" && s.body.shard === shard && s.dest === giver;
    const crashed = control.crashAfter(
      taker,
      pulls,
      `gid ${to} asking gid ${from} for shard ${shard}`,
      CRASH_WAIT_MS,
    );
    await askController(control, controllers, move(shard, to, round + 1));
    // A leader that lost its place before pulling never sends: the round just moves the shard.
    await crashed.catch(() => undefined);
    await control.sleep(ROUND_GAP_MS);
  }
}

/**
 * Needs 3 groups. A third group is cut off from the controller while a shard moves twice: from
 * its owner to a second group, which installs it and takes writes, then on to the third. Healed,
 * the third group must take both configs in turn and pull the shard from the second (catches
 * skip-config: it jumps straight to the last config and pulls from the first owner, which no
 * longer has the shard: the writes taken by the second group are lost).
 */
export async function skipAhead(control: ScriptControl): Promise<void> {
  const groups = groupsOf(control.nodes);
  for (let round = 0; round < CRASH_ROUNDS; round++) {
    const { controllers, shard, path } = await moveNext(control, 2);
    const [middle, last] = path as [Gid, Gid];
    const links = between(groups.get(last) ?? [], controllers);
    control.cut(links);
    await askController(control, controllers, move(shard, middle, 2 * round + 1));
    await control.sleep(MIDDLE_OWNER_MS);
    await askController(control, controllers, move(shard, last, 2 * round + 2));
    control.heal(links);
    await control.sleep(ROUND_GAP_MS);
  }
}
