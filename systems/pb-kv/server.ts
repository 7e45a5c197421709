// pb-kv's KV server (MIT 6.824 pbservice; README.md "How it works"): primary /
// backup replication under the view service's views.
//
// - The primary applies each op to its own copy, forwards it to the backup, and answers the
//   client only once the backup has applied it (and every op before it: forwards carry a
//   sequence number and the backup applies them strictly in order). Reads go the same way,
//   so a primary that has been replaced cannot answer from its stale copy: its backup, now
//   the primary of a later view, refuses its forwards.
// - A primary in a view with a new backup first sends the backup its whole state (including
//   the duplicate table), and only then acknowledges the view to the view service and serves.
//   So the view service never promotes a backup that lacks state.
// - A process may act in a role only if the view names its incarnation, and as primary only
//   if it holds the service's state (holdsStateFor): it was the synced backup just before its
//   tenure as primary began, or has been the primary throughout. A restarted server has lost
//   its state and is never primary.
// - At-most-once: ops carry the client's id and request id (KvMachine's duplicate table).
import { type Body, ErrorCode, RPCError } from "../lib/maelstrom-node.js";
import {
  type ClientOp,
  KvMachine,
  type MachineSnapshot,
  type OpResult,
} from "../paxos-kv/kv-machine.js";
import { NO_VIEW, type View } from "./view-service.js";

/** A forward the backup has not acknowledged within this long is sent again. */
export const FORWARD_TIMEOUT_MS = 250;
export const TRANSFER_TIMEOUT_MS = 500;
/** Pause before retrying a refused forward or transfer (the view is being refreshed). */
export const RETRY_DELAY_MS = 20;
/** Most ops in one forward. */
export const MAX_FORWARD_OPS = 256;
/** Ops applied but not yet on the backup; past this, new ops are refused with 11. */
export const MAX_UNACKED_OPS = 5000;
/** Ops held while a new backup is being brought up are refused (11) after this long. */
export const HOLD_DEADLINE_MS = 700;

export type PbBug = "no-forward" | "split-brain" | "no-state-transfer";

export interface PbServerOptions {
  me: string;
  rpc: (dest: string, body: Body, timeout_ms: number) => Promise<Body>;
  now_ms: () => number;
  /** Asks for a ping to the view service as soon as possible (a view may have changed). */
  pingSoon: () => void;
  schedule: (fn: () => void, ms: number) => void;
  random?: () => number;
  bug?: PbBug;
  log?: (...parts: unknown[]) => void;
}

type Respond = (result: OpResult) => void;

interface Entry {
  seq: number;
  cop: ClientOp;
  result: OpResult;
  respond: Respond[];
}

function opKey(cop: ClientOp): string {
  return `${cop.client} ${cop.req}`;
}

const NOT_DONE = (text: string): OpResult => ({ code: ErrorCode.temporarilyUnavailable, text });

export class PbServer {
  readonly me: string;
  /** This process's incarnation: a restart draws a new one, and the view service sees it. */
  readonly inc: number;
  view: View = { ...NO_VIEW };
  machine = new KvMachine();
  /** Position in the primary's op stream: ops applied so far. */
  seq = 0;
  /** Latest view whose state this process holds (its primary, or its backup after transfer). */
  validThrough = -1;
  /** In which role it held that view's state. */
  validAs: "primary" | "backup" | undefined;
  /** Backup: the view whose state transfer it received. */
  syncedViewnum = -1;
  /** Primary: the backup is in sync (or there is none), so it may serve and acknowledge. */
  ready = false;
  /** The view number the primary last finished setting up (what its pings acknowledge). */
  ackedViewnum = 0;
  private unacked: Entry[] = [];
  private readonly inPipeline = new Map<string, Entry>();
  private held: Array<{ cop: ClientOp; respond: Respond; since_ms: number }> = [];
  /**
   * split-brain bug only: the primary could not reach its backup and carries on alone, as if
   * the view had no backup, until it hears of a new view.
   */
  private solo = false;
  /** Bumped on every view change: callbacks of older views' RPCs find it moved and stop. */
  private generation = 0;
  private forwardingGeneration = -1;

  constructor(private readonly options: PbServerOptions) {
    this.me = options.me;
    const random = options.random ?? Math.random;
    this.inc = 1 + Math.floor(random() * 2 ** 48);
  }

  isPrimary(v: View = this.view): boolean {
    return v.primary === this.me && v.primary_inc === this.inc;
  }

  isBackup(v: View = this.view): boolean {
    return v.backup === this.me && v.backup_inc === this.inc;
  }

  /** The view number to put in our next ping. */
  pingViewnum(): number {
    return this.isPrimary() ? this.ackedViewnum : this.view.viewnum;
  }

  /** Whether this server would serve a client op now (else: forward it or refuse it). */
  get acting(): boolean {
    return this.isPrimary() && this.validThrough === this.view.viewnum;
  }

