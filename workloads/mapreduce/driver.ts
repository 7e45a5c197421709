// The `mapreduce` workload's driver (workloads/mapreduce/README.md "The test script's shape"):
// a seeded input corpus in <run>/job/, the coordinator (the target) started there on a loopback
// port, one TCP proxy listener per worker slot (link wK→coordinator), and `node-count` workers
// w0 … started 1 s later, each told its proxy's address. A worker that crashes (the crash app),
// or gives up on a coordinator a fault cut it off from, is relaunched in its slot 1 s later while
// the job runs (the MIT crash test's relaunch loops). The nemesis kills (SIGKILL of the group;
// a new instance when the fault ends), pauses and partitions workers; never the coordinator,
// which the lab does not make fault-tolerant.
//
// The job must finish by the deadline (--time-limit seconds after the coordinator started), else
// every process is killed and the checkers say which outputs are missing. Meanwhile the job
// directory's mr-out* files are polled every 25 ms (atomic-output), and snapshotted when the
// first process exits by itself (early-exit) and when the coordinator exits (completion).
//
// History: the job is one op (process 0, f "job") from the coordinator's start to its exit;
// each worker instance is one op (f "worker", node wK) from its start to its exit (ok: exit 0,
// fail: a crash, info: killed); nemesis events as usual.
import { mkdirSync, realpathSync } from "node:fs";
import { join } from "node:path";
import type { Op } from "../../checkers/history.js";
import {
  type OutputSnapshot,
  outputLines,
  type ProcessEnd,
  type WriterDeath,
} from "../../checkers/mapreduce.js";
import type { CheckResult } from "../../checkers/result.js";
import { pickTargets, type Targets } from "../faults.js";
import {
  type Driver,
  type DriverContext,
  type OpHandle,
  type ProcessHooks,
  type Program,
  type ProgramExit,
  SetupError,
  type SpawnSpec,
  stderrTailText,
  type TcpNet,
} from "../plugin.js";
import { sleepUnlessAborted, untilAborted } from "../timing.js";
import type { Rng } from "../workload.js";
import {
  checkMapReduce,
  expectationFor,
  isDeterministicReduce,
  requiredOutputs,
  writeCorpus,
} from "./job.js";
import { openOutputFiles } from "./open-files.js";
import type { MapReduceRoles, ResolvedMapReduceOptions } from "./options.js";
import { OutputWatcher } from "./output-watcher.js";
import { ProtocolWatch } from "./protocol-watch.js";

/** The coordinator's name in the link table and the history. */
export const COORDINATOR = "coordinator";
/** MIT: "sleep 1" between starting the coordinator and the workers. */
const WORKER_START_DELAY_MS = 1_000;
/** A crashed (or given-up) worker is relaunched after this, as test-mr.sh's loops do. */
const RELAUNCH_DELAY_MS = 1_000;
/** Workers must exit this soon after the job ends (the reference gives up after 5 s). */
const WORKER_EXIT_GRACE_MS = 10_000;
/** The coordinator must listen within this. */
const LISTEN_TIMEOUT_MS = 10_000;

interface Slot {
  name: string;
  index: number;
  process: number;
  generation: number;
  proxy_port: number;
  current: Instance | undefined;
  /** Killed by the nemesis; the fault's end restarts it. */
  blocked: boolean;
  started: boolean;
  relaunch: NodeJS.Timeout | undefined;
}

interface Instance {
  id: string;
  role: "coordinator" | "worker";
  slot: Slot | undefined;
  program: Program;
  op: OpHandle;
  started_ns: number;
  /** The nemesis killed it. */
  fault_killed: boolean;
  /** The harness stopped it (the deadline, the end of the run). */
  ended_by_us: boolean;
  /** Output files it held open just before the nemesis killed it. */
  writing_at_kill: string[];
}

/** How `load` saw the job end; a protocol mismatch ends it as a setup error. */
type JobEnd = "exited" | "deadline" | "stopped" | { mismatch: string };

