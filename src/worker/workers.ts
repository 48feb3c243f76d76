import type { EventStoreDBClient } from "@eventstore/db-client";
import type { Redis } from "ioredis";
import type { PaymentRepository } from "../application/payment-service.js";
import type { PaymentProvider } from "../application/payment-provider.js";
import type { ProductRepository } from "../application/product-service.js";
import type { ReservationRepository } from "../application/reservation-service.js";
import { DeadlineSchedule } from "../infrastructure/deadline-schedule.js";
import type { Logger } from "../logger.js";
import { type Consumer, ConsumerGroup, type ConsumerGroupOptions, type ConsumerState } from "./consumer-group.js";
import { HoldExpiryPoller, holdDeadlineConsumer, restoreHoldDeadlines } from "./hold-expiry.js";
import { type PaymentTokenSource, reservationSaga } from "./reservation-saga.js";
import { isTransientFailure } from "./transient.js";

export interface WorkerDependencies {
  readonly client: EventStoreDBClient;
  readonly redis: Redis;
  readonly logger: Logger;
  readonly products: ProductRepository;
  readonly reservations: ReservationRepository;
  readonly payments: PaymentRepository;
  readonly provider: PaymentProvider;
  readonly paymentTokens: PaymentTokenSource;
  /** Read-side consumers (projections, notifier) that run beside the saga. */
  readonly readSide?: readonly Consumer[];
  readonly holdExpiryIntervalMs?: number;
  /** Prefix of the worker's Redis keys, so that deployments or test runs sharing a Redis stay apart. */
  readonly redisKeyRoot: string;
  readonly onHandled?: ConsumerGroupOptions["onHandled"];
}

export interface RunningWorkers {
  /** Each consumer group's state, for `/health/ready`. */
  states(): Record<string, ConsumerState>;
  stop(): Promise<void>;
}

/** The worker role: the reservation saga, the hold watchdog and the read side, as consumer-group members. */
export const startWorkers = (deps: WorkerDependencies): RunningWorkers => {
  const schedule = new DeadlineSchedule(deps.redis, `${deps.redisKeyRoot}:schedule:hold-deadlines`);
  const consumers: Consumer[] = [
    reservationSaga({
      products: deps.products,
      reservations: deps.reservations,
      payments: deps.payments,
      provider: deps.provider,
      paymentTokens: deps.paymentTokens,
      logger: deps.logger.child({ consumer: "reservation-saga" }),
    }),
    holdDeadlineConsumer(schedule),
    ...(deps.readSide ?? []),
  ];
  const groups = consumers.map(
    (consumer) =>
      new ConsumerGroup(deps.client, consumer, deps.logger.child({ group: consumer.group }), {
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
    ...(deps.holdExpiryIntervalMs === undefined ? {} : { intervalMs: deps.holdExpiryIntervalMs }),
  });
  for (const group of groups) group.start();
  poller.start();
  return {
    states: () => Object.fromEntries(groups.map((group) => [group.group, group.state])),
    stop: async () => {
      await poller.stop();
      await Promise.all(groups.map((group) => group.stop()));
    },
  };
};
