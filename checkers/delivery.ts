// The delivery checker (systems/lsp/README.md "What faultline checks") for LSP: per connection and per direction, what one end
// read must be exactly what the other end wrote — once each, in order, byte for byte — and
// nothing may be missing once a Close that promises delivery has returned. A client's Close
// promises it only for a connection not already lost: the course lets Close give up on a lost
// connection and discard what is pending, so an ok Close after a loss is a warning (a failure
// under --strict). A lost connection must be reported within the epoch limit (plus slack) after
// the fault that cut it, not hang; and a Close on a healthy network must return.
//
// History ops (written by workloads/lsp/driver.ts, systems/lsp/README.md "The control channel"). Every value names
// the client instance `client` ("c0.1": worker c0, its first process) and, once known, `conn`:
//   connect       invoke {client}              ok {client, conn}     fail {client, error}
//   write         invoke {client, conn, data}  ok | fail | info      (client → server)
//   read          invoke {client, conn}        ok {…, data}  fail {…, error}
//   close         invoke {client, conn}        ok | fail | info (error "timeout" when it hung)
//   server-read   invoke {}                    ok {conn, client, data}  fail {conn, client, error}
//   server-write  invoke {conn, client, data}  ok | fail | info      (server → client)
//   server-close-conn  invoke {conn, client}   ok | fail | info
//   server-close  invoke {}                    ok | fail | info
// `data` is base64. Nemesis kills name the instances they killed: value {nodes, instances}.
import { listSome, plural } from "./canonical.js";
import { faultActivity } from "./faults.js";
import { type Op, type Operation, pairOperations } from "./history.js";
import type { CheckResult } from "./result.js";

export interface DeliveryOptions {
  epoch_limit: number;
  epoch_ms: number;
  /** Extra time allowed beyond K epochs before a missing loss report counts as a hang. */
  slack_ms: number;
  /** True when the run injected faults; without any, a lost connection is itself a violation. */
  faults_injected: boolean;
  /**
   * --strict (RunSettings.strict): an ok client Close must have delivered everything even when
   * the connection was already lost, which the course does not ask.
   */
  strict?: boolean;
}

export const VIOLATION_KINDS = [
  "duplicate",
  "out-of-order",
  "gap",
  "corrupted",
  "misrouted",
  "missing-after-close",
  "loss-not-reported",
  "close-hung",
  "spurious-loss",
] as const;
export type ViolationKind = (typeof VIOLATION_KINDS)[number];

export interface DeliveryViolation {
  kind: ViolationKind;
  client: string;
  direction?: "client-to-server" | "server-to-client";
  text: string;
  ops: number[];
}

/** Violations listed in full per kind (all are counted). */
export const MAX_LISTED_PER_KIND = 20;

interface Sent {
  op: Operation;
  data: string;
  /** The write was definitely not queued (it returned an error). */
  failed: boolean;
  delivered_by: number | undefined;
}

interface Stream {
  sent: Sent[];
  received: Operation[];
}

interface Instance {
  client: string;
  conn: number | undefined;
  /** The server process (generation) the connection was made with, e.g. "server.2". */
  server: string | undefined;
  connected_at: number | undefined;
  c2s: Stream;
  s2c: Stream;
  close: Operation | undefined;
  /** Operations on the client side that reported the connection lost (read/close errors). */
  client_losses: Operation[];
  /** Server reads that reported this connection lost or closed. */
  server_losses: Operation[];
  /** Server CloseConn on this connection. */
  close_conn: Operation | undefined;
}

function field<T>(value: unknown, key: string): T | undefined {
  return value !== null && typeof value === "object"
    ? ((value as Record<string, unknown>)[key] as T | undefined)
    : undefined;
}

