import { RepeatedWarnings } from "../../repeated-warnings.js";
import {
  type EventStoreDBClient,
  PersistentSubscriptionExistsError,
  type PersistentSubscriptionToAll,
  type PersistentSubscriptionToAllResolvedEvent,
  START,
  persistentSubscriptionToAllSettingsFromDefaults,
  streamNameFilter,
} from "@eventstore/db-client";
import type { Logger } from "../../logger.js";
import { type EventMetadata, parseEventMetadata } from "../../core/event-metadata.js";
import { TransientError } from "../../core/errors.js";
import { KeyedDispatcher } from "./keyed-dispatcher.js";

// Handlers throw it to ask for a retry; kept importable from here, where the retrying happens.
export { TransientError };

/** One event as a consumer sees it, with its place in the log and how often it was delivered before. */
export interface ConsumedEvent {
  readonly eventId: string;
  readonly streamId: string;
  readonly revision: number;
  /** `$all` commit position: a total order across streams. */
  readonly position: bigint;
  readonly type: string;
  readonly data: unknown;
  readonly metadata: EventMetadata | undefined;
  readonly created: Date;
  readonly retryCount: number;
}

export interface Consumer {
  /** The consumer group's name, shared by every process running this consumer. */
  readonly group: string;
  /** Stream name prefixes the group subscribes to, e.g. `reservation-`. */
  readonly streamPrefixes: readonly string[];
  handle(event: ConsumedEvent): Promise<void>;
  /**
   * Lets events of different keys be handled at the same time: events with the same key are still
   * handled strictly in the order the group delivered them. Without it, one event at a time.
   */
  readonly ordering?: KeyedConcurrency;
  /**
   * Handles several events that are ready together in one go (e.g. one Redis round trip), in
   * delivery order per key. If it throws, each of the events is handled again on its own by
   * `handle`, with the usual retry and parking, so it must be idempotent like `handle`.
   */
  readonly batch?: BatchHandler;
}

export interface KeyedConcurrency {
  /** Events with the same key are handled one after another, in delivery order. */
  keyOf(event: ConsumedEvent): string;
  /** Handlers (or batches) running at once in this process. */
  readonly concurrency: number;
}

export interface BatchHandler {
  /** Most events in one call. */
  readonly maxSize: number;
  handle(events: readonly ConsumedEvent[]): Promise<void>;
}

export interface ConsumerGroupOptions {
  readonly maxRetryCount?: number;
  /** How long one delivery may be retried in this process before it is handed back to the group. */
  readonly inProcessRetryMs?: number;
  /**
   * Events the server may have in flight to this member (unacknowledged). Defaults to enough to
   * keep every concurrent handler and batch busy.
   */
  readonly bufferSize?: number;
  readonly isTransient?: (error: unknown) => boolean;
  /** Told about every handled event, e.g. to measure subscription lag. */
  readonly onHandled?: (group: string, outcome: "acked" | "retried" | "parked", appendedAt: Date) => void;
}

export type ConsumerState = "starting" | "running" | "reconnecting" | "stopped";

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** An event taken from a subscription, with what is needed to acknowledge it there. */
interface InHand {
  readonly event: ConsumedEvent;
  readonly resolved: PersistentSubscriptionToAllResolvedEvent;
  readonly subscription: PersistentSubscriptionToAll;
}

/** The only key when a consumer declares no ordering: one event at a time, as the group delivers them. */
const SINGLE_KEY = "";

const toConsumedEvent = (resolved: PersistentSubscriptionToAllResolvedEvent): ConsumedEvent | undefined => {
  const recorded = resolved.event;
  // System events ($metadata, checkpoints …) share `$all` with ours; no consumer handles them.
  if (!recorded || recorded.type.startsWith("$") || recorded.streamId.startsWith("$")) return undefined;
  return {
    eventId: recorded.id,
    streamId: recorded.streamId,
    revision: Number(recorded.revision),
    position: recorded.position?.commit ?? 0n,
    type: recorded.type,
    data: recorded.data,
    metadata: parseEventMetadata(recorded.metadata),
    created: recorded.created,
    retryCount: resolved.retryCount,
  };
};

/**
 * Runs one consumer as a member of an EventStoreDB persistent-subscription group on `$all`,
 * filtered by stream prefix. The group is created if missing; several processes running the same
 * consumer share its events (competing consumers). Each event is acknowledged after its handler
 * succeeds; a transient failure is retried with backoff and then nacked for redelivery; anything
 * else — or a transient failure past the retry limit — is parked, with a log line saying why.
 *
 * A consumer that declares `ordering` has events of different keys handled concurrently (per-key
 * queues, `keyed-dispatcher.ts`); one that declares `batch` gets events ready together in one call,
 * acknowledged together, and handled one by one again if that call fails.
 */
