// `faultline sweep … --emit k8s|github`: the same sweep as manifests for engines that scale past
// one machine. Pure functions from the plan to a manifest object, and one YAML writer; the CLI
// prints the YAML. Each run writes a store of its own, and `faultline sweep merge` builds the
// summary from those stores afterwards, wherever they were made.
import { stringify } from "yaml";
import { MAX_SEED } from "./random.js";
import { shellQuote } from "./shell-quote.js";

export interface EmitPlan {
  /** The `faultline test` arguments as the user gave them to sweep (no --seed/--store/sweep flags). */
  test_args: readonly string[];
  first_seed: number;
  runs: number;
  /** Runs at once (k8s parallelism; runs per GitHub job run with this --parallel). */
  parallel: number;
}

export interface KubernetesOptions {
  /** The user's image, with `faultline` on its PATH and their program in it. */
  image: string;
  /** The PersistentVolumeClaim every pod writes its store to (ReadWriteMany when pods spread over nodes). */
  claim?: string;
  /** Where the claim is mounted in each pod; absolute. */
  mount_path?: string;
  job_name?: string;
  /** Requests for one pod, i.e. one `faultline test` run with its cluster of programs. */
  cpu?: string;
  memory?: string;
}

export interface GithubOptions {
  /** Seeds per matrix job; default the smallest that keeps the matrix within GitHub's 256 jobs. */
  chunk_size?: number;
  node_version?: string;
  install_command?: string;
  /** Where the user's project (with faultline installed) is, relative to the checkout. */
  working_directory?: string;
  /** Also run on every push, not only by hand (workflow_dispatch). */
  on_push?: boolean;
}

/** GitHub refuses a matrix of more jobs than this. */
export const GITHUB_MATRIX_MAX_JOBS = 256;
/** Kubernetes refuses an Indexed Job with more completions than this. */
export const KUBERNETES_MAX_COMPLETIONS = 100_000;

/**
 * Retries of pods that failed for a reason other than the run's verdict (OOM kill, a node lost
 * without a disruption condition). One such failure can be chance; several mean the pods are
 * sized or placed wrong, and retrying every seed would only burn the cluster.
 */
const KUBERNETES_BACKOFF_LIMIT = 3;
/** faultline's "could not run" exit code (harness/exit-codes.ts), and sh's "command not found / not executable". */
const SETUP_EXIT_CODES = [3, 126, 127];
const CONTAINER = "faultline";

/** The seeds, first and last, both included, as `--seeds A..B` takes them. */
function seedRange(plan: EmitPlan): { first: number; last: number } {
  checkPlan(plan);
  return { first: plan.first_seed, last: plan.first_seed + plan.runs - 1 };
}

function checkPlan(plan: EmitPlan): void {
  const whole = (n: number, min: number) => Number.isSafeInteger(n) && n >= min;
  if (!whole(plan.first_seed, 0))
    throw new RangeError(`first seed ${plan.first_seed}: not a whole number ≥ 0`);
  if (!whole(plan.runs, 1)) throw new RangeError(`runs ${plan.runs}: not a whole number ≥ 1`);
  if (!whole(plan.parallel, 1))
    throw new RangeError(`parallel ${plan.parallel}: not a whole number ≥ 1`);
  if (plan.first_seed + plan.runs - 1 > MAX_SEED) {
    throw new RangeError(
      `seeds ${plan.first_seed}..${plan.first_seed + plan.runs - 1} go past the largest seed, ${MAX_SEED}`,
    );
  }
}

/**
 * The script each pod runs with `sh -c`. Kubernetes sets JOB_COMPLETION_INDEX (0 … runs-1) in an
 * Indexed Job's pods, so the seed is the first seed plus the index.
 *
 * Exit codes: a verdict (0 valid, 1 bug found, 2 unknown) is a run that was carried out; it is
 * in the store, and `faultline sweep merge` turns the stores into the sweep's verdict. So the
 * container exits 0 for those: a failed pod would be retried (podFailurePolicy has no "this
 * failure is a result"), or would need backoffLimitPerIndex and a Job that ends Failed, which
 * `kubectl wait --for=condition=complete` never sees. Any other code (3 could not run, a kill)
 * is passed on, and the Job's podFailurePolicy decides. A retried pod starts from an empty
 * store, so each seed's store holds exactly one attempt.
 */
function kubernetesScript(plan: EmitPlan, mount_path: string): string {
  const test = ["faultline", "test", ...plan.test_args.map(shellQuote)].join(" ");
  return [
    "set -u",
    `seed=$((${plan.first_seed} + JOB_COMPLETION_INDEX))`,
    `store=${shellQuote(mount_path)}/seed-$seed`,
    `rm -rf "$store"`,
    `${test} --seed "$seed" --store "$store" --quiet`,
    "code=$?",
    `echo "faultline: seed $seed exited $code"`,
    `case $code in 0|1|2) exit 0 ;; *) exit "$code" ;; esac`,
  ].join("\n");
}