export class MapReduceDriver implements Driver {
  readonly hooks: ProcessHooks;
  readonly hub = COORDINATOR;
  private readonly slots: Slot[];
  private readonly instances: Instance[] = [];
  private readonly jobDir: string;
  /** jobDir with symlinks resolved, as /proc/<pid>/fd links name it. */
  private realJobDir = "";
  private readonly watcher: OutputWatcher;
  /** Workers that died (not stopped by us) while writing output files. */
  private readonly deaths: WriterDeath[] = [];
  /** The coordinator's replies to the workers, as the proxy delivers them. */
  private readonly protocol: ProtocolWatch;
  private readonly files: string[] = [];
  private coordinator: Instance | undefined;
  private coordinatorPort = 0;
  private coordinatorExit: Promise<ProgramExit> | undefined;
  private firstExit: { time_ns: number; process: string; files: OutputSnapshot } | undefined;
  private atCoordinatorExit: OutputSnapshot | undefined;
  private ended: Exclude<JobEnd, object> | undefined;
  /** The job ended (coordinator exited, deadline, stop): nothing new starts. */
  private over = false;
  /** The job ran out of time: what is still running is killed at the deadline. */
  private deadlineHit = false;

  constructor(
    private readonly ctx: DriverContext<TcpNet>,
    private readonly mr: ResolvedMapReduceOptions,
    private readonly roles: MapReduceRoles,
  ) {
    const count = Math.max(1, ctx.settings.node_count);
    // Process 0 is the job; each slot's instances are processes k+1, k+1+(W+1), … so the
    // timeline (rows = process mod concurrency, concurrency W+1 in test.json) gives a row each.
    this.slots = Array.from({ length: count }, (_, index) => ({
      name: `w${index}`,
      index,
      process: index + 1,
      generation: 0,
      proxy_port: 0,
      current: undefined,
      blocked: false,
      started: false,
      relaunch: undefined,
    }));
    this.jobDir = join(ctx.dir, "job");
    this.watcher = new OutputWatcher(this.jobDir, ctx.clock, () => this.outputHolders());
    this.hooks = this.processHooks();
    const ours =
      ctx.settings.target.manifest !== undefined && ctx.settings.target.name === "mapreduce";
    this.protocol = new ProtocolWatch(
      ours
        ? ` (faultline's coordinator speaks the protocol in systems/mapreduce/README.md, "The RPC")`
        : "",
    );
  }

  /** The corpus, the coordinator, the workers' proxy listeners, then MIT's pause before workers. */
  async start(): Promise<void> {
    const { mr, ctx } = this;
    mkdirSync(this.jobDir, { recursive: true });
    this.realJobDir = realpathSync(this.jobDir);
    this.files.push(...writeCorpus(this.jobDir, ctx.random.fork("corpus"), mr.files, mr.file_kib));
    ctx.log.info(
      `job: ${mr.app} over ${this.files.length} files of ${mr.file_kib} KiB in ${this.jobDir}, ${mr.n_reduce} reduce tasks, ${this.slots.length} workers, task timeout ${mr.task_timeout_ms} ms`,
    );
    await this.startCoordinator();
    for (const slot of this.slots) {
      slot.proxy_port = await ctx.net.listen(slot.name, COORDINATOR, this.coordinatorPort, (head) =>
        this.protocol.onReply(head),
      );
    }
    this.watcher.start();
    await sleepUnlessAborted(
      Math.max(0, WORKER_START_DELAY_MS - this.sinceCoordinatorMs()),
      ctx.signal,
    );
  }

  /** Starts the workers; returns when the coordinator exits, at the deadline or on `stop`. */
  async load(stop: AbortSignal): Promise<void> {
    // jobcount: test-mr.sh starts half the workers, the rest once one of those has exited.
    const first = this.mr.app === "jobcount" ? Math.ceil(this.slots.length / 2) : this.slots.length;
    for (const slot of this.slots.slice(0, first)) await this.startWorker(slot);
    const ended = await this.jobEnd(stop);
    this.endJob();
    if (typeof ended === "object") throw new SetupError(ended.mismatch);
    this.ended = ended;
    if (ended === "deadline") this.recordDeadline();
  }

