// Nemesis scripts for raft-kv's two bugs that random faults practically never reach: the exact
// schedules of the simulation tests (test/systems/raft-kv-cluster.test.ts), driven against the
// real node processes through faultline's router. Shipped as `--nemesis-script double-vote` and
// `figure8` (the manifest's `scripts`, with the runs they need; test/e2e/raft-kv-schedules.test.ts
// runs them so), with `minority-leader` and `cluster-restart` for bugs random faults reach only
// most of the time; bench/raft.ts runs SCHEDULES in-process.
import type { NemesisScript, ScriptControl, Sent } from "../../protocols/nemesis-script.js";

const isAppend = ({ body }: Sent) => body.type === "append_entries";
const grantsVote = ({ body }: Sent) => body.type === "request_vote_reply" && body.granted === true;

/** A RequestVote from `node` for a term past `term` (not a late retry of an old election). */
const requestsVoteAfter =
  (node: string, term: number) =>
  ({ src, body }: Sent) =>
    src === node && body.type === "request_vote" && (body.term as number) > term;

const grantsTo = (voter: string, candidate: string) => (sent: Sent) =>
  sent.src === voter && sent.dest === candidate && grantsVote(sent);

const everyLink = (nodes: readonly string[]) =>
  nodes.flatMap((a) => nodes.filter((b) => b !== a).map((b): [string, string] => [a, b]));

const both = (a: string, b: string): Array<[string, string]> => [
  [a, b],
  [b, a],
];

/**
 * A voter that forgets its vote, made to vote twice in one term. The leader L is killed and
 * every link cut, so the other two, A and B, time out one after the other into the same new
 * term T (neither hears of the other's). L comes back hearing only A, the first candidate,
 * grants it, crashes right after granting and comes back again, now hearing only B (A's first
 * entries would make L's log longer than B's and refuse B for that reason). B's first
 * candidacy is in T whenever it starts, and it asks for a whole election timeout: without a
 * persisted vote L grants B too. Then everyone hears everyone: two leaders of one term.
 * Run without client traffic: a write L took in just before the cut would lengthen its log past
 * the candidates' and L would refuse them both.
 * Each candidate's window is one election timeout from its own start, which two restarts of L
 * fit in (timing the restarts after both candidacies began left the first one a sliver).
 */
export async function doubleVote(control: ScriptControl): Promise<void> {
  const append = await control.message(isAppend, "AppendEntries from a leader");
  const leader = append.src;
  const others = control.nodes.filter((n) => n !== leader);
  const asks = others.map((n) =>
    control.message(requestsVoteAfter(n, append.body.term as number), `RequestVote from ${n}`),
  );
  control.cut(everyLink(control.nodes));
  await control.kill(leader);
  const first = await Promise.race(asks);
  const [a, b] = [first.src, others.find((n) => n !== first.src) as string];
  control.heal(both(a, leader));
  const votedA = control
    .message(grantsTo(leader, a), `a vote granted by ${leader} to ${a}`)
    .then(() => control.cut(both(a, leader)));
  const crashed = control.crashAfter(leader, grantsTo(leader, a), `a vote for ${a}`);
  await control.restart(leader);
  await Promise.all([votedA, crashed]);
  await Promise.all(asks);
  control.heal(both(b, leader));
  // Only a forgetful voter grants this one; the correct variant refuses, and the script goes on.
  await control.message(grantsTo(leader, b), `a vote for ${b}`, 3_000).catch(() => undefined);
  control.heal();
  await control.sleep(3_000);
}

/**
 * A leader cut off in a minority while the majority elects another and takes writes, three
 * times over: the window in which a leader that answers reads from its own state serves values
 * the majority has overwritten. Client traffic does the rest (reads reach the old leader from its
 * own clients and, forwarded, from its minority peer's). Random partitions put the leader in the
 * minority less than half the time and may heal before a new leader is elected; this does both.
 */
export async function minorityLeader(control: ScriptControl): Promise<void> {
  const MINORITY_ROUNDS = 3;
  /** Long enough for many writes in the majority and reads at the old leader. */
  const DIVERGED_MS = 2_000;
  for (let round = 0; round < MINORITY_ROUNDS; round++) {
    const { src: leader, body } = await control.message(isAppend, "AppendEntries from a leader");
    const others = control.nodes.filter((n) => n !== leader);
    const minority = [leader, ...others.slice(0, Math.floor(control.nodes.length / 2) - 1)];
    const majority = others.filter((n) => !minority.includes(n));
    split(control, [minority, majority]);
    await control.message(
      (sent) =>
        majority.includes(sent.src) &&
        isAppend(sent) &&
        (sent.body.term as number) > (body.term as number),
      `a new leader among ${majority.join(", ")}`,
    );
    await control.sleep(DIVERGED_MS);
    control.heal();
    await control.sleep(1_000);
  }
}

/** Cuts every link between different groups (and heals none): a partition into `groups`. */
function split(control: ScriptControl, groups: string[][]): void {
  control.heal();
  const group = (n: string) => groups.findIndex((g) => g.includes(n));
  const cut: Array<[string, string]> = [];
  for (const a of control.nodes) {
    for (const b of control.nodes) if (group(a) !== group(b)) cut.push([a, b]);
  }
  control.cut(cut);
}

