// The shard-kv driver (systems/shard-kv/README.md): joins every replica group through the
// controller, then runs `concurrency` MIT-style clerks (clerk.ts) doing get 45% / put 5% /
// append 50% on keys spread over all shards, while the nemesis may reconfigure the system
// through `reconfigure` (reconfigure.ts). After the heal and the recovery wait, every key written
// is read once more and every config is asked of every controller replica.
import type { CompletionType, Op } from "../../checkers/history.js";
import type { CheckResult } from "../../checkers/result.js";
import { controllersOf, type Gid, groupsOf, NSHARDS } from "../../protocols/shard-kv.js";
import { KV_GET_FRACTION, KV_PUT_FRACTION, kvUniqueValue } from "../kv.js";
import { IndependentKeys, MAX_PROCESSES_PER_KEY } from "../lin-kv.js";
import type {
  Driver,
  DriverContext,
  HistoryEvent,
  MaelstromNet,
  MalformedReply,
  ReconfigureHook,
} from "../plugin.js";
import { SetupError } from "../plugin.js";
import type { Body } from "../protocol.js";
import { sleepUnlessAborted } from "../timing.js";
import type { Rng } from "../workload.js";
import { checkShardKv } from "./checks.js";
import {
  Clerk,
  type ClerkOutcome,
  OP_DEADLINE_MS,
  REQUEST_TIMEOUT_MS,
  RETRY_PAUSE_MS,
} from "./clerk.js";
import { type GcEnv, runGcPhase } from "./gc.js";
import { type Change, describeChange, planChange, undo } from "./reconfigure.js";

/** Workers sharing a key at a time: concurrent ops on one key, and many shards busy at once. */
export const WORKERS_PER_KEY = 2;
/**
 * A key is retired after this many ops (lin-kv's MAX_OPS_PER_KEY is 100): fresh keys walk the
 * shards, so even a short run writes to most of them and reads each back at the end.
 */
export const OPS_PER_KEY = 20;
/** The final phase asks each controller replica for at most this many configs. */
export const MAX_FINAL_CONFIGS = 1000;
/** Times the final phase asks a replica for one config before recording it did not answer. */
export const FINAL_QUERY_ATTEMPTS = 3;

/** Key i is "<i mod 10>-<i div 10>": its first character walks all 10 shards (key2shard). */
export function shardKvKey(i: number): string {
  return `${i % NSHARDS}-${Math.floor(i / NSHARDS)}`;
}

interface Worker {
  index: number;
  clerk: Clerk;
}

type ClientOpF = "get" | "put" | "append";

export class ShardKvDriver implements Driver {
  readonly recovers_before_final = true;
  readonly reconfigure: ReconfigureHook;
  private readonly malformed: MalformedReply[] = [];
  private readonly clients: Array<{ close(): void }> = [];
  private readonly workers: Worker[] = [];
  /** Per key written: bytes of every value written to it, and of its value in the final read. */
  private readonly written = new Map<string, { written_bytes: number; read_bytes?: number }>();
  private readonly groups: Map<Gid, string[]>;
  private readonly controllers: string[];
  private readonly keys: IndependentKeys<string>;
  private readonly rng: Rng;
  private readonly request_timeout_ms: number;
  /** The reconfiguration client: the first join, and every change the nemesis asks for. */
  private admin: Clerk | undefined;
  /** Groups joined now, as far as the changes asked go. */
  private joined: Gid[] = [];
  /** The change in force, undone by the next stop. */
  private inForce: Change | undefined;

  constructor(
    private readonly ctx: DriverContext<MaelstromNet>,
    private readonly skip_gc = false,
  ) {
    this.groups = groupsOf(ctx.net.nodes);
    this.controllers = controllersOf(ctx.net.nodes);
    this.rng = ctx.random.fork("workload");
    this.request_timeout_ms = Math.max(REQUEST_TIMEOUT_MS, 10 * ctx.settings.latency.mean_ms);
    this.keys = new IndependentKeys<string>({
      concurrency: ctx.settings.concurrency,
      groupSize: WORKERS_PER_KEY,
      maxOpsPerKey: OPS_PER_KEY,
      maxProcessesPerKey: MAX_PROCESSES_PER_KEY,
      keyName: shardKvKey,
    });
    this.reconfigure = {
      start: (random) => this.startChange(random),
      stop: () => this.stopChange(),
    };
  }