  /** The coordinator exited, the deadline (time limit after the coordinator started) or `stop`. */
  private async jobEnd(stop: AbortSignal): Promise<JobEnd> {
    const deadline_ms = this.ctx.settings.time_limit_s * 1000;
    const remaining_ms = Math.max(0, deadline_ms - this.sinceCoordinatorMs());
    let deadlineTimer: NodeJS.Timeout | undefined;
    const ended = await Promise.race([
      (this.coordinatorExit as Promise<ProgramExit>).then(() => "exited" as const),
      new Promise<"deadline">((resolve) => {
        deadlineTimer = setTimeout(() => resolve("deadline"), remaining_ms);
      }),
      untilAborted(stop).then(() => "stopped" as const),
      this.protocol.mismatch.then((mismatch) => ({ mismatch })),
    ]);
    clearTimeout(deadlineTimer);
    return ended;
  }

  private recordDeadline(): void {
    const { ctx } = this;
    const time_limit_s = ctx.settings.time_limit_s;
    ctx.setPhase("deadline");
    this.deadlineHit = true;
    ctx.log.info(`the job did not finish within ${time_limit_s} s: killing every process`);
    ctx.history.record({
      process: "nemesis",
      type: "info",
      f: "deadline",
      value: { time_limit_s },
    });
  }

  /** After the coordinator's exit, workers learn the job is done (or the coordinator is gone). */
  async final(): Promise<void> {
    if (this.ended !== "exited") return;
    this.ctx.setPhase("workers-exiting");
    const running = this.instances.filter((i) => i.program.running);
    await Promise.all(running.map((i) => i.program.waitExit(WORKER_EXIT_GRACE_MS)));
  }

  /**
   * SIGKILLs whatever still runs, even when `kill` is not asked for: past the deadline the job
   * has failed, and after the coordinator's exit the workers had their grace in `final`.
   */
  async stop(): Promise<void> {
    this.endJob();
    await this.ctx.stopPrograms(this.instances, true);
    this.watcher.stop();
    this.watcher.poll();
  }

  async check(ops: readonly Op[]): Promise<Record<string, CheckResult>> {
    const { mr } = this;
    const contents = this.watcher.contents();
    const final = this.watcher.snapshot();
    const lines = outputLines(contents.values());
    const expectation = await expectationFor(mr.app, this.files, this.jobDir);
    const deterministic = isDeterministicReduce(mr.app);
    return checkMapReduce({
      app: mr.app,
      lines,
      expectation,
      map_tasks: this.files.length,
      workers: this.slots.length,
      process_faults: this.disturbed(ops),
      early_exit: { ...(this.firstExit && { snapshot: this.firstExit }), final, deterministic },
      atomic: {
        versions: this.watcher.versions,
        final,
        polls: this.watcher.polls,
        interval_ms: this.watcher.interval_ms,
        deterministic,
        deaths: this.deaths,
        strict: this.ctx.settings.strict === true,
      },
      completion: {
        deadline_s: this.ctx.settings.time_limit_s,
        coordinator: this.endOf(this.coordinator as Instance),
        required: requiredOutputs(expectation, mr.n_reduce, Object.keys(final)),
        final,
        ...(this.atCoordinatorExit && { at_coordinator_exit: this.atCoordinatorExit }),
        workers: this.instances
          .filter((i) => i.role === "worker")
          .flatMap((i) => this.endOf(i) ?? []),
        grace_ms: WORKER_EXIT_GRACE_MS,
        crashes_expected: mr.app === "crash",
      },
    });
  }

  /** Every program instance; a crash is an exit on its own with a non-zero code. */
  report(): ReturnType<Driver["report"]> {
    const nodes = this.instances.map((i) => {
      const exit = i.program.exit;
      const byUs = i.ended_by_us || i.fault_killed;
      const crashed = exit && !byUs && exit.code !== 0;
      return [i.id, { crashes: crashed ? [{ ...exit, role: i.role }] : [] }];
    });
    return { nodes: Object.fromEntries(nodes), errors: [] };
  }

  /** No worker starts, and kills and pauses find no worker, after this. */
  private endJob(): void {
    this.over = true;
    for (const slot of this.slots) clearTimeout(slot.relaunch);
  }

