import {
  type EventStoreDBClient,
  PersistentSubscriptionExistsError,
  type PersistentSubscriptionToAll,
  type PersistentSubscriptionToAllResolvedEvent,
  START,
  persistentSubscriptionToAllSettingsFromDefaults,
  streamNameFilter,
} from "@eventstore/db-client";
import type { Logger } from "../logger.js";
import { type EventMetadata, parseEventMetadata } from "../infrastructure/eventstore/event-metadata.js";

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
}

/** A failure worth retrying later (a dependency is down); anything else is parked at once. */
export class TransientError extends Error {
  override readonly name = "TransientError";
}

export interface ConsumerGroupOptions {
  readonly maxRetryCount?: number;
  /** How long one delivery may be retried in this process before it is handed back to the group. */
  readonly inProcessRetryMs?: number;
  readonly bufferSize?: number;
  readonly isTransient?: (error: unknown) => boolean;
  /** Told about every handled event, e.g. to measure subscription lag. */
  readonly onHandled?: (group: string, outcome: "acked" | "retried" | "parked", appendedAt: Date) => void;
}

export type ConsumerState = "starting" | "running" | "reconnecting" | "stopped";

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Runs one consumer as a member of an EventStoreDB persistent-subscription group on `$all`,
 * filtered by stream prefix. The group is created if missing; several processes running the same
 * consumer share its events (competing consumers). Each event is acknowledged after its handler
 * succeeds; a transient failure is retried with backoff and then nacked for redelivery; anything
 * else — or a transient failure past the retry limit — is parked, with a log line saying why.
 */
export class ConsumerGroup {
  private subscription: PersistentSubscriptionToAll | undefined;
  private stopping = false;
  private loop: Promise<void> | undefined;
  private inHand: Promise<void> | undefined;
  private currentState: ConsumerState = "starting";
  private readonly maxRetryCount: number;
  private readonly inProcessRetryMs: number;
  private readonly bufferSize: number;
  private readonly isTransient: (error: unknown) => boolean;
  private readonly onHandled: NonNullable<ConsumerGroupOptions["onHandled"]>;

  constructor(
    private readonly client: EventStoreDBClient,
    private readonly consumer: Consumer,
    private readonly logger: Logger,
    options: ConsumerGroupOptions = {},
  ) {
    // Only transient failures are retried (permanent ones park at once), so outlast a long outage.
    this.maxRetryCount = options.maxRetryCount ?? 100;
    this.inProcessRetryMs = options.inProcessRetryMs ?? 10_000;
    this.bufferSize = options.bufferSize ?? 32;
    this.isTransient = options.isTransient ?? ((error) => error instanceof TransientError);
    this.onHandled = options.onHandled ?? (() => undefined);
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

  /** Stops taking events, lets the one in hand finish (and be acked), then leaves the group. */
  async stop(): Promise<void> {
    this.stopping = true;
    // The event in hand may wait on a dependency that hangs: give it a bounded time, then leave
    // it unacknowledged (the group redelivers it to another member).
    await Promise.race([this.inHand, sleep(5000)]);
    await this.subscription?.unsubscribe().catch(() => undefined);
    await this.loop;
    this.currentState = "stopped";
  }

  private async run(): Promise<void> {
    let failures = 0;
    while (!this.stopping) {
      try {
        await this.ensureGroup();
        if (this.stopping) break;
        const subscription = this.client.subscribeToPersistentSubscriptionToAll(this.consumer.group, {
          bufferSize: this.bufferSize,
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
          this.inHand = this.process(subscription, resolved);
          await this.inHand;
          this.inHand = undefined;
        }
      } catch (error) {
        if (this.stopping) break;
        failures += 1;
        this.currentState = "reconnecting";
        this.logger.warn(
          { group: this.consumer.group, err: describe(error), attempt: failures },
          "subscription lost; reconnecting",
        );
        await sleep(Math.min(5000, 100 * 2 ** Math.min(failures, 6)));
      } finally {
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
        }),
        { filter: streamNameFilter({ prefixes: [...this.consumer.streamPrefixes] }) },
      );
      this.logger.info({ group: this.consumer.group }, "created persistent subscription group");
    } catch (error) {
      if (!(error instanceof PersistentSubscriptionExistsError)) throw error;
    }
  }

  private async process(subscription: PersistentSubscriptionToAll, resolved: PersistentSubscriptionToAllResolvedEvent): Promise<void> {
    const recorded = resolved.event;
    if (!recorded) {
      await subscription.ack(resolved);
      return;
    }
    // System events ($metadata, checkpoints …) share `$all` with ours; no consumer handles them.
    if (recorded.type.startsWith("$") || recorded.streamId.startsWith("$")) {
      await subscription.ack(resolved);
      return;
    }
    const event: ConsumedEvent = {
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
    const started = Date.now();
    for (let attempt = 0; ; attempt += 1) {
      try {
        await this.consumer.handle(event);
        await subscription.ack(resolved);
        this.onHandled(this.consumer.group, "acked", event.created);
        return;
      } catch (error) {
        const transient = this.isTransient(error);
        const context = { group: this.consumer.group, stream: event.streamId, revision: event.revision, type: event.type, eventId: event.eventId, err: describe(error) };
        if (!transient) {
          this.logger.error(context, "handler failed permanently; parking the event");
          await subscription.nack("park", `permanent failure: ${describe(error)}`.slice(0, 500), resolved);
          this.onHandled(this.consumer.group, "parked", event.created);
          return;
        }
        if (this.stopping || Date.now() - started >= this.inProcessRetryMs) {
          if (event.retryCount >= this.maxRetryCount) {
            this.logger.error({ ...context, retryCount: event.retryCount }, "handler kept failing past the retry limit; the group parks the event");
          } else {
            this.logger.warn({ ...context, retryCount: event.retryCount }, "handler failing; handing the event back for redelivery");
          }
          await subscription.nack("retry", `transient failure: ${describe(error)}`.slice(0, 500), resolved);
          this.onHandled(this.consumer.group, "retried", event.created);
          return;
        }
        await sleep(Math.min(2000, 50 * 2 ** Math.min(attempt, 6)));
      }
    }
  }
}

const describe = (error: unknown): string => (error instanceof Error ? error.message : String(error));