export function checkDelivery(history: readonly Op[], options: DeliveryOptions): CheckResult {
  const operations = pairOperations(history);
  const instances = new Map<string, Instance>();
  const instance = (client: string): Instance => {
    let found = instances.get(client);
    if (!found) {
      found = {
        client,
        conn: undefined,
        server: undefined,
        connected_at: undefined,
        c2s: { sent: [], received: [] },
        s2c: { sent: [], received: [] },
        close: undefined,
        client_losses: [],
        server_losses: [],
        close_conn: undefined,
      };
      instances.set(client, found);
    }
    return found;
  };
  const violations: DeliveryViolation[] = [];
  const serverCloses: Operation[] = [];
  let unattributed = 0;

  for (const o of operations) {
    const value = o.complete?.value ?? o.invoke.value;
    const client = field<string>(value, "client") ?? field<string>(o.invoke.value, "client");
    switch (o.f) {
      case "connect":
        if (client && o.type === "ok") {
          const inst = instance(client);
          inst.conn = field<number>(value, "conn");
          inst.server = field<string>(value, "server");
          inst.connected_at = o.complete?.time;
        }
        break;
      case "write":
        if (client) pushSent(instance(client).c2s, o);
        break;
      case "server-write":
        if (client) pushSent(instance(client).s2c, o);
        break;
      case "read":
        if (!client) break;
        if (o.type === "ok") instance(client).s2c.received.push(o);
        else if (o.type === "fail") instance(client).client_losses.push(o);
        break;
      case "server-read":
        if (o.type === "ok") {
          if (client) instance(client).c2s.received.push(o);
          else unattributed++;
        } else if (o.type === "fail" && client) {
          instance(client).server_losses.push(o);
        }
        break;
      case "close":
        if (client) {
          instance(client).close = o;
          if (o.type === "fail") instance(client).client_losses.push(o);
        }
        break;
      case "server-close-conn":
        if (client) instance(client).close_conn = o;
        break;
      case "server-close":
        serverCloses.push(o);
        break;
    }
  }

  // Who wrote each payload, to tell a misrouted message from a corrupted one.
  const writers = new Map<string, { client: string; direction: "c2s" | "s2c" }>();
  for (const inst of instances.values()) {
    for (const s of inst.c2s.sent) writers.set(s.data, { client: inst.client, direction: "c2s" });
    for (const s of inst.s2c.sent)
      if (!writers.has(s.data)) writers.set(s.data, { client: inst.client, direction: "s2c" });
  }

  const kills = nemesisKills(history);
  const activeAt = faultActivity(history);
  const discarded: DiscardedAfterLoss[] = [];
  let delivered = 0;
  for (const inst of instances.values()) {
    delivered += inst.c2s.received.length + inst.s2c.received.length;
    // Client → server: complete once the client's Close returned ok, unless the connection was
    // already lost (then the course lets Close discard what is pending).
    const closedOk = inst.close?.type === "ok" ? inst.close : undefined;
    const missing = checkStream(inst, "client-to-server", inst.c2s, closedOk, writers, violations);
    if (closedOk && missing.length > 0) {
      const loss = lossBeforeClose(inst, closedOk, kills, activeAt);
      if (loss) {
        discarded.push({ client: inst.client, loss: loss.text, messages: missing.length });
        if (options.strict) violations.push(...missing.map((m) => strictMissing(m, loss)));
      } else {
        violations.push(...missing);
      }
    }
    // Server → client: complete once the server's CloseConn for it returned ok (the client
    // keeps reading until its Read reports the connection gone).
    const closeConnOk = inst.close_conn?.type === "ok" ? inst.close_conn : undefined;
    violations.push(
      ...checkStream(inst, "server-to-client", inst.s2c, closeConnOk, writers, violations),
    );
  }

  const cutShort: string[] = [];
  checkLossReports(history, kills, instances, options, violations, cutShort);
  checkCloses(history, instances, serverCloses, options, violations);
  if (!options.faults_injected) checkSpuriousLoss(instances, violations);

  const byKind: Record<string, number> = {};
  for (const v of violations) byKind[v.kind] = (byKind[v.kind] ?? 0) + 1;
  const listed: DeliveryViolation[] = [];
  const listedPerKind: Record<string, number> = {};
  for (const v of violations) {
    listedPerKind[v.kind] = (listedPerKind[v.kind] ?? 0) + 1;
    if ((listedPerKind[v.kind] as number) <= MAX_LISTED_PER_KIND) listed.push(v);
  }
  const warnings: string[] = [];
  if (cutShort.length > 0) {
    warnings.push(
      `${plural(cutShort.length, "loss report")} could not be judged: the harness closed the connection before the bound ran out (cut short by the harness), e.g. ${cutShort[0]}`,
    );
  }
  if (discarded.length > 0 && !options.strict) warnings.push(discardedWarning(discarded));
  const stats = {
    connection_count: instances.size,
    delivered_count: delivered,
    unattributed_server_reads: unattributed,
    violation_counts: byKind,
    violations: listed,
    ...(cutShort.length > 0 && { loss_reports_cut_short: cutShort.slice(0, MAX_LISTED_PER_KIND) }),
    ...(discarded.length > 0 && {
      closed_ok_after_loss_count: discarded.length,
      closed_ok_after_loss: discarded.slice(0, MAX_LISTED_PER_KIND),
    }),
    ...(warnings.length > 0 && { warnings }),
  };
  if (violations.length > 0) {
    const kinds = Object.entries(byKind).map(([k, n]) => `${n} ${k}`);
    return {
      valid: false,
      summary: `${plural(violations.length, "delivery violation")} (${listSome(kinds, 5)}), e.g. ${(violations[0] as DeliveryViolation).text}`,
      ops: [...new Set(listed.flatMap((v) => v.ops))].slice(0, 200),
      ...stats,
    };
  }
  if (delivered === 0) {
    return {
      valid: "unknown",
      summary:
        instances.size === 0
          ? "No LSP connection was opened, so delivery could not be checked."
          : "No message was delivered on any connection, so delivery could not be checked.",
      ...stats,
    };
  }
  return {
    valid: true,
    summary: `Every one of ${plural(delivered, "delivered message")} on ${plural(instances.size, "connection")} arrived exactly once, in order and intact; ${
      discarded.length > 0
        ? `every Close on a connection not already lost delivered what was pending (${plural(discarded.length, "Close")} returned ok after a loss and discarded data, as the course allows)`
        : "every Close delivered what was pending"
    }.`,
    ...stats,
  };
}

