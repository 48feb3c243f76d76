import type { AppendRequest, EventLog } from "./event-log.js";
import type { AppendOutcome } from "./types.js";

interface Queued {
  readonly request: AppendRequest;
  resolve(outcome: AppendOutcome): void;
  reject(error: Error): void;
}

/**
 * Collects the appends that arrive while a commit is pending and writes them as one group: one
 * SQLite transaction, one fsync. The flush runs on `setImmediate`, after the poll phase that
 * delivered the requests; while it runs (synchronously), new requests wait in the sockets and form
 * the next group, so groups grow by themselves as the load does. Each caller is answered only once
 * its group is durable.
 */
export class GroupCommit {
  private queue: Queued[] = [];
  private scheduled: NodeJS.Immediate | undefined;

  constructor(private readonly log: EventLog) {}

  append(request: AppendRequest): Promise<AppendOutcome> {
    return new Promise<AppendOutcome>((resolve, reject) => {
      this.queue.push({ request, resolve, reject });
      this.scheduled ??= setImmediate(() => this.flush());
    });
  }

  /** Commits whatever is queued now: on shutdown, before the log closes. */
  flush(): void {
    if (this.scheduled) clearImmediate(this.scheduled);
    this.scheduled = undefined;
    const group = this.queue;
    this.queue = [];
    if (group.length === 0) return;
    let results;
    try {
      results = this.log.appendGroup(group.map((queued) => queued.request));
    } catch (error) {
      // The commit failed: nothing of the group was written, and every caller hears so.
      const failure = error instanceof Error ? error : new Error(String(error));
      for (const queued of group) queued.reject(failure);
      return;
    }
    group.forEach((queued, index) => {
      const result = results[index];
      if (!result) queued.reject(new Error("no result for a queued append"));
      else if ("error" in result) queued.reject(result.error);
      else queued.resolve(result.outcome);
    });
  }
}