  async start(): Promise<void> {
    await this.ctx.net.startNodes();
    this.admin = this.newClerk(false);
    const groups = Object.fromEntries([...this.groups].map(([gid, s]) => [String(gid), s]));
    const outcome = await this.controllerOp({ type: "join", groups }, { groups });
    if (outcome.type !== "ok") {
      throw new SetupError(
        `the controller did not acknowledge the first join of every group (${outcomeText(outcome)}); is the node count 3 + 3 × groups and are n0-n2 the controller?`,
      );
    }
    this.joined = [...this.groups.keys()];
    for (let i = 0; i < this.ctx.settings.concurrency; i++) {
      this.workers.push({ index: i, clerk: this.newClerk(false) });
    }
  }

  async load(stop: AbortSignal): Promise<void> {
    const { settings, clock } = this.ctx;
    this.ctx.log.info(
      `running shard-kv on ${this.groups.size} groups for ${settings.time_limit_s} s at ${settings.rate} ops/s with ${settings.concurrency} clerks`,
    );
    const scheduler = this.ctx.scheduler();
    const deadline_ns = clock.now_ns() + settings.time_limit_s * 1e9;
    await Promise.all(
      this.workers.map(async (worker) => {
        while (!stop.aborted) {
          const wait_ms = scheduler.claim_ms() ?? settings.time_limit_s * 1000;
          if (!(await sleepUnlessAborted(wait_ms, stop))) break;
          if (clock.now_ns() >= deadline_ns) break;
          const view = { worker: worker.index, process: worker.clerk.currentProcess, node: "" };
          const key = this.keys.take(view);
          const x = this.rng.float();
          const f =
            x < KV_GET_FRACTION ? "get" : x < KV_GET_FRACTION + KV_PUT_FRACTION ? "put" : "append";
          await this.clientOp(worker.clerk, f, key);
        }
      }),
    );
  }

  /**
   * Final gets of every key written, the GC phase (gc.ts), then every config from every
   * controller replica.
   */
  async final(): Promise<void> {
    this.ctx.setPhase("final");
    const keys = [...this.written.keys()].sort();
    this.ctx.log.info(`final reads of ${keys.length} keys`);
    const readers = Math.max(1, Math.min(this.ctx.settings.concurrency, keys.length));
    await Promise.all(
      Array.from({ length: readers }, async (_, r) => {
        const clerk = this.newClerk(true);
        for (let k = r; k < keys.length && !this.ctx.interrupted; k += readers) {
          await this.clientOp(clerk, "get", keys[k] as string, { final: true });
        }
      }),
    );
    if (this.ctx.interrupted) return;
    if (!this.skip_gc) {
      this.ctx.log.info("GC phase: moving every shard through every group");
      await runGcPhase(this.gcEnv());
    }
    const latest = Math.min(MAX_FINAL_CONFIGS, this.latestConfigNum());
    this.ctx.log.info(`asking each controller replica for configs 1..${latest}`);
    await Promise.all(
      this.controllers.map(async (node) => {
        const clerk = this.newClerk(true);
        for (let num = 1; num <= latest && !this.ctx.interrupted; num++) {
          for (let attempt = 0; attempt < FINAL_QUERY_ATTEMPTS; attempt++) {
            if (await clerk.queryNode(node, num, this.deadline_ms())) break;
            if (!(await sleepUnlessAborted(RETRY_PAUSE_MS, this.ctx.signal))) return;
          }
        }
      }),
    );
  }

  async stop(kill: boolean): Promise<void> {
    for (const client of this.clients) client.close();
    await this.ctx.net.stopNodes(kill);
  }

  check(ops: readonly Op[]): Promise<Record<string, CheckResult>> {
    this.ctx.log.info(`checking ${ops.length} history events`);
    return checkShardKv(ops, { strict: this.ctx.settings.strict === true });
  }