/** A client's ok Close that discarded data on a connection already lost (not a violation). */
interface DiscardedAfterLoss {
  client: string;
  /** What showed the connection lost before the Close returned. */
  loss: string;
  /** Messages written before the Close began that the server never read. */
  messages: number;
}

/** Evidence that a connection was lost: when, in words, and the op that shows it. */
interface Loss {
  time_ns: number;
  text: string;
  op: number;
}

/** Nemesis kills, with the client instances and the server process each ended. */
interface Kill {
  op: Op;
  instances: string[];
  server: string | undefined;
}

function nemesisKills(history: readonly Op[]): Kill[] {
  return history
    .filter((op) => op.process === "nemesis" && op.f === "start-kill")
    .map((op) => ({
      op,
      instances: field<string[]>(op.value, "instances") ?? [],
      server: (field<string[]>(op.value, "nodes") ?? []).includes("server")
        ? (field<string>(op.value, "server") ?? "server")
        : undefined,
    }));
}

/**
 * Why an ok client Close did not promise delivery: the connection was lost before it returned
 * (the course's Close returns once "the connection is lost", discarding what is pending).
 * Evidence: the client's Read reported the loss, or one of its Writes failed, before the Close
 * began; or the server process holding the connection was SIGKILLed before the Close returned.
 * A Read or Write failing while the Close runs counts only if a fault was active meanwhile: on
 * a healthy network it is the Close's own doing (a Close that tears the connection down at once,
 * dropping what is pending, makes the outstanding Read fail before it returns ok itself), and
 * that Close is exactly the bug this promise catches. A kill is the nemesis's act, never the
 * client's, so one while the Close waited excuses it.
 */
function lossBeforeClose(
  inst: Instance,
  close: Operation,
  kills: readonly Kill[],
  activeAt: (from_ns: number, to_ns: number) => boolean,
): Loss | undefined {
  const began = close.invoke.time;
  const returned = close.complete?.time ?? began;
  const at = (t_ns: number) => `${(t_ns / 1e9).toFixed(2)} s`;
  const reported = (o: Operation, what: string): Loss[] => {
    const t = o.complete?.time;
    if (t === undefined || !(t < began || (t < returned && activeAt(began, t)))) return [];
    return [{ time_ns: t, text: `${what} at ${at(t)}`, op: o.complete?.index ?? o.invoke.index }];
  };
  const found: Loss[] = [
    ...inst.client_losses
      .filter((o) => o.f === "read")
      .flatMap((o) => reported(o, "its Read reported the connection lost")),
    ...inst.c2s.sent.filter((s) => s.failed).flatMap((s) => reported(s.op, "a Write failed")),
    ...kills
      .filter((k) => k.server !== undefined && k.server === inst.server && k.op.time < returned)
      .map((k) => ({
        time_ns: k.op.time,
        text: `its server ${inst.server} was killed at ${at(k.op.time)}`,
        op: k.op.index,
      })),
  ];
  // The earliest evidence names the loss.
  return found.sort((a, b) => a.time_ns - b.time_ns)[0];
}

