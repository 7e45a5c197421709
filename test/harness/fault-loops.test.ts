// The nemesis schedule shared by every transport: kinds overlap unless serial, a start that did
// nothing is not stopped, and the loops end when the run does.
import { describe, expect, it } from "vitest";
import {
  DEFAULT_FAULT_CHANGES_PER_RUN,
  defaultNemesisInterval,
  type FaultKind,
  type FaultSteps,
  MAX_DEFAULT_INTERVAL_S,
  MIN_DEFAULT_INTERVAL_S,
  runFaultLoops,
} from "../../harness/nemesis/nemesis.js";
import { Random } from "../../harness/random.js";

const KINDS: FaultKind[] = ["partition", "kill", "pause"];

/**
 * Steps with short waits of a length the stream does not decide (as restarts under load are),
 * recording what is on at each start and each kind's draws.
 */
function recorder(refuse: FaultKind[] = []) {
  const active = new Set<FaultKind>();
  const log = {
    starts: [] as FaultKind[],
    stops: [] as FaultKind[],
    maxActive: 0,
    draws: new Map<FaultKind, number[]>(),
  };
  const steps: FaultSteps = {
    wait: async (s, random) => {
      random.float();
      await new Promise((resolve) => setTimeout(resolve, Math.random() * 4));
      return !s.aborted;
    },
    start: async (kind, random) => {
      log.starts.push(kind);
      log.draws.set(kind, [...(log.draws.get(kind) ?? []), random.int(0, 1e9)]);
      if (refuse.includes(kind)) return false;
      active.add(kind);
      log.maxActive = Math.max(log.maxActive, active.size);
      return true;
    },
    stop: async (kind) => {
      expect(active.has(kind), `stop ${kind} while it is off`).toBe(true);
      active.delete(kind);
      log.stops.push(kind);
    },
  };
  return { steps, log };
}

async function runFor(ms: number, serial: boolean, refuse: FaultKind[] = []) {
  const controller = new AbortController();
  const { steps, log } = recorder(refuse);
  const timer = setTimeout(() => controller.abort(), ms);
  await runFaultLoops(KINDS, serial, new Random(3), steps, controller.signal);
  clearTimeout(timer);
  return log;
}

describe("runFaultLoops", () => {
  it("overlaps kinds by default", async () => {
    const log = await runFor(300, false);
    expect(log.maxActive).toBeGreaterThan(1);
    expect(new Set(log.starts)).toEqual(new Set(KINDS));
  });

  it("serial: never two faults on at once, and every kind gets its turn", async () => {
    const log = await runFor(300, true);
    expect(log.starts.length).toBeGreaterThan(10);
    expect(log.maxActive).toBe(1);
    expect(new Set(log.starts)).toEqual(new Set(KINDS));
  });

  it("draws each kind's targets from its own stream, however the loops interleave", async () => {
    const [a, b] = [await runFor(150, false), await runFor(150, false)];
    expect(a.starts).not.toEqual(b.starts); // timing did differ
    for (const kind of KINDS) {
      const [x, y] = [a.draws.get(kind) ?? [], b.draws.get(kind) ?? []];
      const common = Math.min(x.length, y.length);
      expect(common, kind).toBeGreaterThan(3);
      expect(x.slice(0, common), kind).toEqual(y.slice(0, common));
    }
  });

  it("does not stop a fault whose start did nothing", async () => {
    const log = await runFor(200, false, ["kill"]);
    expect(log.starts).toContain("kill");
    expect(log.stops).not.toContain("kill");
  });

  it("ends at once when the run has already ended, with or without kinds", async () => {
    const controller = new AbortController();
    controller.abort();
    const { steps, log } = recorder();
    await runFaultLoops(KINDS, true, new Random(1), steps, controller.signal);
    await runFaultLoops([], false, new Random(1), steps, controller.signal);
    expect(log.starts).toEqual([]);
  });
});

describe("the default --nemesis-interval fits the run's length", () => {
  it.each([
    [20, 2.5],
    [30, 3.75],
    [60, 7.5],
  ])("a %i s run: %f s, so about 8 fault changes per kind", (time_limit_s, interval_s) => {
    expect(defaultNemesisInterval(time_limit_s)).toBe(interval_s);
    expect(time_limit_s / defaultNemesisInterval(time_limit_s)).toBe(DEFAULT_FAULT_CHANGES_PER_RUN);
  });

  it("stays within its bounds for very short and very long runs", () => {
    expect(defaultNemesisInterval(0)).toBe(MIN_DEFAULT_INTERVAL_S);
    expect(defaultNemesisInterval(2)).toBe(MIN_DEFAULT_INTERVAL_S);
    expect(defaultNemesisInterval(3600)).toBe(MAX_DEFAULT_INTERVAL_S);
  });
});