/** The command that builds the sweep's summary once the Job is complete (for the CLI to print too). */
export function kubernetesMergeCommand(mount_path: string): string {
  // seed-* and not *: a fresh ext4 volume has lost+found at its root.
  return `faultline sweep merge ${shellQuote(mount_path)}/seed-*`;
}

/** An Indexed batch/v1 Job that runs one seed per completion index. */
export function kubernetesJob(plan: EmitPlan, opts: KubernetesOptions): object {
  const { first, last } = seedRange(plan);
  if (plan.runs > KUBERNETES_MAX_COMPLETIONS) {
    throw new RangeError(
      `${plan.runs} runs: an Indexed Job takes at most ${KUBERNETES_MAX_COMPLETIONS}`,
    );
  }
  if (opts.image === "") throw new RangeError("an image is required");
  const mount_path = opts.mount_path ?? "/results";
  if (!mount_path.startsWith("/")) throw new RangeError(`mount path ${mount_path}: not absolute`);
  const claim = opts.claim ?? "faultline-results";
  const name = opts.job_name ?? "faultline-sweep";
  const labels = { "app.kubernetes.io/name": "faultline", "app.kubernetes.io/instance": name };
  return {
    apiVersion: "batch/v1",
    kind: "Job",
    metadata: {
      name,
      labels,
      annotations: {
        "faultline/seeds": `${first}..${last}`,
        "faultline/merge": `when the Job is complete, from a pod that mounts the claim ${claim} at ${mount_path}: ${kubernetesMergeCommand(mount_path)}`,
      },
    },
    spec: {
      completionMode: "Indexed",
      completions: plan.runs,
      parallelism: Math.min(plan.parallel, plan.runs),
      backoffLimit: KUBERNETES_BACKOFF_LIMIT,
      podFailurePolicy: {
        rules: [
          // First, as rules match in order: an evicted pod's faultline exits 3 on SIGTERM too.
          // A drained or preempted node is not the run's fault: run the seed again, uncounted.
          { action: "Ignore", onPodConditions: [{ type: "DisruptionTarget", status: "True" }] },
          // Bad arguments or an image without faultline: every other seed would fail the same way.
          {
            action: "FailJob",
            onExitCodes: { containerName: CONTAINER, operator: "In", values: SETUP_EXIT_CODES },
          },
        ],
      },
      template: {
        metadata: { labels },
        spec: {
          // podFailurePolicy needs Never; OnFailure would restart the container behind its back.
          restartPolicy: "Never",
          containers: [
            {
              name: CONTAINER,
              image: opts.image,
              command: ["sh", "-c", kubernetesScript(plan, mount_path)],
              // No CPU limit: throttling would slow the cluster under test and change its timing.
              resources: {
                requests: { cpu: opts.cpu ?? "2", memory: opts.memory ?? "2Gi" },
                limits: { memory: opts.memory ?? "2Gi" },
              },
              volumeMounts: [{ name: "results", mountPath: mount_path }],
            },
          ],
          volumes: [{ name: "results", persistentVolumeClaim: { claimName: claim } }],
        },
      },
    },
  };
}

/** The seeds of each GitHub matrix job, in order, covering the plan's seeds once. */
export function githubChunks(
  plan: EmitPlan,
  chunk_size?: number,
): { first: number; last: number }[] {
  const { first, last } = seedRange(plan);
  const size = chunk_size ?? Math.ceil(plan.runs / GITHUB_MATRIX_MAX_JOBS);
  if (!Number.isSafeInteger(size) || size < 1)
    throw new RangeError(`chunk size ${size}: not a whole number ≥ 1`);
  const jobs = Math.ceil(plan.runs / size);
  if (jobs > GITHUB_MATRIX_MAX_JOBS) {
    throw new RangeError(
      `${plan.runs} runs in chunks of ${size} make ${jobs} jobs; a GitHub matrix takes at most ${GITHUB_MATRIX_MAX_JOBS}`,
    );
  }
  return Array.from({ length: jobs }, (_, i) => ({
    first: first + i * size,
    last: Math.min(first + (i + 1) * size - 1, last),
  }));
}

/** A GitHub expression, which GitHub replaces by its value before a step runs. */
function github(expression: string): string {
  return `\${{ ${expression} }}`;
}

/** The seeds of a matrix job, as `--seeds` takes them. */
const CHUNK = `${github("matrix.first")}..${github("matrix.last")}`;

