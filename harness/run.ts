// The lifecycle of `faultline test` (DESIGN.md §2): resolve, store, network, nodes + init,
// workload and generator until the time limit, final phase, stop, check, results.
import { setMaxListeners } from "node:events";
import { join } from "node:path";
import { type Availability, checkAvailability } from "../checkers/availability.js";
import { checkFaults } from "../checkers/faults.js";
import type { Op } from "../checkers/history.js";
import { partitionReachWarning } from "../checkers/partition-reach.js";
import type { CheckResult, Validity } from "../checkers/result.js";
import { checkStats } from "../checkers/stats.js";
import { truncate } from "../reports/escape.js";
import { writeRunReports } from "../reports/index.js";
import { WORKLOADS } from "../workloads/index.js";
import type { MapReduceOptions } from "../workloads/mapreduce/options.js";
import type { OpSpec, Workload } from "../workloads/workload.js";
import { type Client, ClientFactory } from "./client.js";
import { RunClock, sleepUnlessAborted } from "./clock.js";
import { Cluster, type Crash } from "./cluster.js";
import { completionFor, type MalformedReply } from "./completion.js";
import { SetupError } from "./exit-codes.js";
import { type Latency, LinkTable } from "./links.js";
import type { Logger } from "./logger.js";
import { ClockControl } from "./nemesis/clock-control.js";
import { FAULT_KINDS, Nemesis, type NemesisOptions } from "./nemesis/nemesis.js";
import { type NetStats, Network } from "./network.js";
import type { NodeExit } from "./node-process.js";
import { type Progress, reportProgress } from "./progress.js";
import { Random } from "./random.js";
import { finishRun, openRun, recordCouldNotRun } from "./run-files.js";
import { RateScheduler } from "./scheduler.js";
import { createServices } from "./services.js";
import { STORE_FILES } from "./store.js";
import type { Target } from "./target.js";
import { isTcpWorkload, runTcpTest } from "./tcp/run.js";
import type { UdpOptions } from "./udp/context.js";
import { isUdpWorkload, runUdpTest } from "./udp/run.js";
import { runVerdict, verdictSummary } from "./verdict.js";

export interface TestOptions {
  workload: string;
  target: Target;
  node_count: number;
  time_limit_s: number;
  /** Total client ops per second across all workers. */
  rate: number;
  concurrency: number;
  latency: Latency;
  topology: string;
  /** Wait after the final heal before the final ops. */
  recovery_s: number;
  seed: number;
  store: string;
  /** The command line that repeats this run, for test.json and the report. */
  command: string;
  /** Faults to inject; none when the list is empty. */
  nemesis: NemesisOptions;
  /** Node names (Maelstrom's --nodes); default n0 … n(node_count-1). */
  nodes?: string[];
  /** Maelstrom's --availability: the fraction of client ops that must succeed. */
  availability?: Availability;
  /** Maelstrom's --log-stderr, --log-net-send, --log-net-recv: echoed onto our stderr. */
  log?: { stderr?: boolean; net_send?: boolean; net_recv?: boolean };
  /** Settings for the udp transport's workloads (lsp, mining). */
  udp?: UdpOptions;
  /** Settings for the tcp transport's `mapreduce` workload. */
  mapreduce?: MapReduceOptions;
}

export interface Results {
  valid: Validity;
  /** One sentence: why the verdict is what it is. */
  summary: string;
  checkers: Record<string, CheckResult>;
  stats: CheckResult;
  net: NetStats & { msgs_per_op: number | null; servers_msgs_per_op: number | null };
  seed: number;
  errors: Array<{ kind: string; message: string }>;
  /** Things that make the run prove less than it seems (e.g. a fault that never bit). */
  warnings: string[];
  /** Each fault interval and how many ops it touched (informational). */
  faults: CheckResult;
  nodes: Record<string, { crashes: NodeExit[] }>;
  duration_s: number;
}

export type { Progress } from "./progress.js";

export interface RunOutcome {
  dir: string;
  results: Results;
  exitCode: number;
}

interface WorkerState {
  index: number;
  process: number;
  node: string;
  client: Client;
}

