import { BACKWARDS, END, type EventStoreDBClient } from "@eventstore/db-client";
import type { Logger } from "../logger.js";

/** What the server says of a group's progress, and where the newest event it should see is. */
export interface ProgressSample {
  /** Events the server has handed to the group's members so far (all members). */
  readonly handedOut: bigint;
  /** Messages handed out and not yet acknowledged, or read and waiting in the server's buffers. */
  readonly pending: number;
  /** The commit position of the last event the group has read from the log, if any. */
  readonly lastKnown: bigint | undefined;
  /** The commit position of the newest event matching the group's filter, if any. */
  readonly head: bigint | undefined;
}

export interface ProgressRecord {
  readonly handedOut: bigint;
  /** When `handedOut` last moved (ms since the epoch). */
  readonly since: number;
}

/** Events wait when messages are outstanding or the log holds matching events the group has not read. */
export const eventsWaiting = (sample: ProgressSample): boolean =>
  sample.pending > 0 || (sample.head !== undefined && (sample.lastKnown === undefined || sample.head > sample.lastKnown));

/**
 * Pure: given the last record and a new sample, the new record and how long the group has been
 * stalled (events waiting while nothing was handed out), 0 when it is not.
 */
export const assessProgress = (
  previous: ProgressRecord | undefined,
  sample: ProgressSample,
  now: number,
): { readonly record: ProgressRecord; readonly stalledForMs: number } => {
  const record = previous === undefined || previous.handedOut !== sample.handedOut ? { handedOut: sample.handedOut, since: now } : previous;
  return { record, stalledForMs: eventsWaiting(sample) ? now - record.since : 0 };
};

/** How far back from the end of the log the newest event of a group is looked for. */
const HEAD_WINDOW = 100n;

export interface WatchedGroup {
  readonly group: string;
  readonly streamPrefixes: readonly string[];
}

export interface StallMonitorOptions {
  /** How long a group may have events waiting without progress before it counts as stalled. */
  readonly stallAfterMs: number;
  /** How often the groups are looked at. */
  readonly intervalMs?: number;
  readonly clock?: () => number;
}

/**
 * Watches consumer groups from the server's side: a group whose members are connected can still
 * stop moving (a server that stops dispatching, a handler that never returns). Such a group is
 * reported, by name, once events have been waiting with no progress for longer than the bound, so
 * that readiness and metrics say so instead of looking healthy.
 */
export class StallMonitor {
  private readonly records = new Map<string, ProgressRecord>();
  private readonly stalled = new Map<string, number>();
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private readonly clock: () => number;

  constructor(
    private readonly client: EventStoreDBClient,
    private readonly groups: readonly WatchedGroup[],
    private readonly logger: Logger,
    private readonly options: StallMonitorOptions,
  ) {
    this.clock = options.clock ?? Date.now;
  }

  start(): void {
    if (this.timer) return;
    const interval = this.options.intervalMs ?? Math.max(250, Math.min(5000, Math.floor(this.options.stallAfterMs / 3)));
    this.timer = setInterval(() => {
      this.running ??= this.check()
        .catch((error: unknown) => this.logger.debug({ err: String(error) }, "could not look at the consumer groups' progress"))
        .finally(() => {
          this.running = undefined;
        });
    }, interval);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    this.timer = undefined;
    await this.running;
  }

  /** Groups stalled now, with how long (ms). */
  stalledGroups(): Record<string, number> {
    return Object.fromEntries(this.stalled);
  }

  /** One look at every group. */
  async check(): Promise<void> {
    for (const watched of this.groups) {
      const sample = await this.sample(watched);
      if (sample === undefined) continue;
      const { record, stalledForMs } = assessProgress(this.records.get(watched.group), sample, this.clock());
      this.records.set(watched.group, record);
      const wasStalled = this.stalled.has(watched.group);
      if (stalledForMs > this.options.stallAfterMs) {
        this.stalled.set(watched.group, stalledForMs);
        if (!wasStalled) {
          this.logger.error(
            { group: watched.group, stalledForMs, pending: sample.pending },
            "consumer group stalled: events are waiting and none was handed out",
          );
        }
      } else if (wasStalled) {
        this.stalled.delete(watched.group);
        this.logger.info({ group: watched.group }, "consumer group moves again");
      }
    }
  }

  private async sample(watched: WatchedGroup): Promise<ProgressSample | undefined> {
    let info;
    try {
      info = await this.client.getPersistentSubscriptionToAllInfo(watched.group);
    } catch {
      // Not created yet (or the server is away: readiness reports that on its own).
      return undefined;
    }
    const stats = info.stats;
    // The newest matching event among the last few of the log (the client's reads of $all take no
    // filter). Read to the end: a client read left early never completes.
    let head: bigint | undefined;
    for await (const resolved of this.client.readAll({ direction: BACKWARDS, fromPosition: END, maxCount: HEAD_WINDOW })) {
      const event = resolved.event;
      if (head !== undefined || !event?.position) continue;
      if (watched.streamPrefixes.some((prefix) => event.streamId.startsWith(prefix))) head = event.position.commit;
    }
    return {
      handedOut: BigInt(stats.totalItems),
      pending: Number(stats.totalInFlightMessages) + Number(stats.readBufferCount) + Number(stats.retryBufferCount),
      lastKnown: stats.lastKnownEventPosition?.commit,
      head,
    };
  }
}
