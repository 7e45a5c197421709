// The nodes of one run: starting them, wiring their stdout into the network, the init handshake,
// noticing crashes, and stopping them.
import { join } from "node:path";
import { stderrTailText } from "../workloads/plugin.js";
import type { Body, Envelope } from "../workloads/protocol.js";
import type { ClientFactory } from "./client.js";
import type { RunClock } from "./clock.js";
import { SetupError } from "./exit-codes.js";
import type { Endpoint, Network } from "./network.js";
import { type NodeCommand, type NodeExit, NodeProcess } from "./node-process.js";
import { parseNodeLine } from "./node-protocol.js";

export const INIT_TIMEOUT_MS = 10_000;
export const STOP_GRACE_MS = 2_000;

export interface Crash {
  node: string;
  exit: NodeExit;
}

export interface ClusterOptions {
  ids: readonly string[];
  command: NodeCommand;
  /** The run directory: node-logs/ and data/ go below it. */
  runDir: string;
  /** Extra environment per node (libfaketime for clock faults). */
  env?: (node: string) => Record<string, string>;
  /** Each stderr line of each node as it arrives (--log-stderr). */
  onStderr?: (node: string, line: string) => void;
}

/** A node's FAULTLINE_DATA_DIR and working directory: kept across its kills and restarts. */
export function nodeDataDir(runDir: string, id: string): string {
  return join(runDir, "data", id);
}

export class Cluster {
  readonly nodes = new Map<string, NodeProcess>();
  /** Nodes that exited without the harness asking them to. */
  readonly crashes: Crash[] = [];
  /** Nodes whose running process has answered init (its init_ok line was read). */
  private readonly answeredInit = new Set<string>();
  private readonly exitWaiters = new Set<(crash: Crash) => void>();

  constructor(
    private readonly options: ClusterOptions,
    private readonly network: Network,
    private readonly clients: ClientFactory,
    clock: RunClock,
  ) {
    for (const id of options.ids) {
      const dataDir = nodeDataDir(options.runDir, id);
      const node = new NodeProcess(
        id,
        options.command,
        {
          cwd: dataDir,
          env: { ...options.env?.(id), FAULTLINE_NODE_ID: id, FAULTLINE_DATA_DIR: dataDir },
          logPath: join(options.runDir, "node-logs", `${id}.log`),
        },
        {
          line: (line, n) => this.onLine(id, line, n),
          overflow: (seen, n) =>
            this.network.protocolError(
              id,
              n,
              `stdout line longer than the 8 MiB limit (${seen} bytes)`,
              "",
            ),
          exit: (exit) => this.onExit(id, exit),
          ...(options.onStderr && { stderr: (line: string) => options.onStderr?.(id, line) }),
        },
        () => clock.now_ns(),
      );
      this.nodes.set(id, node);
      const endpoint: Endpoint = {
        kind: "node",
        deliver: (_envelope: Envelope, line: string) => node.write(line),
      };
      network.register(id, endpoint);
    }
  }

  get ids(): readonly string[] {
    return this.options.ids;
  }

  /** Starts every node and runs the init handshake; throws SetupError naming the node that failed. */
  async start(): Promise<void> {
    for (const node of this.nodes.values()) await node.start();
    await Promise.all(this.options.ids.map((id) => this.init(id)));
  }

