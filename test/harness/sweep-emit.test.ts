// harness/sweep-emit.ts: the Kubernetes Job and the GitHub workflow are checked against the
// engines' own schemas (kubernetes-models; SchemaStore's workflow schema as action-validator
// bundles it), and their shell scripts are run here as the engines would run them.
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  renameSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { validateWorkflow } from "@action-validator/core";
import { execa } from "execa";
import fc from "fast-check";
import { Job } from "kubernetes-models/batch/v1/Job";
import { describe, expect, onTestFinished, test } from "vitest";
import { parse } from "yaml";
import { MAX_SEED } from "../../harness/random.js";
import { shellQuote } from "../../harness/shell-quote.js";
import {
  type EmitPlan,
  emitYaml,
  GITHUB_MATRIX_MAX_JOBS,
  GITHUB_UNPACK,
  githubChunks,
  githubWorkflow,
  KUBERNETES_MAX_COMPLETIONS,
  kubernetesJob,
} from "../../harness/sweep-emit.js";
import { CLI } from "../helpers.js";

// biome-ignore lint/suspicious/noExplicitAny: tests walk the manifests freely
type Json = any;

const HOSTILE = [
  "two words",
  "it's",
  '"double"',
  "$HOME",
  `\${PATH}`,
  "`id`",
  "$(id)",
  "a\\b",
  "line\nbreak",
  "*",
  "",
  "; rm -rf /",
  "é ✓",
  "-",
  "'",
];

/** A GitHub expression as the workflow spells it. */
const gh = (expression: string) => `\${{ ${expression} }}`;

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), "faultline-emit-"));
  onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** A directory holding an executable `name` with this sh body, for the front of PATH. */
function shim(dir: string, name: string, body: string): string {
  const bin = join(dir, "bin");
  mkdirSync(bin, { recursive: true });
  writeFileSync(join(bin, name), `#!/bin/sh\n${body}\n`);
  chmodSync(join(bin, name), 0o755);
  return bin;
}

/** The script the Job's container runs with `sh -c`. */
function podScript(job: Json): string {
  const [container] = job.spec.template.spec.containers;
  expect(container.command.slice(0, 2)).toEqual(["sh", "-c"]);
  return container.command[2];
}

/**
 * Runs a pod's script as Kubernetes would for one completion index, with `bin` first on PATH, in
 * bin's parent rather than the repository: an image's working directory is its own.
 */
function runPod(script: string, index: number, bin: string, timeout_ms = 60_000) {
  return execa("sh", ["-c", script], {
    cwd: join(bin, ".."),
    reject: false,
    timeout: timeout_ms,
    killSignal: "SIGKILL",
    env: { PATH: `${bin}:${process.env.PATH}`, JOB_COMPLETION_INDEX: String(index) },
  });
}

describe("shellQuote", () => {
  test("sh reads each quoted word back as it was", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(
          fc.string({ unit: "grapheme", maxLength: 12 }).filter((s) => !s.includes("\0")),
          { maxLength: 8 },
        ),
        async (words) => {
          const all = [...words, ...HOSTILE];
          const r = await execa("sh", ["-c", `printf '%s\\0' ${all.map(shellQuote).join(" ")}`]);
          expect(r.stdout.split("\0").slice(0, -1)).toEqual(all);
        },
      ),
      { numRuns: 30 },
    );
  });

  test("plain words stay bare, so the manifest reads as the command the user typed", () => {
    expect(["--system", "gossip", "-w", "a=b,c:d/e.f@1%+"].map(shellQuote)).toEqual([
      "--system",
      "gossip",
      "-w",
      "a=b,c:d/e.f@1%+",
    ]);
    expect(shellQuote("")).toBe("''");
  });
});