/** Under --strict, an undelivered message of an ok Close after a loss is still a violation. */
function strictMissing(missing: DeliveryViolation, loss: Loss): DeliveryViolation {
  return {
    ...missing,
    text: `${missing.text}; the connection was lost first (${loss.text}), which the course allows, but --strict holds an ok Close to delivering everything`,
    ops: [...missing.ops, loss.op],
  };
}

function discardedWarning(discarded: readonly DiscardedAfterLoss[]): string {
  const messages = discarded.reduce((n, d) => n + d.messages, 0);
  const first = discarded[0] as DiscardedAfterLoss;
  return `${plural(discarded.length, "client Close")} returned ok after the connection was lost and ${plural(messages, "message")} written before it never arrived (e.g. ${first.client}: ${first.loss}). Not a violation: the course's Close returns once the connection is lost and discards what is pending, and no grader checks what it returns. faultline's stricter rule, that an ok Close means everything was delivered, fails the run only under --strict.`;
}

function pushSent(stream: Stream, o: Operation): void {
  const data = field<string>(o.invoke.value, "data");
  if (typeof data !== "string") return;
  stream.sent.push({ op: o, data, failed: o.type === "fail", delivered_by: undefined });
}

function checkStream(
  inst: Instance,
  direction: "client-to-server" | "server-to-client",
  stream: Stream,
  completeBy: Operation | undefined,
  writers: Map<string, { client: string; direction: "c2s" | "s2c" }>,
  violations: DeliveryViolation[],
): DeliveryViolation[] {
  const byData = new Map<string, Sent[]>();
  for (const s of stream.sent) {
    const list = byData.get(s.data) ?? [];
    list.push(s);
    byData.set(s.data, list);
  }
  const index = new Map<Sent, number>(stream.sent.map((s, i) => [s, i]));
  const what = direction === "client-to-server" ? "the server read" : `${inst.client} read`;
  let highest = -1;
  let highestOp: Operation | undefined;
  for (const r of stream.received) {
    const data = field<string>(r.complete?.value, "data") ?? "";
    const candidates = byData.get(data);
    const match = candidates?.find((s) => s.delivered_by === undefined);
    const readIndex = r.complete?.index ?? r.invoke.index;
    if (!candidates) {
      const writer = writers.get(data);
      const misrouted = writer !== undefined && writer.client !== inst.client;
      violations.push({
        kind: misrouted ? "misrouted" : "corrupted",
        client: inst.client,
        direction,
        text: misrouted
          ? `${what} ${preview(data)} on ${inst.client}'s connection, but it was written on ${writer?.client}'s`
          : `${what} ${preview(data)} on ${inst.client}'s connection, which nobody wrote (corrupted in transit?)`,
        ops: [readIndex],
      });
      continue;
    }
    if (!match) {
      violations.push({
        kind: "duplicate",
        client: inst.client,
        direction,
        text: `${what} ${preview(data)} on ${inst.client}'s connection more than once`,
        ops: [...(candidates.map((s) => s.op.invoke.index) ?? []), readIndex],
      });
      continue;
    }
    match.delivered_by = readIndex;
    const i = index.get(match) as number;
    if (i < highest) {
      violations.push({
        kind: "out-of-order",
        client: inst.client,
        direction,
        text: `${what} ${preview(data)} (written ${ordinal(i + 1)}) after ${preview(stream.sent[highest]?.data ?? "")} (written ${ordinal(highest + 1)}) on ${inst.client}'s connection`,
        ops: [
          match.op.invoke.index,
          readIndex,
          ...(highestOp?.complete ? [highestOp.complete.index] : []),
        ],
      });
    } else {
      highest = i;
      highestOp = r;
    }
  }
  // Gaps: a message written before one that was delivered, itself never delivered.
  for (let i = 0; i < highest; i++) {
    const s = stream.sent[i] as Sent;
    if (s.delivered_by !== undefined || s.failed) continue;
    violations.push({
      kind: "gap",
      client: inst.client,
      direction,
      text: `${what} later messages but never ${preview(s.data)} (written ${ordinal(i + 1)}) on ${inst.client}'s connection`,
      ops: [s.op.invoke.index],
    });
  }
  if (!completeBy) return [];
  // Written before the Close began and never delivered: the caller judges whether the Close
  // promised them (missing-after-close).
  const missing: DeliveryViolation[] = [];
  for (let i = highest + 1; i < stream.sent.length; i++) {
    const s = stream.sent[i] as Sent;
    if (s.delivered_by !== undefined || s.failed) continue;
    if (s.op.invoke.time > completeBy.invoke.time) continue; // written after the Close began
    missing.push({
      kind: "missing-after-close",
      client: inst.client,
      direction,
      text:
        direction === "client-to-server"
          ? `${inst.client}'s Close returned ok, but the server never read ${preview(s.data)} (written ${ordinal(i + 1)})`
          : `the server's CloseConn for ${inst.client} promises to deliver what is pending, but ${inst.client} never read ${preview(s.data)} (written ${ordinal(i + 1)})`,
      ops: [s.op.invoke.index, completeBy.complete?.index ?? completeBy.invoke.index],
    });
  }
  return missing;
}