  private sinceCoordinatorMs(): number {
    return (this.ctx.clock.now_ns() - (this.coordinator as Instance).started_ns) / 1e6;
  }

  // ---- programs ----------------------------------------------------------------------------

  private env(): Record<string, string> {
    const scale = this.mr.time_scale;
    return scale === undefined ? {} : { FAULTLINE_MR_TIME_SCALE: String(scale) };
  }

  /**
   * A program in the job directory, tracked as an instance from the moment `invoke` records its
   * op; the caller starts it.
   */
  private newInstance(
    program: Pick<Instance, "id" | "role" | "slot"> & Pick<SpawnSpec, "command" | "onExit">,
    invoke: () => OpHandle,
  ): Instance {
    const { id, role, slot, command, onExit } = program;
    const instance: Instance = {
      id,
      role,
      slot,
      program: this.ctx.spawn({
        id,
        command,
        stdout: "text",
        cwd: this.jobDir,
        env: this.env(),
        onExit: (exit) => {
          this.onExit(instance, exit);
          onExit?.(exit);
        },
      }),
      op: invoke(),
      started_ns: this.ctx.clock.now_ns(),
      fault_killed: false,
      ended_by_us: false,
      writing_at_kill: [],
    };
    this.instances.push(instance);
    return instance;
  }

  private async startCoordinator(): Promise<void> {
    const { roles, mr, ctx } = this;
    this.coordinatorPort = await ctx.net.freePort();
    let resolveExit: (exit: ProgramExit) => void = () => {};
    this.coordinatorExit = new Promise((resolve) => {
      resolveExit = resolve;
    });
    const instance = this.newInstance(
      {
        id: COORDINATOR,
        role: "coordinator",
        slot: undefined,
        command: {
          file: roles.coordinator.file,
          args: [
            ...roles.coordinator.args,
            "--port",
            String(this.coordinatorPort),
            "--n-reduce",
            String(mr.n_reduce),
            "--task-timeout-ms",
            String(mr.task_timeout_ms),
            ...this.files,
          ],
        },
        onExit: (exit) => resolveExit(exit),
      },
      () =>
        ctx.invoke(
          0,
          "job",
          {
            app: mr.app,
            files: this.files.length,
            n_reduce: mr.n_reduce,
            workers: this.slots.length,
            task_timeout_ms: mr.task_timeout_ms,
          },
          COORDINATOR,
        ),
    );
    this.coordinator = instance;
    await instance.program.start();
    ctx.log.info(`coordinator started on 127.0.0.1:${this.coordinatorPort}`);
    await this.waitCoordinatorListening(instance.program);
  }

  private async waitCoordinatorListening(program: Program): Promise<void> {
    const { ctx, roles } = this;
    const port = this.coordinatorPort;
    const alive = () => program.running;
    if (await ctx.net.waitListening(port, LISTEN_TIMEOUT_MS, alive, ctx.signal)) return;
    if (ctx.signal.aborted) return;
    const exit = program.exit;
    const why = exit
      ? `it exited (code ${exit.code}, signal ${exit.signal})`
      : `it did not listen within ${LISTEN_TIMEOUT_MS / 1000} s`;
    throw new SetupError(
      `the coordinator (${roles.coordinator.file} ${roles.coordinator.args.join(" ")}) did not start serving on 127.0.0.1:${this.coordinatorPort}: ${why}${stderrTailText(program.stderrTail)}`,
    );
  }

  private async startWorker(slot: Slot): Promise<void> {
    if (this.over || this.ctx.signal.aborted || slot.current?.program.running) return;
    const { roles, mr } = this;
    slot.started = true;
    const generation = ++slot.generation;
    // A new process per instance, in the slot's timeline row (rows = process mod (W + 1)).
    const process = slot.index + 1 + (generation - 1) * (this.slots.length + 1);
    slot.process = process;
    const id = generation === 1 ? slot.name : `${slot.name}.${generation}`;
    const instance = this.newInstance(
      {
        id,
        role: "worker",
        slot,
        command: {
          file: roles.worker.file,
          args: [
            ...roles.worker.args,
            "--coordinator",
            `127.0.0.1:${slot.proxy_port}`,
            "--app",
            mr.app,
          ],
        },
      },
      () => this.ctx.invoke(process, "worker", { instance: id }, slot.name),
    );
    slot.current = instance;
    await instance.program.start();
  }

