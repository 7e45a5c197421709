// A transport plugin (ARCHITECTURE.md "Plugins"): brings a run's network up and down, applies
// the shared link table to its traffic, journals it to messages.jsonl, names the fault kinds it
// can inject and builds the nemesis that injects them.
import type { Op } from "../../checkers/history.js";
import type { FaultKind } from "../../workloads/faults.js";
import type { Driver, TransportName } from "../../workloads/plugin.js";
import type { RunClock } from "../clock.js";
import type { HistoryRecorder } from "../history-recorder.js";
import type { LinkTable } from "../links.js";
import type { Logger } from "../logger.js";
import type { Random } from "../random.js";
import type { Results, TestOptions } from "../test-options.js";

/** What the lifecycle hands a transport when it opens the run's network. */
export interface TransportRun {
  options: TestOptions;
  dir: string;
  clock: RunClock;
  /** The run's root seeded stream; a transport forks its own ("network", "nemesis" …). */
  random: Random;
  history: HistoryRecorder;
  links: LinkTable;
  log: Logger;
}

/** The nemesis as the lifecycle drives it. */
export interface RunNemesis {
  /** Faults in force now, by kind, for the progress line. */
  readonly active: ReadonlyMap<FaultKind, string>;
  /** Runs the fault schedule until `signal` fires. */
  run(signal: AbortSignal): Promise<void>;
  /** Ends every fault in force. */
  heal(): Promise<void>;
}

export interface OpenTransport<Net> {
  readonly net: Net;
  /** The run's nemesis; star transports take process faults from the driver's hooks. */
  nemesis(driver: Driver): RunNemesis;
  /** results.json's `net` for a run with `invokes` client invocations. */
  stats(invokes: number): Results["net"];
  /** What only the transport can tell weakened the run (a partition nobody crossed). */
  warnings(ops: readonly Op[]): string[];
  /** Closes sockets and the journal; the programs are stopped by then. */
  close(): Promise<void>;
}

export interface Transport<Net = unknown> {
  readonly name: TransportName;
  /** Fault kinds it can inject; a workload may take fewer. */
  readonly fault_kinds: readonly FaultKind[];
  open(run: TransportRun): Promise<OpenTransport<Net>>;
}
