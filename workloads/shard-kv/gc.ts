// The GC phase of the shard-kv workload, for the `shard-gc` check (checkers/shard-gc.ts, MIT's
// Challenge 1): after the final reads, with no fault in force, it
//   1. puts GC_VALUE_BYTES into GC_KEYS_PER_SHARD keys of every shard;
//   2. moves every shard through every group: for each group, every other group leaves and joins
//      again, so each group owns all the data once and gives most of it away;
//   3. reads those keys back (the shards have arrived), then overwrites them with small values,
//      so the large values now live only in copies a group should have deleted;
//   4. puts GC_COMPACTION_PUTS_PER_GROUP small values into each group's shards, so a system that
//      compacts its log at least every few hundred entries has done so;
//   5. reads every key it wrote once more, and measures each group server's data directory against its group's live data, until every
//      server is within the bound or GC_SETTLE_MS passes (deletion is asynchronous).
// Every op is an ordinary recorded op; the measurement is one `gc-measure` op spanning the phase.
import { lstat, readdir } from "node:fs/promises";
import { join } from "node:path";
import type { CompletionType } from "../../checkers/history.js";
import {
  GC_MEASURE_F,
  type GcMeasurement,
  gcBound,
  type ServerBytes,
} from "../../checkers/shard-gc.js";
import { type Config, type Gid, key2shard, NSHARDS } from "../../protocols/shard-kv.js";
import type { HistoryEvent } from "../plugin.js";
import type { Body } from "../protocol.js";
import { sleepUnlessAborted } from "../timing.js";
import { type Clerk, type ClerkOutcome, RETRY_PAUSE_MS } from "./clerk.js";

export const GC_KEYS_PER_SHARD = 2;
export const GC_VALUE_BYTES = 64 * 1024;
/** Above Raft's usual snapshot thresholds and Paxos's compaction every 256 slots. */
export const GC_COMPACTION_PUTS_PER_GROUP = 600;
/** Deleting a given-away shard takes a round or two of the groups' background work. */
export const GC_SETTLE_MS = 15_000;
export const GC_POLL_MS = 500;
/** Steps 1–3 retry a read or a definitely failed write until this long after the phase began, */
export const GC_MOVE_DEADLINE_MS = 60_000;
/** and at most this many times (each try is a clerk op, itself retried for up to 5 s). */
export const GC_MAX_ATTEMPTS = 10;

/** What the phase needs of the driver. */
export interface GcEnv {
  readonly groups: ReadonlyMap<Gid, readonly string[]>;
  readonly signal: AbortSignal;
  now_ms(): number;
  nextProcess(): number;
  record(event: HistoryEvent): void;
  /** A recorded join/leave by the reconfiguration client. */
  controllerOp(body: Body, value: unknown): Promise<ClerkOutcome>;
  latestConfig(): Promise<Config | undefined>;
  newClerk(): Clerk;
  /** A recorded final-phase op with this value; how it completed. */
  clientOp(clerk: Clerk, f: "get" | "put", key: string, value?: string): Promise<CompletionType>;
  /** Keys the load wrote, each with an upper bound on its key's and value's bytes now. */
  loadKeys(): ReadonlyMap<string, number>;
  dataDir(node: string): string;
}

class NotMeasured extends Error {}

/** Runs the phase and records its `gc-measure` op (fail with the reason when it could not). */
export async function runGcPhase(env: GcEnv): Promise<void> {
  const process = env.nextProcess();
  env.record({ process, type: "invoke", f: GC_MEASURE_F, value: null, final: true });
  try {
    const value = await measure(env);
    env.record({ process, type: "ok", f: GC_MEASURE_F, value, final: true });
  } catch (err) {
    if (!(err instanceof NotMeasured)) throw err;
    const error = ["gc-not-measured", err.message];
    env.record({ process, type: "fail", f: GC_MEASURE_F, value: null, error, final: true });
  }
}

/** A key in `shard` (key2shard: the first character's code mod 10). */
export function keyInShard(shard: number, suffix: string): string {
  for (let d = 0; d < NSHARDS; d++) if (key2shard(String(d)) === shard) return `${d}-${suffix}`;
  throw new RangeError(`no digit maps to shard ${shard}`);
}

export function largeValue(key: string): string {
  const head = `${key}:`;
  return head + "x".repeat(GC_VALUE_BYTES - head.length);
}

async function measure(env: GcEnv): Promise<GcMeasurement> {
  const gids = [...env.groups.keys()];
  if (gids.length < 2) throw new NotMeasured("one replica group: no shard can move away");
  const started_ms = env.now_ms();
  const live = new Map<string, number>();
  const clerk = env.newClerk();
  const keys = Array.from({ length: NSHARDS * GC_KEYS_PER_SHARD }, (_, i) =>
    keyInShard(i % NSHARDS, `gc${Math.floor(i / NSHARDS)}`),
  );
  for (const key of keys) await mustPut(env, clerk, key, largeValue(key), started_ms, live);
  await reconfigure(env, gids);
  for (const key of keys) await mustRead(env, clerk, key, started_ms);
  for (const key of keys) await mustPut(env, clerk, key, `small:${key}`, started_ms, live);
  const config = await env.latestConfig();
  if (!config) throw new NotMeasured("the controller did not answer a query");
  await compactionPuts(env, config, live);
  // The last word on every key written here, for the exactly-once and linearizable checks.
  for (const key of live.keys()) await env.clientOp(clerk, "get", key);
  const bounds = liveBytesByGid(config, new Map([...env.loadKeys(), ...live]));
  const settle_from_ms = env.now_ms();
  for (;;) {
    const servers = await serverBytes(env, bounds);
    const waited_ms = env.now_ms() - settle_from_ms;
    const within = servers.every((s) => s.bytes <= gcBound(s.live_bytes));
    if (within || waited_ms >= GC_SETTLE_MS || env.signal.aborted) {
      const moved_bytes = keys.length * GC_VALUE_BYTES;
      return { config: config.num, moved_bytes, waited_ms: Math.round(waited_ms), servers };
    }
    await sleepUnlessAborted(GC_POLL_MS, env.signal);
  }
}