/**
 * After a kill, the other end must report the connection lost within K epochs plus slack —
 * when it can: not if it was itself killed or paused meanwhile, and not if the connection was
 * already gone (closed, reported lost, or made with a server process that died before).
 */
function checkLossReports(
  history: readonly Op[],
  kills: readonly Kill[],
  instances: Map<string, Instance>,
  options: DeliveryOptions,
  violations: DeliveryViolation[],
  cutShort: string[],
): void {
  const bound_ns = (options.epoch_limit * options.epoch_ms + options.slack_ms) * 1e6;
  const end = history.at(-1)?.time ?? 0;
  const pauses: Array<{ start: number; stop: number; names: string[] }> = [];
  let openPause: { start: number; names: string[] } | undefined;
  for (const op of history) {
    if (op.process !== "nemesis") continue;
    if (op.f === "start-pause") {
      openPause = {
        start: op.time,
        names: [
          ...(field<string[]>(op.value, "nodes") ?? []),
          ...(field<string[]>(op.value, "instances") ?? []),
        ],
      };
    } else if ((op.f === "stop-pause" || op.f === "heal") && openPause) {
      pauses.push({ ...openPause, stop: op.time });
      openPause = undefined;
    }
  }
  if (openPause) pauses.push({ ...openPause, stop: Number.POSITIVE_INFINITY });
  const paused = (name: string | undefined, from: number, to: number) =>
    name !== undefined &&
    pauses.some((p) => p.names.includes(name) && from <= p.stop && to >= p.start);
  const killedAt = (client: string) => kills.find((k) => k.instances.includes(client))?.op.time;
  const serverKilledAt = (server: string | undefined) =>
    kills.find((k) => k.server !== undefined && k.server === server)?.op.time;
  const gone = (inst: Instance, t: number) =>
    (inst.close?.invoke.time ?? Number.POSITIVE_INFINITY) <= t ||
    [...inst.client_losses, ...inst.server_losses].some(
      (o) => (o.complete?.time ?? Number.POSITIVE_INFINITY) <= t,
    ) ||
    (serverKilledAt(inst.server) ?? Number.POSITIVE_INFINITY) < t;

  for (const kill of kills) {
    const t = kill.op.time;
    const deadline = t + bound_ns;
    if (deadline > end) continue; // the run ended too soon to tell
    for (const client of kill.instances) {
      const inst = instances.get(client);
      if (!inst || inst.connected_at === undefined || inst.connected_at > t || gone(inst, t))
        continue;
      if (
        paused("server", t, deadline) ||
        (serverKilledAt(inst.server) ?? Number.POSITIVE_INFINITY) <= deadline
      )
        continue;
      const report = inst.server_losses.find((o) => (o.complete?.time ?? 0) >= t);
      if (!report || (report.complete?.time ?? 0) > deadline) {
        // The harness closed the connection on the server first: no report was owed after that.
        if ((inst.close_conn?.invoke.time ?? Number.POSITIVE_INFINITY) <= deadline) {
          cutShort.push(client);
          continue;
        }
        violations.push({
          kind: "loss-not-reported",
          client,
          text: `${client} was killed at ${(t / 1e9).toFixed(2)} s but the server's Read ${report ? `reported it lost only at ${((report.complete?.time ?? 0) / 1e9).toFixed(2)} s` : "never reported it lost"} (limit: ${options.epoch_limit} epochs of ${options.epoch_ms} ms + ${options.slack_ms} ms)`,
          ops: [kill.op.index, ...(report?.complete ? [report.complete.index] : [])],
        });
      }
    }
    if (kill.server === undefined) continue;
    for (const inst of instances.values()) {
      if (inst.server !== kill.server || inst.connected_at === undefined || inst.connected_at > t)
        continue;
      if (gone(inst, t) || (killedAt(inst.client) ?? Number.POSITIVE_INFINITY) <= deadline)
        continue;
      if (paused(inst.client, t, deadline) || paused(inst.client.split(".")[0], t, deadline))
        continue;
      const report = inst.client_losses.find((o) => (o.complete?.time ?? 0) >= t);
      if (!report || (report.complete?.time ?? 0) > deadline) {
        // The harness closed the client first: its Read had no time left to report.
        if ((inst.close?.invoke.time ?? Number.POSITIVE_INFINITY) <= deadline) {
          cutShort.push(inst.client);
          continue;
        }
        violations.push({
          kind: "loss-not-reported",
          client: inst.client,
          text: `the server was killed at ${(t / 1e9).toFixed(2)} s but ${inst.client}'s Read ${report ? `reported the connection lost only at ${((report.complete?.time ?? 0) / 1e9).toFixed(2)} s` : "never reported it lost"} (limit: ${options.epoch_limit} epochs of ${options.epoch_ms} ms + ${options.slack_ms} ms)`,
          ops: [kill.op.index, ...(report?.complete ? [report.complete.index] : [])],
        });
      }
    }
  }
}

