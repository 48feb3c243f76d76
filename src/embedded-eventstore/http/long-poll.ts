import type { EventLog } from "../log/event-log.js";

/**
 * The waits of `ES-LongPoll` requests: each ends at the log's next commit, at its deadline, or when
 * the server stops, whichever comes first, and leaves nothing registered behind it.
 */
export class LongPolls {
  private readonly pending = new Set<() => void>();
  private stopped = false;

  constructor(private readonly log: EventLog) {}

  nextAppend(ms: number): Promise<void> {
    if (this.stopped) return Promise.resolve();
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        unsubscribe();
        this.pending.delete(done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      const unsubscribe = this.log.onAppended(() => done());
      this.pending.add(done);
    });
  }

  /** Ends every wait now: on shutdown, so that open long polls do not hold it up. */
  stop(): void {
    this.stopped = true;
    for (const done of [...this.pending]) done();
  }
}
