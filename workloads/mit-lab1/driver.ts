// Lab mode's driver (workloads/mit-lab1/README.md "How a run goes"): builds the student's
// programs (./build.ts) or takes them built, writes a seeded corpus in <run>/job/, then runs
// one test-mr.sh test as the script does: `mrcoordinator ../pg-*.txt` in <run>/job/mr-tmp/, and
// 1 s later its workers `mrworker APP.so`, all real subprocesses meeting on the lab's UNIX socket
// (held for the run by ./socket.ts). The nemesis kills (SIGKILL; a new worker when the fault
// ends) and pauses workers; the coordinator, which the lab does not make fault-tolerant, never.
//
// The output is judged by our own oracle and checkers, shared with the `mapreduce` workload
// (../mapreduce/job.ts, checkers/mapreduce.ts): the mr-out* files are polled while the job runs
// and snapshotted when the first process exits by itself and when the coordinator exits.
//
// History: the job is one op (process 0, f "job") from the coordinator's start to its exit;
// each worker instance is one op (f "worker", node wK; ok exit 0, fail another code, info
// killed by the nemesis or the harness); nemesis events as usual.
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import type { Op } from "../../checkers/history.js";
import { type OutputSnapshot, outputLines, type ProcessEnd } from "../../checkers/mapreduce.js";
import type { CheckResult } from "../../checkers/result.js";
import { pickTargets, type Targets } from "../faults.js";
import {
  checkMapReduce,
  expectationFor,
  isDeterministicReduce,
  requiredOutputs,
  writeCorpus,
} from "../mapreduce/job.js";
import { OutputWatcher } from "../mapreduce/output-watcher.js";
import {
  type Driver,
  type DriverContext,
  type NodeCommand,
  type OpHandle,
  type ProcessHooks,
  type Program,
  type ProgramExit,
  SetupError,
  stderrTailText,
} from "../plugin.js";
import { sleepUnlessAborted, untilAborted } from "../timing.js";
import type { Rng } from "../workload.js";
import { buildLab, type LabBuild } from "./build.js";
import { builtPlugin, LAB_FILES, LAB_N_REDUCE, type LabPrograms, type LabTest } from "./lab.js";
import type { ResolvedLabOptions } from "./options.js";
import { SocketLock, socketServing } from "./socket.js";

const COORDINATOR = "coordinator";
/** test-mr.sh: `sleep 1` between the coordinator and the workers. */
const WORKER_START_DELAY_MS = 1_000;
/** test-mr.sh's crash loops: `sleep 1` before relaunching a worker. */
const RELAUNCH_DELAY_MS = 1_000;
/** The coordinator must serve on the lab's socket within this. */
const SOCKET_TIMEOUT_MS = 10_000;
/** How often (and how long each probe may take) while waiting for the socket. */
const SOCKET_POLL_MS = 50;
/** Workers must exit this soon after the coordinator (they find it gone). */
const WORKER_EXIT_GRACE_MS = 10_000;
/** Size of each input file (the lab's books are larger; these keep a run short). */
const FILE_KIB = 32;

interface Slot {
  name: string;
  index: number;
  generation: number;
  current: Instance | undefined;
  /** Killed by the nemesis; its fault's end starts a new worker. */
  blocked: boolean;
  started: boolean;
  relaunch: NodeJS.Timeout | undefined;
}

interface Instance {
  id: string;
  slot: Slot | undefined;
  program: Program;
  op: OpHandle;
  fault_killed: boolean;
  ended_by_us: boolean;
}

type JobEnd = "exited" | "deadline" | "stopped";

export class MitLab1Driver implements Driver {
  readonly hooks: ProcessHooks;
  readonly hub = COORDINATOR;
  private readonly slots: Slot[];
  private readonly instances: Instance[] = [];
  private readonly jobDir: string;
  private readonly workDir: string;
  private readonly watcher: OutputWatcher;
  private readonly lock: SocketLock;
  private files: string[] = [];
  private build: LabBuild | undefined;
  private coordinator: Instance | undefined;
  private coordinatorStarted_ns = 0;
  private coordinatorExit: Promise<ProgramExit> | undefined;
  private resolveCoordinatorExit: (exit: ProgramExit) => void = () => {};
  private firstExit: { time_ns: number; process: string; files: OutputSnapshot } | undefined;
  private atCoordinatorExit: OutputSnapshot | undefined;
  private ended: JobEnd | undefined;
  private over = false;