/** Runs one test on the transport its workload needs, then renders its reports. */
export async function runTest(
  options: TestOptions,
  log: Logger,
  signal: AbortSignal,
  onProgress?: (progress: Progress) => void,
): Promise<RunOutcome> {
  const run = isUdpWorkload(options.workload)
    ? runUdpTest
    : isTcpWorkload(options.workload)
      ? runTcpTest
      : runMaelstromTest;
  let outcome: RunOutcome;
  try {
    outcome = await run(options, log, signal, onProgress);
  } catch (err) {
    recordCouldNotRun(log, options.seed, err);
    throw err;
  }
  try {
    await writeRunReports(outcome.dir);
  } catch (err) {
    // results.json is written; a report that failed to render must not lose the verdict.
    log.info(`warning: reports not written: ${(err as Error).message}`);
  }
  return outcome;
}

async function runMaelstromTest(
  options: TestOptions,
  log: Logger,
  signal: AbortSignal,
  onProgress?: (progress: Progress) => void,
): Promise<RunOutcome> {
  const factory = WORKLOADS[options.workload];
  if (!factory) {
    throw new SetupError(
      `unknown workload "${options.workload}"; choose one of ${Object.keys(WORKLOADS).join(", ")}`,
    );
  }
  const clock = new RunClock();
  const random = new Random(options.seed);
  const nodeIds = options.nodes ?? Array.from({ length: options.node_count }, (_, i) => `n${i}`);
  const workload = factory({
    nodes: nodeIds,
    concurrency: options.concurrency,
    rng: random.fork("workload"),
    latency_ms: options.latency.mean_ms,
    topology: options.topology,
  });

  const { dir, history } = openRun({
    options,
    name: `${options.workload}-${options.target.name}`,
    extra: { nodes: nodeIds },
    clock,
    log,
  });
  const links = new LinkTable(options.latency);
  const network = new Network(
    join(dir, STORE_FILES.messages),
    links,
    random.fork("network"),
    clock,
  );
  network.tap({
    ...(options.log?.net_send && { send: (line: string) => log.echo(`send ${line}`) }),
    ...(options.log?.net_recv && { recv: (line: string) => log.echo(`recv ${line}`) }),
  });
  for (const [name, service] of createServices(random.fork("services"))) {
    network.register(name, {
      kind: "service",
      deliver: (envelope) => {
        const reply = service.handle(envelope.src, envelope.body);
        if (reply) network.send(name, envelope.src, reply);
        return true;
      },
    });
  }
  const clients = new ClientFactory(network);
  const clock_control = options.nemesis.faults.includes("clock")
    ? ClockControl.create(dir)
    : undefined;
  const cluster = new Cluster(
    {
      ids: nodeIds,
      command: options.target.command,
      runDir: dir,
      ...(clock_control && { env: (node: string) => clock_control.envFor(node) }),
      ...(options.log?.stderr && {
        onStderr: (node: string, line: string) => log.echo(`${node}: ${line}`),
      }),
    },
    network,
    clients,
    clock,
  );
  const errors: Results["errors"] = [];
  const malformed: MalformedReply[] = [];
  const counts = { ok: 0, fail: 0, info: 0 };
  let phase = "starting";
  const stopProgress = reportProgress(onProgress, clock, options.time_limit_s, () => ({
    phase,
    faults: [...nemesis.active.values()],
    ...counts,
  }));

  const interrupted = () => signal.aborted;
  const nemesis = new Nemesis(
    options.nemesis,
    nodeIds,
    cluster,
    links,
    history,
    random.fork("nemesis"),
    log,
    clock_control,
  );

  network.onNodeMessage((src, dest, body) => nemesis.observe(src, dest, body));
  const talked = new Map<string, Set<string>>();
  network.onNodeMessage((src, dest) => {
    const dests = talked.get(src) ?? talked.set(src, new Set()).get(src);
    dests?.add(dest);
  });

  try {
    log.info(
      `starting ${nodeIds.length} nodes: ${options.target.command.file} ${options.target.command.args.join(" ")}`,
    );
    await cluster.start();
    log.info("all nodes answered init");
    if (workload.setup) await sendSetup(workload, cluster, clients);

    // One worker per unit of concurrency; worker i talks to node i mod n.
    const workers: WorkerState[] = Array.from({ length: options.concurrency }, (_, index) => ({
      index,
      process: index,
      node: nodeIds[index % nodeIds.length] as string,
      client: clients.open(),
    }));

    const perform = async (worker: WorkerState, op: OpSpec) => {
      history.record({
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
          reply: JSON.stringify(reply).slice(0, 1024),
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
      counts[completion.type]++;
      // Jepsen's rule: the old op may still take effect, so the worker continues as a new process.
      if (completion.type === "info") worker.process += options.concurrency;
    };

    phase = "running";
    log.info(
      `running ${options.workload} for ${options.time_limit_s} s at ${options.rate} ops/s with ${options.concurrency} workers`,
    );
    const scheduler = new RateScheduler(options.rate, clock, random.fork("scheduler"));
    const deadline_ns = clock.now_ns() + options.time_limit_s * 1e9;
    // An explicit controller and timer: AbortSignal.any over AbortSignal.timeout can be
    // garbage-collected before it fires, and then the nemesis would never stop.
    const generating = new AbortController();
    setMaxListeners(options.concurrency + FAULT_KINDS.length + 16, generating.signal);
    const stopGenerating = generating.signal;
    const timeLimit = setTimeout(() => generating.abort(), options.time_limit_s * 1000);
    const onInterrupt = () => generating.abort();
    signal.addEventListener("abort", onInterrupt);
    const faults = nemesis.run(stopGenerating);
    await Promise.all(
      workers.map(async (worker) => {
        while (!stopGenerating.aborted) {
          const wait_ms = scheduler.claim_ms();
          if (!(await sleepUnlessAborted(wait_ms ?? options.time_limit_s * 1000, stopGenerating)))
            break;
          if (clock.now_ns() >= deadline_ns) break;
          const op = workload.generate({
            worker: worker.index,
            process: worker.process,
            node: worker.node,
          });
          if (op === undefined) {
            if (!(await sleepUnlessAborted(10, stopGenerating))) break;
            continue;
          }
          await perform(worker, op);
        }
      }),
    );
    generating.abort();
    clearTimeout(timeLimit);
    signal.removeEventListener("abort", onInterrupt);
    await faults;
    if (!interrupted()) await nemesis.heal();

    if (workload.final && !interrupted()) {
      phase = "recovering";
      log.info(`waiting ${options.recovery_s} s for recovery`);
      await sleepUnlessAborted(options.recovery_s * 1000, signal);
      if (!interrupted()) {
        phase = "final";
        log.info("running the final ops");
        // Every node gets its final ops, even when there are fewer workers than nodes.
        let nextProcess = Math.max(...workers.map((w) => w.process)) + 1;
        for (let i = workers.length; i < nodeIds.length; i++) {
          workers.push({
            index: i,
            process: nextProcess++,
            node: nodeIds[i] as string,
            client: clients.open(),
          });
        }
        await Promise.all(
          workers.map(async (worker) => {
            const final = workload.final?.({
              worker: worker.index,
              process: worker.process,
              node: worker.node,
            });
            for (const op of final ?? []) {
              if (interrupted()) return;
              await perform(worker, op);
            }
          }),
        );
      }
    }
    for (const worker of workers) worker.client.close();
  } catch (err) {
    await shutdown();
    throw err;
  }

  phase = "stopping";
  log.info("stopping nodes");
  await shutdown();
  if (interrupted()) {
    errors.push({
      kind: "interrupted",
      message: "the run was interrupted; the history so far is kept",
    });
  }
  for (const crash of cluster.crashes) {
    errors.push({ kind: "node-crashed", message: crashText(crash) });
  }
  if (history.truncated)
    errors.push({ kind: "history-truncated", message: "history.jsonl hit its size limit" });

  phase = "checking";
  const checkers: Record<string, CheckResult> = interrupted()
    ? {}
    : await runCheckers(workload, history.ops, log);
  if (options.availability !== undefined && !interrupted()) {
    checkers.availability = checkAvailability(history.ops, options.availability);
  }
  checkers.protocol = protocolCheck(network, malformed);
  checkers.crashes = crashCheck(cluster.crashes);
  const faultReport = checkFaults(history.ops, { requested: options.nemesis.faults });
  const reach = partitionReachWarning(history.ops, talked);
  const warnings = [
    ...((faultReport.warnings as string[] | undefined) ?? []),
    ...(reach ? [reach] : []),
  ];
  for (const warning of warnings) log.info(`warning: ${warning}`);
  const stats = checkStats(history.ops);
  const clientInvokes = history.ops.filter(
    (op) => op.type === "invoke" && op.process !== "nemesis",
  ).length;
  const valid = runVerdict(checkers, interrupted());
  const results: Results = {
    valid,
    summary: verdictSummary(valid, checkers, interrupted()),
    checkers,
    stats,
    net: {
      ...network.stats,
      msgs_per_op: clientInvokes ? network.stats.send_count / clientInvokes : null,
      servers_msgs_per_op: clientInvokes ? network.stats.servers.send_count / clientInvokes : null,
    },
    seed: options.seed,
    errors,
    warnings,
    faults: faultReport,
    nodes: Object.fromEntries(
      nodeIds.map((id) => [
        id,
        { crashes: cluster.crashes.filter((c) => c.node === id).map((c) => c.exit) },
      ]),
    ),
    duration_s: clock.now_ns() / 1e9,
  };
  return finishRun(dir, results, interrupted(), log);

  async function shutdown(): Promise<void> {
    stopProgress();
    try {
      if (interrupted()) await cluster.kill();
      else await cluster.stop();
    } finally {
      network.close();
      history.close();
      clock_control?.remove();
    }
  }
}

async function sendSetup(
  workload: Workload,
  cluster: Cluster,
  clients: ClientFactory,
): Promise<void> {
  const client = clients.open();
  try {
    for (const node of cluster.ids) {
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

export async function runCheckers(
  workload: Workload,
  ops: readonly Op[],
  log: Logger,
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

function protocolCheck(network: Network, malformed: MalformedReply[]): CheckResult {
  const total = network.protocol_error_count + malformed.length;
  if (total === 0) return { valid: true, summary: "every node spoke the protocol correctly" };
  // Lines written before init are told apart: the fix is in the node's startup, not its format.
  const beforeInit = [...network.beforeInit].map(([node, lines]) => ({ node, ...lines }));
  const early = beforeInit.reduce((sum, lines) => sum + lines.count, 0);
  const parts = beforeInit.map(
    ({ node, count, srcs, example }) =>
      `${node} sent ${count} line${count === 1 ? "" : "s"} before it answered init; ${count === 1 ? "its" : "their"} src was ${srcs.join(" or ")} (e.g. stdout line ${example.line}: ${truncate(example.raw, EXAMPLE_LINE_CHARS)})`,
  );
  const others = total - early;
  if (others > 0) {
    const first = network.protocolErrors.find((error) => !error.before_init);
    const example = first
      ? `${first.node} stdout line ${first.line}: ${first.reason}`
      : malformed[0] && `${malformed[0].node} ${malformed[0].reason}`;
    parts.push(
      `${others} ${early > 0 ? "other " : ""}protocol violation${others === 1 ? "" : "s"}${example ? `, e.g. ${example}` : ""}`,
    );
  }
  return {
    valid: false,
    summary: parts.join("; "),
    errors: network.protocolErrors,
    error_count: network.protocol_error_count,
    ...(early > 0 && { before_init: beforeInit }),
    malformed_replies: malformed.slice(0, 100),
    malformed_reply_count: malformed.length,
  };
}

/** A line quoted in the protocol summary is cut to this many characters. */
const EXAMPLE_LINE_CHARS = 120;

function crashCheck(crashes: readonly Crash[]): CheckResult {
  if (crashes.length === 0) return { valid: true, summary: "no node exited on its own" };
  return {
    valid: false,
    summary: crashes.map(crashText).join("; "),
    crashes: crashes.map((c) => ({ node: c.node, ...c.exit })),
  };
}

function crashText(crash: Crash): string {
  const how = crash.exit.signal ? `signal ${crash.exit.signal}` : `exit code ${crash.exit.code}`;
  return `node ${crash.node} crashed (${how}) at ${(crash.exit.time_ns / 1e9).toFixed(1)} s`;
}
