// Requests a node reads right after a long freeze (SIGSTOP) queued up during it: their clients
// have given up, and at the end of a run may already be closed, so an answer would be a message
// to nobody. A periodic tick measures the freezes.
import { performance } from "node:perf_hooks";
import type { MaelstromNode, Message } from "./maelstrom-node.js";

export class FreezeDetector {
  private lastTick_ms = performance.now();

  /** Ticks every `tick_ms` on `node`, also calling `onTick`; freezes over `limit_ms` count. */
  constructor(
    private readonly node: MaelstromNode,
    tick_ms: number,
    private readonly limit_ms: number,
    onTick: () => void,
  ) {
    node.every(tick_ms, () => {
      this.lastTick_ms = performance.now();
      onTick();
    });
  }

  /** True (and the request is logged as dropped) when it queued up during a long freeze. */
  dropIfFrozen(req: Message): boolean {
    const frozen_ms = performance.now() - this.lastTick_ms;
    if (frozen_ms < this.limit_ms) return false;
    this.node.log(
      `dropping ${req.body.type} from ${req.src}: it queued up while this node was frozen for ${Math.round(frozen_ms)} ms`,
    );
    return true;
  }
}
