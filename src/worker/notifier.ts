import {
  type AppendExpectedRevision,
  type EventStoreDBClient,
  ANY,
  FORWARDS,
  NO_STREAM,
  StreamNotFoundError,
  WrongExpectedVersionError,
  jsonEvent,
} from "@eventstore/db-client";
import { paymentAggregate, reservationAggregate } from "../application/aggregates.js";
import type { PaymentRepository } from "../application/payment-service.js";
import type { ReservationRepository } from "../application/reservation-service.js";
import {
  type NotificationAudience,
  type Payment,
  type PaymentEvent,
  type PaymentEventType,
  type Reservation,
  type ReservationEvent,
  type ReservationEventType,
  isPlaced,
  isRequested,
  parsePaymentEvent,
  parseReservationEvent,
} from "../domain/index.js";
import { deterministicEventId } from "../core/event-ids.js";
import { TransientError } from "../core/errors.js";
import { idInStream, isStreamOf, streamPrefixOf } from "../core/streams.js";
import { type EventMetadata, SCHEMA_VERSION } from "../core/event-metadata.js";
import type { Logger } from "../logger.js";
import { formatAmount } from "./amount-format.js";
import type { ConsumedEvent, Consumer } from "../infrastructure/eventstore/consumer-group.js";
import type { NotificationContent } from "./notification-content.js";
import { sellerNotification } from "./seller-notifications.js";
import {
  type NotificationEvent,
  type NotificationRecorded,
  NOTIFICATION_STREAM_PREFIX,
  notificationStreamOf,
  parseNotificationEvent,
} from "../domain/notification/events.js";
import { DeliveryFailedError, type NotificationChannel } from "./notification-channels/notification.js";

/** The consumer group that records notifications. */
export const NOTIFIER_GROUP = "notifier";
/** The consumer group that delivers recorded notifications on one channel (one group per channel). */
export const deliveryGroup = (channel: string): string => `notification-delivery-${channel}`;

const NOTIFIER_ACTOR: EventMetadata["actor"] = { id: "notifier", role: "system" };

const what = (reservation: Reservation): string => `${reservation.quantity} × ${reservation.productName}`;

/**
 * Which reservation changes the customer is told about (projections/README.md, "Notifications"):
 * every status change, except
 * - `ReservationPlaced` when a payment token came with it: the charge follows at once, and the
 *   customer hears its outcome (`payment.paid` + `reservation.confirmed`, or `payment.declined`);
 * - the last `ReservationProgressed` and `RentalReturned`: `ReservationCompleted` comes with them;
 * - `ReservationAbandoned`: that reservation was never placed.
 */
