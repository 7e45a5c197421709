// A real grpc-js server and client of test/fixtures/grpc/echo.proto, in the test process, for the
// TCP proxy's HTTP/2 tests (http2-observer.test.ts, grpc-proxy.test.ts).
import { join } from "node:path";
import * as grpc from "@grpc/grpc-js";
import { loadSync } from "@grpc/proto-loader";

const PROTO = join(import.meta.dirname, "..", "fixtures", "grpc", "echo.proto");

export interface SayReply {
  text: string;
}

/** The generated client, typed only as far as the tests use it. */
export interface EchoClient extends grpc.Client {
  Say(
    request: { text: string },
    options: grpc.CallOptions,
    callback: (err: grpc.ServiceError | null, reply?: SayReply) => void,
  ): grpc.ClientUnaryCall;
  Count(request: { n: number }, options?: grpc.CallOptions): grpc.ClientReadableStream<SayReply>;
}

type EchoConstructor = new (
  address: string,
  credentials: grpc.ChannelCredentials,
  options?: grpc.ChannelOptions,
) => EchoClient;

function echoService(): { Client: EchoConstructor; service: grpc.ServiceDefinition } {
  const definition = grpc.loadPackageDefinition(loadSync(PROTO, { keepCase: true }));
  const pkg = (definition.faultline as grpc.GrpcObject).test as grpc.GrpcObject;
  const Client = pkg.Echo as unknown as EchoConstructor & { service: grpc.ServiceDefinition };
  return { Client, service: Client.service };
}

/** Starts the Echo server on 127.0.0.1:<ephemeral>; resolves to it and its port. */
export async function startEchoServer(): Promise<{ server: grpc.Server; port: number }> {
  const { service } = echoService();
  const server = new grpc.Server();
  server.addService(service, {
    Say(
      call: grpc.ServerUnaryCall<{ text: string }, SayReply>,
      callback: grpc.sendUnaryData<SayReply>,
    ) {
      const text = call.request.text;
      if (text === "missing") {
        callback({ code: grpc.status.NOT_FOUND, details: `no such thing: ${text}` });
      } else if (text !== "hang") {
        callback(null, { text });
      }
    },
    Count(call: grpc.ServerWritableStream<{ n: number }, SayReply>) {
      for (let i = 0; i < call.request.n; i++) call.write({ text: `item ${i}` });
      call.end();
    },
  });
  const port = await new Promise<number>((resolve, reject) => {
    server.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (err, bound) =>
      err ? reject(err) : resolve(bound),
    );
  });
  return { server, port };
}

export function echoClient(port: number, options: grpc.ChannelOptions = {}): EchoClient {
  const { Client } = echoService();
  return new Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure(), options);
}

/** One unary Say; resolves to its status code (0 = OK) and the reply or error details. */
export function say(
  client: EchoClient,
  text: string,
  deadline_ms: number,
): Promise<{ code: number; details: string }> {
  return new Promise((resolve) => {
    client.Say({ text }, { deadline: Date.now() + deadline_ms }, (err, reply) =>
      resolve(
        err ? { code: err.code, details: err.details } : { code: 0, details: reply?.text ?? "" },
      ),
    );
  });
}

/** Ends every call at once (a "hang" call would keep a graceful shutdown waiting). */
export function stopServer(server: grpc.Server): void {
  server.forceShutdown();
}

export { grpc };
