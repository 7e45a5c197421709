// A gRPC service from its .proto, the channel options every faultline client uses, and one unary
// call with a deadline whose end is an Outcome (workloads/grpc/README.md).
import * as grpc from "@grpc/grpc-js";
import { loadSync, type Options } from "@grpc/proto-loader";
import { SetupError } from "../plugin.js";
import { errorOutcome, type Outcome } from "./outcome.js";

/** How messages become JS values; the reasons are in the README ("Messages"). */
const PROTO_OPTIONS: Options = {
  keepCase: true,
  longs: String,
  enums: String,
  bytes: String,
  defaults: true,
  oneofs: true,
};

/** Every client's channel options; the values and their reasons are in the README ("Channel"). */
export const CHANNEL_OPTIONS: grpc.ChannelOptions = {
  "grpc.keepalive_time_ms": 2_000,
  "grpc.keepalive_timeout_ms": 1_000,
  "grpc.keepalive_permit_without_calls": 0,
  "grpc.initial_reconnect_backoff_ms": 100,
  "grpc.max_reconnect_backoff_ms": 1_000,
  "grpc.enable_retries": 0,
  "grpc.max_send_message_length": 4 * 1024 * 1024,
  "grpc.max_receive_message_length": 4 * 1024 * 1024,
  "grpc.use_local_subchannel_pool": 1,
};

export interface GrpcService {
  /** Fully qualified, e.g. "faultline.test.Kv". */
  name: string;
  definition: grpc.ServiceDefinition;
}

/** A client of one service through one proxy listener (GrpcServer.dial). */
export interface GrpcChannel {
  service: GrpcService;
  client: grpc.Client;
}

/** The service `name` (package-qualified) from the .proto at `proto_path`; SetupError if absent. */
export function loadService(proto_path: string, name: string): GrpcService {
  let loaded: ReturnType<typeof loadSync>;
  try {
    loaded = loadSync(proto_path, PROTO_OPTIONS);
  } catch (err) {
    throw new SetupError(`cannot load ${proto_path}: ${(err as Error).message}`);
  }
  const definition = loaded[name];
  // A service is a record of methods; messages and enums carry a `format` instead.
  if (definition === undefined || "format" in definition) {
    const services = Object.keys(loaded).filter((key) => !("format" in (loaded[key] ?? {})));
    throw new SetupError(
      `${proto_path} has no service ${name}; its services: ${services.join(", ") || "none"}`,
    );
  }
  return { name, definition: definition as grpc.ServiceDefinition };
}

/**
 * Calls unary `method` once (no retries) with a deadline of `deadline_ms` from now. Never rejects:
 * every end is an Outcome. A method the service lacks, or a streaming one, is the driver's bug.
 */
export function unaryCall<Reply>(
  channel: GrpcChannel,
  method: string,
  request: object,
  deadline_ms: number,
): Promise<Outcome<Reply>> {
  const def = channel.service.definition[method];
  if (def === undefined || def.requestStream || def.responseStream) {
    throw new Error(`${channel.service.name} has no unary method ${method}`);
  }
  // Below grpc-js's unary checks, what the server sent: a reply, or a status OK.
  let answered = false;
  const interceptor: grpc.Interceptor = (options, next) =>
    new grpc.InterceptingCall(next(options), {
      start(metadata, _listener, start) {
        start(metadata, {
          onReceiveMessage(message, pass) {
            // grpc-js passes null here when the stream ends without one: not a reply.
            if (message !== null) answered = true;
            pass(message);
          },
          onReceiveStatus(status, pass) {
            if (status.code === grpc.status.OK) answered = true;
            pass(status);
          },
        });
      },
    });
  return new Promise((resolve) => {
    channel.client.makeUnaryRequest<object, Reply>(
      def.path,
      def.requestSerialize,
      def.responseDeserialize,
      request,
      new grpc.Metadata(),
      { deadline: Date.now() + deadline_ms, interceptors: [interceptor] },
      (err, reply) =>
        resolve(
          err
            ? errorOutcome(err.code, err.details, answered)
            : { type: "ok", reply: reply as Reply },
        ),
    );
  });
}
