// Nemesis scripts for shard-kv (the manifest's `scripts`): schedules random faults reach too
// rarely to judge a bug by.

import type { ScriptControl, Sent } from "../../protocols/nemesis-script.js";
import { controllersOf, groupsOf, key2shard } from "../../protocols/shard-kv.js";

/** How many times retryAcrossMove plays its schedule. */
export const RETRY_ACROSS_MOVE_ROUNDS = 6;
/** A controller request is tried this many times, round the replicas, before the script gives up. */
const MAX_CONTROLLER_ATTEMPTS = 9;
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
