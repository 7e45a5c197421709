// pb-kv's view service (MIT 6.824 viewservice; README.md "How it works"): the
// single authority on which KV server is primary and which is backup. Pure logic over an
// injected clock, so the rules are unit-tested without processes.
//
// Servers ping every PING_INTERVAL_MS with the view number they know (for the primary: the
// view it has finished setting up, i.e. acknowledged) and their incarnation, a random number
// drawn when the process starts; a new incarnation is how a restart shows (MIT used
// "Ping(0)", which cannot tell a restart from a server that has not heard of view 1 yet).
//
// Rules:
//  1. The view changes only when the primary or backup is dead (no ping for DEAD_PINGS
//     intervals) or restarted (new incarnation), or there is no backup and an idle server
//     pings.
//  2. Never past a view its primary has not acknowledged (pinged with that view number, same
//     incarnation); until then the view stays as it is even if servers die. Our primaries
//     acknowledge only once the backup has the state (MIT's acknowledge at once, so MIT's view
//     service can promote a backup that never got it), which needs two exceptions, or a
//     second failure at the wrong moment leaves the service stuck forever:
//     a. if that primary dies but its backup has reported that it received the state for this
//        view (pings carry `synced`), the backup may be promoted: the primary serves nothing
//        in a view before the transfer, so the backup holds every acknowledged op;
//     b. if the backup dies first, it is replaced; the primary stays, so no state is at stake.
//  3. A new primary is the old primary or the old backup, the same incarnation, so its state
//     is the service's. If both are gone the service is stuck: an uninitialised server never
//     becomes primary.
//  4. When the primary fails, the backup is promoted and an idle server made backup in one view.
//  5. A restarted primary counts as dead; a dead or restarted backup is replaced or removed.
// After a silence in which no server at all pinged (the view service itself was cut off or
// frozen, or restarted), the members get a fresh dead interval before anyone is judged.

export const PING_INTERVAL_MS = 100;
export const DEAD_PINGS = 5;

export interface View {
  /** 0 = no view yet; the first view is 1. */
  viewnum: number;
  /** "" = none. */
  primary: string;
  primary_inc: number;
  /**
   * The first view of the primary's current tenure (the same process primary in every view
   * since): a primary that missed some of those views still holds the only valid state.
   */
  primary_since: number;
  backup: string;
  backup_inc: number;
}

export const NO_VIEW: View = {
  viewnum: 0,
  primary: "",
  primary_inc: 0,
  primary_since: 0,
  backup: "",
  backup_inc: 0,
};

/** What must survive a restart of the view service (else it would hand out view 1 again). */
export interface ViewServiceState {
  view: View;
  acked: boolean;
  /** The backup reported it holds the state for this view (see rule 2). */
  backup_synced?: boolean;
}

interface ServerInfo {
  inc: number;
  last_ping_ms: number;
}

export interface ViewServiceOptions {
  now_ms: () => number;
  /** Called with the new state before any reply reveals it; must be durable on return. */
  persist?: (state: ViewServiceState) => void;
  /** State saved by a previous incarnation of the view service. */
  restored?: ViewServiceState;
  dead_after_ms?: number;
}

export class ViewService {
  private current: View;
  private acked: boolean;
  private backupSynced: boolean;
  private readonly servers = new Map<string, ServerInfo>();
  private readonly deadAfter_ms: number;
  /** When any server last pinged: total silence means we were the one cut off or frozen. */
  private lastAnyPing_ms: number;

  constructor(private readonly options: ViewServiceOptions) {
    this.deadAfter_ms = options.dead_after_ms ?? DEAD_PINGS * PING_INTERVAL_MS;
    this.current = { ...(options.restored?.view ?? NO_VIEW) };
    this.acked = options.restored?.acked ?? false;
    this.backupSynced = options.restored?.backup_synced ?? false;
    // After our own restart the members get a full dead interval to ping again before we
    // conclude anything: their silence was ours.
    const now = options.now_ms();
    this.lastAnyPing_ms = now;
    if (this.current.primary) {
      this.servers.set(this.current.primary, { inc: this.current.primary_inc, last_ping_ms: now });
    }
    if (this.current.backup) {
      this.servers.set(this.current.backup, { inc: this.current.backup_inc, last_ping_ms: now });
    }
  }

  get view(): View {
    return { ...this.current };
  }

  /** Whether the primary has acknowledged the current view. */
  get primaryAcked(): boolean {
    return this.acked;
  }

