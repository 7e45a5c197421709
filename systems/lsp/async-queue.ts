// A bounded queue with blocking reads: what Read() returns from, on the client and the server.
import { Fifo } from "./connection.js";

export class AsyncQueue<T> {
  private readonly items = new Fifo<T>();
  private readonly waiters = new Fifo<{ resolve(item: T): void; reject(err: Error): void }>();
  private ended: Error | undefined;

  constructor(readonly max_items: number) {}

  get length(): number {
    return this.items.length;
  }

  get full(): boolean {
    return this.items.length >= this.max_items;
  }

  /**
   * Hands an item to a waiting reader or queues it; false when the queue is full or ended.
   * `force` ignores the bound, for items whose number is bounded elsewhere (one per connection).
   */
  push(item: T, force = false): boolean {
    if (this.ended) return false;
    const waiter = this.waiters.shift();
    if (waiter) {
      waiter.resolve(item);
      return true;
    }
    if (this.full && !force) return false;
    this.items.push(item);
    return true;
  }

  /** The next item; after `end`, queued items first and then the end error. */
  take(): Promise<T> {
    const item = this.items.shift();
    if (item !== undefined) return Promise.resolve(item);
    if (this.ended) return Promise.reject(this.ended);
    return new Promise((resolve, reject) => this.waiters.push({ resolve, reject }));
  }

  /** Keeps only queued items `keep` accepts. */
  filter(keep: (item: T) => boolean): void {
    this.items.filter(keep);
  }

  /** No more items: waiting readers get `error`; later takes get queued items, then `error`. */
  end(error: Error, discard = false): void {
    if (this.ended) return;
    this.ended = error;
    if (discard) this.items.clear();
    for (let w = this.waiters.shift(); w; w = this.waiters.shift()) w.reject(error);
  }
}