describe("kubernetesJob", () => {
  const plan: EmitPlan = {
    test_args: ["--system", "gossip", "-w", "broadcast"],
    first_seed: 100,
    runs: 40,
    parallel: 8,
  };

  test("is a valid batch/v1 Job, before and after YAML, with one completion index per seed", () => {
    const job: Json = kubernetesJob(plan, {
      image: "me/app:1",
      claim: "runs",
      cpu: "3",
      memory: "4Gi",
    });
    new Job(job).validate();
    const back = parse(emitYaml(job));
    expect(back).toEqual(job);
    new Job(back).validate();
    expect(job.spec).toMatchObject({
      completionMode: "Indexed",
      completions: 40,
      parallelism: 8,
      backoffLimit: 3,
    });
    const pod = job.spec.template.spec;
    expect(pod.restartPolicy).toBe("Never");
    expect(pod.containers[0].resources.requests).toEqual({ cpu: "3", memory: "4Gi" });
    expect(pod.volumes).toEqual([
      { name: "results", persistentVolumeClaim: { claimName: "runs" } },
    ]);
    expect(pod.containers[0].volumeMounts).toEqual([{ name: "results", mountPath: "/results" }]);
    expect(job.metadata.annotations["faultline/seeds"]).toBe("100..139");
    expect(job.metadata.annotations["faultline/merge"]).toContain(
      "faultline sweep merge /results/seed-*",
    );
  });

  test("the validator is not vacuous: a wrong field is refused", () => {
    const job: Json = kubernetesJob(plan, { image: "me/app:1" });
    job.spec.podFailurePolicy.rules[0].action = "Retry";
    expect(() => new Job(job).validate()).toThrow(/action/);
  });

  test("refuses what Kubernetes or faultline would refuse", () => {
    const k = (p: Partial<EmitPlan>) => () => kubernetesJob({ ...plan, ...p }, { image: "x" });
    expect(k({ runs: KUBERNETES_MAX_COMPLETIONS + 1, first_seed: 0 })).toThrow(/at most/);
    expect(k({ first_seed: MAX_SEED, runs: 2 })).toThrow(/largest seed/);
    expect(k({ first_seed: -1 })).toThrow(/first seed/);
    expect(k({ parallel: 0 })).toThrow(/parallel/);
    expect(k({ runs: 1.5 })).toThrow(/runs/);
    expect(() => kubernetesJob(plan, { image: "x", mount_path: "results" })).toThrow(/absolute/);
    expect(
      kubernetesJob({ ...plan, first_seed: MAX_SEED - 1, runs: 2 }, { image: "x" }),
    ).toBeDefined();
  });

  test("hostile test arguments reach faultline intact through the pod's sh -c", async () => {
    const dir = tempDir();
    const args = ["--system", "gossip", ...HOSTILE];
    const job: Json = kubernetesJob(
      { ...plan, test_args: args },
      { image: "x", mount_path: join(dir, "it's $mount") },
    );
    // A faultline that prints its arguments, one per NUL.
    const bin = shim(dir, "faultline", `printf '%s\\0' "$@" > "${dir}/argv"`);
    const r = await runPod(podScript(job), 3, bin);
    expect(r.exitCode, r.stderr).toBe(0);
    const store = join(dir, "it's $mount", "seed-103");
    expect(readFileSync(join(dir, "argv"), "utf8").split("\0").slice(0, -1)).toEqual([
      "test",
      ...args,
      "--seed",
      "103",
      "--store",
      store,
      "--quiet",
    ]);
  });

  test("verdicts end the pod with 0 and anything else passes on, for the podFailurePolicy", async () => {
    const dir = tempDir();
    const job: Json = kubernetesJob(plan, { image: "x", mount_path: dir });
    const codes = [0, 1, 2, 3, 127, 137];
    const seen: (number | undefined)[] = [];
    for (const code of codes) {
      const bin = shim(dir, "faultline", `exit ${code}`);
      seen.push((await runPod(podScript(job), 0, bin)).exitCode);
    }
    expect(seen).toEqual([0, 0, 0, 3, 127, 137]);
    const failJob = job.spec.podFailurePolicy.rules.find((r: Json) => r.action === "FailJob");
    expect(failJob.onExitCodes.values).toEqual([3, 126, 127]);
    expect(failJob.onExitCodes.containerName).toBe(job.spec.template.spec.containers[0].name);
  });

  test("a retried index starts from an empty store", async () => {
    const dir = tempDir();
    const job: Json = kubernetesJob(plan, { image: "x", mount_path: dir });
    mkdirSync(join(dir, "seed-100", "half-done"), { recursive: true });
    const bin = shim(
      dir,
      "faultline",
      'ls -A "$(dirname "$0")/../seed-100" > /dev/null 2>&1 && echo leftover',
    );
    const r = await runPod(podScript(job), 0, bin);
    expect(r.stdout).not.toContain("leftover");
    expect(existsSync(join(dir, "seed-100"))).toBe(false);
  });

  test("the pod's command runs faultline: indexes 0 and 1 store seeds first and first+1", async () => {
    const dir = tempDir();
    const mount = join(dir, "results");
    mkdirSync(mount);
    const first_seed = 4242;
    const job: Json = kubernetesJob(
      {
        test_args: "--system gossip -w broadcast --bug lose-messages --time-limit 3".split(" "),
        first_seed,
        runs: 2,
        parallel: 2,
      },
      { image: "x", mount_path: mount },
    );
    const bin = shim(
      dir,
      "faultline",
      `exec ${shellQuote(process.execPath)} ${shellQuote(CLI)} "$@"`,
    );
    for (const index of [0, 1]) {
      const seed = first_seed + index;
      const r = await runPod(podScript(job), index, bin, 90_000);
      // The bug is found (faultline exits 1) and the pod still succeeds: the verdict is in the store.
      expect(r.exitCode, r.stderr).toBe(0);
      expect(r.stdout).toContain(`faultline: seed ${seed} exited 1`);
      const store = join(mount, `seed-${seed}`);
      // One test folder with one run in it: each seed's store holds its own run only.
      const tests = readdirSync(store, { withFileTypes: true }).filter((e) => e.isDirectory());
      expect(tests).toHaveLength(1);
      expect(readdirSync(join(store, (tests[0] as { name: string }).name))).toHaveLength(1);
      const run = join(store, readlinkSync(join(store, "latest")));
      expect(JSON.parse(readFileSync(join(run, "test.json"), "utf8")).seed).toBe(seed);
      expect(JSON.parse(readFileSync(join(run, "results.json"), "utf8")).valid).toBe(false);
    }
    expect(readdirSync(mount).sort()).toEqual([`seed-${first_seed}`, `seed-${first_seed + 1}`]);
  }, 200_000);
});

