// The deliberately wrong variants (`--bug NAME`). Each is one small, realistic mistake; the
// flags below switch exactly that mistake on. Descriptions live in manifest.json.

export const BUGS = [
  "serve-unowned",
  "no-dedup-transfer",
  "skip-config",
  "early-gc",
  "config-outside-log",
  "uneven-rebalance",
  "no-gc",
] as const;

export type BugName = (typeof BUGS)[number];

export interface BugFlags {
  /** A group serves every shard it still holds, including ones a new config gave away. */
  serveUnowned: boolean;
  /** A shard is handed over with its data but without its duplicate table. */
  noDedupTransfer: boolean;
  /** A group jumps to the controller's latest config instead of taking each in turn. */
  skipConfig: boolean;
  /** The old owner deletes a shard as soon as it has sent it, before the new owner installed it. */
  earlyGc: boolean;
  /** Each replica polls the controller and switches config on its own, outside the log. */
  configOutsideLog: boolean;
  /** The controller's rebalance follows map iteration order (helper A's ControllerMachine). */
  unevenRebalance: boolean;
  /** A group's delete forgets the shard but keeps its keys and values (MIT's Challenge 1 skipped). */
  noGc: boolean;
}

export function isBugName(name: string): name is BugName {
  return (BUGS as readonly string[]).includes(name);
}

export function bugFlags(bug: BugName | undefined): BugFlags {
  return {
    serveUnowned: bug === "serve-unowned",
    noDedupTransfer: bug === "no-dedup-transfer",
    skipConfig: bug === "skip-config",
    earlyGc: bug === "early-gc",
    configOutsideLog: bug === "config-outside-log",
    unevenRebalance: bug === "uneven-rebalance",
    noGc: bug === "no-gc",
  };
}

/** No bug: the correct system. */
export const NO_BUGS: BugFlags = bugFlags(undefined);
