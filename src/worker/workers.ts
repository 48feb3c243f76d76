import { describeRedisFailure } from "../infrastructure/redis-failure.js";
import type { EventStoreDBClient } from "@eventstore/db-client";
import type { Redis } from "ioredis";
import type { PaymentRepository } from "../application/payment-service.js";
import type { PaymentProvider } from "../application/payment-provider.js";
import type { ProductRepository } from "../application/product-service.js";
import type { ReservationRepository } from "../application/reservation-service.js";
import { DeadlineSchedule } from "../infrastructure/deadline-schedule.js";
import type { Logger } from "../logger.js";
import {
  type ConsumedEvent,
  type Consumer,
  ConsumerGroup,
  type ConsumerGroupOptions,
  type ConsumerState,
} from "../infrastructure/eventstore/consumer-group.js";
import { HoldExpiryPoller, holdDeadlineConsumer, restoreHoldDeadlines } from "./hold-expiry.js";
import type { PaymentTokenStore } from "../application/payment-token-store.js";
import type { UnpaidHolds } from "../application/unpaid-holds.js";
import { AutomaticCharge } from "./automatic-charge.js";
import { reservationSaga } from "./reservation-saga.js";
import { SchedulePoller } from "./schedule-poller.js";
import { StallMonitor } from "./stall-monitor.js";
import { isTransientFailure } from "../core/transient.js";

export interface WorkerDependencies {
  readonly client: EventStoreDBClient;
  readonly redis: Redis;
  readonly logger: Logger;
  readonly products: ProductRepository;
  readonly reservations: ReservationRepository;
  readonly payments: PaymentRepository;
  readonly provider: PaymentProvider;
  readonly paymentTokens: PaymentTokenStore;
  readonly unpaidHolds?: Pick<UnpaidHolds, "release">;
  /** Read-side consumers (projections, notifier) that run beside the saga. */
  readonly readSide?: readonly Consumer[];
  readonly holdExpiryIntervalMs?: number;
  /** How often due retries of automatic charges are looked for (1 s unless told). */
  readonly chargeRetryIntervalMs?: number;
  /** False while it is not known that Redis's keys reflect this event store: the hold watchdog waits. */
  readonly keyRootVerified?: () => boolean;
  /** Prefix of the worker's Redis keys, so that deployments or test runs sharing a Redis stay apart. */
  readonly redisKeyRoot: string;
  readonly onHandled?: ConsumerGroupOptions["onHandled"];
  /** Handlers running at once per process; see `DEFAULT_CONCURRENCY`. */
  readonly concurrency?: Partial<WorkerConcurrency>;
  /** A group with events waiting and nothing handed out for this long is reported stalled (30 s unless told). */
  readonly stallAfterMs?: number;
}

export interface WorkerConcurrency {
  /** Reservations the saga reconciles at once (one reservation's events stay in order). */
  readonly saga: number;
  /** Holds whose deadlines are scheduled at once. */
  readonly holdDeadlines: number;
}

/**
 * Sized for ~600 reservations/s on two cores: a saga reconciliation is a handful of event-store
 * round trips, so one at a time caps a process far below that; 32 in flight keeps the store busy
 * without letting a backlog turn into hundreds of concurrent loads.
 */
export const DEFAULT_CONCURRENCY: WorkerConcurrency = { saga: 32, holdDeadlines: 8 };

/**
 * The saga's key: its reservation. Events of a reservation and of its payment carry the reservation
 * id as `$correlationId` (and the payment id is the reservation id), so both streams share a queue.
 */
export const sagaKey = (event: ConsumedEvent): string =>
  event.metadata?.$correlationId ?? event.streamId.slice(event.streamId.indexOf("-") + 1);

/** A hold's key: its reservation (one product holds for many reservations, which need not wait on each other). */
const holdKey = (event: ConsumedEvent): string => {
  const data = event.data;
  const reservationId = typeof data === "object" && data !== null && "reservationId" in data ? data.reservationId : undefined;
  return typeof reservationId === "string" ? reservationId : event.streamId;
};

const withOrdering = (consumer: Consumer, keyOf: (event: ConsumedEvent) => string, concurrency: number): Consumer => ({
  ...consumer,
  ordering: { keyOf, concurrency },
});