/** Every group alone in turn, then all together again: each owns everything once. */
async function reconfigure(env: GcEnv, gids: readonly Gid[]): Promise<void> {
  const joinBody = (joining: readonly Gid[]) => {
    const groups = Object.fromEntries(joining.map((g) => [String(g), env.groups.get(g) ?? []]));
    return [{ type: "join", groups }, { groups }] as const;
  };
  const steps: Array<readonly [Body, unknown]> = [joinBody(gids)];
  for (const g of gids) {
    const others = gids.filter((o) => o !== g);
    steps.push([{ type: "leave", gids: others }, { gids: others }], joinBody(others));
  }
  for (const [body, value] of steps) {
    if (env.signal.aborted) throw new NotMeasured("interrupted");
    const outcome = await env.controllerOp(body, value);
    if (outcome.type !== "ok") {
      throw new NotMeasured(`the controller did not acknowledge ${body.type} (${outcome.type})`);
    }
  }
}

/**
 * `attempt` until it reports done, with a pause between tries, within GC_MOVE_DEADLINE_MS of the
 * phase's start and GC_MAX_ATTEMPTS tries; `what` names the op in the reason it gives up with.
 */
async function retried(
  env: GcEnv,
  started_ms: number,
  what: string,
  attempt: () => Promise<boolean>,
): Promise<void> {
  for (let tries = 1; ; tries++) {
    if (env.signal.aborted) throw new NotMeasured("interrupted");
    if (await attempt()) return;
    if (tries >= GC_MAX_ATTEMPTS || env.now_ms() - started_ms > GC_MOVE_DEADLINE_MS) {
      throw new NotMeasured(`${what} did not succeed in ${tries} tries`);
    }
    await sleepUnlessAborted(RETRY_PAUSE_MS, env.signal);
  }
}

/** A put that must be acknowledged: one without a definite answer ends the phase. */
async function mustPut(
  env: GcEnv,
  clerk: Clerk,
  key: string,
  value: string,
  started_ms: number,
  live: Map<string, number>,
): Promise<void> {
  await retried(env, started_ms, `a put of ${key}`, async () => {
    const type = await env.clientOp(clerk, "put", key, value);
    if (type === "info") throw new NotMeasured(`a put of ${key} got no definite answer`);
    if (type === "ok") live.set(key, key.length + value.length);
    return type === "ok";
  });
}

async function mustRead(env: GcEnv, clerk: Clerk, key: string, started_ms: number) {
  await retried(env, started_ms, `a read of ${key} after the moves`, async () => {
    return (await env.clientOp(clerk, "get", key)) === "ok";
  });
}

/** Small puts into each group's shards, the groups at once; any outcome will do. */
async function compactionPuts(env: GcEnv, config: Config, live: Map<string, number>) {
  await Promise.all(
    [...env.groups.keys()].map(async (gid) => {
      const shards = config.shards.flatMap((g, s) => (g === gid ? [s] : []));
      if (shards.length === 0) return;
      const clerk = env.newClerk();
      for (let i = 0; i < GC_COMPACTION_PUTS_PER_GROUP && !env.signal.aborted; i++) {
        const key = keyInShard(shards[i % shards.length] as number, "pad");
        const value = `pad${i}`;
        // Any of the values may be the last applied: bound by the longest.
        live.set(key, Math.max(live.get(key) ?? 0, key.length + value.length));
        await env.clientOp(clerk, "put", key, value);
      }
    }),
  );
}

/** Per gid, the bytes of keys and values in the shards it owns in `config`. */
export function liveBytesByGid(
  config: Config,
  bytes: ReadonlyMap<string, number>,
): Map<Gid, number> {
  const out = new Map<Gid, number>();
  for (const [key, n] of bytes) {
    const gid = config.shards[key2shard(key)] as Gid;
    out.set(gid, (out.get(gid) ?? 0) + n);
  }
  return out;
}

async function serverBytes(env: GcEnv, live: ReadonlyMap<Gid, number>): Promise<ServerBytes[]> {
  const servers: ServerBytes[] = [];
  for (const [gid, nodes] of env.groups) {
    for (const node of nodes) {
      servers.push({
        node,
        gid,
        bytes: await dirBytes(env.dataDir(node)),
        live_bytes: live.get(gid) ?? 0,
      });
    }
  }
  return servers;
}

/** Bytes of every file under `dir`; files renamed away meanwhile are skipped. */
export async function dirBytes(dir: string): Promise<number> {
  let total = 0;
  let names: string[];
  try {
    names = await readdir(dir, { recursive: true });
  } catch {
    return 0;
  }
  for (const name of names) {
    try {
      const st = await lstat(join(dir, name));
      if (st.isFile()) total += st.size;
    } catch {
      // Gone between readdir and lstat (a rename of a rewritten file).
    }
  }
  return total;
}