  report(): ReturnType<Driver["report"]> {
    return this.ctx.net.report(this.malformed);
  }

  private async startChange(random: Rng): Promise<string | false> {
    const admin = this.admin as Clerk;
    const config = await admin.query(-1, this.deadline_ms());
    const change = planChange(this.joined, config, random);
    if (!change) return false;
    this.inForce = change;
    return this.applyChange(change);
  }

  private async stopChange(): Promise<string> {
    const change = this.inForce;
    if (!change) return "nothing to undo";
    this.inForce = undefined;
    return this.applyChange(undo(change));
  }

  /** One controller op for a change; what was done and how it ended, for the nemesis event. */
  private async applyChange(change: Change): Promise<string> {
    let outcome: ClerkOutcome;
    if (change.f === "move") {
      const value = { shard: change.shard, gid: change.gid };
      outcome = await this.controllerOp({ type: "move", ...value }, value);
    } else if (change.f === "leave") {
      const value = { gids: [change.gid] };
      outcome = await this.controllerOp({ type: "leave", ...value }, value);
      this.joined = this.joined.filter((g) => g !== change.gid);
    } else {
      const value = { groups: { [String(change.gid)]: this.groups.get(change.gid) ?? [] } };
      outcome = await this.controllerOp({ type: "join", ...value }, value);
      if (!this.joined.includes(change.gid)) this.joined = [...this.joined, change.gid].sort();
    }
    return `${describeChange(change)}: ${outcomeText(outcome)}`;
  }

  /** A join/leave/move by the reconfiguration client, recorded invoke → completion. */
  private async controllerOp(body: Body, value: unknown, final = false): Promise<ClerkOutcome> {
    const admin = this.admin as Clerk;
    const process = admin.currentProcess;
    const f = body.type;
    const marks = final ? { final: true } : {};
    this.record({ process, type: "invoke", f, value, ...marks });
    const seq = admin.nextSeq();
    const outcome = await admin.controllerOp(
      { ...body, client: admin.client, seq },
      this.deadline_ms(),
    );
    const { type, ...rest } = completionOf(outcome, value, false);
    this.record({ process, type, f, ...rest, ...marks });
    if (type === "info") admin.renew(this.ctx.nextProcess());
    return outcome;
  }

  /**
   * One get/put/append by a clerk, recorded invoke → completion like the kv workload's; a write
   * carries a unique value unless `given`.
   */
  private async clientOp(
    clerk: Clerk,
    f: ClientOpF,
    key: string,
    { final = false, given }: { final?: boolean; given?: string } = {},
  ): Promise<CompletionType> {
    const process = clerk.currentProcess;
    const seq = clerk.nextSeq();
    const written = f === "get" ? null : (given ?? kvUniqueValue(process, seq));
    const value = { key, value: written };
    const marks = final ? { final: true } : {};
    this.record({ process, type: "invoke", f, value, ...marks });
    const sizes = this.written.get(key);
    if (written !== null) {
      const written_bytes = (sizes?.written_bytes ?? 0) + written.length;
      this.written.set(key, { written_bytes });
    }
    const body: Body & { key: string } = {
      type: f,
      key,
      ...(written !== null && { value: written }),
      client: clerk.client,
      seq,
    };
    const outcome = await clerk.groupOp(body, this.deadline_ms());
    const completion = completionOf(outcome, value, f === "get");
    if (completion.malformed) this.malformed.push(completion.malformed);
    const { malformed: _, type, ...event } = completion;
    this.record({ process, type, f, ...event, ...marks });
    if (completion.type === "info") clerk.renew(this.ctx.nextProcess());
    const read = (event.value as { value?: unknown } | undefined)?.value;
    if (final && type === "ok" && f === "get" && sizes && typeof read === "string") {
      sizes.read_bytes = read.length;
    }
    return type as CompletionType;
  }

