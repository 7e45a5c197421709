// faultline's pb-kv reference node: primary/backup key-value replication under a view service
// (MIT 6.824 viewservice + pbservice), serving Maelstrom's `lin-kv` (read / write / cas) and
// the MIT-style `kv` workload (get / put / append).
// Run: node dist/systems/pb-kv/node.js [--bug no-forward|split-brain|no-state-transfer]
//
// Roles, by position in init's node_ids: the first node (n0) is the view service; the others
// are KV servers. Clients may talk to any node: n0 forwards each request to the primary of the
// current view, a KV server that is not the primary forwards it to the primary it knows, and
// the primary serves it. A forwarded request is never forwarded again.
//
// The view service keeps its view in FAULTLINE_DATA_DIR (view.json, fsynced before any reply
// reveals a new view), so it survives its own kill and restart. KV servers keep their data in
// memory only, as in MIT's lab: a restarted KV server comes back empty and must be given the
// state again as a backup; if the primary and backup are down together the data is gone and
// the service is stuck (but never serves from an empty replica).
import { join } from "node:path";
import { readJsonFile, writeFileDurably } from "../lib/durable-file.js";
import { FreezeDetector } from "../lib/freeze-detector.js";
import {
  type Body,
  dataDir,
  ErrorCode,
  MaelstromNode,
  type Message,
  parseNodeArgs,
  RPCError,
} from "../lib/maelstrom-node.js";
import { CLIENT_OP_TYPES, parseKvOp, resultBody } from "../paxos-kv/kv-machine.js";
import { type PbBug, PbServer } from "./server.js";
import { PING_INTERVAL_MS, type View, ViewService, type ViewServiceState } from "./view-service.js";

export const BUGS: PbBug[] = ["no-forward", "split-brain", "no-state-transfer"];
/** A ping unanswered this long is given up (the next one follows PING_INTERVAL_MS later). */
const PING_TIMEOUT_MS = 200;
/**
 * A forwarded client request unanswered this long gets error 0 (timeout: indefinite, the
 * primary may have applied it); below the clients' 1000 ms so they hear why.
 */
const CLIENT_FORWARD_TIMEOUT_MS = 900;
const TICK_MS = 50;
/**
 * A client request is not answered once it is this old: its client has given up (faultline's
 * lin-kv / kv clients wait max(10 × latency, 1000 ms)), and a reply after the run closed its
 * clients would be a message to nobody.
 */
const CLIENT_GIVES_UP_MS = 1000;

/** Replies to `req` unless its client has surely given up on it. */
function replier(req: Message): (body: Body) => void {
  const received_ms = now_ms();
  return (body) => {
    if (now_ms() - received_ms < CLIENT_GIVES_UP_MS) node.reply(req, body);
  };
}

const args = parseNodeArgs();
if (args.bug !== undefined && !(BUGS as string[]).includes(args.bug)) {
  process.stderr.write(`unknown --bug "${args.bug}"; known: ${BUGS.join(", ")}\n`);
  process.exit(2);
}
const bug = args.bug as PbBug | undefined;

const node = new MaelstromNode();
const now_ms = () => performance.now();
let viewService: ViewService | undefined;
let server: PbServer | undefined;

function isViewService(): boolean {
  return node.nodeIds[0] === node.nodeId;
}

// ------------------------------------------------------------------------------ view service

/** The latest view number pushed to its members. */
let notified = 0;

node.onInit(() => {
  if (!isViewService()) return;
  const path = dataDir === undefined ? undefined : join(dataDir, "view.json");
  if (path === undefined) node.log("no FAULTLINE_DATA_DIR: the view is in memory only");
  const restored = path === undefined ? undefined : readJsonFile<ViewServiceState>(path);
  viewService = new ViewService({
    now_ms,
    ...(restored && { restored }),
    persist: (state) => {
      if (path !== undefined) writeFileDurably(path, JSON.stringify(state));
      const v = state.view;
      node.log(
        `view ${v.viewnum}: primary ${v.primary || "-"} backup ${v.backup || "-"}${state.acked ? " (acknowledged)" : ""}${state.backup_synced ? " (backup synced)" : ""}`,
      );
      if (v.viewnum > notified) {
        // Tell the new view's members now rather than at their next ping: the sooner a new
        // primary has set up its backup and acknowledged, the shorter the window in which a
        // second failure leaves nobody to take over.
        notified = v.viewnum;
        for (const member of [v.primary, v.backup]) {
          if (member !== "") node.send(member, { type: "vs_view", view: v });
        }
      }
    },
  });
  node.log(`view service; starting from view ${viewService.view.viewnum}`);
});
node.every(PING_INTERVAL_MS, () => viewService?.tick());