  /** Sends `init` and waits for `init_ok`, failing fast if the node dies meanwhile. */
  async init(id: string): Promise<void> {
    const client = this.clients.open();
    try {
      const body: Body = { type: "init", node_id: id, node_ids: [...this.options.ids] };
      let waiter: ((crash: Crash) => void) | undefined;
      const died = new Promise<Crash>((resolve) => {
        waiter = (crash: Crash) => {
          if (crash.node === id) resolve(crash);
        };
        this.exitWaiters.add(waiter);
      });
      const reply = await Promise.race([client.call(id, body, INIT_TIMEOUT_MS), died]).finally(
        () => waiter && this.exitWaiters.delete(waiter),
      );
      if (reply && "exit" in reply) {
        const crash = reply as Crash;
        throw new SetupError(
          `node ${id} exited during init (code ${crash.exit.code}, signal ${crash.exit.signal})${stderrTailText(crash.exit.stderr_tail)}`,
        );
      }
      if (reply === undefined) {
        throw new SetupError(
          `node ${id} did not answer init within ${INIT_TIMEOUT_MS / 1000} s${stderrTailText(this.nodes.get(id)?.stderrTail ?? [])}`,
        );
      }
      if ((reply as Body).type !== "init_ok") {
        throw new SetupError(
          `node ${id} answered init with ${JSON.stringify(reply).slice(0, 200)}, expected init_ok`,
        );
      }
    } finally {
      client.close();
    }
  }

  /** One request from a fresh client; undefined when no reply came within `timeout_ms`. */
  async request(id: string, body: Body, timeout_ms: number): Promise<Body | undefined> {
    const client = this.clients.open();
    try {
      return await client.call(id, body, timeout_ms);
    } finally {
      client.close();
    }
  }

  /** SIGKILLs one node's group (a crash fault); it is not reported as a crash. */
  async crash(id: string): Promise<void> {
    await this.node(id).kill();
  }

  /** Starts a killed node again with the same command and data dir, and re-sends init. */
  async restart(id: string): Promise<void> {
    const node = this.node(id);
    if (node.running) return;
    await node.start();
    await this.init(id);
  }

  isRunning(id: string): boolean {
    return this.node(id).running;
  }

  /** The process group a running node leads. */
  group(id: string): number | undefined {
    return this.node(id).group;
  }

  pause(id: string): boolean {
    return this.node(id).signal("SIGSTOP");
  }

  resume(id: string): boolean {
    return this.node(id).signal("SIGCONT");
  }

  private node(id: string): NodeProcess {
    const node = this.nodes.get(id);
    if (!node) throw new Error(`no node ${id}`);
    return node;
  }

  /** Stops every running node (SIGTERM, then SIGKILL after the grace period). */
  async stop(grace_ms = STOP_GRACE_MS): Promise<void> {
    await Promise.all([...this.nodes.values()].map((node) => node.stop(grace_ms)));
    await Promise.all([...this.nodes.values()].map((node) => node.close()));
  }

  /** Kills every node at once; for emergencies (Ctrl-C, a failed setup). */
  async kill(): Promise<void> {
    await Promise.all([...this.nodes.values()].map((node) => node.kill()));
    await Promise.all([...this.nodes.values()].map((node) => node.close()));
  }

  private onLine(id: string, line: string, line_number: number): void {
    if (line.trim() === "") return;
    // A reply to a client the run already closed (a node resumed after the final heal answering
    // a request it queued while paused) is legitimate: the router journals and drops it.
    const parsed = parseNodeLine(
      line,
      (participant) => this.network.has(participant) || this.clients.wasOpened(participant),
    );
    if (!parsed.ok) {
      // A node that does not know its id yet (handlers on threads, messages from peers before
      // init) writes no src: still malformed, but reported as what it is.
      if (parsed.no_src !== undefined && !this.answeredInit.has(id)) {
        const reason = `written before ${id} answered init: "src" was ${parsed.no_src}`;
        this.network.protocolError(id, line_number, reason, line, parsed.no_src);
      } else {
        this.network.protocolError(id, line_number, parsed.reason, line);
      }
      return;
    }
    const { src, dest, body } = parsed.envelope;
    if (body.type === "init_ok") this.answeredInit.add(id);
    this.network.send(src, dest, body, undefined, id);
  }

  private onExit(id: string, exit: NodeExit): void {
    this.answeredInit.delete(id); // a restarted process must answer init again
    if (exit.expected) return;
    const crash = { node: id, exit };
    this.crashes.push(crash);
    for (const waiter of this.exitWaiters) waiter(crash);
  }
}
