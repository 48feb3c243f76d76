import { z } from "zod";
import {
  actor,
  aggregateId,
  currency,
  eventParser,
  fulfilmentSteps,
  isoTime,
  minorUnits,
  positiveCount,
  productKind,
  stepName,
  userId,
  type EventsOf,
} from "../events.js";

export const reservationStatus = z.enum([
  "placed",
  "awaiting-acceptance",
  "confirmed",
  "in-progress",
  "in-use",
  "completed",
  "cancelled",
  "expired",
  "rejected",
]);
export type ReservationStatus = z.output<typeof reservationStatus>;
/** Subsets of the status enum, so that renaming a status fails to compile where a subset names it. */
export const cancellableStatus = reservationStatus.extract(["placed", "awaiting-acceptance", "confirmed"]);
export type CancellableStatus = z.output<typeof cancellableStatus>;
export const paidStatus = reservationStatus.extract(["confirmed", "awaiting-acceptance"]);

export const reservationEventSchemas = {
  /** Carries a snapshot of the product terms, so the reservation never reads the product again. */
  ReservationPlaced: z
    .object({
      reservationId: aggregateId,
      productId: aggregateId,
      productName: z.string().min(1).max(200),
      customerId: userId,
      sellerId: userId,
      quantity: positiveCount,
      unitPrice: minorUnits,
      amount: minorUnits,
      currency,
      kind: productKind,
      sellerAcceptance: z.boolean(),
      fulfilmentSteps,
      placedAt: isoTime,
      expiresAt: isoTime,
      /** The token itself is a secret and never enters the log; only whether one was given. */
      paymentTokenProvided: z.boolean(),
    })
    .refine((d) => d.amount === d.quantity * d.unitPrice, {
      message: "amount must be quantity * unitPrice",
      path: ["amount"],
    }),
  /** `status` is the status the payment moved the reservation to. */
  ReservationPaymentSettled: z.object({
    paymentId: aggregateId,
    settledAt: isoTime,
    status: paidStatus,
  }),
  ReservationAccepted: z.object({ acceptedAt: isoTime }),
  ReservationRejected: z.object({ rejectedAt: isoTime, reason: z.string().min(1).max(500).optional() }),
  ReservationProgressed: z.object({ step: stepName, stepIndex: z.number().int().nonnegative(), progressedAt: isoTime }),
  RentalStarted: z.object({ startedAt: isoTime }),
  RentalReturned: z.object({ returnedAt: isoTime }),
  /** Follows the last `ReservationProgressed` or `RentalReturned` in the same append. */
  ReservationCompleted: z.object({ completedAt: isoTime }),
  /** `paymentSettled` tells the saga whether to void (false) or refund (true) the payment. */
  ReservationCancelled: z.object({
    cancelledAt: isoTime,
    cancelledBy: actor,
    reason: z.string().min(1).max(500).optional(),
    previousStatus: cancellableStatus,
    paymentSettled: z.boolean(),
  }),
  ReservationExpired: z.object({ expiredAt: isoTime }),
  /**
   * Written by the hold watchdog on a reservation stream that was never placed, before it releases
   * the orphaned hold: a placement still in flight then fails instead of recording a reservation
   * whose units were given back.
   */
  ReservationAbandoned: z.object({ reservationId: aggregateId, productId: aggregateId, abandonedAt: isoTime }),
};

export type ReservationEvent = EventsOf<typeof reservationEventSchemas>;
export type ReservationEventType = ReservationEvent["type"];
export type ReservationEventData<T extends ReservationEventType> = Extract<ReservationEvent, { type: T }>["data"];

export type ReservationPlaced = Extract<ReservationEvent, { type: "ReservationPlaced" }>;
export type ReservationPaymentSettled = Extract<ReservationEvent, { type: "ReservationPaymentSettled" }>;
export type ReservationAccepted = Extract<ReservationEvent, { type: "ReservationAccepted" }>;
export type ReservationRejected = Extract<ReservationEvent, { type: "ReservationRejected" }>;
export type ReservationProgressed = Extract<ReservationEvent, { type: "ReservationProgressed" }>;
export type RentalStarted = Extract<ReservationEvent, { type: "RentalStarted" }>;
export type RentalReturned = Extract<ReservationEvent, { type: "RentalReturned" }>;
export type ReservationCompleted = Extract<ReservationEvent, { type: "ReservationCompleted" }>;
export type ReservationCancelled = Extract<ReservationEvent, { type: "ReservationCancelled" }>;
export type ReservationExpired = Extract<ReservationEvent, { type: "ReservationExpired" }>;
export type ReservationAbandoned = Extract<ReservationEvent, { type: "ReservationAbandoned" }>;

/** Validates an event read back from the store; throws `EventSchemaError`. */
export const parseReservationEvent = eventParser(reservationEventSchemas);
export const reservationEventTypes = parseReservationEvent.eventTypes;
export const isReservationEventType = parseReservationEvent.isEventType;
