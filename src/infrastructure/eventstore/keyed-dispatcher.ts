/**
 * Runs work items concurrently across keys and strictly one after another within a key.
 *
 * Items wait in one FIFO queue per key. A key whose queue is not empty and that has nothing running
 * is "ready"; up to `concurrency` units run at once, each taking ready keys in the order they became
 * ready and, from each, every item waiting (up to `maxBatch` items per unit). A key stays busy until
 * its unit ends, so a later item of that key never starts before an earlier one has finished, while
 * items of other keys never wait on it beyond a free unit.
 */
export interface KeyedDispatcherOptions<T> {
  readonly keyOf: (item: T) => string;
  /** Units running at once. */
  readonly concurrency: number;
  /** Items one unit may take (1 = one item per unit). */
  readonly maxBatch: number;
  /** Handles one unit: its items in arrival order per key. Failures are the caller's to deal with; a rejection only ends the unit. */
  readonly run: (items: readonly T[]) => Promise<void>;
}

export class KeyedDispatcher<T> {
  private readonly queues = new Map<string, T[]>();
  private readonly busy = new Set<string>();
  private readonly ready: string[] = [];
  private running = 0;
  private heldCount = 0;
  private paused = false;
  private readonly waiters = new Set<() => void>();
  private readonly concurrency: number;
  private readonly maxBatch: number;

  constructor(private readonly options: KeyedDispatcherOptions<T>) {
    this.concurrency = Math.max(1, Math.floor(options.concurrency));
    this.maxBatch = Math.max(1, Math.floor(options.maxBatch));
  }

  /** Items queued or running. */
  get held(): number {
    return this.heldCount;
  }

  push(item: T): void {
    const key = this.options.keyOf(item);
    const queue = this.queues.get(key);
    if (queue) queue.push(item);
    else this.queues.set(key, [item]);
    this.heldCount += 1;
    // A key already ready stays where it is in line; a busy one becomes ready when its unit ends.
    if (!queue && !this.busy.has(key)) this.ready.push(key);
    this.pump();
  }

  /** Starts nothing more (queued items stay until `drop`); what runs goes on. */
  pause(): void {
    this.paused = true;
    this.notify();
  }

  /** Removes queued items (not running ones) that match, e.g. those of a subscription that ended. */
  drop(matches: (item: T) => boolean): void {
    for (const [key, queue] of this.queues) {
      const kept = queue.filter((item) => !matches(item));
      this.heldCount -= queue.length - kept.length;
      if (kept.length > 0) {
        this.queues.set(key, kept);
        continue;
      }
      this.queues.delete(key);
      const at = this.ready.indexOf(key);
      if (at >= 0) this.ready.splice(at, 1);
    }
    this.notify();
  }

  /** Resolves once fewer than `limit` items are held, or the dispatcher is paused. */
  async room(limit: number): Promise<void> {
    while (!this.paused && this.heldCount >= limit) {
      await new Promise<void>((resolve) => this.waiters.add(resolve));
    }
  }

  /** Resolves once no unit runs. */
  async idle(): Promise<void> {
    while (this.running > 0) {
      await new Promise<void>((resolve) => this.waiters.add(resolve));
    }
  }

  private notify(): void {
    const waiters = [...this.waiters];
    this.waiters.clear();
    for (const wake of waiters) wake();
  }

  private pump(): void {
    while (!this.paused && this.running < this.concurrency && this.ready.length > 0) {
      const items: T[] = [];
      const keys: string[] = [];
      while (items.length < this.maxBatch && this.ready.length > 0) {
        const key = this.ready[0] ?? "";
        const queue = this.queues.get(key) ?? [];
        const taken = queue.splice(0, this.maxBatch - items.length);
        items.push(...taken);
        keys.push(key);
        this.busy.add(key);
        // A key whose queue did not fit in this unit gets back in line when the unit ends.
        if (queue.length === 0) this.queues.delete(key);
        this.ready.shift();
      }
      this.running += 1;
      void this.options
        .run(items)
        .catch(() => undefined)
        .finally(() => this.finish(keys, items.length));
    }
  }

  private finish(keys: readonly string[], count: number): void {
    this.running -= 1;
    this.heldCount -= count;
    for (const key of keys) {
      this.busy.delete(key);
      if (this.queues.has(key)) this.ready.push(key);
    }
    this.notify();
    this.pump();
  }
}
