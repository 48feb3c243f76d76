import { match } from "ts-pattern";
import type { Decider } from "../decider.js";
import {
  InvalidCommandError,
  InvalidTransitionError,
  NotFoundError,
  PaymentNotPayableError,
  TooManyPaymentAttemptsError,
} from "../errors.js";
import { requireInteger } from "../guards.js";
import { instant } from "../time.js";
import type { PaymentCommand, PaymentCommandOf } from "./commands.js";
import { ZERO_AMOUNT_PROVIDER, type PaymentEvent } from "./events.js";
import { initialPaymentState, isRequested, type Payment, type PaymentAttempt, type PaymentState } from "./state.js";

/** The attempt id of the provider-less settlement of a zero amount (one per payment stream). */
export const ZERO_AMOUNT_ATTEMPT_ID = "zero-amount";

function requested(state: PaymentState): Payment {
  if (!isRequested(state)) throw new NotFoundError("payment");
  return state;
}

/** Attempts one payment takes (succeeded, declined or failed): beyond it the customer must start over. */
export const MAX_PAYMENT_ATTEMPTS = 20;

/** Throws once a payment has had all its attempts; checked before the provider is asked, and when an attempt is recorded. */
export function assertMayAttempt(payment: Payment): void {
  if (payment.attempts.length >= MAX_PAYMENT_ATTEMPTS) throw new TooManyPaymentAttemptsError(MAX_PAYMENT_ATTEMPTS);
}

export function decidePayment(command: PaymentCommand, state: PaymentState): PaymentEvent[] {
  return match(command)
    .returnType<PaymentEvent[]>()
    .with({ type: "RequestPayment" }, (c) => requestPayment(c, state))
    .with({ type: "RecordPaymentAttempt" }, (c) => recordPaymentAttempt(c, state))
    .with({ type: "VoidPayment" }, (c) => voidPayment(c, state))
    .with({ type: "RefundPayment" }, (c) => refundPayment(c, state))
    .exhaustive();
}

export function requestPayment({ data }: PaymentCommandOf<"RequestPayment">, state: PaymentState): PaymentEvent[] {
  // One payment per reservation: requesting it again (saga redelivery) changes nothing.
  if (isRequested(state)) return [];
  requireInteger("amount", data.amount, 0);
  if (!/^[A-Z]{3}$/.test(data.currency)) throw new InvalidCommandError("currency", "must be an ISO 4217 code");
  instant("now", data.now);
  const requestedEvent: PaymentEvent = {
    type: "PaymentRequested",
    data: {
      paymentId: data.paymentId,
      reservationId: data.reservationId,
      customerId: data.customerId,
      amount: data.amount,
      currency: data.currency,
      requestedAt: data.now,
    },
  };
  if (data.amount > 0) return [requestedEvent];
  // Nothing to charge: settle at once, so no provider is ever called and no token is needed.
  return [
    requestedEvent,
    {
      type: "PaymentSucceeded",
      data: { attemptId: ZERO_AMOUNT_ATTEMPT_ID, at: data.now, provider: ZERO_AMOUNT_PROVIDER },
    },
  ];
}

export function recordPaymentAttempt({ data }: PaymentCommandOf<"RecordPaymentAttempt">, state: PaymentState): PaymentEvent[] {
  const payment = requested(state);
  if (payment.attempts.some((a) => a.attemptId === data.attemptId)) return [];
  if (payment.status === "voided" || payment.status === "refunded") {
    throw new PaymentNotPayableError(payment.status);
  }
  // Settled already: the provider is idempotent on the payment id, so a late outcome changes nothing.
  if (payment.status === "paid") return [];
  assertMayAttempt(payment);
  const attempt = { attemptId: data.attemptId, at: data.at, provider: data.provider };
  return match(data.outcome)
    .returnType<PaymentEvent[]>()
    .with("succeeded", () => [
      {
        type: "PaymentSucceeded",
        data: data.providerReference === undefined ? attempt : { ...attempt, providerReference: data.providerReference },
      },
    ])
    .with("declined", () => [{ type: "PaymentDeclined", data: { ...attempt, reason: data.reason ?? "declined by the provider" } }])
    .with("failed", () => [{ type: "PaymentFailed", data: { ...attempt, reason: data.reason ?? "the provider is unavailable" } }])
    .exhaustive();
}

export function voidPayment({ data }: PaymentCommandOf<"VoidPayment">, state: PaymentState): PaymentEvent[] {
  const payment = requested(state);
  if (payment.status === "voided") return [];
  if (payment.status !== "pending") {
    throw new InvalidTransitionError("payment", payment.status, "void", "only a pending payment can be voided");
  }
  return [{ type: "PaymentVoided", data: { voidedAt: data.now, reason: data.reason } }];
}

export function refundPayment({ data }: PaymentCommandOf<"RefundPayment">, state: PaymentState): PaymentEvent[] {
  const payment = requested(state);
  if (payment.status === "refunded") return [];
  if (payment.status !== "paid") {
    throw new InvalidTransitionError("payment", payment.status, "refund", "only a paid payment can be refunded");
  }
  return [
    {
      type: "PaymentRefunded",
      data: { refundId: data.refundId, amount: payment.amount, refundedAt: data.now, reason: data.reason },
    },
  ];
}

function withAttempt(p: Payment, attempt: PaymentAttempt, status: Payment["status"]): Payment {
  return { ...p, status, attempts: [...p.attempts, attempt], updatedAt: attempt.at };
}

export function evolvePayment(state: PaymentState, event: PaymentEvent): PaymentState {
  if (!isRequested(state)) {
    if (event.type !== "PaymentRequested") return state;
    const d = event.data;
    return {
      status: "pending",
      paymentId: d.paymentId,
      reservationId: d.reservationId,
      customerId: d.customerId,
      amount: d.amount,
      currency: d.currency,
      attempts: [],
      refund: null,
      requestedAt: d.requestedAt,
      updatedAt: d.requestedAt,
    };
  }
  const p = state;
  return match(event)
    .returnType<PaymentState>()
    .with({ type: "PaymentRequested" }, () => p)
    .with({ type: "PaymentSucceeded" }, ({ data: { attemptId, at, provider } }) =>
      withAttempt(p, { attemptId, at, outcome: "succeeded", provider }, "paid"),
    )
    .with({ type: "PaymentDeclined" }, ({ data: { attemptId, at, provider, reason } }) =>
      withAttempt(p, { attemptId, at, outcome: "declined", provider, reason }, p.status),
    )
    .with({ type: "PaymentFailed" }, ({ data: { attemptId, at, provider, reason } }) =>
      withAttempt(p, { attemptId, at, outcome: "failed", provider, reason }, p.status),
    )
    .with({ type: "PaymentVoided" }, ({ data }) => ({ ...p, status: "voided" as const, updatedAt: data.voidedAt }))
    .with({ type: "PaymentRefunded" }, ({ data }) => ({
      ...p,
      status: "refunded" as const,
      refund: { refundId: data.refundId, amount: data.amount, at: data.refundedAt, reason: data.reason },
      updatedAt: data.refundedAt,
    }))
    .exhaustive();
}

export const paymentDecider: Decider<PaymentCommand, PaymentEvent, PaymentState> = {
  initialState: initialPaymentState,
  evolve: evolvePayment,
  decide: decidePayment,
};