export const reservationNotification = (event: ReservationEvent, reservation: Reservation): NotificationContent | undefined => {
  const item = what(reservation);
  const price = formatAmount(reservation.amount, reservation.currency);
  switch (event.type) {
    case "ReservationPlaced":
      if (event.data.paymentTokenProvided) return undefined;
      return {
        kind: "reservation.placed",
        message:
          reservation.amount === 0
            ? `Your reservation of ${item} is placed.`
            : `Your reservation of ${item} is placed: please pay ${price} before ${event.data.expiresAt}.`,
        createdAt: event.data.placedAt,
      };
    case "ReservationPaymentSettled":
      return event.data.status === "confirmed"
        ? { kind: "reservation.confirmed", message: `Your reservation of ${item} is confirmed.`, createdAt: event.data.settledAt }
        : {
            kind: "reservation.awaiting-acceptance",
            message: `Your order of ${item} is paid and waits for the seller to accept it.`,
            createdAt: event.data.settledAt,
          };
    case "ReservationAccepted":
      return {
        kind: "reservation.accepted",
        message: `The seller accepted your order of ${item}; it is confirmed.`,
        createdAt: event.data.acceptedAt,
      };
    case "ReservationRejected":
      return {
        kind: "reservation.rejected",
        message: `The seller rejected your order of ${item}${event.data.reason ? ` (${event.data.reason})` : ""}; your payment will be refunded.`,
        createdAt: event.data.rejectedAt,
      };
    case "ReservationProgressed":
      if (event.data.stepIndex >= reservation.fulfilmentSteps.length - 1) return undefined;
      return { kind: "reservation.in-progress", message: `Your order of ${item}: ${event.data.step}.`, createdAt: event.data.progressedAt };
    case "RentalStarted":
      return { kind: "reservation.in-use", message: `Your rental of ${item} has started.`, createdAt: event.data.startedAt };
    case "ReservationCompleted":
      return { kind: "reservation.completed", message: `Your reservation of ${item} is completed.`, createdAt: event.data.completedAt };
    case "ReservationCancelled": {
      const by =
        event.data.cancelledBy.role === "customer"
          ? ""
          : ` by the ${event.data.cancelledBy.role === "system" ? "service" : event.data.cancelledBy.role}`;
      const money =
        reservation.amount === 0 ? "" : event.data.paymentSettled ? "; your payment will be refunded" : "; you will not be charged";
      return {
        kind: "reservation.cancelled",
        message: `Your reservation of ${item} was cancelled${by}${money}.`,
        createdAt: event.data.cancelledAt,
      };
    }
    case "ReservationExpired":
      return {
        kind: "reservation.expired",
        message: `Your reservation of ${item} expired before it was paid; the units were released.`,
        createdAt: event.data.expiredAt,
      };
    case "RentalReturned":
    case "ReservationAbandoned":
      return undefined;
  }
};

/**
 * Which payment changes the customer is told about: paid, declined (each declined attempt: the
 * customer must act), voided and refunded. Not `PaymentRequested` (it is part of placing), not
 * `PaymentFailed` (the provider was unreachable; nothing changed and the charge is retried), and
 * nothing for a zero amount (no money moves).
 */
export const paymentNotification = (event: PaymentEvent, payment: Payment): NotificationContent | undefined => {
  if (payment.amount === 0) return undefined;
  const price = formatAmount(payment.amount, payment.currency);
  switch (event.type) {
    case "PaymentSucceeded":
      return { kind: "payment.paid", message: `Your payment of ${price} was received.`, createdAt: event.data.at };
    case "PaymentDeclined":
      return {
        kind: "payment.declined",
        message: `Your payment of ${price} was declined: ${event.data.reason}.`,
        createdAt: event.data.at,
      };
    case "PaymentVoided":
      return {
        kind: "payment.voided",
        message: `Your payment of ${price} was voided; you were not charged.`,
        createdAt: event.data.voidedAt,
      };
    case "PaymentRefunded":
      return { kind: "payment.refunded", message: `Your payment of ${price} was refunded.`, createdAt: event.data.refundedAt };
    case "PaymentRequested":
    case "PaymentFailed":
      return undefined;
  }
};

/**
 * Which event types may call for a notification, checked before any state is loaded. A map over
 * every type, so that a new event type fails to compile until it is decided here.
 */
const RESERVATION_TYPES_NOTIFIED = {
  ReservationPlaced: true,
  ReservationPaymentSettled: true,
  ReservationAccepted: true,
  ReservationRejected: true,
  ReservationProgressed: true,
  RentalStarted: true,
  RentalReturned: false,
  ReservationCompleted: true,
  ReservationCancelled: true,
  ReservationExpired: true,
  ReservationAbandoned: false,
} as const satisfies Record<ReservationEventType, boolean>;
const PAYMENT_TYPES_NOTIFIED = {
  PaymentRequested: false,
  PaymentSucceeded: true,
  PaymentDeclined: true,
  PaymentFailed: false,
  PaymentVoided: true,
  PaymentRefunded: true,
} as const satisfies Record<PaymentEventType, boolean>;

/** A notification an event calls for, before it is recorded. */
interface Planned {
  readonly content: NotificationContent;
  readonly audience: NotificationAudience;
  /** Which of the event's derived ids it takes: stable, so a redelivery records nothing new. */
  readonly index: number;
  readonly customerId: string;
  readonly sellerId?: string;
  readonly reservationId: string;
}

