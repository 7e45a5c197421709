// A gRPC server program of the target, started on a free loopback port and reached only through
// the tcp transport's proxy listeners (workloads/grpc/README.md "Programs").
import * as grpc from "@grpc/grpc-js";
import {
  type DriverContext,
  type NodeCommand,
  type Program,
  SetupError,
  stderrTailText,
  type TcpNet,
} from "../plugin.js";
import { CHANNEL_OPTIONS, type GrpcChannel, type GrpcService } from "./call.js";

/** A server program must accept connections within this of its start. */
const LISTEN_TIMEOUT_MS = 10_000;

export interface ServerSpec {
  /** The participant: link faults, the history's node; instances are <name>, <name>.2, … */
  name: string;
  /** The program's command, told the port it must serve gRPC on (127.0.0.1). */
  command(port: number): NodeCommand;
}

type ServerContext = Pick<DriverContext<TcpNet>, "net" | "spawn" | "signal">;

export class GrpcServer {
  /** The running (or last) instance; undefined before the first start. */
  program: Program | undefined;
  /** The port the current instance serves on (not what clients dial: they dial proxies). */
  port = 0;
  private generation = 0;
  /** Participants that dialled it: their proxy listeners follow it to a new port. */
  private readonly sources = new Set<string>();

  constructor(
    private readonly ctx: ServerContext,
    private readonly spec: ServerSpec,
  ) {}

  get name(): string {
    return this.spec.name;
  }

  /**
   * Starts a new instance on a free port and waits until it accepts connections, then points
   * every proxy listener to it (their ports stay). SetupError when it exits or does not listen
   * in time; returns quietly when the run is interrupted meanwhile.
   */
  async start(): Promise<void> {
    const { net, signal } = this.ctx;
    const port = await net.freePort();
    this.generation++;
    const id = this.generation === 1 ? this.name : `${this.name}.${this.generation}`;
    const command = this.spec.command(port);
    const program = this.ctx.spawn({ id, command, stdout: "text" });
    this.program = program;
    await program.start();
    const alive = () => program.running;
    if (!(await net.waitListening(port, LISTEN_TIMEOUT_MS, alive, signal))) {
      if (signal.aborted) return;
      const why = program.exit
        ? `it exited (code ${program.exit.code}, signal ${program.exit.signal})`
        : `it did not listen within ${LISTEN_TIMEOUT_MS / 1000} s`;
      throw new SetupError(
        `${id} (${[command.file, ...command.args].join(" ")}) did not serve on 127.0.0.1:${port}: ${why}${stderrTailText(program.stderrTail)}`,
      );
    }
    this.port = port;
    for (const src of this.sources) await net.listen(src, this.name, port);
  }

  /**
   * A client for participant `src` that dials the proxy listener src→this server, with the
   * channel options every faultline client uses. The caller closes it (`client.close()`).
   */
  async dial(src: string, service: GrpcService): Promise<GrpcChannel> {
    const proxy_port = await this.ctx.net.listen(src, this.name, this.port);
    this.sources.add(src);
    const client = new grpc.Client(
      `127.0.0.1:${proxy_port}`,
      grpc.credentials.createInsecure(),
      CHANNEL_OPTIONS,
    );
    return { service, client };
  }
}