node.on("vs_ping", (req) => {
  if (!viewService) throw new RPCError(ErrorCode.temporarilyUnavailable, "not the view service");
  const { inc, viewnum, synced } = req.body;
  if (typeof inc !== "number" || typeof viewnum !== "number") {
    throw new RPCError(ErrorCode.malformedRequest, "vs_ping needs inc and viewnum");
  }
  const view = viewService.ping(req.src, inc, viewnum, typeof synced === "number" ? synced : -1);
  node.reply(req, { type: "vs_view", view });
});

// ------------------------------------------------------------------------------ KV servers

let pinging = false;

function ping(): void {
  const s = server;
  if (!s || pinging) return;
  pinging = true;
  const viewService = node.nodeIds[0] as string;
  node
    .rpc(
      viewService,
      { type: "vs_ping", inc: s.inc, viewnum: s.pingViewnum(), synced: s.syncedViewnum },
      PING_TIMEOUT_MS,
    )
    .then(
      (reply) => s.onView(reply.view as View),
      () => {}, // view service unreachable: keep the view we have
    )
    .finally(() => {
      pinging = false;
    });
}

node.onInit(() => {
  if (isViewService()) return;
  server = new PbServer({
    me: node.nodeId,
    rpc: (dest, body, timeout_ms) => node.rpc(dest, body, timeout_ms),
    now_ms,
    pingSoon: () => setImmediate(ping),
    schedule: (fn, ms) => setTimeout(fn, ms),
    ...(bug && { bug }),
    log: (...parts) => node.log(...parts),
  });
  node.log(`KV server, incarnation ${server.inc}`);
  ping();
});
node.every(PING_INTERVAL_MS, ping);
const freezes = new FreezeDetector(node, TICK_MS, CLIENT_GIVES_UP_MS, () => server?.tick());
const dropIfFrozen = (req: Message) => node.nodeId !== "" && freezes.dropIfFrozen(req);

function kvServer(): PbServer {
  if (!server) throw new RPCError(ErrorCode.temporarilyUnavailable, "not a KV server");
  return server;
}

node.on("pb_forward", (req) => node.reply(req, kvServer().onForward(req.src, req.body)));
// A new view pushed by the view service (a one-way message; pings fetch it too).
node.on("vs_view", (msg) => {
  if (msg.src === node.nodeIds[0]) kvServer().onView(msg.body.view as View);
});
node.on("pb_transfer", (req) => node.reply(req, kvServer().onTransfer(req.src, req.body)));

// ------------------------------------------------------------------------------ clients

/** Passes a client request to `dest` and relays its answer; errors pass through as they are. */
async function relay(req: Message, dest: string, client: string, id: number): Promise<void> {
  const { msg_id: _m, ...request } = req.body;
  const answer = replier(req);
  try {
    const reply = await node.rpc(
      dest,
      { ...request, forwarded: true, client, req: id } as Body,
      CLIENT_FORWARD_TIMEOUT_MS,
    );
    const { msg_id: _r, in_reply_to: _i, ...result } = reply;
    answer(result as Body);
  } catch (err) {
    if (!(err instanceof RPCError)) throw err;
    answer(err.toBody()); // the primary's refusal, or 0 (timeout: it may have applied the op)
  }
}

async function serve(req: Message): Promise<void> {
  if (dropIfFrozen(req)) return;
  const op = parseKvOp(req.body);
  const forwarded = req.body.forwarded === true;
  const client = forwarded ? req.body.client : req.src;
  const id = forwarded ? req.body.req : req.body.msg_id;
  if (typeof client !== "string" || !Number.isSafeInteger(id)) {
    throw new RPCError(ErrorCode.malformedRequest, "client requests need an integer msg_id");
  }
  if (viewService) {
    const primary = viewService.view.primary;
    if (forwarded || primary === "") {
      throw new RPCError(ErrorCode.temporarilyUnavailable, "no primary yet");
    }
    await relay(req, primary, client, id as number);
    return;
  }
  const s = kvServer();
  if (!s.acting && !forwarded && s.view.primary !== "" && s.view.primary !== node.nodeId) {
    await relay(req, s.view.primary, client, id as number);
    return;
  }
  const answer = replier(req);
  s.submit({ client, req: id as number, op }, (result) => answer(resultBody(result)));
}

for (const type of CLIENT_OP_TYPES) node.on(type, serve);

node.run();