/**
 * A Close or CloseConn that timed out while no fault was active hung (it must return:
 * systems/lsp/README.md "What faultline checks").
 */
function checkCloses(
  history: readonly Op[],
  instances: Map<string, Instance>,
  serverCloses: Operation[],
  options: DeliveryOptions,
  violations: DeliveryViolation[],
): void {
  const activeAt = faultActivity(history);
  const hung = (o: Operation | undefined) =>
    o !== undefined &&
    o.type === "info" &&
    field<string>(o.complete?.value, "error") === "timeout" &&
    !activeAt(o.invoke.time, o.complete?.time ?? o.invoke.time);
  const limit = `${options.epoch_limit} epochs`;
  for (const inst of instances.values()) {
    if (hung(inst.close)) {
      violations.push({
        kind: "close-hung",
        client: inst.client,
        text: `${inst.client}'s Close did not return on a healthy network: within ${limit} it must either deliver everything pending or report the connection lost`,
        ops: [(inst.close as Operation).invoke.index],
      });
    }
    if (hung(inst.close_conn)) {
      violations.push({
        kind: "close-hung",
        client: inst.client,
        text: `the server's CloseConn for ${inst.client} ran on a healthy network but its pending data was never all acknowledged`,
        ops: [(inst.close_conn as Operation).invoke.index],
      });
    }
  }
  for (const o of serverCloses) {
    if (!hung(o)) continue;
    violations.push({
      kind: "close-hung",
      client: "server",
      text: `the server's Close did not return on a healthy network: within ${limit} it must either deliver everything pending or lose the client`,
      ops: [o.invoke.index],
    });
  }
}

/** Without any fault injected, no connection may be lost (before it was closed). */
function checkSpuriousLoss(
  instances: Map<string, Instance>,
  violations: DeliveryViolation[],
): void {
  for (const inst of instances.values()) {
    const closing = [inst.close?.invoke.time, inst.close_conn?.invoke.time].filter(
      (t): t is number => t !== undefined,
    );
    const firstClose = closing.length > 0 ? Math.min(...closing) : Number.POSITIVE_INFINITY;
    const loss = [...inst.server_losses, ...inst.client_losses].find(
      (o) =>
        (o.complete?.time ?? 0) < firstClose &&
        field(o.complete?.value, "error") !== "connection closed",
    );
    if (loss) {
      violations.push({
        kind: "spurious-loss",
        client: inst.client,
        text: `${inst.client}'s connection was reported lost although no fault was injected`,
        ops: [loss.complete?.index ?? loss.invoke.index],
      });
    }
  }
}

function preview(base64: string): string {
  const text = Buffer.from(base64, "base64").toString("latin1");
  const shown = [...text.slice(0, 24)]
    .map((c) => (c >= " " && c <= "~" ? c : `\\x${c.charCodeAt(0).toString(16).padStart(2, "0")}`))
    .join("");
  return `"${shown}${text.length > 24 ? "…" : ""}"`;
}

function ordinal(n: number): string {
  const tens = n % 100;
  if (tens >= 11 && tens <= 13) return `${n}th`;
  return `${n}${["th", "st", "nd", "rd"][n % 10] ?? "th"}`;
}
