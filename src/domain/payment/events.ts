import { z } from "zod";
import { aggregateId, currency, eventParser, isoTime, minorUnits, userId, type EventsOf } from "../events.js";

/** Provider `none`: a zero amount is settled without calling a provider. */
export const ZERO_AMOUNT_PROVIDER = "none";

const attempt = {
  attemptId: z.string().min(1).max(200),
  at: isoTime,
  provider: z.string().min(1).max(100),
};

export const paymentEventSchemas = {
  PaymentRequested: z.object({
    paymentId: aggregateId,
    reservationId: aggregateId,
    customerId: userId,
    amount: minorUnits,
    currency,
    requestedAt: isoTime,
  }),
  PaymentSucceeded: z.object({ ...attempt, providerReference: z.string().min(1).max(200).optional() }),
  PaymentDeclined: z.object({ ...attempt, reason: z.string().min(1).max(500) }),
  /** The provider could not answer (outage, timeout, open circuit); the payment stays pending. */
  PaymentFailed: z.object({ ...attempt, reason: z.string().min(1).max(500) }),
  PaymentVoided: z.object({ voidedAt: isoTime, reason: z.string().min(1).max(200) }),
  PaymentRefunded: z.object({
    refundId: z.string().min(1).max(200),
    amount: minorUnits,
    refundedAt: isoTime,
    reason: z.string().min(1).max(200),
  }),
};

export type PaymentEvent = EventsOf<typeof paymentEventSchemas>;
export type PaymentEventType = PaymentEvent["type"];
export type PaymentEventData<T extends PaymentEventType> = Extract<PaymentEvent, { type: T }>["data"];

export type PaymentRequested = Extract<PaymentEvent, { type: "PaymentRequested" }>;
export type PaymentSucceeded = Extract<PaymentEvent, { type: "PaymentSucceeded" }>;
export type PaymentDeclined = Extract<PaymentEvent, { type: "PaymentDeclined" }>;
export type PaymentFailed = Extract<PaymentEvent, { type: "PaymentFailed" }>;
export type PaymentVoided = Extract<PaymentEvent, { type: "PaymentVoided" }>;
export type PaymentRefunded = Extract<PaymentEvent, { type: "PaymentRefunded" }>;

/** Validates an event read back from the store; throws `EventSchemaError`. */
export const parsePaymentEvent = eventParser(paymentEventSchemas);
export const paymentEventTypes = parsePaymentEvent.eventTypes;
export const isPaymentEventType = parsePaymentEvent.isEventType;