  private gcEnv(): GcEnv {
    return {
      groups: this.groups,
      signal: this.ctx.signal,
      now_ms: () => this.ctx.clock.now_ns() / 1e6,
      nextProcess: () => this.ctx.nextProcess(),
      record: (event) => this.record(event),
      controllerOp: (body, value) => this.controllerOp(body, value, true),
      latestConfig: () => (this.admin as Clerk).query(-1, this.deadline_ms()),
      newClerk: () => this.newClerk(true),
      clientOp: (clerk, f, key, given) =>
        this.clientOp(clerk, f, key, { final: true, ...(given !== undefined && { given }) }),
      loadKeys: () =>
        new Map(
          [...this.written].map(([key, s]) => [
            key,
            key.length + (s.read_bytes ?? s.written_bytes),
          ]),
        ),
      dataDir: (node) => this.ctx.net.dataDir(node),
    };
  }

  private newClerk(final: boolean): Clerk {
    const client = this.ctx.net.openClient();
    this.clients.push(client);
    return new Clerk(
      { clock: this.ctx.clock, signal: this.ctx.signal, record: (e) => this.record(e) },
      (node, body, timeout_ms) => client.call(node, body, timeout_ms),
      {
        controllers: this.controllers,
        process: this.ctx.nextProcess(),
        queryProcess: this.ctx.nextProcess(),
        request_timeout_ms: this.request_timeout_ms,
        op_deadline_ms: OP_DEADLINE_MS,
        onMalformed: (reply) => this.malformed.push(reply),
        final,
      },
    );
  }

  /** The highest config number any clerk has seen. */
  private latestConfigNum(): number {
    const clerks = [this.admin, ...this.workers.map((w) => w.clerk)];
    return Math.max(0, ...clerks.map((c) => c?.config?.num ?? 0));
  }

  private deadline_ms(): number {
    return this.ctx.clock.now_ns() / 1e6 + OP_DEADLINE_MS;
  }

  private record(event: HistoryEvent): void {
    this.ctx.history.record(event);
  }
}

/**
 * An outcome as a history completion: ok; a definite error `fail`; no definite answer `info`
 * for an op with effect and `fail` for a get (it changed nothing); a malformed reply `info`, and
 * the reply goes to the protocol check. A get's ok value is `{key, value}` with the value read.
 */
export function completionOf(
  outcome: ClerkOutcome,
  value: { key?: string; value?: unknown } | unknown,
  isGet: boolean,
): Omit<HistoryEvent, "process" | "f"> & { malformed?: MalformedReply } {
  const node = "node" in outcome ? { node: outcome.node } : {};
  switch (outcome.type) {
    case "ok": {
      if (!isGet) return { type: "ok", value, ...node };
      const got = outcome.reply.value;
      const key = (value as { key: string }).key;
      if (typeof got === "string") return { type: "ok", value: { key, value: got }, ...node };
      const reason = `get_ok value must be a string, got ${JSON.stringify(got)?.slice(0, 64)}`;
      return {
        type: "info",
        value,
        error: ["malformed-reply", reason],
        ...node,
        malformed: {
          node: outcome.node,
          f: "get",
          reason,
          reply: JSON.stringify(outcome.reply).slice(0, 1024),
        },
      };
    }
    case "error":
      // MIT's ErrNoKey: a get of a missing key reads "".
      if (isGet && outcome.code === 20) {
        return { type: "ok", value: { key: (value as { key: string }).key, value: "" }, ...node };
      }
      return { type: "fail", value, error: outcome.error, ...node };
    case "gave-up":
      return { type: isGet ? "fail" : "info", value, error: outcome.error };
    case "malformed":
      return { type: "info", value, error: ["malformed-reply", outcome.reason], ...node };
  }
}

/** "ok", "fail (temporarily-unavailable: …)", "info (deadline: …)". */
function outcomeText(outcome: ClerkOutcome): string {
  switch (outcome.type) {
    case "ok":
      return `ok (${outcome.node})`;
    case "error":
      return `fail (${outcome.error.filter((x) => x !== null).join(": ")})`;
    case "gave-up":
      return `info (${outcome.error[1]})`;
    case "malformed":
      return `info (malformed reply from ${outcome.node}: ${outcome.reason})`;
  }
}