  private onExit(instance: Instance, exit: ProgramExit): void {
    const { log } = this.ctx;
    const byUs = instance.fault_killed || instance.ended_by_us;
    const how = exit.signal ? `signal ${exit.signal}` : `code ${exit.code}`;
    // The first process to exit by itself with code 0 claims the job is done: the output must
    // be final now. A worker that a fault cut off may give up early; it does not count.
    const clean = !byUs && exit.code === 0;
    const faulted = instance.slot !== undefined && this.faultTouched(instance);
    if (instance.role === "worker" && !instance.ended_by_us && !clean) {
      this.noteDeath(instance, exit);
    }
    if ((clean && !faulted && !this.firstExit) || instance.role === "coordinator") {
      this.watcher.poll();
      const files = this.watcher.snapshot();
      if (clean && !faulted && !this.firstExit) {
        this.firstExit = { time_ns: exit.time_ns, process: instance.id, files };
      }
      if (instance.role === "coordinator") this.atCoordinatorExit = files;
    }
    const value = { instance: instance.id, code: exit.code, signal: exit.signal };
    if (instance.fault_killed) {
      instance.op.complete("info", value, "killed by the nemesis");
    } else if (instance.ended_by_us) {
      const why = this.deadlineHit ? "killed at the deadline" : "killed at the end";
      instance.op.complete("info", value, why);
    } else if (exit.code === 0) {
      const outputs = instance.role === "coordinator" ? this.atCoordinatorExit : undefined;
      instance.op.complete("ok", {
        ...value,
        ...(outputs && { outputs: Object.keys(outputs).length }),
      });
    } else {
      instance.op.complete("fail", value, `exited with ${how}`);
    }
    if (!byUs) log.info(`${instance.id} exited on its own (${how})`);
    if (instance.role === "coordinator") {
      this.endJob();
      return;
    }
    const slot = instance.slot as Slot;
    if (byUs || this.over) return;
    // jobcount: the second half starts once one of the first has exited.
    for (const other of this.slots) {
      if (!other.started) void this.startWorker(other).catch((err) => this.startFailed(other, err));
    }
    if (exit.code !== 0 || faulted) {
      // test-mr.sh relaunches crashed workers while the job runs; so does faultline for a
      // worker that gave up on a coordinator a fault cut it off from.
      clearTimeout(slot.relaunch);
      slot.relaunch = setTimeout(() => {
        slot.relaunch = undefined;
        if (!slot.blocked) void this.startWorker(slot).catch((err) => this.startFailed(slot, err));
      }, RELAUNCH_DELAY_MS);
    }
  }

  /**
   * What a worker that crashed or was killed by a fault left of the output files it was writing
   * (held open just before a nemesis kill, or when their newest content was seen), read now. A
   * file another worker has started writing since is that worker's, not this one's leftover.
   */
  private noteDeath(instance: Instance, exit: ProgramExit): void {
    const candidates = new Set([
      ...instance.writing_at_kill,
      ...this.watcher.filesLastWrittenBy(instance.id),
    ]);
    if (candidates.size === 0) return;
    this.watcher.poll();
    const writing = [...candidates].filter((file) => {
      const writers = this.watcher.lastWritersOf(file);
      return writers.length === 0 || writers.includes(instance.id);
    });
    if (writing.length === 0) return;
    const now = this.watcher.snapshot();
    const how = instance.fault_killed
      ? "was killed by the nemesis"
      : exit.signal
        ? `died on signal ${exit.signal}`
        : `exited with code ${exit.code}`;
    this.deaths.push({
      instance: instance.id,
      time_ns: exit.time_ns,
      how,
      files: writing.sort().map((file) => ({ file, left: now[file] ?? null })),
    });
  }