interface NotificationStream {
  /** -1 when the stream does not exist. */
  readonly revision: number;
  readonly events: readonly { readonly event: NotificationEvent; readonly eventId: string }[];
}

const readNotificationStream = async (client: EventStoreDBClient, streamId: string): Promise<NotificationStream> => {
  const raw: Array<{ type: string; data: unknown; eventId: string }> = [];
  let revision = -1;
  try {
    // Read to the end before parsing: an abandoned read keeps its gRPC call open.
    for await (const resolved of client.readStream(streamId, { direction: FORWARDS })) {
      const recorded = resolved.event;
      if (!recorded) continue;
      revision = Number(recorded.revision);
      raw.push({ type: recorded.type, data: recorded.data, eventId: recorded.id });
    }
  } catch (error) {
    if (!(error instanceof StreamNotFoundError)) throw error;
  }
  return { revision, events: raw.map(({ type, data, eventId }) => ({ event: parseNotificationEvent(type, data), eventId })) };
};

const metadataFor = (correlationId: string, causationId: string): EventMetadata => ({
  $correlationId: correlationId,
  $causationId: causationId,
  actor: NOTIFIER_ACTOR,
  schemaVersion: SCHEMA_VERSION,
});

export interface NotifierDependencies {
  readonly client: EventStoreDBClient;
  readonly logger: Logger;
  /** The channels notifications are delivered on; each gets its own delivery consumer group. */
  readonly channels: readonly NotificationChannel[];
  readonly clock?: () => Date;
  /** Reservations whose notifications are recorded at once (16 unless told). */
  readonly recordConcurrency?: number;
  /** Notifications delivered at once per channel (8 unless told). */
  readonly deliveryConcurrency?: number;
  /**
   * The process's repositories: they share their cache and the event-store circuit with the rest of
   * the process, so an unreachable store fails the notifier fast like every other worker.
   */
  readonly repositories: { readonly reservations: ReservationRepository; readonly payments: PaymentRepository };
}

/**
 * A reservation's events and its payment's carry the reservation id as `$correlationId` (the
 * payment id is the reservation id too): keyed by it, one reservation's notifications are recorded
 * in the order of its changes while other reservations' go side by side.
 */
const reservationKey = (event: ConsumedEvent): string =>
  event.metadata?.$correlationId ?? event.streamId.slice(event.streamId.indexOf("-") + 1);

/**
 * Records one notification per customer-visible change, exactly once: the notification id is
 * derived from the causing event's id, and it is appended to `notification-<reservationId>` only if
 * that stream does not hold it yet, with the revision just read as the expected revision (a
 * concurrent redelivery then conflicts, re-reads and finds it). Delivery is not done here. The
 * same event may also call for one to the product's seller (`sellerNotification`); both go in one
 * append; a redelivery appends whichever of them the stream does not hold yet.
 */