  /**
   * A server's ping; returns the view to tell it. `viewnum` is the view the server knows (for
   * the primary: the one it has finished setting up); `synced`, for a backup, the view whose
   * state transfer it has received.
   */
  ping(server: string, inc: number, viewnum: number, synced = -1): View {
    if (server === "") throw new RangeError("server name must not be empty");
    const now = this.options.now_ms();
    if (now - this.lastAnyPing_ms > this.deadAfter_ms) {
      // Nobody at all pinged for a whole dead interval: far likelier that we were partitioned
      // or frozen than that every server died at once. As after our own restart, the members
      // get a fresh interval instead of losing the view to whoever pings first. (Only liveness
      // depends on this; no rule that keeps state safe does.)
      for (const member of [this.current.primary, this.current.backup]) {
        const info = this.servers.get(member);
        if (member !== "" && info) info.last_ping_ms = now;
      }
    }
    this.lastAnyPing_ms = now;
    this.servers.set(server, { inc, last_ping_ms: now });
    const v = this.current;
    if (
      !this.acked &&
      v.viewnum > 0 &&
      server === v.primary &&
      inc === v.primary_inc &&
      viewnum === v.viewnum
    ) {
      this.acked = true;
      this.save();
    }
    if (
      !this.backupSynced &&
      v.viewnum > 0 &&
      server === v.backup &&
      inc === v.backup_inc &&
      synced === v.viewnum
    ) {
      this.backupSynced = true;
      this.save();
    }
    this.evaluate();
    return this.view;
  }

  /** Runs every PING_INTERVAL_MS: notices dead servers. */
  tick(): void {
    this.evaluate();
  }

  /** Alive: pinged within the dead interval; with `inc`, also still the same incarnation. */
  private alive(server: string, inc?: number): boolean {
    const info = this.servers.get(server);
    if (!info) return false;
    if (inc !== undefined && info.inc !== inc) return false;
    return this.options.now_ms() - info.last_ping_ms <= this.deadAfter_ms;
  }

  /** A live server outside the view; the lowest name, so choices are reproducible. */
  private idle(exclude: readonly string[]): string | undefined {
    return [...this.servers.keys()].filter((s) => !exclude.includes(s) && this.alive(s)).sort()[0];
  }

  private evaluate(): void {
    const v = this.current;
    if (v.viewnum === 0) {
      const first = this.idle([]);
      if (first !== undefined) this.change(first, "");
      return;
    }
    const primaryOk = this.alive(v.primary, v.primary_inc);
    const backupOk = v.backup !== "" && this.alive(v.backup, v.backup_inc);
    if (!this.acked) {
      // Rule 2 and its exceptions. A synced backup may replace a primary that died first. A
      // backup that died before the primary could give it the state is replaced (the primary
      // stays, so no state is at stake); otherwise the primary could never acknowledge.
      if (!primaryOk) {
        if (backupOk && this.backupSynced) this.change(v.backup, this.idle([v.backup]) ?? "");
      } else if (v.backup !== "" && !backupOk) {
        this.change(v.primary, this.idle([v.primary]) ?? "");
      }
      return;
    }
    if (!primaryOk) {
      // Rule 3: only the backup may take over; without one the service waits for the old
      // primary (which, restarted, has lost its state: then it waits forever).
      if (backupOk) this.change(v.backup, this.idle([v.backup]) ?? "");
      return;
    }
    if (v.backup !== "" && !backupOk) {
      this.change(v.primary, this.idle([v.primary]) ?? "");
      return;
    }
    if (v.backup === "") {
      const idle = this.idle([v.primary]);
      if (idle !== undefined) this.change(v.primary, idle);
    }
  }

  private change(primary: string, backup: string): void {
    const inc = (s: string) => (s === "" ? 0 : (this.servers.get(s)?.inc ?? 0));
    const old = this.current;
    const viewnum = old.viewnum + 1;
    const samePrimary = primary === old.primary && inc(primary) === old.primary_inc;
    this.current = {
      viewnum,
      primary,
      primary_inc: inc(primary),
      primary_since: samePrimary ? old.primary_since : viewnum,
      backup,
      backup_inc: inc(backup),
    };
    this.acked = false;
    this.backupSynced = false;
    this.save();
  }

  private save(): void {
    this.options.persist?.({
      view: { ...this.current },
      acked: this.acked,
      backup_synced: this.backupSynced,
    });
  }
}
