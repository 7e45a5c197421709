// The driver of every Maelstrom workload (echo, broadcast, g-set, the counters, lin-kv, kv …):
// `concurrency` workers, worker i talking to node i mod n, each asking the workload for its next
// op, sending it as a request through the router and recording the reply as the completion.
// After the heal and the recovery wait, every node gets the workload's final ops.
import type { Op } from "../../checkers/history.js";
import type { CheckResult } from "../../checkers/result.js";
import type { Driver, DriverContext, MaelstromNet, MalformedReply } from "../plugin.js";
import { SetupError } from "../plugin.js";
import { sleepUnlessAborted } from "../timing.js";
import type { OpSpec, WorkerView, Workload } from "../workload.js";
import { completionFor } from "./completion.js";

interface WorkerState {
  index: number;
  process: number;
  node: string;
  client: ReturnType<MaelstromNet["openClient"]>;
}

/** A worker with nothing to do asks again this much later. */
const IDLE_RETRY_MS = 10;
/** A malformed reply is quoted in the protocol check up to this many characters. */
const MAX_QUOTED_REPLY_CHARS = 1024;

export class MaelstromDriver implements Driver {
  readonly recovers_before_final = true;
  readonly final?: () => Promise<void>;
  private readonly malformed: MalformedReply[] = [];
  private readonly workers: WorkerState[] = [];

  constructor(
    private readonly ctx: DriverContext<MaelstromNet>,
    private readonly workload: Workload,
  ) {
    if (workload.final) this.final = () => this.finalOps();
  }

  async start(): Promise<void> {
    await this.ctx.net.startNodes();
    if (this.workload.setup) await sendSetup(this.workload, this.ctx.net);
    // One worker per unit of concurrency; worker i talks to node i mod n.
    for (let i = 0; i < this.ctx.settings.concurrency; i++) this.addWorker(i, i);
  }

  async load(stop: AbortSignal): Promise<void> {
    const { settings } = this.ctx;
    this.ctx.log.info(
      `running ${settings.workload} for ${settings.time_limit_s} s at ${settings.rate} ops/s with ${settings.concurrency} workers`,
    );
    const scheduler = this.ctx.scheduler();
    const deadline_ns = this.ctx.clock.now_ns() + settings.time_limit_s * 1e9;
    await Promise.all(this.workers.map((w) => this.workerLoop(w, scheduler, deadline_ns, stop)));
  }

  async stop(kill: boolean): Promise<void> {
    for (const worker of this.workers) worker.client.close();
    await this.ctx.net.stopNodes(kill);
  }

  check(ops: readonly Op[]): Promise<Record<string, CheckResult>> {
    return runCheckers(this.workload, ops, this.ctx.log);
  }

  report(): ReturnType<Driver["report"]> {
    return this.ctx.net.report(this.malformed);
  }

  private async workerLoop(
    worker: WorkerState,
    scheduler: { claim_ms(): number | undefined },
    deadline_ns: number,
    stop: AbortSignal,
  ): Promise<void> {
    const { clock, settings } = this.ctx;
    while (!stop.aborted) {
      const wait_ms = scheduler.claim_ms() ?? settings.time_limit_s * 1000;
      if (!(await sleepUnlessAborted(wait_ms, stop))) break;
      if (clock.now_ns() >= deadline_ns) break;
      const op = this.workload.generate(view(worker));
      if (op === undefined) {
        if (!(await sleepUnlessAborted(IDLE_RETRY_MS, stop))) break;
        continue;
      }
      await this.perform(worker, op);
    }
  }

  /** Every node gets its final ops, even when there are fewer workers than nodes. */
  private async finalOps(): Promise<void> {
    this.ctx.setPhase("final");
    this.ctx.log.info("running the final ops");
    let nextProcess = Math.max(...this.workers.map((w) => w.process)) + 1;
    for (let i = this.workers.length; i < this.ctx.net.nodes.length; i++) {
      this.addWorker(i, nextProcess++);
    }
    await Promise.all(
      this.workers.map(async (worker) => {
        for (const op of this.workload.final?.(view(worker)) ?? []) {
          if (this.ctx.interrupted) return;
          await this.perform(worker, op);
        }
      }),
    );
  }

  private addWorker(index: number, process: number): void {
    const { nodes } = this.ctx.net;
    this.workers.push({
      index,
      process,
      node: nodes[index % nodes.length] as string,
      client: this.ctx.net.openClient(),
    });
  }

  /** One op: the invoke, the request, and the reply (or its absence) as the completion. */
  private async perform(worker: WorkerState, op: OpSpec): Promise<void> {
    const { history } = this.ctx;
    history.record({
      process: worker.process,
      type: "invoke",
      f: op.f,
      value: op.value,
      node: worker.node,
      ...(op.final && { final: true }),
    });
    const request = this.workload.request(op);
    const reply = await worker.client.call(worker.node, request, this.workload.timeout_ms);
    const completion = completionFor(this.workload, op, request.type, reply);
    if (completion.malformed) {
      this.malformed.push({
        node: worker.node,
        f: op.f,
        reason: completion.malformed,
        reply: JSON.stringify(reply).slice(0, MAX_QUOTED_REPLY_CHARS),
      });
    }
    history.record({
      process: worker.process,
      type: completion.type,
      f: op.f,
      value: completion.value,
      ...(completion.error !== undefined && { error: completion.error }),
      ...(op.final && { final: true }),
    });
    // Jepsen's rule: the old op may still take effect, so the worker continues as a new process.
    if (completion.type === "info") worker.process += this.ctx.settings.concurrency;
  }
}

function view(worker: WorkerState): WorkerView {
  return { worker: worker.index, process: worker.process, node: worker.node };
}

async function sendSetup(workload: Workload, net: MaelstromNet): Promise<void> {
  const client = net.openClient();
  try {
    for (const node of net.nodes) {
      for (const body of workload.setup?.(node) ?? []) {
        const reply = await client.call(node, body, workload.timeout_ms);
        if (reply?.type !== `${body.type}_ok`) {
          throw new SetupError(
            `node ${node} did not acknowledge ${body.type} (${reply ? `got ${JSON.stringify(reply).slice(0, 200)}` : `no reply within ${workload.timeout_ms} ms`})`,
          );
        }
      }
    }
  } finally {
    client.close();
  }
}

/** The workload's checkers; one that throws is `unknown`, not a crash of the run. */
export async function runCheckers(
  workload: Workload,
  ops: readonly Op[],
  log: { info(message: string): void },
): Promise<Record<string, CheckResult>> {
  log.info(`checking ${ops.length} history events`);
  try {
    return await workload.check(ops);
  } catch (err) {
    const message = (err as Error).message;
    log.info(`a checker failed: ${message}`);
    return { [workload.name]: { valid: "unknown", summary: `the checker failed: ${message}` } };
  }
}