export class ConsumerGroup {
  private subscription: PersistentSubscriptionToAll | undefined;
  private stopping = false;
  private loop: Promise<void> | undefined;
  /** Set by stop(): settles once the handlers in hand are done (or were given up on). */
  private draining: Promise<void> | undefined;
  private currentState: ConsumerState = "starting";
  /** Warnings of events handed back for redelivery, counted rather than repeated. */
  private readonly retryWarnings: RepeatedWarnings;
  private readonly maxRetryCount: number;
  private readonly inProcessRetryMs: number;
  private readonly bufferSize: number;
  private readonly isTransient: (error: unknown) => boolean;
  private readonly onHandled: NonNullable<ConsumerGroupOptions["onHandled"]>;
  private readonly dispatcher: KeyedDispatcher<InHand>;
  private readonly keyOf: (event: ConsumedEvent) => string;

  constructor(
    private readonly client: EventStoreDBClient,
    private readonly consumer: Consumer,
    private readonly logger: Logger,
    options: ConsumerGroupOptions = {},
  ) {
    this.retryWarnings = new RepeatedWarnings(logger);
    // Only transient failures are retried (permanent ones park at once), so outlast a long outage.
    this.maxRetryCount = options.maxRetryCount ?? 100;
    this.inProcessRetryMs = options.inProcessRetryMs ?? 10_000;
    const concurrency = Math.max(1, consumer.ordering?.concurrency ?? 1);
    const maxBatch = Math.max(1, consumer.batch?.maxSize ?? 1);
    // Every running unit full, and as much again waiting, so the next units start without a round trip to the server.
    this.bufferSize = options.bufferSize ?? Math.min(1000, Math.max(32, 2 * concurrency * maxBatch));
    this.isTransient = options.isTransient ?? ((error) => error instanceof TransientError);
    this.onHandled = options.onHandled ?? (() => undefined);
    const ordering = consumer.ordering;
    this.keyOf = ordering ? (event) => ordering.keyOf(event) : () => SINGLE_KEY;
    this.dispatcher = new KeyedDispatcher<InHand>({
      keyOf: (item) => this.keyOf(item.event),
      concurrency,
      maxBatch,
      run: (items) => this.runUnit(items),
    });
  }

  get state(): ConsumerState {
    return this.currentState;
  }

  get group(): string {
    return this.consumer.group;
  }

  start(): void {
    this.loop ??= this.run();
  }

  /** Stops taking events, lets those in hand finish (and be acked), then leaves the group. */
  async stop(): Promise<void> {
    this.stopping = true;
    // Events queued but not started stay unacknowledged: the group redelivers them once this member leaves.
    this.dispatcher.pause();
    // A handler may wait on a dependency that hangs: give them a bounded time, then leave their
    // events unacknowledged (the group redelivers them to another member).
    this.draining ??= Promise.race([this.dispatcher.idle(), sleep(5000)]);
    await this.draining;
    await this.subscription?.unsubscribe().catch(() => undefined);
    this.retryWarnings.flush();
    await this.loop;
    this.currentState = "stopped";
  }

  private async run(): Promise<void> {
    let failures = 0;
    while (!this.stopping) {
      let subscription: PersistentSubscriptionToAll | undefined;
      try {
        await this.ensureGroup();
        if (this.stopping) break;
        // Persistent subscriptions live on the leader; a follower answers NotLeader, which sends the client there.
        subscription = this.client.subscribeToPersistentSubscriptionToAll(this.consumer.group, {
          bufferSize: this.bufferSize,
          requiresLeader: true,
        });
        this.subscription = subscription;
        // stop() may have run while the group was being created, before there was anything to unsubscribe.
        if (this.stopping) {
          await subscription.unsubscribe().catch(() => undefined);
          break;
        }
        this.currentState = "running";
        failures = 0;
        for await (const resolved of subscription) {
          if (this.stopping) break;
          const event = toConsumedEvent(resolved);
          if (!event) {
            await subscription.ack(resolved);
            continue;
          }
          this.dispatcher.push({ event, resolved, subscription });
          // The server caps what is in flight at bufferSize; this only keeps the client's own buffer from growing past it.
          await this.dispatcher.room(this.bufferSize);
        }
      } catch (error) {
        if (this.stopping) break;
        failures += 1;
        this.currentState = "reconnecting";
        // Retried every few seconds while the store is away: one line and a count, not a line per attempt.
        this.retryWarnings.warn({ err: describe(error), attempt: failures }, "subscription lost; reconnecting");
        await sleep(Math.min(5000, 100 * 2 ** Math.min(failures, 6)));
      } finally {
        // Events of a subscription that ended cannot be acknowledged any more; the group redelivers them.
        // (Running handlers go on: their keys stay busy, so a redelivered event still waits for them.)
        // Stopping: the handlers in hand must get their acks out before the subscription is cancelled.
        if (this.draining) await this.draining;
        if (subscription) this.dispatcher.drop((item) => item.subscription === subscription);
        // An abandoned subscription call would stay open and block the client's dispose().
        await this.subscription?.unsubscribe().catch(() => undefined);
        this.subscription = undefined;
      }
    }
  }