  /** Output files each live worker holds open (none found off Linux). */
  private outputHolders(): Map<string, string[]> {
    const holders = new Map<string, string[]>();
    for (const instance of this.instances) {
      if (instance.role !== "worker") continue;
      const pid = instance.program.pid;
      if (pid === undefined) continue;
      for (const file of openOutputFiles(pid, this.realJobDir)) {
        holders.set(file, [...(holders.get(file) ?? []), instance.id]);
      }
    }
    return holders;
  }

  private startFailed(slot: Slot, err: unknown): void {
    this.ctx.log.info(`could not start worker ${slot.name}: ${(err as Error).message}`);
  }

  /** True when a partition or pause named this instance's slot during its life. */
  private faultTouched(instance: Instance): boolean {
    const slot = instance.slot;
    if (!slot) return false;
    const end = instance.program.exit?.time_ns ?? this.ctx.clock.now_ns();
    const open = new Map<string, Op>();
    for (const op of this.ctx.history.ops) {
      if (op.process !== "nemesis") continue;
      if (op.f === "start-partition" || op.f === "start-pause") {
        const nodes = (op.value as { nodes?: string[] }).nodes ?? [];
        if (nodes.includes(slot.name)) open.set(op.f.slice(6), op);
      } else if (op.f === "stop-partition" || op.f === "stop-pause" || op.f === "heal") {
        for (const [kind, start] of open) {
          if (op.f !== "heal" && op.f.slice(5) !== kind) continue;
          if (op.time >= instance.started_ns && start.time <= end) return true;
          open.delete(kind);
        }
      }
    }
    return [...open.values()].some((start) => start.time <= end);
  }

  /** Re-executed tasks are legitimate: a fault was injected, or a worker crashed. */
  private disturbed(ops: readonly Op[]): boolean {
    const faulted = ops.some((op) => op.process === "nemesis" && op.f.startsWith("start-"));
    return (
      faulted ||
      this.instances.some(
        (i) => i.role === "worker" && i.program.exit !== undefined && i.program.exit.code !== 0,
      )
    );
  }

  private endOf(instance: Instance): ProcessEnd | undefined {
    const exit = instance.program.exit;
    if (!exit) return undefined;
    return {
      id: instance.id,
      code: exit.code,
      signal: exit.signal,
      time_ns: exit.time_ns,
      killed: instance.ended_by_us || instance.fault_killed,
      ...(instance.fault_killed && { fault: true }),
    };
  }

  // ---- process faults ------------------------------------------------------------------------

  private processHooks(): ProcessHooks {
    const live = () =>
      this.over
        ? []
        : this.slots.filter((s) => !s.blocked && s.current?.program.running).map((s) => s.name);
    const choose = (targets: Targets, random: Rng) => pickTargets(live(), targets, random);
    const slotOf = (name: string) => this.slots.find((s) => s.name === name);
    return {
      peers: () => this.slots.map((s) => s.name),
      chooseKill: choose,
      choosePause: choose,
      kill: async (names) => {
        const instances: string[] = [];
        for (const name of names) {
          const slot = slotOf(name);
          const current = slot?.current;
          if (!slot || !current?.program.running) continue;
          slot.blocked = true;
          clearTimeout(slot.relaunch);
          const pid = current.program.pid;
          if (pid !== undefined) current.writing_at_kill = openOutputFiles(pid, this.realJobDir);
          current.fault_killed = true;
          instances.push(current.id);
          await current.program.kill();
        }
        return { instances };
      },
      restart: async (names) => {
        const restarted: string[] = [];
        for (const name of names) {
          const slot = slotOf(name);
          if (!slot) continue;
          slot.blocked = false;
          if (this.over || slot.current?.program.running) continue;
          await this.startWorker(slot);
          if (slot.current) restarted.push(slot.current.id);
        }
        return { restarted };
      },
      pause: (names) => names.filter((name) => slotOf(name)?.current?.program.pause() === true),
      pausedInstances: (names) => names.flatMap((name) => slotOf(name)?.current?.id ?? []),
      resume: (names) => names.filter((name) => slotOf(name)?.current?.program.resume() === true),
    };
  }
}
