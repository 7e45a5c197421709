// `npm run bench`: every benchmark, printed as Markdown for the README.
import { cpus, totalmem } from "node:os";
import { benchLsp } from "./lsp.js";
import { benchMapreduce } from "./mapreduce.js";
import { benchPaxosPb } from "./paxos-pb.js";
import { benchPorcupine } from "./porcupine.js";
import { benchRaft } from "./raft.js";
import { benchRouter } from "./router.js";

const BENCHES: Record<string, () => Promise<string>> = {
  router: benchRouter,
  porcupine: benchPorcupine,
  lsp: benchLsp,
  raft: benchRaft,
  "paxos-pb": benchPaxosPb,
  mapreduce: benchMapreduce,
};

const only = process.argv.slice(2);
console.log(
  `machine: ${cpus().length} × ${cpus()[0]?.model ?? "cpu"}, ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}\n`,
);
for (const [name, bench] of Object.entries(BENCHES)) {
  if (only.length > 0 && !only.includes(name)) continue;
  console.log(`## ${name}\n\n${await bench()}\n`);
}
