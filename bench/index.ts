// `npm run bench`: every benchmark, printed as Markdown for the README.
import { cpus, totalmem } from "node:os";
import { benchDetection } from "./detection.js";
import { benchLsp } from "./lsp.js";
import { benchMapreduce } from "./mapreduce.js";
import { benchPaxosPb } from "./paxos-pb.js";
import { benchPorcupine } from "./porcupine.js";
import { benchRaft } from "./raft.js";
import { benchRouter } from "./router.js";
import { benchShardKv } from "./shard-kv.js";

const BENCHES: Record<string, () => Promise<string>> = {
  router: benchRouter,
  porcupine: benchPorcupine,
  lsp: benchLsp,
  raft: benchRaft,
  "paxos-pb": benchPaxosPb,
  mapreduce: benchMapreduce,
  "shard-kv": benchShardKv,
};

/**
 * Run only when named (`npm run bench -- detection`): 20 seeds of every bug and correct variant
 * take hours (DETECTION_SEEDS, DETECTION_PARALLEL to change them).
 */
const ON_REQUEST: Record<string, () => Promise<string>> = { detection: benchDetection };

const only = process.argv.slice(2);
console.log(
  `machine: ${cpus().length} × ${cpus()[0]?.model ?? "cpu"}, ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}\n`,
);
for (const [name, bench] of [...Object.entries(BENCHES), ...Object.entries(ON_REQUEST)]) {
  if (only.length > 0 ? !only.includes(name) : name in ON_REQUEST) continue;
  console.log(`## ${name}\n\n${await bench()}\n`);
}
