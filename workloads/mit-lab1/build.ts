// Builds a student's Lab 1 programs as the lab does (in src/main: `go build mrcoordinator.go`,
// `go build mrworker.go`, `go build -buildmode=plugin ../mrapps/APP.go`), into a cache in the
// store (`<store>/.mit-lab1-builds/<key>/`) keyed by every Go source of the module, go.mod,
// the go binary and the build flags, so a second run of unchanged code starts at once. The
// cache keeps the MAX_BUILDS most recently used builds. Each program is built to a temporary
// name and renamed into place, so two runs building the same program never see half of one.
import { createHash } from "node:crypto";
import {
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  utimesSync,
} from "node:fs";
import { delimiter, join, relative } from "node:path";
import type { MrApp } from "../mapreduce/job.js";
import { type DriverContext, SetupError, stderrTailText } from "../plugin.js";
import { untilAborted } from "../timing.js";

/** Builds kept in the cache; the least recently used go first. */
export const MAX_BUILDS = 4;
/** A cold Go cache builds the runtime for plugins once: minutes on a slow machine. */
const BUILD_TIMEOUT_MS = 600_000;
/** Source files hashed for the key, at most (a Lab 1 repository has a few dozen). */
const MAX_SOURCE_FILES = 5_000;
const CACHE_DIR = ".mit-lab1-builds";

export interface LabBuild {
  coordinator: string;
  worker: string;
  plugin: string;
}

export interface BuildOptions {
  /** The module's src/ (holding main/, mr/, mrapps/). */
  src: string;
  app: MrApp;
  /** test-mr.sh builds with -race. */
  race: boolean;
}

/** The cache folder for this source tree, created and marked as just used. */
function cacheDir(store: string, key: string): string {
  const root = join(store, CACHE_DIR);
  const dir = join(root, key);
  mkdirSync(dir, { recursive: true });
  const now = new Date();
  utimesSync(dir, now, now);
  evict(root);
  return dir;
}

function evict(root: string): void {
  const builds = readdirSync(root)
    .map((name) => ({ path: join(root, name), used: statSync(join(root, name)).mtimeMs }))
    .sort((a, b) => b.used - a.used);
  for (const old of builds.slice(MAX_BUILDS)) rmSync(old.path, { recursive: true, force: true });
}

/** Every .go file under src/, go.mod and go.sum, the go binary and the flags. */
function buildKey(options: BuildOptions): string {
  const hash = createHash("sha256");
  const files: string[] = [];
  const walk = (dir: string) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory() && !entry.name.startsWith(".")) walk(path);
      else if (/\.go$|^go\.(mod|sum)$/.test(entry.name)) files.push(path);
      if (files.length > MAX_SOURCE_FILES) {
        throw new SetupError(`${options.src} has more than ${MAX_SOURCE_FILES} Go files`);
      }
    }
  };
  walk(options.src);
  for (const file of files.sort()) {
    hash.update(relative(options.src, file)).update("\0").update(readFileSync(file));
  }
  const go = goBinary();
  const st = go ? statSync(go) : undefined;
  hash.update(`${go}:${st?.size}:${st?.mtimeMs}:${options.race}:${process.env.GOFLAGS ?? ""}`);
  return hash.digest("hex").slice(0, 16);
}

function goBinary(): string | undefined {
  for (const dir of (process.env.PATH ?? "").split(delimiter)) {
    const file = join(dir, "go");
    try {
      if (statSync(file).isFile()) return file;
    } catch {
      // not in this folder
    }
  }
  return undefined;
}

/** The three programs a run needs, built now unless the cache has them. */
export async function buildLab(ctx: DriverContext, options: BuildOptions): Promise<LabBuild> {
  if (!goBinary()) {
    throw new SetupError(
      "go is not on PATH: lab mode builds your repository with go build (or give --bin a folder of built mrcoordinator, mrworker and app .so files)",
    );
  }
  const store = join(ctx.dir, "..", "..");
  const dir = cacheDir(store, buildKey(options));
  const race = options.race ? ["-race"] : [];
  const wanted: Array<[string, string[]]> = [
    ["mrcoordinator", [...race, "mrcoordinator.go"]],
    ["mrworker", [...race, "mrworker.go"]],
    [`${options.app}.so`, [...race, "-buildmode=plugin", `../mrapps/${options.app}.go`]],
  ];
  ctx.setPhase("building");
  await Promise.all(wanted.map(([name, args]) => goBuild(ctx, options.src, join(dir, name), args)));
  return {
    coordinator: join(dir, "mrcoordinator"),
    worker: join(dir, "mrworker"),
    plugin: join(dir, `${options.app}.so`),
  };
}

async function goBuild(ctx: DriverContext, src: string, out: string, args: string[]) {
  try {
    statSync(out);
    return; // cached
  } catch {
    // build it
  }
  const name = out.split("/").at(-1) as string;
  const temporary = `${out}.tmp-${process.pid}`;
  const program = ctx.spawn({
    id: `build-${name.replace(/\.so$/, "")}`,
    command: { file: "go", args: ["build", "-o", temporary, ...args] },
    stdout: "text",
    cwd: join(src, "main"),
  });
  const started_ns = ctx.clock.now_ns();
  await program.start();
  const exit = await Promise.race([
    program.waitExit(BUILD_TIMEOUT_MS),
    untilAborted(ctx.signal).then(() => undefined),
  ]);
  if (!exit) await program.kill();
  await program.close();
  if (ctx.signal.aborted) return;
  if (exit?.code !== 0) {
    rmSync(temporary, { force: true });
    const why = exit ? `exit code ${exit.code}` : `no result within ${BUILD_TIMEOUT_MS / 1000} s`;
    throw new SetupError(
      `go build ${args.join(" ")} (in ${join(src, "main")}) failed: ${why}${stderrTailText(program.stderrTail)}`,
    );
  }
  renameSync(temporary, out);
  ctx.log.info(`built ${name} in ${((ctx.clock.now_ns() - started_ns) / 1e9).toFixed(1)} s`);
}
