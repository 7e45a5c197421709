// --against-reference's choices (harness/reference.ts): which system is the reference, what it
// is told, and what the user is warned of. The runs themselves are in
// test/e2e/against-reference.test.ts.
import { describe, expect, it } from "vitest";
import { SetupError } from "../../harness/exit-codes.js";
import { referenceOptions, referenceSystem, referenceWarnings } from "../../harness/reference.js";
import { loadManifest, type Target } from "../../harness/target.js";
import type { TestOptions } from "../../harness/test-options.js";
import { PLUGINS } from "../../workloads/index.js";
import type { WorkloadPlugin } from "../../workloads/plugin.js";

describe("referenceSystem", () => {
  it("names, for every workload but lab mode, a built-in system that serves it", () => {
    // mit-lab1 runs a lab repository's own tests; a reference would be a lab repository of ours.
    const without = ["mit-lab1"];
    for (const plugin of Object.values(PLUGINS)) {
      if (without.includes(plugin.name)) {
        expect(plugin.reference, plugin.name).toBeUndefined();
        continue;
      }
      const system = referenceSystem(plugin.name, true);
      expect(loadManifest(system).workloads, plugin.name).toContain(plugin.name);
    }
    expect(referenceSystem("lin-kv", true)).toBe("raft-kv");
    expect(referenceSystem("broadcast", true)).toBe("gossip");
  });

  it("takes a system the user names over the workload's own", () => {
    expect(referenceSystem("lin-kv", "pb-kv")).toBe("pb-kv");
  });

  it("refuses a workload without one in one line naming those that have one", () => {
    const plugins: Record<string, WorkloadPlugin> = {
      lsp: PLUGINS.lsp as WorkloadPlugin,
      "no-ref": { ...PLUGINS.echo, name: "no-ref", reference: undefined } as WorkloadPlugin,
    };
    const refuse = () => referenceSystem("no-ref", true, plugins);
    expect(refuse).toThrow(SetupError);
    expect(refuse).toThrow(
      "--against-reference: workload no-ref has no reference system of ours; these have one: lsp (or name a system that serves it: --against-reference SYSTEM)",
    );
  });
});

describe("referenceOptions", () => {
  const target: Target = { name: "mapreduce", command: { file: "/bin/true", args: [] } };
  const user = {
    workload: "mapreduce",
    seed: 9,
    time_limit_s: 4,
    target: { name: "my-coordinator", command: { file: "/x", args: ["--mine"] } },
    mapreduce: { app: "crash", worker_command: { file: "/home/student/worker", args: [] } },
  } as unknown as TestOptions;

  it("keeps every option but the target and the user's own programs for other roles", () => {
    // The worker does not exist: resolving it would throw, so not throwing shows it is dropped.
    const flags = {
      mrApp: "crash",
      taskTimeoutMs: 50,
      workerBin: "/home/student/worker",
      workerArg: ["wc.so"],
      coordinatorBin: "/home/student/coordinator",
    };
    const options = referenceOptions(user, target, flags);
    expect(options.target).toBe(target);
    expect(options.mapreduce).toEqual({ app: "crash", task_timeout_ms: 50 });
    expect(options).toMatchObject({ seed: 9, time_limit_s: 4, workload: "mapreduce" });
  });

  it("drops --client-bin and --miner-bin of the LSP family, keeping the LSP parameters", () => {
    const lsp = { ...user, workload: "mining", udp: {} } as unknown as TestOptions;
    const flags = { clientBin: "/no/client", minerBin: "/no/miner", epochMillis: 200 };
    const options = referenceOptions(lsp, { ...target, name: "bitcoin" }, flags);
    expect(options.udp).toEqual({ lsp: { epochMillis: 200 } });
    expect(options.udp).not.toHaveProperty("client_command");
    expect(options.udp).not.toHaveProperty("miner_command");
  });
});

describe("referenceWarnings", () => {
  const verdict = { system: "raft-kv", summary: "…" };
  it("warns when the reference fails, or cannot decide, or could not run", () => {
    expect(referenceWarnings({ ...verdict, valid: false }, 7)).toEqual([
      "the reference system raft-kv also fails this test with seed 7: the schedule may be too harsh to grade with (fewer or shorter faults, or a longer time limit, until the reference passes)",
    ]);
    expect(referenceWarnings({ ...verdict, valid: "unknown" }, 7)[0]).toMatch(
      /could not be judged either with seed 7/,
    );
    expect(
      referenceWarnings({ ...verdict, valid: "unknown", status: "could-not-run" }, 7)[0],
    ).toMatch(/could not run with these options/);
  });

  it("says nothing when it passes, or when Ctrl-C stopped it", () => {
    expect(referenceWarnings({ ...verdict, valid: true }, 7)).toEqual([]);
    expect(referenceWarnings({ ...verdict, valid: "unknown", status: "interrupted" }, 7)).toEqual(
      [],
    );
  });
});
