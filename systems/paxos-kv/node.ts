// faultline's paxos-kv reference node: a key-value store replicated with multi-instance Paxos
// (MIT 6.824 kvpaxos in spirit), serving Maelstrom's `lin-kv` (read / write / cas) and the
// MIT-style `kv` workload (get / put / append). Any node accepts any request.
// Run: node dist/systems/paxos-kv/node.js [--bug no-promise-persist|accept-lower-ballot|skip-hole]
//
// Durability (FAULTLINE_DATA_DIR, kept across kill and restart): the acceptors' promised and
// accepted state in paxos.wal (fsynced before each promise/acceptance) and a snapshot of the
// applied state in snapshot.json. Without a data dir everything is in memory (do not restart).
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
import { MemoryPaxosStorage } from "../lib/paxos/paxos.js";
import { MemorySnapshotStore, RSM_MESSAGE_TYPES, type RsmMessage } from "../lib/paxos/rsm.js";
import { FilePaxosStorage, FileSnapshotStore } from "../lib/paxos/storage.js";
import { CLIENT_OP_TYPES, parseKvOp, resultBody } from "./kv-machine.js";
import { CLIENT_GIVES_UP_MS, PaxosKvServer } from "./server.js";

export const BUGS = ["no-promise-persist", "accept-lower-ballot", "skip-hole"];
/** Hole filling, queue deadlines and snapshots run this often. */
const TICK_MS = 10;
/** Client requests are not served once their client has surely given up (see server.ts). */
const FREEZE_LIMIT_MS = CLIENT_GIVES_UP_MS;

const args = parseNodeArgs();
if (args.bug !== undefined && !BUGS.includes(args.bug)) {
  process.stderr.write(`unknown --bug "${args.bug}"; known: ${BUGS.join(", ")}\n`);
  process.exit(2);
}

const node = new MaelstromNode();
let server: PaxosKvServer | undefined;

function ready(): PaxosKvServer {
  if (!server) throw new RPCError(ErrorCode.temporarilyUnavailable, "not initialised");
  return server;
}

node.onInit(() => {
  if (dataDir === undefined) node.log("no FAULTLINE_DATA_DIR: state is in memory only");
  else node.log(`data dir ${dataDir}`);
  server = new PaxosKvServer({
    me: node.nodeId,
    peers: node.nodeIds,
    send: (to, body) => node.send(to, body),
    // no-promise-persist: the acceptors' promises and acceptances live only in memory.
    storage:
      dataDir !== undefined && args.bug !== "no-promise-persist"
        ? new FilePaxosStorage(dataDir)
        : new MemoryPaxosStorage(),
    snapshots: dataDir !== undefined ? new FileSnapshotStore(dataDir) : new MemorySnapshotStore(),
    now_ms: () => performance.now(),
    acceptLowerBallot: args.bug === "accept-lower-ballot",
    skipHole: args.bug === "skip-hole",
    tolerateConflicts: args.bug !== undefined,
    invariantBroken: (text) => {
      node.log(`INVARIANT BROKEN: ${text}`);
      process.exit(70); // a reference node that is wrong must not carry on quietly
    },
    log: (...parts) => node.log(...parts),
  });
});
const freezes = new FreezeDetector(node, TICK_MS, FREEZE_LIMIT_MS, () => server?.tick());
const dropIfFrozen = (req: Message) => server !== undefined && freezes.dropIfFrozen(req);

for (const type of RSM_MESSAGE_TYPES) {
  node.on(type, (msg) => ready().receive(msg.src, msg.body as RsmMessage));
}

function serve(req: Message): void {
  if (dropIfFrozen(req)) return;
  const s = ready();
  const op = parseKvOp(req.body);
  const id = req.body.msg_id;
  if (!Number.isSafeInteger(id)) {
    throw new RPCError(ErrorCode.malformedRequest, "client requests need an integer msg_id");
  }
  s.submit({ client: req.src, req: id as number, op }, (result) =>
    node.reply(req, resultBody(result) as Body),
  );
}

for (const type of CLIENT_OP_TYPES) node.on(type, serve);

node.run();