export const notificationRecorder = (deps: NotifierDependencies): Consumer => {
  const { reservations, payments } = deps.repositories;
  // The state must include the event being handled; a cache that far needs no read.
  const upToEvent = (event: ConsumedEvent) => ({ atLeastRevision: event.revision });
  const channelNames = deps.channels.map((channel) => channel.name);

  /**
   * The notifications one event calls for, each with its audience. The customer's keeps index 0 of
   * the derived ids (as before sellers were notified); the seller's takes index 1.
   */
  const plannedFor = async (event: ConsumedEvent): Promise<Planned[]> => {
    if (isStreamOf(reservationAggregate, event.streamId)) {
      const parsed = parseReservationEvent(event.type, event.data);
      if (!RESERVATION_TYPES_NOTIFIED[parsed.type]) return [];
      const { state } = await reservations.load(idInStream(reservationAggregate, event.streamId), upToEvent(event));
      if (!isPlaced(state)) return [];
      const subject = { customerId: state.customerId, sellerId: state.sellerId, reservationId: state.reservationId };
      const forCustomer = reservationNotification(parsed, state);
      const forSeller = sellerNotification(parsed, state);
      return [
        ...(forCustomer ? [{ ...subject, content: forCustomer, audience: "customer" as const, index: 0 }] : []),
        ...(forSeller ? [{ ...subject, content: forSeller, audience: "seller" as const, index: 1 }] : []),
      ];
    }
    if (isStreamOf(paymentAggregate, event.streamId)) {
      const parsed = parsePaymentEvent(event.type, event.data);
      if (!PAYMENT_TYPES_NOTIFIED[parsed.type]) return [];
      const { state } = await payments.load(idInStream(paymentAggregate, event.streamId), upToEvent(event));
      if (!isRequested(state)) return [];
      const content = paymentNotification(parsed, state);
      return content ? [{ content, audience: "customer", index: 0, customerId: state.customerId, reservationId: state.reservationId }] : [];
    }
    return [];
  };

  return {
    group: NOTIFIER_GROUP,
    streamPrefixes: [streamPrefixOf(reservationAggregate), streamPrefixOf(paymentAggregate)],
    ordering: { keyOf: reservationKey, concurrency: deps.recordConcurrency ?? 16 },
    handle: async (event: ConsumedEvent) => {
      const planned = await plannedFor(event);
      const first = planned[0];
      if (!first) return;
      // One event's notifications all concern the same reservation, hence one stream and one append.
      const streamId = notificationStreamOf(first.reservationId);
      const records = planned.map((plan): NotificationRecorded["data"] => ({
        notificationId: deterministicEventId(event.eventId, streamId, plan.index),
        audience: plan.audience,
        customerId: plan.customerId,
        ...(plan.sellerId === undefined ? {} : { sellerId: plan.sellerId }),
        reservationId: plan.reservationId,
        kind: plan.content.kind,
        message: plan.content.message,
        createdAt: plan.content.createdAt,
        channels: channelNames,
        cause: { streamId: event.streamId, revision: event.revision, eventId: event.eventId, type: event.type },
      }));
      const append = async (toAppend: readonly NotificationRecorded["data"][], expectedRevision: AppendExpectedRevision): Promise<void> => {
        await deps.client.appendToStream(
          streamId,
          toAppend.map((data) =>
            jsonEvent({
              id: data.notificationId,
              type: "NotificationRecorded",
              data,
              metadata: metadataFor(data.reservationId, event.eventId),
            }),
          ),
          { expectedRevision },
        );
        for (const data of toAppend) {
          deps.logger.debug(
            { notificationId: data.notificationId, kind: data.kind, audience: data.audience, reservationId: data.reservationId },
            "notification recorded",
          );
        }
      };
      // A reservation's first event comes before any of its notifications: appended as a new stream,
      // they need no read first. A redelivery finds the stream there (or the same events: an
      // idempotent success) and goes the way below.
      if (event.revision === 0 && isStreamOf(reservationAggregate, event.streamId) && event.type === "ReservationPlaced") {
        try {
          await append(records, NO_STREAM);
          return;
        } catch (error) {
          if (!(error instanceof WrongExpectedVersionError)) throw error;
        }
      }
      for (let attempt = 1; attempt <= 10; attempt += 1) {
        const stream = await readNotificationStream(deps.client, streamId);
        const known = new Set(
          stream.events.flatMap(({ event: recorded }) => (recorded.type === "NotificationRecorded" ? [recorded.data.notificationId] : [])),
        );
        const missing = records.filter((data) => !known.has(data.notificationId));
        if (missing.length === 0) return;
        try {
          await append(missing, stream.revision < 0 ? NO_STREAM : BigInt(stream.revision));
          return;
        } catch (error) {
          if (!(error instanceof WrongExpectedVersionError)) throw error;
        }
      }
      throw new TransientError(`${streamId} kept changing while recording a notification`);
    },
  };
};