  /** A view from the view service (a ping reply) or from a state transfer. */
  onView(v: View): void {
    if (v.viewnum <= this.view.viewnum) return;
    this.generation++;
    const wasPrimary = this.isPrimary();
    this.view = { ...v };
    this.ready = false;
    this.solo = false;
    if (this.isPrimary()) {
      if (this.holdsStateFor(v)) {
        this.validThrough = v.viewnum;
        this.validAs = "primary";
        this.options.log?.(`primary of view ${v.viewnum} (backup ${v.backup || "none"})`);
        if (v.backup === "") this.becomeReady();
        else this.transfer();
        return;
      }
      this.options.log?.(
        `view ${v.viewnum} names me primary but my state is only valid through view ${this.validThrough}: refusing to serve`,
      );
    } else if (wasPrimary) {
      this.options.log?.(`no longer primary (view ${v.viewnum})`);
    }
    this.failPending();
  }

  /**
   * Whether this process's state is the service's state at the start of view `v`, in which it
   * is primary: view 1 starts empty; otherwise it was the synced backup of the view just
   * before, or of the one before this primary's tenure began, or the valid primary of a view
   * in this tenure (the same process primary throughout, so nobody else served since). A
   * restarted process (new incarnation) has validThrough -1 and never qualifies.
   */
  private holdsStateFor(v: View): boolean {
    if (v.viewnum === 1) return true;
    if (this.validThrough < 0) return false;
    if (this.validThrough === v.viewnum - 1) return true;
    if (this.validAs === "primary") return this.validThrough >= v.primary_since;
    return this.validThrough === v.primary_since - 1;
  }

  /** A client op for which this server is (or believes it is) the primary. */
  submit(cop: ClientOp, respond: Respond): void {
    if (!this.acting) {
      respond(NOT_DONE(`${this.me} is not the primary of view ${this.view.viewnum}`));
      return;
    }
    if (!this.ready) {
      this.held.push({ cop, respond, since_ms: this.options.now_ms() });
      return;
    }
    this.serve(cop, respond);
  }

  /** Periodic: refuse held ops that waited too long. */
  tick(): void {
    const now = this.options.now_ms();
    this.held = this.held.filter((h) => {
      if (now - h.since_ms < HOLD_DEADLINE_MS) return true;
      h.respond(NOT_DONE(`the new backup was not in sync within ${HOLD_DEADLINE_MS} ms`));
      return false;
    });
  }

  /** Backup side of a forward from the primary. */
  onForward(src: string, body: Body): Body {
    const v = this.view;
    if (
      !this.isBackup() ||
      body.viewnum !== v.viewnum ||
      this.syncedViewnum !== v.viewnum ||
      src !== v.primary
    ) {
      throw new RPCError(
        ErrorCode.temporarilyUnavailable,
        `not the synced backup of view ${String(body.viewnum)} for ${src} (view ${v.viewnum}, synced ${this.syncedViewnum})`,
      );
    }
    const first = body.first_seq as number;
    const ops = body.ops as ClientOp[];
    if (!Number.isSafeInteger(first) || !Array.isArray(ops) || first > this.seq + 1) {
      throw new RPCError(
        ErrorCode.malformedRequest,
        `forward starting at ${first} after ${this.seq}`,
      );
    }
    ops.forEach((cop, i) => {
      if (first + i <= this.seq) return; // a resend: already applied
      this.machine.apply(cop);
      this.seq = first + i;
    });
    return { type: "pb_forward_ok", seq: this.seq };
  }

  /** Backup side of a state transfer: the primary's whole state for a view naming us backup. */
  onTransfer(src: string, body: Body): Body {
    const v = body.view as View;
    if (typeof v?.viewnum !== "number" || v.backup !== this.me || v.backup_inc !== this.inc) {
      throw new RPCError(ErrorCode.temporarilyUnavailable, "transfer for another incarnation");
    }
    if (v.primary !== src || v.viewnum < this.view.viewnum) {
      throw new RPCError(ErrorCode.temporarilyUnavailable, `stale transfer for view ${v.viewnum}`);
    }
    this.onView(v);
    const seq = body.seq as number;
    // A duplicated or resent transfer must not roll back ops forwarded since the first one.
    if (!(this.syncedViewnum === v.viewnum && seq <= this.seq)) {
      this.machine = KvMachine.restore(body.state as MachineSnapshot);
      this.seq = seq;
      this.syncedViewnum = v.viewnum;
      this.validThrough = v.viewnum;
      this.validAs = "backup";
      this.options.log?.(`synced as backup of view ${v.viewnum} at op ${seq}`);
      this.options.pingSoon(); // the view service may be waiting for this (view-service.ts rule 2)
    }
    return { type: "pb_transfer_ok" };
  }

  // --------------------------------------------------------------------------- primary

