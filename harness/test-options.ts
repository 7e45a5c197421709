// What a run is asked to do (TestOptions) and what it found (Results): the two values every
// part of the lifecycle passes around, in a module of their own so no runner imports back into
// harness/run.ts (ARCHITECTURE.md "The lifecycle").
import type { Availability } from "../checkers/availability.js";
import type { CheckResult, Validity } from "../checkers/result.js";
import type { WorkloadOptionBags } from "../workloads/index.js";
import type { NodeRecord, RunSettings } from "../workloads/plugin.js";
import type { Latency } from "./links.js";
import type { NemesisOptions } from "./nemesis/nemesis.js";
import type { NetStats } from "./network.js";
import type { Target } from "./target.js";

export interface TestOptions extends RunSettings, WorkloadOptionBags {
  target: Target;
  latency: Latency;
  store: string;
  /** The command line that repeats this run, for test.json and the report. */
  command: string;
  /** Faults to inject; none when the list is empty. */
  nemesis: NemesisOptions;
  /** Maelstrom's --availability: the fraction of client ops that must succeed. */
  availability?: Availability;
  /** Maelstrom's --log-stderr, --log-net-send, --log-net-recv: echoed onto our stderr. */
  log?: { stderr?: boolean; net_send?: boolean; net_recv?: boolean };
  /** A reference run's (--against-reference): the user's run, `<test>/<timestamp>` in the store. */
  reference_for?: string;
}

export interface Results {
  valid: Validity;
  /** One sentence: why the verdict is what it is. */
  summary: string;
  checkers: Record<string, CheckResult>;
  stats: CheckResult;
  /** Message counts; a transport adds its own detail (udp: per direction, tcp: per link). */
  net: NetStats & { msgs_per_op: number | null; servers_msgs_per_op: number | null };
  seed: number;
  errors: Array<{ kind: string; message: string }>;
  /** Things that make the run prove less than it seems (e.g. a fault that never bit). */
  warnings: string[];
  /** Each fault interval and how many ops it touched (informational). */
  faults: CheckResult;
  nodes: Record<string, NodeRecord>;
  duration_s: number;
  /** --against-reference: the reference system's verdict with the same options and seed. */
  reference?: ReferenceVerdict;
}

/** The reference run as the user's results.json records it (harness/reference.ts). */
export interface ReferenceVerdict {
  system: string;
  valid: Validity;
  summary: string;
  /** Its run directory, relative to the user's; the user's run also links it as `reference`. */
  dir?: string;
  /** Set when it was not carried out to the end: a verdict of `unknown` then says nothing. */
  status?: "could-not-run" | "interrupted";
}

export interface RunOutcome {
  dir: string;
  results: Results;
  exitCode: number;
}