/**
 * Delivers recorded notifications on one channel, in its own consumer group so that a slow or
 * failing channel holds up nothing else. The outcome is recorded in the notification's stream:
 * `NotificationDelivered`, or `NotificationDeliveryFailed` once the channel gave up (logged too;
 * nothing is dropped silently). A notification whose outcome is already recorded is not sent again;
 * one that was sent but whose outcome could not be recorded (a crash in between) is sent again on
 * redelivery, with the same `Idempotency-Key`.
 */
export const notificationDelivery = (
  channel: NotificationChannel,
  deps: Omit<NotifierDependencies, "channels" | "repositories">,
): Consumer => {
  const clock = deps.clock ?? (() => new Date());
  return {
    group: deliveryGroup(channel.name),
    streamPrefixes: [NOTIFICATION_STREAM_PREFIX],
    // One notification stream's outcomes are appended in order; a slow receiver holds up only that stream.
    ordering: { keyOf: (event) => event.streamId, concurrency: deps.deliveryConcurrency ?? 8 },
    handle: async (event: ConsumedEvent) => {
      if (event.type !== "NotificationRecorded") return;
      const parsed = parseNotificationEvent(event.type, event.data);
      if (parsed.type !== "NotificationRecorded") return;
      const recorded = parsed.data;
      if (!recorded.channels.includes(channel.name)) return;

      const stream = await readNotificationStream(deps.client, event.streamId);
      const settled = stream.events.some(
        ({ event: outcome }) =>
          (outcome.type === "NotificationDelivered" || outcome.type === "NotificationDeliveryFailed") &&
          outcome.data.notificationId === recorded.notificationId &&
          outcome.data.channel === channel.name,
      );
      if (settled) return;

      let outcome: NotificationEvent;
      try {
        const receipt = await channel.deliver({
          id: recorded.notificationId,
          audience: recorded.audience ?? "customer",
          customerId: recorded.customerId,
          ...(recorded.sellerId === undefined ? {} : { sellerId: recorded.sellerId }),
          reservationId: recorded.reservationId,
          kind: recorded.kind,
          message: recorded.message,
          createdAt: recorded.createdAt,
        });
        outcome = {
          type: "NotificationDelivered",
          data: {
            notificationId: recorded.notificationId,
            channel: channel.name,
            deliveredAt: clock().toISOString(),
            attempts: Math.max(1, receipt.attempts),
          },
        };
      } catch (error) {
        const message = error instanceof Error ? error.message : String(error);
        const attempts = error instanceof DeliveryFailedError ? error.attempts : 1;
        deps.logger.warn(
          { channel: channel.name, notificationId: recorded.notificationId, reservationId: recorded.reservationId, attempts, err: message },
          "notification delivery failed; recorded as failed",
        );
        outcome = {
          type: "NotificationDeliveryFailed",
          data: {
            notificationId: recorded.notificationId,
            channel: channel.name,
            failedAt: clock().toISOString(),
            attempts,
            error: message.slice(0, 500) || "failed",
          },
        };
      }
      await deps.client.appendToStream(
        event.streamId,
        jsonEvent({
          id: deterministicEventId(`${event.eventId}\n${channel.name}`, event.streamId, 0),
          type: outcome.type,
          data: outcome.data,
          metadata: metadataFor(recorded.reservationId, event.eventId),
        }),
        { expectedRevision: ANY },
      );
    },
  };
};

/**
 * The notifier's consumers: `notifier` (records, from `reservation-` and `payment-` streams) and
 * one `notification-delivery-<channel>` per channel (delivers, from `notification-` streams). The
 * notifications read model is kept by the `projection-notifications` consumer in `projections/`.
 */
export const createNotifierConsumers = (deps: NotifierDependencies): Consumer[] => {
  const names = new Set<string>();
  for (const channel of deps.channels) {
    if (names.has(channel.name)) throw new Error(`two notification channels are named ${channel.name}`);
    names.add(channel.name);
  }
  return [notificationRecorder(deps), ...deps.channels.map((channel) => notificationDelivery(channel, deps))];
};