  constructor(
    private readonly ctx: DriverContext,
    private readonly lab: ResolvedLabOptions & { test: LabTest; programs: LabPrograms },
  ) {
    this.slots = Array.from({ length: lab.test.workers }, (_, index) => ({
      name: `w${index}`,
      index,
      generation: 0,
      current: undefined,
      blocked: false,
      started: false,
      relaunch: undefined,
    }));
    // test-mr.sh runs in src/main/mr-tmp/ over ../pg-*.txt; so does a run here.
    this.jobDir = join(ctx.dir, "job");
    this.workDir = join(this.jobDir, "mr-tmp");
    this.watcher = new OutputWatcher(this.workDir, ctx.clock);
    this.lock = new SocketLock(lab.socket);
    this.hooks = this.processHooks();
  }

  async start(): Promise<void> {
    const { ctx, lab } = this;
    await this.lock.acquire();
    this.build = await this.programs();
    if (ctx.signal.aborted) return;
    mkdirSync(this.workDir, { recursive: true });
    const names = writeCorpus(this.jobDir, ctx.random.fork("corpus"), LAB_FILES, FILE_KIB);
    this.files = names.map((name) => `../${name}`);
    ctx.log.info(
      `lab test ${lab.test_name}: ${lab.test.app} over ${names.length} files in ${this.workDir}, ${lab.test.workers} workers, socket ${lab.socket}`,
    );
    await this.startCoordinator();
    this.watcher.start();
    const since_ms = (ctx.clock.now_ns() - this.coordinatorStarted_ns) / 1e6;
    await sleepUnlessAborted(Math.max(0, WORKER_START_DELAY_MS - since_ms), ctx.signal);
  }

  private async programs(): Promise<LabBuild> {
    const { programs, test, race } = this.lab;
    if (programs.kind === "source") {
      return buildLab(this.ctx, { src: programs.src, app: test.app, race });
    }
    return {
      coordinator: join(programs.dir, "mrcoordinator"),
      worker: join(programs.dir, "mrworker"),
      plugin: builtPlugin(programs.dir, test.app),
    };
  }

  async load(stop: AbortSignal): Promise<void> {
    if (!this.coordinatorExit) return; // interrupted while building
    const first = this.lab.test.staggered ? Math.ceil(this.slots.length / 2) : this.slots.length;
    for (const slot of this.slots.slice(0, first)) await this.startWorker(slot);
    this.ended = await this.jobEnd(stop);
    this.endJob();
    if (this.ended === "deadline") {
      this.ctx.log.info(`the job did not finish within ${this.ctx.settings.time_limit_s} s`);
      this.ctx.history.record({
        process: "nemesis",
        type: "info",
        f: "deadline",
        value: { time_limit_s: this.ctx.settings.time_limit_s },
      });
    }
  }

  private async jobEnd(stop: AbortSignal): Promise<JobEnd> {
    const elapsed_ms = (this.ctx.clock.now_ns() - this.coordinatorStarted_ns) / 1e6;
    const remaining_ms = Math.max(0, this.ctx.settings.time_limit_s * 1000 - elapsed_ms);
    let timer: NodeJS.Timeout | undefined;
    const ended = await Promise.race([
      (this.coordinatorExit as Promise<ProgramExit>).then(() => "exited" as const),
      new Promise<"deadline">((resolve) => {
        timer = setTimeout(() => resolve("deadline"), remaining_ms);
      }),
      untilAborted(stop).then(() => "stopped" as const),
    ]);
    clearTimeout(timer);
    return ended;
  }

  /** After the coordinator's exit the workers find it gone and must exit. */
  async final(): Promise<void> {
    if (this.ended !== "exited") return;
    this.ctx.setPhase("workers-exiting");
    const running = this.instances.filter((i) => i.program.running);
    await Promise.all(running.map((i) => i.program.waitExit(WORKER_EXIT_GRACE_MS)));
  }

  async stop(): Promise<void> {
    this.endJob();
    await this.ctx.stopPrograms(this.instances, true);
    this.watcher.stop();
    this.watcher.poll();
    this.lock.release();
  }

