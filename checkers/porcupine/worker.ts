// Worker thread entry: for each check it is given, claims partitions from the shared queue
// and searches them until none is left, reporting each outcome as it goes. The model comes
// from the registry by name.

import { parentPort } from "node:worker_threads";
import { advance, outcomeOf } from "./check.js";
import type { Model } from "./model.js";
import { MODELS } from "./models.js";
import { CANCEL, claimNext, type WorkerReply, type WorkerTask } from "./pool.js";
import { PartitionSearch, type SearchOp } from "./search.js";

const port = parentPort;
if (!port) throw new Error("checkers/porcupine/worker.js must run as a worker thread");
const reply = (r: WorkerReply): void => port.postMessage(r);

port.on("message", (task: WorkerTask) => {
  try {
    const model = (MODELS as Record<string, Model<unknown, unknown, unknown>>)[task.model];
    if (!model) throw new Error(`unknown model ${task.model}`);
    const control = new Int32Array(task.control);
    const cancelled = (): boolean => Atomics.load(control, CANCEL) !== 0;
    const cursor = { at: 0 };
    // Once any thread found an illegal partition, claim nothing more.
    while (!cancelled()) {
      const k = claimNext(control, task.order, cursor);
      if (k < 0) break;
      const started = Date.now();
      const search = new PartitionSearch(model, task.parts[k] as SearchOp[], {
        max_bytes: task.max_bytes,
      });
      const outcome = outcomeOf(
        search,
        advance(search, cancelled, task.deadline),
        started,
        "worker",
      );
      // Raise the flag here, not in the main thread: the others stop at their next slice.
      if (outcome.result === "illegal") Atomics.store(control, CANCEL, 1);
      reply({ kind: "outcome", part: k, outcome });
    }
    reply({ kind: "done" });
  } catch (err) {
    reply({ kind: "error", error: (err as Error).stack ?? String(err) });
  }
});
