// Builds hand-written histories for checker tests: dense indexes, times 1 ms apart.
import type { CompletionType, Op } from "../../checkers/history.js";

export interface OpExtra {
  node?: string;
  final?: boolean;
  error?: unknown;
}

export class HistoryBuilder {
  readonly ops: Op[] = [];
  private time = 0;

  private push(op: Omit<Op, "index" | "time">): number {
    this.time += 1_000_000;
    const index = this.ops.length;
    this.ops.push({ index, time: this.time, ...op });
    return index;
  }

  invoke(process: number, f: string, value: unknown, extra: OpExtra = {}): number {
    return this.push({ process, type: "invoke", f, value, ...extra });
  }

  complete(
    process: number,
    type: CompletionType,
    f: string,
    value: unknown,
    extra: OpExtra = {},
  ): number {
    const { node: _node, ...rest } = extra;
    return this.push({ process, type, f, value, ...rest });
  }

  /** An invoke immediately followed by its completion; returns both indexes. */
  op(
    process: number,
    f: string,
    sent: unknown,
    type: CompletionType,
    received: unknown = sent,
    extra: OpExtra = {},
  ): [number, number] {
    const i = this.invoke(process, f, sent, extra);
    return [i, this.complete(process, type, f, received, extra)];
  }

  nemesis(f: string, value: unknown): number {
    return this.push({ process: "nemesis", type: "info", f, value });
  }
}