  private serve(cop: ClientOp, respond: Respond): void {
    const key = opKey(cop);
    const pending = this.inPipeline.get(key);
    if (pending) {
      pending.respond.push(respond); // a duplicate of an op still on its way to the backup
      return;
    }
    if (this.unacked.length >= MAX_UNACKED_OPS) {
      respond(NOT_DONE(`${MAX_UNACKED_OPS} ops already wait for the backup`));
      return;
    }
    const { status, result } = this.machine.apply(cop);
    if (status === "stale" || result === undefined) {
      respond({ code: ErrorCode.crash, text: "a later request of this client was applied first" });
      return;
    }
    if (status === "repeat") {
      respond(result); // applied earlier and no longer in the pipeline: the backup has it
      return;
    }
    this.seq++;
    if (this.view.backup === "" || this.solo) {
      respond(result); // no backup: nobody else can become primary without our state
      return;
    }
    const entry: Entry = { seq: this.seq, cop, result, respond: [respond] };
    if (this.options.bug === "no-forward") {
      respond(result); // the bug: answered before the backup has it
      entry.respond = [];
    }
    this.unacked.push(entry);
    this.inPipeline.set(key, entry);
    this.forward();
  }

  private becomeReady(): void {
    this.ready = true;
    this.ackedViewnum = this.view.viewnum;
    // Everything applied so far is on the backup now (the transfer carried it), or there is
    // no backup: either way those ops are as safe as they will get.
    for (const e of this.unacked.splice(0)) this.complete(e);
    const held = this.held.splice(0);
    for (const h of held) this.serve(h.cop, h.respond);
    this.options.pingSoon();
  }

  private complete(e: Entry): void {
    this.inPipeline.delete(opKey(e.cop));
    for (const respond of e.respond) respond(e.result);
  }

  /** Lost the primary role (or never validly had it): nobody waiting gets a success. */
  private failPending(): void {
    for (const e of this.unacked.splice(0)) {
      this.inPipeline.delete(opKey(e.cop));
      for (const respond of e.respond) {
        respond({ code: ErrorCode.crash, text: "primary role lost before the backup confirmed" });
      }
    }
    for (const h of this.held.splice(0)) h.respond(NOT_DONE("primary role lost"));
  }

  private transfer(): void {
    const gen = this.generation;
    const v = this.view;
    // no-state-transfer: the bug sends an empty state (the stream position is still right).
    const state =
      this.options.bug === "no-state-transfer"
        ? new KvMachine().snapshot()
        : this.machine.snapshot();
    this.options
      .rpc(v.backup, { type: "pb_transfer", view: v, seq: this.seq, state }, TRANSFER_TIMEOUT_MS)
      .then(
        () => {
          if (gen === this.generation) this.becomeReady();
        },
        (err: Error) => {
          if (gen !== this.generation) return;
          this.options.log?.(`transfer to ${v.backup} failed: ${err.message}`);
          this.options.pingSoon();
          this.options.schedule(() => {
            if (gen === this.generation) this.transfer();
          }, RETRY_DELAY_MS);
        },
      );
  }

  /** Sends the unacknowledged ops to the backup, one forward at a time, until none are left. */
  private forward(): void {
    const gen = this.generation;
    if (!this.ready || this.forwardingGeneration === gen || this.unacked.length === 0) return;
    const batch = this.unacked.slice(0, MAX_FORWARD_OPS);
    const first = batch[0] as Entry;
    this.forwardingGeneration = gen;
    const body = {
      type: "pb_forward",
      viewnum: this.view.viewnum,
      first_seq: first.seq,
      ops: batch.map((e) => e.cop),
    };
    this.options.rpc(this.view.backup, body, FORWARD_TIMEOUT_MS).then(
      (reply) => {
        if (gen !== this.generation) return;
        this.forwardingGeneration = -1;
        const through = reply.seq as number;
        while (this.unacked.length > 0 && (this.unacked[0] as Entry).seq <= through) {
          this.complete(this.unacked.shift() as Entry);
        }
        this.forward();
      },
      (err: RPCError) => {
        if (gen !== this.generation) return;
        this.forwardingGeneration = -1;
        if (this.options.bug === "split-brain") {
          // The bug: "the backup must be dead" — carry on alone instead of waiting for the
          // view service, which may instead have promoted that backup.
          this.options.log?.(`backup ${this.view.backup} unreachable: serving alone`);
          this.solo = true;
          for (const e of this.unacked.splice(0)) this.complete(e);
          this.options.pingSoon();
          return;
        }
        // Refused: the backup is in another view (ask the view service); timed out: resend.
        if (err.code !== ErrorCode.timeout) this.options.pingSoon();
        this.options.schedule(
          () => this.forward(),
          err.code === ErrorCode.timeout ? 0 : RETRY_DELAY_MS,
        );
      },
    );
  }
}