  async check(ops: readonly Op[]): Promise<Record<string, CheckResult>> {
    const { app } = this.lab.test;
    const final = this.watcher.snapshot();
    const expectation = await expectationFor(app, this.files, this.workDir);
    const deterministic = isDeterministicReduce(app);
    const checks = checkMapReduce({
      app,
      lines: outputLines(this.watcher.contents().values()),
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
        strict: this.ctx.settings.strict === true,
      },
      completion: {
        deadline_s: this.ctx.settings.time_limit_s,
        coordinator: this.endOf(this.coordinator as Instance),
        required: requiredOutputs(expectation, LAB_N_REDUCE, Object.keys(final)),
        final,
        ...(this.atCoordinatorExit && { at_coordinator_exit: this.atCoordinatorExit }),
        workers: this.instances.filter((i) => i.slot).flatMap((i) => this.endOf(i) ?? []),
        grace_ms: WORKER_EXIT_GRACE_MS,
        crashes_expected: app === "crash",
      },
    });
    return this.underLabLimit(checks);
  }

  /**
   * A job cut short by a --time-limit below test-mr.sh's own limit for this test proves
   * nothing about whether it would have finished: what needed the finished job is unknown.
   */
  private underLabLimit(checks: Record<string, CheckResult>): Record<string, CheckResult> {
    const { time_limit_s } = this.ctx.settings;
    const { limit_s } = this.lab.test;
    if (this.ended === "exited" || time_limit_s >= limit_s) return checks;
    const summary = `the job did not finish within --time-limit ${time_limit_s} s, less than test-mr.sh allows this test (${limit_s} s): run again with --time-limit ${limit_s}`;
    const unfinished = ["output", "parallelism", "job-count", "completion"];
    for (const name of unfinished) {
      if (checks[name]) checks[name] = { valid: "unknown", summary };
    }
    return checks;
  }

  report(): ReturnType<Driver["report"]> {
    const nodes = this.instances.map((i) => {
      const exit = i.program.exit;
      const crashed = exit && !i.ended_by_us && !i.fault_killed && exit.code !== 0;
      return [i.id, { crashes: crashed ? [exit] : [] }];
    });
    return { nodes: Object.fromEntries(nodes), errors: [] };
  }

  private endJob(): void {
    this.over = true;
    for (const slot of this.slots) clearTimeout(slot.relaunch);
  }

  // ---- programs ----------------------------------------------------------------------------

  private spawn(id: string, slot: Slot | undefined, command: NodeCommand, op: () => OpHandle) {
    const instance: Instance = {
      id,
      slot,
      program: this.ctx.spawn({
        id,
        command,
        stdout: "text",
        cwd: this.workDir,
        onExit: (exit) => this.onExit(instance, exit),
      }),
      op: op(),
      fault_killed: false,
      ended_by_us: false,
    };
    this.instances.push(instance);
    return instance;
  }

  private async startCoordinator(): Promise<void> {
    const { ctx, lab } = this;
    const build = this.build as LabBuild;
    this.coordinatorExit = new Promise((resolve) => {
      this.resolveCoordinatorExit = resolve;
    });
    const command = { file: build.coordinator, args: this.files };
    const value = { test: lab.test_name, app: lab.test.app, workers: this.slots.length };
    const instance = this.spawn(COORDINATOR, undefined, command, () =>
      ctx.invoke(0, "job", value, COORDINATOR),
    );
    this.coordinator = instance;
    this.coordinatorStarted_ns = ctx.clock.now_ns();
    await instance.program.start();
    await this.waitServing(instance.program);
  }

  /** The lab's workers dial the socket once per call: it must serve before they start. */
  private async waitServing(program: Program): Promise<void> {
    const { ctx, lock } = this;
    const deadline_ns = ctx.clock.now_ns() + SOCKET_TIMEOUT_MS * 1e6;
    while (program.running && ctx.clock.now_ns() < deadline_ns) {
      if (await socketServing(lock.socketPath, SOCKET_POLL_MS)) return;
      if (!(await sleepUnlessAborted(SOCKET_POLL_MS, ctx.signal))) return;
    }
    const exit = program.exit;
    const why = exit
      ? `it exited (code ${exit.code}, signal ${exit.signal})`
      : `nothing served there within ${SOCKET_TIMEOUT_MS / 1000} s`;
    throw new SetupError(
      `mrcoordinator did not serve on ${lock.socketPath}: ${why}${stderrTailText(program.stderrTail)}`,
    );
  }

  private async startWorker(slot: Slot): Promise<void> {
    if (this.over || this.ctx.signal.aborted || slot.current?.program.running) return;
    const build = this.build as LabBuild;
    slot.started = true;
    const generation = ++slot.generation;
    // Each instance a new process, in its slot's timeline row (rows = process mod (W + 1)).
    const process = slot.index + 1 + (generation - 1) * (this.slots.length + 1);
    const id = generation === 1 ? slot.name : `${slot.name}.${generation}`;
    const command = { file: build.worker, args: [build.plugin] };
    const instance = this.spawn(id, slot, command, () =>
      this.ctx.invoke(process, "worker", { instance: id }, slot.name),
    );
    slot.current = instance;
    await instance.program.start();
  }

  private onExit(instance: Instance, exit: ProgramExit): void {
    const byUs = instance.fault_killed || instance.ended_by_us;
    const how = exit.signal ? `signal ${exit.signal}` : `code ${exit.code}`;
    const isCoordinator = instance.slot === undefined;
    // test-mr.sh's early-exit test: when the first process exits by itself, the output must
    // already be final.
    const firstClean = !byUs && exit.code === 0 && !this.firstExit;
    if (firstClean || isCoordinator) {
      this.watcher.poll();
      const files = this.watcher.snapshot();
      if (firstClean) this.firstExit = { time_ns: exit.time_ns, process: instance.id, files };
      if (isCoordinator) this.atCoordinatorExit = files;
    }
    this.complete(instance, exit, how);
    if (!byUs) this.ctx.log.info(`${instance.id} exited on its own (${how})`);
    if (isCoordinator) {
      this.endJob();
      this.resolveCoordinatorExit(exit);
      return;
    }
    if (byUs || this.over) return;
    // job-count: the second pair starts once one of the first has exited.
    for (const other of this.slots) if (!other.started) this.launch(other);
    const slot = instance.slot as Slot;
    if (this.lab.test.relaunch && slot.index > 0) {
      clearTimeout(slot.relaunch);
      slot.relaunch = setTimeout(() => {
        slot.relaunch = undefined;
        if (!slot.blocked) this.launch(slot);
      }, RELAUNCH_DELAY_MS);
    }
  }

  private complete(instance: Instance, exit: ProgramExit, how: string): void {
    const value = { instance: instance.id, code: exit.code, signal: exit.signal };
    if (instance.fault_killed) {
      instance.op.complete("info", value, "killed by the nemesis");
    } else if (instance.ended_by_us) {
      instance.op.complete(
        "info",
        value,
        this.ended === "exited" ? "killed at the end" : "killed at the deadline",
      );
    } else if (exit.code === 0) {
      instance.op.complete("ok", value);
    } else {
      instance.op.complete("fail", value, `exited with ${how}`);
    }
  }

  private launch(slot: Slot): void {
    this.startWorker(slot).catch((err) =>
      this.ctx.log.info(`could not start worker ${slot.name}: ${(err as Error).message}`),
    );
  }

  /** Re-executed tasks are legitimate once a fault was injected or a worker crashed. */
  private disturbed(ops: readonly Op[]): boolean {
    const faulted = ops.some((op) => op.process === "nemesis" && op.f.startsWith("start-"));
    const crashed = this.instances.some(
      (i) => i.slot && i.program.exit !== undefined && i.program.exit.code !== 0,
    );
    return faulted || crashed;
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

  // ---- process faults: workers only ---------------------------------------------------------

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
        for (const slot of names.flatMap((name) => slotOf(name) ?? [])) {
          const current = slot.current;
          if (!current?.program.running) continue;
          slot.blocked = true;
          clearTimeout(slot.relaunch);
          current.fault_killed = true;
          instances.push(current.id);
          await current.program.kill();
        }
        return { instances };
      },
      restart: async (names) => {
        const restarted: string[] = [];
        for (const slot of names.flatMap((name) => slotOf(name) ?? [])) {
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