export interface RunningWorkers {
  /** Each consumer group's state, for `/health/ready`; a group that stopped moving reads `stalled (…)`. */
  states(): Record<string, ConsumerState | `stalled (${number} s without progress)`>;
  /** Groups stalled now, with how long (ms), for `/metrics`. */
  stalled(): Record<string, number>;
  stop(): Promise<void>;
}

/**
 * The worker role: the reservation saga, the hold watchdog, the retries of automatic charges and the
 * read side, as consumer-group members.
 */
export const startWorkers = (deps: WorkerDependencies): RunningWorkers => {
  const schedule = new DeadlineSchedule(deps.redis, `${deps.redisKeyRoot}:schedule:hold-deadlines`);
  const chargeRetries = new DeadlineSchedule(deps.redis, `${deps.redisKeyRoot}:schedule:charge-retries`);
  const concurrency = { ...DEFAULT_CONCURRENCY, ...deps.concurrency };
  const saga = reservationSaga({
    products: deps.products,
    reservations: deps.reservations,
    payments: deps.payments,
    provider: deps.provider,
    paymentTokens: deps.paymentTokens,
    ...(deps.unpaidHolds ? { unpaidHolds: deps.unpaidHolds } : {}),
    chargeRetries,
    logger: deps.logger.child({ consumer: "reservation-saga" }),
  });
  const automaticCharge = new AutomaticCharge({
    reservations: deps.reservations,
    payments: deps.payments,
    provider: deps.provider,
    paymentTokens: deps.paymentTokens,
    retries: chargeRetries,
    logger: deps.logger.child({ component: "charge-retry" }),
    clock: () => new Date(),
  });
  const chargeRetryPoller = new SchedulePoller({
    schedule: chargeRetries,
    work: (reservationId) => automaticCharge.retry(reservationId),
    logger: deps.logger.child({ component: "charge-retry" }),
    what: "payment retry",
    describeFailure: (error) => describeRedisFailure(error, deps.redis),
    ...(deps.chargeRetryIntervalMs === undefined ? {} : { intervalMs: deps.chargeRetryIntervalMs }),
    ...(deps.keyRootVerified === undefined ? {} : { ready: deps.keyRootVerified }),
  });
  const consumers: Consumer[] = [
    withOrdering(saga, sagaKey, concurrency.saga),
    withOrdering(holdDeadlineConsumer(schedule), holdKey, concurrency.holdDeadlines),
    ...(deps.readSide ?? []),
  ];
  const groups = consumers.map(
    (consumer) =>
      // Not a child logger with `group`: every line of the group names it already, and pino would write the key twice.
      new ConsumerGroup(deps.client, consumer, deps.logger, {
        isTransient: isTransientFailure,
        ...(deps.onHandled ? { onHandled: deps.onHandled } : {}),
      }),
  );
  const poller = new HoldExpiryPoller({
    schedule,
    restore: () => restoreHoldDeadlines(deps.client, schedule),
    products: deps.products,
    reservations: deps.reservations,
    logger: deps.logger.child({ component: "hold-expiry" }),
    describeFailure: (error) => describeRedisFailure(error, deps.redis),
    ...(deps.holdExpiryIntervalMs === undefined ? {} : { intervalMs: deps.holdExpiryIntervalMs }),
    ...(deps.keyRootVerified === undefined ? {} : { ready: deps.keyRootVerified }),
  });
  const monitor = new StallMonitor(
    deps.client,
    consumers.map((consumer) => ({ group: consumer.group, streamPrefixes: consumer.streamPrefixes })),
    deps.logger.child({ component: "stall-monitor" }),
    { stallAfterMs: deps.stallAfterMs ?? 30_000 },
  );
  for (const group of groups) group.start();
  poller.start();
  chargeRetryPoller.start();
  monitor.start();
  return {
    states: () => {
      const stalled = monitor.stalledGroups();
      return Object.fromEntries(
        groups.map((group) => {
          const stalledForMs = stalled[group.group];
          return [
            group.group,
            stalledForMs === undefined ? group.state : (`stalled (${Math.round(stalledForMs / 1000)} s without progress)` as const),
          ];
        }),
      );
    },
    stalled: () => monitor.stalledGroups(),
    stop: async () => {
      await monitor.stop();
      await poller.stop();
      await chargeRetryPoller.stop();
      await Promise.all(groups.map((group) => group.stop()));
    },
  };
};