const appendsEntries = (from: readonly string[]) => (sent: Sent) =>
  from.includes(sent.src) && isAppend(sent) && (sent.body.entries as unknown[]).length > 0;

/**
 * The Raft paper's Figure 8 on five nodes, with no client traffic but the script's own writes
 * (a new-term entry would commit the old one legitimately and hide the bug). (a) S1 leads and
 * gets entry e at index k onto S2 only; (b) S5, elected by S3, S4, S5, appends f at k alone;
 * (c) S1 or S2 is elected again and copies e onto S3 and S4: e is on a majority, but from an
 * old term — the buggy leader commits it and says so; (d) S5 is elected again (its last term
 * beats e's) and overwrites index k on the nodes that were told k was committed.
 */
export async function figure8(control: ScriptControl): Promise<void> {
  const { src: s1 } = await control.message(isAppend, "AppendEntries from a leader");
  const base = await control.request(s1, { type: "write", key: 0, value: "base" });
  if (base?.type !== "write_ok") throw new Error(`base write: ${JSON.stringify(base)}`);
  const [s2, ...rest] = control.nodes.filter((n) => n !== s1) as [string, ...string[]];
  // (a)
  split(control, [[s1, s2], rest]);
  const e = control.message(
    (sent) => appendsEntries([s1])(sent) && sent.dest === s2,
    `e on its way from ${s1} to ${s2}`,
  );
  void control.request(s1, { type: "write", key: 0, value: "e" }, 2_000);
  const { body: toS2 } = await e;
  const k = (toS2.prev_index as number) + (toS2.entries as unknown[]).length;
  await control.message(
    ({ src, body }) =>
      src === s2 && body.type === "append_entries_reply" && (body.match_index as number) >= k,
    `${s2} storing e`,
  );
  // (b)
  const { src: s5 } = await control.message(
    (s) => isAppend(s) && rest.includes(s.src),
    "a leader among the majority",
  );
  const others = rest.filter((n) => n !== s5);
  split(control, [[s1, s2], others, [s5]]);
  const f = control.message(appendsEntries([s5]), `f appended by ${s5}`);
  void control.request(s5, { type: "write", key: 0, value: "f" }, 2_000);
  const { body: fAppend } = await f;
  // (c)
  split(control, [[s1, s2, ...others], [s5]]);
  const { body: copy } = await control.message(
    (sent) =>
      appendsEntries([s1, s2])(sent) &&
      others.includes(sent.dest) &&
      (sent.body.term as number) > (fAppend.term as number),
    `e copied onto ${others.join(", ")} by a leader of a term after ${fAppend.term}`,
  );
  await control
    .message(
      (sent) =>
        [s1, s2].includes(sent.src) && isAppend(sent) && (sent.body.leader_commit as number) >= k,
      `a leader telling its followers index ${k} is committed`,
      15_000,
    )
    .catch(() => undefined); // the correct leader never commits e without an entry of its own term
  await control.sleep(300);
  // (d)
  split(control, [
    [s5, ...others],
    [s1, s2],
  ]);
  await control.message(
    (sent) =>
      appendsEntries([s5])(sent) &&
      others.includes(sent.dest) &&
      (sent.body.term as number) > (copy.term as number),
    `${s5} leading again, in a term after ${copy.term}`,
  );
  await control.sleep(1_000);
  control.heal();
  await control.sleep(2_000);
}

/**
 * Whole-cluster crashes while acknowledged writes are fresh, three times over: the window in
 * which a node that acknowledges writes before they are durable (no-fsync keeps them in a
 * buffer written out 5 s after the first unwritten record, i.e. about 5 s after each restart)
 * loses them on every node at once, and the reads after the restart go back in time. Random
 * whole-cluster kills every 1.2 s missed 2 runs in 20; one that comes before any write was
 * acknowledged since the last restart loses nothing. This kills only after a leader has appended
 * entries for a while, and lets clients read after each restart (the next round's wait, or the
 * last one's).
 */
export async function clusterRestart(control: ScriptControl): Promise<void> {
  const RESTART_ROUNDS = 3;
  /** Acknowledged writes before the kill: well under the buggy buffer's 5 s. */
  const WRITES_MS = 1_000;
  /** After the last restart: reads that can see what it lost. */
  const READS_MS = 2_000;
  const appending = () =>
    control.message(appendsEntries(control.nodes), "AppendEntries carrying entries");
  for (let round = 0; round < RESTART_ROUNDS; round++) {
    await appending();
    await control.sleep(WRITES_MS);
    await Promise.all(control.nodes.map((n) => control.kill(n)));
    await Promise.all(control.nodes.map((n) => control.restart(n)));
  }
  await appending();
  await control.sleep(READS_MS);
}

export interface Schedule {
  script: NemesisScript;
  nodes: number;
  time_s: number;
}

/** Which script reaches which bug, and the run it needs. */
export const SCHEDULES = {
  "no-persist-vote": { script: doubleVote, nodes: 3, time_s: 20 },
  "commit-old-term": { script: figure8, nodes: 5, time_s: 50 },
} as const satisfies Record<string, Schedule>;

export type ScheduledBug = keyof typeof SCHEDULES;