  /** Settings live in code: the group is created the first time any process starts this consumer. */
  private async ensureGroup(): Promise<void> {
    try {
      await this.client.createPersistentSubscriptionToAll(
        this.consumer.group,
        persistentSubscriptionToAllSettingsFromDefaults({
          startFrom: START,
          maxRetryCount: this.maxRetryCount,
          messageTimeout: 30_000 + this.inProcessRetryMs,
          checkPointAfter: 1000,
          checkPointLowerBound: 1,
          checkPointUpperBound: 100,
          // Large enough reads and buffers that a member with a large bufferSize is kept fed
          // when it catches up after a backlog (readBatchSize must stay below historyBufferSize).
          readBatchSize: 200,
          historyBufferSize: 2000,
          liveBufferSize: 2000,
        }),
        { filter: streamNameFilter({ prefixes: [...this.consumer.streamPrefixes] }), requiresLeader: true },
      );
      this.logger.info({ group: this.consumer.group }, "created persistent subscription group");
    } catch (error) {
      if (!(error instanceof PersistentSubscriptionExistsError)) throw error;
    }
  }

  /** One unit of the dispatcher: a batch in one call when the consumer can, else event by event. */
  private async runUnit(items: readonly InHand[]): Promise<void> {
    const batch = this.consumer.batch;
    if (batch && items.length > 1 && !this.stopping) {
      try {
        await batch.handle(items.map((item) => item.event));
      } catch (error) {
        this.logger.debug(
          { group: this.consumer.group, events: items.length, err: describe(error) },
          "batch failed; handling its events one by one",
        );
        await this.oneByOne(items);
        return;
      }
      await this.ackAll(items);
      return;
    }
    await this.oneByOne(items);
  }

  /** Each key's events in order; different keys side by side, so that one failing key holds up no other. */
  private async oneByOne(items: readonly InHand[]): Promise<void> {
    const byKey = new Map<string, InHand[]>();
    for (const item of items) {
      const key = this.keyOf(item.event);
      const list = byKey.get(key);
      if (list) list.push(item);
      else byKey.set(key, [item]);
    }
    await Promise.all(
      [...byKey.values()].map(async (list) => {
        for (const item of list) await this.process(item);
      }),
    );
  }

  /** Acknowledges handled events, one message per subscription. */
  private async ackAll(items: readonly InHand[]): Promise<void> {
    const bySubscription = new Map<PersistentSubscriptionToAll, InHand[]>();
    for (const item of items) {
      const list = bySubscription.get(item.subscription);
      if (list) list.push(item);
      else bySubscription.set(item.subscription, [item]);
    }
    for (const [subscription, list] of bySubscription) {
      if (await this.settle(() => subscription.ack(...list.map((item) => item.resolved)), list)) {
        for (const item of list) this.onHandled(this.consumer.group, "acked", item.event.created);
      }
    }
  }

  /**
   * Sends an ack or nack. It fails only when the subscription is gone: the group then redelivers
   * the event (handlers are idempotent), and the subscription loop reconnects.
   */
  private async settle(send: () => Promise<void>, items: readonly InHand[]): Promise<boolean> {
    try {
      await send();
      return true;
    } catch (error) {
      this.logger.warn(
        { group: this.consumer.group, events: items.length, err: describe(error) },
        "could not settle handled events; they will be delivered again",
      );
      return false;
    }
  }

  private async process(item: InHand): Promise<void> {
    const { event, resolved, subscription } = item;
    const started = Date.now();
    for (let attempt = 0; ; attempt += 1) {
      try {
        await this.consumer.handle(event);
      } catch (error) {
        const transient = this.isTransient(error);
        const context = {
          group: this.consumer.group,
          stream: event.streamId,
          revision: event.revision,
          type: event.type,
          eventId: event.eventId,
          err: describe(error),
        };
        if (!transient) {
          this.logger.error(context, "handler failed permanently; parking the event");
          if (await this.settle(() => subscription.nack("park", `permanent failure: ${describe(error)}`.slice(0, 500), resolved), [item])) {
            this.onHandled(this.consumer.group, "parked", event.created);
          }
          return;
        }
        if (this.stopping || Date.now() - started >= this.inProcessRetryMs) {
          if (event.retryCount >= this.maxRetryCount) {
            this.logger.error(
              { ...context, retryCount: event.retryCount },
              "handler kept failing past the retry limit; the group parks the event",
            );
          } else {
            // During an outage every event of the group fails the same way: one line per cause, then a count.
            this.retryWarnings.warn(
              { ...context, retryCount: event.retryCount },
              `handler failing (${context.err}); handing events back for redelivery`,
            );
          }
          if (
            await this.settle(() => subscription.nack("retry", `transient failure: ${describe(error)}`.slice(0, 500), resolved), [item])
          ) {
            this.onHandled(this.consumer.group, "retried", event.created);
          }
          return;
        }
        await sleep(Math.min(2000, 50 * 2 ** Math.min(attempt, 6)));
        continue;
      }
      await this.ackAll([item]);
      return;
    }
  }
}

const describe = (error: unknown): string => (error instanceof Error ? error.message : String(error));