describe("githubWorkflow", () => {
  const plan: EmitPlan = {
    test_args: ["--system", "gossip", "-w", "broadcast"],
    first_seed: 1,
    runs: 1000,
    parallel: 2,
  };

  function errorsOf(workflow: object) {
    return validateWorkflow(emitYaml(workflow)).errors;
  }

  test("is valid against SchemaStore's workflow schema, with every option", () => {
    expect(errorsOf(githubWorkflow(plan, {}))).toEqual([]);
    const all = {
      chunk_size: 10,
      node_version: "22",
      install_command: "npm ci && npm run build",
      working_directory: "app",
      on_push: true,
    };
    const wf: Json = githubWorkflow({ ...plan, test_args: HOSTILE }, all);
    expect(errorsOf(wf)).toEqual([]);
    expect(Object.keys(wf.on)).toEqual(["workflow_dispatch", "push"]);
    expect(wf.jobs.sweep.defaults.run["working-directory"]).toBe("app");
    expect(wf.jobs.sweep.steps[1].with["node-version"]).toBe("22");
    expect(wf.jobs.summary.steps[2].run).toBe("npm ci && npm run build");
    expect(wf.jobs.sweep.strategy.matrix.include).toHaveLength(100);
  });

  test("the validator is not vacuous: a misspelt key is refused", () => {
    const wf: Json = githubWorkflow(plan, {});
    // A typo of runs-on, as a hand-written workflow might have it.
    wf.jobs.summary["run-on"] = wf.jobs.summary["runs-on"];
    delete wf.jobs.summary["runs-on"];
    expect(errorsOf(wf)).not.toEqual([]);
  });

  test("the summary job needs every chunk, runs after failed ones, and merges every store", () => {
    const wf: Json = githubWorkflow(plan, {});
    const { sweep, summary } = wf.jobs;
    expect(Object.keys(wf.jobs)).toEqual(["sweep", "summary"]);
    expect(sweep.strategy["fail-fast"]).toBe(false);
    expect(summary.needs).toBe("sweep");
    expect(summary.if).toBe(gh("!cancelled()"));
    const run = sweep.steps.find((s: Json) => s.name === "faultline sweep").run;
    expect(run).toContain(
      `npx faultline sweep --system gossip -w broadcast --seeds ${gh("matrix.first")}..${gh("matrix.last")} --parallel 2`,
    );
    // The sweep step itself is not masked (its exit code fails the job), and what follows it runs anyway.
    expect(run).not.toContain("|| true");
    const after = sweep.steps.slice(sweep.steps.findIndex((s: Json) => s.run === run) + 1);
    expect(after.map((s: Json) => s.if)).toEqual([gh("!cancelled()"), gh("!cancelled()")]);
    const upload = after[1];
    expect(upload.uses).toBe("actions/upload-artifact@v4");
    const download = summary.steps.find((s: Json) => s.uses === "actions/download-artifact@v4");
    const prefix = upload.with.name.split("$")[0];
    expect(download.with.pattern).toBe(`${prefix}*`);
    expect(download.with["merge-multiple"]).toBeUndefined();
    const merge = summary.steps.find((s: Json) => s.name === "faultline sweep merge");
    expect(merge.if).toBeUndefined(); // its exit code is the job's
    expect(summary.steps.at(-1)).toMatchObject({
      uses: "actions/upload-artifact@v4",
      if: gh("!cancelled()"),
    });
  });

  test("chunks cover each seed once, in at most 256 jobs, as small as that allows", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 1_000_000 }),
        fc.integer({ min: 1, max: 200_000 }),
        (first_seed, runs) => {
          const chunks = githubChunks({ ...plan, first_seed, runs });
          expect(chunks.length).toBeLessThanOrEqual(GITHUB_MATRIX_MAX_JOBS);
          const head = chunks[0] as { first: number; last: number };
          const size = head.last - head.first + 1;
          expect(head.first).toBe(first_seed);
          expect(chunks.at(-1)?.last).toBe(first_seed + runs - 1);
          for (const [i, c] of chunks.entries()) {
            expect(c.last - c.first + 1).toBeLessThanOrEqual(size);
            expect(c.last).toBeGreaterThanOrEqual(c.first);
            if (i > 0) expect(c.first).toBe((chunks[i - 1] as { last: number }).last + 1);
          }
          // One seed fewer per job would need more than 256 jobs.
          if (size > 1)
            expect(Math.ceil(runs / (size - 1))).toBeGreaterThan(GITHUB_MATRIX_MAX_JOBS);
        },
      ),
      { numRuns: 100 },
    );
  });

  test("artifact names, one per chunk, are unique", () => {
    const wf: Json = githubWorkflow({ ...plan, runs: 100_000 }, {});
    const include = wf.jobs.sweep.strategy.matrix.include;
    expect(include).toHaveLength(256);
    const template = wf.jobs.sweep.steps.find((s: Json) => s.uses === "actions/upload-artifact@v4")
      .with.name;
    const names = include.map((m: Json) =>
      template.replace(gh("matrix.first"), m.first).replace(gh("matrix.last"), m.last),
    );
    expect(new Set(names).size).toBe(include.length);
    expect(names).not.toContain("faultline-summary");
  });

  test("refuses a matrix GitHub would refuse, and arguments GitHub would rewrite", () => {
    expect(() => githubWorkflow({ ...plan, runs: 1000 }, { chunk_size: 3 })).toThrow(/334 jobs/);
    expect(() => githubWorkflow({ ...plan, test_args: [gh("secrets.TOKEN")] }, {})).toThrow(
      /evaluate/,
    );
    expect(() => githubWorkflow(plan, { chunk_size: 0 })).toThrow(/chunk size/);
  });

  test("the sweep step's arguments, the pack and the unpack run in bash as on a runner", async () => {
    const dir = tempDir();
    const runner_temp = join(dir, "runner temp");
    const wf: Json = githubWorkflow({ ...plan, test_args: HOSTILE }, {});
    const [steps, matrix] = [wf.jobs.sweep.steps, { first: 5, last: 8 }];
    const step = (name: string) => steps.find((s: Json) => s.name === name).run as string;
    // GitHub substitutes the expressions before bash sees the script.
    const sweep = step("faultline sweep")
      .replace(gh("matrix.first"), "5")
      .replace(gh("matrix.last"), "8");
    const bin = shim(dir, "npx", `printf '%s\\0' "$@" > "${dir}/argv"`);
    const bash = (script: string) =>
      execa("bash", ["--noprofile", "--norc", "-eo", "pipefail", "-c", script], {
        env: { PATH: `${bin}:${process.env.PATH}`, RUNNER_TEMP: runner_temp },
      });
    await bash(sweep);
    expect(readFileSync(join(dir, "argv"), "utf8").split("\0").slice(0, -1)).toEqual([
      "faultline",
      "sweep",
      ...HOSTILE,
      "--seeds",
      `${matrix.first}..${matrix.last}`,
      "--parallel",
      "2",
      "--store",
      join(runner_temp, "faultline-store"),
    ]);
    // A store with its latest link, packed, "uploaded", and unpacked beside another chunk's.
    const store = join(runner_temp, "faultline-store");
    mkdirSync(join(store, "t", "20250101"), { recursive: true });
    writeFileSync(join(store, "t", "20250101", "test.json"), "{}");
    symlinkSync(join("t", "20250101"), join(store, "latest"));
    await bash(step("pack the store"));
    for (const name of ["faultline-store-5-8", "faultline-store-9-12"]) {
      mkdirSync(join(runner_temp, "stores", name), { recursive: true });
    }
    await bash(`cp "$RUNNER_TEMP/store.tar" "$RUNNER_TEMP/stores/faultline-store-9-12/"`);
    renameSync(
      join(runner_temp, "store.tar"),
      join(runner_temp, "stores", "faultline-store-5-8", "store.tar"),
    );
    expect(wf.jobs.summary.steps.find((s: Json) => s.name === "unpack the stores").run).toBe(
      GITHUB_UNPACK,
    );
    await bash(GITHUB_UNPACK);
    for (const name of ["faultline-store-5-8", "faultline-store-9-12"]) {
      const unpacked = join(runner_temp, "stores", name);
      expect(readdirSync(unpacked).sort()).toEqual(["latest", "t"]);
      expect(readlinkSync(join(unpacked, "latest"))).toBe(join("t", "20250101"));
      expect(readFileSync(join(unpacked, "latest", "test.json"), "utf8")).toBe("{}");
    }
    // A broken tar fails the step rather than merging fewer stores.
    writeFileSync(join(runner_temp, "stores", "faultline-store-9-12", "store.tar"), "not a tar");
    await expect(bash(GITHUB_UNPACK)).rejects.toThrow();
  });
});
