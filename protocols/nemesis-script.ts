// What a nemesis script is given and must be: the contract between the harness, which runs
// scripts, and the systems that ship them (a system manifest's `scripts`).
// It lives here so a system's scripts type-check without importing the harness.
import type { Body } from "./maelstrom.js";

/** A node-to-node message as it left its sender. */
export interface Sent {
  src: string;
  dest: string;
  body: Body;
}

export type MessageMatch = (sent: Sent) => boolean;

/**
 * What a nemesis script can do. Every step is recorded in the history like a scheduled fault;
 * waits are bounded (`timeout_ms`, default 30 s) and reject with a message naming what was
 * awaited, so a schedule that does not unfold fails the run instead of hanging it.
 */
export interface ScriptControl {
  readonly nodes: readonly string[];
  /** The next node-to-node message (sent from now on) that matches. */
  message(match: MessageMatch, what: string, timeout_ms?: number): Promise<Sent>;
  /**
   * Crashes `node` right after it next sends a matching message and restarts it at once;
   * resolves once it is back, with that message.
   */
  crashAfter(node: string, match: MessageMatch, what: string, timeout_ms?: number): Promise<Sent>;
  /** SIGKILLs a node; it stays down until `restart` (or the final heal). */
  kill(node: string): Promise<void>;
  /** Starts a killed node again (same command, same data dir) and re-sends init. */
  restart(node: string): Promise<void>;
  /**
   * Sends one client request to a node (outside the workload's history: the reply is recorded
   * as a nemesis event); resolves with the reply, or undefined after `timeout_ms` (default 5 s).
   */
  request(node: string, body: Body, timeout_ms?: number): Promise<Body | undefined>;
  /** Cuts these directed links (a partition of the script's own shape). */
  cut(links: Array<[string, string]>): void;
  /** Reconnects these links, or every link the script cut. */
  heal(links?: Array<[string, string]>): void;
  sleep(ms: number): Promise<void>;
}

export type NemesisScript = (control: ScriptControl) => Promise<void>;
