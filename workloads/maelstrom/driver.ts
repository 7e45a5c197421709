// The driver of every Maelstrom workload (echo, broadcast, g-set, the counters, lin-kv, kv …):
// `concurrency` workers, worker i talking to node i mod n, each asking the workload for its next
// op, sending it as a request through the router and recording the reply as the completion.
// After the heal and the recovery wait, every node gets the workload's final ops.
import type { Op } from "../../checkers/history.js";
import type { CheckResult } from "../../checkers/result.js";
import type { Driver, DriverContext, MaelstromNet, MalformedReply } from "../plugin.js";
import { SetupError } from "../plugin.js";
import { sleepUnlessAborted } from "../timing.js";
import type { OpSpec, Workload } from "../workload.js";
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

export function maelstromDriver(ctx: DriverContext<MaelstromNet>, workload: Workload): Driver {
  const { net, settings } = ctx;
  const malformed: MalformedReply[] = [];
  const workers: WorkerState[] = [];

  const perform = async (worker: WorkerState, op: OpSpec): Promise<void> => {
    ctx.history.record({
      process: worker.process,
      type: "invoke",
      f: op.f,
      value: op.value,
      node: worker.node,
      ...(op.final && { final: true }),
    });
    const request = workload.request(op);
    const reply = await worker.client.call(worker.node, request, workload.timeout_ms);
    const completion = completionFor(workload, op, request.type, reply);
    if (completion.malformed) {
      malformed.push({
        node: worker.node,
        f: op.f,
        reason: completion.malformed,
        reply: JSON.stringify(reply).slice(0, MAX_QUOTED_REPLY_CHARS),
      });
    }
    ctx.history.record({
      process: worker.process,
      type: completion.type,
      f: op.f,
      value: completion.value,
      ...(completion.error !== undefined && { error: completion.error }),
      ...(op.final && { final: true }),
    });
    // Jepsen's rule: the old op may still take effect, so the worker continues as a new process.
    if (completion.type === "info") worker.process += settings.concurrency;
  };

  const view = (worker: WorkerState) => ({
    worker: worker.index,
    process: worker.process,
    node: worker.node,
  });

  const addWorker = (index: number, process: number) =>
    workers.push({
      index,
      process,
      node: net.nodes[index % net.nodes.length] as string,
      client: net.openClient(),
    });

  return {
    recovers_before_final: true,
    start: async () => {
      await net.startNodes();
      if (workload.setup) await sendSetup(workload, net);
      // One worker per unit of concurrency; worker i talks to node i mod n.
      for (let i = 0; i < settings.concurrency; i++) addWorker(i, i);
    },
    load: async (stop) => {
      ctx.log.info(
        `running ${settings.workload} for ${settings.time_limit_s} s at ${settings.rate} ops/s with ${settings.concurrency} workers`,
      );
      const scheduler = ctx.scheduler();
      const deadline_ns = ctx.clock.now_ns() + settings.time_limit_s * 1e9;
      await Promise.all(
        workers.map(async (worker) => {
          while (!stop.aborted) {
            const wait_ms = scheduler.claim_ms() ?? settings.time_limit_s * 1000;
            if (!(await sleepUnlessAborted(wait_ms, stop))) break;
            if (ctx.clock.now_ns() >= deadline_ns) break;
            const op = workload.generate(view(worker));
            if (op === undefined) {
              if (!(await sleepUnlessAborted(IDLE_RETRY_MS, stop))) break;
              continue;
            }
            await perform(worker, op);
          }
        }),
      );
    },
    ...(workload.final && {
      final: async () => {
        ctx.setPhase("final");
        ctx.log.info("running the final ops");
        // Every node gets its final ops, even when there are fewer workers than nodes.
        let nextProcess = Math.max(...workers.map((w) => w.process)) + 1;
        for (let i = workers.length; i < net.nodes.length; i++) addWorker(i, nextProcess++);
        await Promise.all(
          workers.map(async (worker) => {
            for (const op of workload.final?.(view(worker)) ?? []) {
              if (ctx.interrupted) return;
              await perform(worker, op);
            }
          }),
        );
      },
    }),
    stop: async (kill) => {
      for (const worker of workers) worker.client.close();
      await net.stopNodes(kill);
    },
    check: (ops) => runCheckers(workload, ops, ctx.log),
    report: () => net.report(malformed),
  };
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
