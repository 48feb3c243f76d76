export interface WaitLimit {
  readonly waitTimeoutMs: number;
  /** The error a job gets when it was not taken in time; it then never runs. */
  readonly onTimeout: () => Error;
}

/** A job knows how to answer its caller with an error; the batcher calls it on timeout or when a run throws. */
export interface Job {
  fail(error: Error): void;
}

export interface BatcherOptions<J extends Job> {
  /** Most jobs one run takes. */
  readonly maxBatch: number;
  /** Whether `next` may run in the same batch as `first` (else it starts the next batch). */
  readonly compatible: (first: J, next: J) => boolean;
  readonly wait?: WaitLimit;
}

interface Queued<J> {
  readonly job: J;
  timer: NodeJS.Timeout | undefined;
  expired: boolean;
}

interface Lane<J> {
  readonly queue: Queued<J>[];
}

/**
 * Runs jobs one batch at a time per key, in arrival order: while a batch runs, the jobs arriving
 * for its key queue up and the next run takes all of them (up to `maxBatch`) at once. Jobs of
 * different keys never wait for each other. Keys with nothing queued or running hold no memory.
 *
 * `run` must answer every job of its batch; when it throws, every job of the batch gets the error.
 */
export class KeyedBatcher<J extends Job> {
  private readonly lanes = new Map<string, Lane<J>>();

  constructor(
    private readonly run: (key: string, batch: readonly J[]) => Promise<void>,
    private readonly options: BatcherOptions<J>,
  ) {}

  submit(key: string, job: J): void {
    const queued: Queued<J> = { job, timer: undefined, expired: false };
    const { wait } = this.options;
    if (wait) {
      queued.timer = setTimeout(() => {
        queued.expired = true;
        job.fail(wait.onTimeout());
      }, wait.waitTimeoutMs);
    }
    const lane = this.lanes.get(key);
    if (lane) {
      lane.queue.push(queued);
      return;
    }
    const started: Lane<J> = { queue: [queued] };
    this.lanes.set(key, started);
    // Started on a later tick, so that jobs submitted together are decided together.
    queueMicrotask(() => void this.drain(key, started));
  }

  private async drain(key: string, lane: Lane<J>): Promise<void> {
    for (;;) {
      const batch = this.take(lane);
      if (batch.length === 0) {
        this.lanes.delete(key);
        return;
      }
      try {
        await this.run(key, batch);
      } catch (error) {
        const failure = error instanceof Error ? error : new Error(String(error));
        for (const job of batch) job.fail(failure);
      }
    }
  }

  private take(lane: Lane<J>): J[] {
    const batch: J[] = [];
    let end = 0;
    // One splice at the end: a queue of thousands under overload is not shifted job by job.
    for (; end < lane.queue.length && batch.length < this.options.maxBatch; end += 1) {
      const queued = lane.queue[end];
      if (!queued) break;
      if (queued.expired) continue;
      const first = batch[0];
      if (first && !this.options.compatible(first, queued.job)) break;
      clearTimeout(queued.timer);
      batch.push(queued.job);
    }
    lane.queue.splice(0, end);
    return batch;
  }
}