/** Artifacts of the sweep jobs, one per chunk: the summary job downloads them by this prefix. */
const STORE_ARTIFACT = "faultline-store";
/**
 * The store travels as a tar inside the artifact: artifacts drop symlinks (a store's `latest`,
 * a run's `reference`) and file modes, and a store is many small files.
 */
const STORE_TAR = "store.tar";

/**
 * A workflow: a `sweep` job whose matrix splits the seeds into chunks, each running
 * `faultline sweep` on its runner and uploading its store; then a `summary` job that merges every
 * store. The summary job fails when the merge's exit code is not 0, so the workflow does when a
 * bug was found.
 */
export function githubWorkflow(plan: EmitPlan, opts: GithubOptions): object {
  const chunks = githubChunks(plan, opts.chunk_size);
  // GitHub evaluates ${{ … }} anywhere in a run script, even inside shell quotes.
  const expression = plan.test_args.find((arg) => arg.includes("${{"));
  if (expression !== undefined)
    throw new RangeError(`test argument ${expression}: GitHub would evaluate its \${{`);
  const setup = [
    { uses: "actions/checkout@v4" },
    { uses: "actions/setup-node@v4", with: { "node-version": opts.node_version ?? "20" } },
    { name: "install", run: opts.install_command ?? "npm ci" },
  ];
  // bash -eo pipefail: every failing command in a script fails its step.
  const defaults = { run: { shell: "bash", "working-directory": opts.working_directory ?? "." } };
  // Under the runner's temp dir, so artifact paths need no working directory in front.
  const store = "$RUNNER_TEMP/faultline-store";
  const sweep = [
    "npx faultline sweep",
    ...plan.test_args.map(shellQuote),
    `--seeds ${CHUNK}`,
    `--parallel ${plan.parallel}`,
    `--store "${store}"`,
  ].join(" ");
  // The steps after a failed step run unless cancelled: a chunk that found a bug still uploads
  // its store, and the job still fails with the sweep's exit code.
  const afterFailure = github("!cancelled()");
  return {
    name: "faultline sweep",
    on: opts.on_push === true ? { workflow_dispatch: {}, push: {} } : { workflow_dispatch: {} },
    permissions: { contents: "read" },
    jobs: {
      sweep: {
        name: `seeds ${CHUNK}`,
        "runs-on": "ubuntu-latest",
        strategy: { "fail-fast": false, matrix: { include: chunks } },
        defaults,
        steps: [
          ...setup,
          { name: "faultline sweep", run: sweep },
          {
            name: "pack the store",
            if: afterFailure,
            run: `tar -cf "$RUNNER_TEMP/${STORE_TAR}" -C "${store}" .`,
          },
          {
            uses: "actions/upload-artifact@v4",
            if: afterFailure,
            with: {
              name: `${STORE_ARTIFACT}-${github("matrix.first")}-${github("matrix.last")}`,
              path: `${github("runner.temp")}/${STORE_TAR}`,
              // A re-run of a failed chunk replaces the store it uploaded before.
              overwrite: true,
            },
          },
        ],
      },
      summary: {
        needs: "sweep",
        // After failed chunks too (a bug found fails one), but not after a cancel.
        if: afterFailure,
        "runs-on": "ubuntu-latest",
        defaults,
        steps: [
          ...setup,
          {
            uses: "actions/download-artifact@v4",
            // No merge-multiple: each store lands in a folder of its own, named by its artifact.
            with: { pattern: `${STORE_ARTIFACT}-*`, path: `${github("runner.temp")}/stores` },
          },
          { name: "unpack the stores", run: GITHUB_UNPACK },
          {
            name: "faultline sweep merge",
            run: `npx faultline sweep merge "$RUNNER_TEMP"/stores/* --out "$RUNNER_TEMP/faultline-summary"`,
          },
          {
            uses: "actions/upload-artifact@v4",
            if: afterFailure,
            with: {
              name: "faultline-summary",
              path: `${github("runner.temp")}/faultline-summary`,
              overwrite: true,
            },
          },
        ],
      },
    },
  };
}

/** Unpacks each downloaded store's tar in its own folder, where `sweep merge` reads it. */
export const GITHUB_UNPACK = [
  `for tar in "$RUNNER_TEMP"/stores/*/${STORE_TAR}; do`,
  `  tar -xf "$tar" -C "$(dirname "$tar")"`,
  `  rm "$tar"`,
  "done",
].join("\n");

/** YAML for a manifest, by the `yaml` package: quoting and block scalars are its business. */
export function emitYaml(manifest: object): string {
  // No anchors for objects used twice (the setup steps): a reader should not need to resolve them.
  return stringify(manifest, { aliasDuplicateObjects: false, lineWidth: 0 });
}
