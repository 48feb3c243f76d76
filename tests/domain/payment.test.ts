import { describe, expect, test } from "vitest";
import { fold } from "../../src/domain/decider.js";
import {
  InvalidCommandError,
  InvalidTransitionError,
  NotFoundError,
  PaymentNotPayableError,
  TooManyPaymentAttemptsError,
} from "../../src/domain/errors.js";
import { EventSchemaError } from "../../src/domain/events.js";
import {
  parsePaymentEvent,
  paymentDecider,
  paymentEventSchemas,
  MAX_PAYMENT_ATTEMPTS,
  ZERO_AMOUNT_ATTEMPT_ID,
  type AttemptOutcome,
  type Payment,
  type PaymentCommand,
  type PaymentEvent,
  type PaymentStatus,
} from "../../src/domain/payment/index.js";
import { testRejections, testRoundTrips } from "./event-schemas.js";
import { given as givenEvents } from "./given-when-then.js";

const RES = "5a0d1f4e-2b3c-4d5e-8f60-718293a4b5c6";
const T0 = "2025-03-01T09:00:00.000Z";
const T1 = "2025-03-01T09:05:00.000Z";
const T2 = "2025-03-01T09:10:00.000Z";

const given = (...history: PaymentEvent[]) => givenEvents(paymentDecider, history, { validate: (e) => parsePaymentEvent(e.type, e.data) });

// Events

const requestedEvent = (amount = 24_000): PaymentEvent => ({
  type: "PaymentRequested",
  data: { paymentId: RES, reservationId: RES, customerId: "alice", amount, currency: "KRW", requestedAt: T0 },
});
const succeeded = (attemptId = "a1", at = T1): PaymentEvent => ({
  type: "PaymentSucceeded",
  data: { attemptId, at, provider: "simulated", providerReference: `ch_${attemptId}` },
});
const declined = (attemptId = "a1"): PaymentEvent => ({
  type: "PaymentDeclined",
  data: { attemptId, at: T1, provider: "simulated", reason: "card declined" },
});
const failed = (attemptId = "a1"): PaymentEvent => ({
  type: "PaymentFailed",
  data: { attemptId, at: T1, provider: "simulated", reason: "provider unavailable" },
});
const voided: PaymentEvent = { type: "PaymentVoided", data: { voidedAt: T2, reason: "reservation-cancelled" } };
const refunded = (amount = 24_000): PaymentEvent => ({
  type: "PaymentRefunded",
  data: { refundId: "rf1", amount, refundedAt: T2, reason: "reservation-cancelled" },
});

// Commands

const request = (amount = 24_000, currency = "KRW"): PaymentCommand => ({
  type: "RequestPayment",
  data: { paymentId: RES, reservationId: RES, customerId: "alice", amount, currency, now: T0 },
});
const attempt = (outcome: AttemptOutcome, attemptId = "a1", reason?: string): PaymentCommand => ({
  type: "RecordPaymentAttempt",
  data: {
    attemptId,
    outcome,
    provider: "simulated",
    at: T1,
    ...(reason === undefined ? {} : { reason }),
    ...(outcome === "succeeded" ? { providerReference: `ch_${attemptId}` } : {}),
  },
});
const voidIt: PaymentCommand = { type: "VoidPayment", data: { reason: "reservation-cancelled", now: T2 } };
const refund: PaymentCommand = {
  type: "RefundPayment",
  data: { refundId: "rf1", reason: "reservation-cancelled", now: T2 },
};

const histories: Record<PaymentStatus, PaymentEvent[]> = {
  pending: [requestedEvent()],
  paid: [requestedEvent(), succeeded()],
  voided: [requestedEvent(), voided],
  refunded: [requestedEvent(), succeeded(), refunded()],
};
const inStatus = (status: PaymentStatus) => given(...histories[status]);

const stateOf = (...history: PaymentEvent[]): Payment => {
  const state = fold(paymentDecider, history);
  if (state.status === "none") throw new Error("not requested");
  return state;
};

test("the fixture histories reach the status they are named after", () => {
  for (const [status, history] of Object.entries(histories)) expect(stateOf(...history).status).toBe(status);
});

describe("RequestPayment", () => {
  test("requests a pending payment for a reservation", () => {
    given().when(request()).then([requestedEvent()]);
  });

  test("a zero amount settles at once without a provider", () => {
    given()
      .when(request(0))
      .then([requestedEvent(0), { type: "PaymentSucceeded", data: { attemptId: ZERO_AMOUNT_ATTEMPT_ID, at: T0, provider: "none" } }]);
  });

  test("requesting an existing payment again changes nothing", () => {
    inStatus("pending").when(request()).thenNothing();
    inStatus("refunded").when(request()).thenNothing();
  });

  test.each([
    ["a negative amount", request(-1), "amount"],
    ["a fractional amount", request(1.5), "amount"],
    ["a currency that is not ISO 4217", request(100, "krw"), "currency"],
  ])("refuses %s", (_, command, field) => {
    given().when(command).thenThrows(InvalidCommandError, "invalid-command", { field });
  });

  test.each<[string, PaymentCommand]>([
    ["RecordPaymentAttempt", attempt("succeeded")],
    ["VoidPayment", voidIt],
    ["RefundPayment", refund],
  ])("%s on an unknown payment is refused as not found", (_, command) => {
    given().when(command).thenThrows(NotFoundError, "not-found", { aggregate: "payment" });
  });
});

describe("RecordPaymentAttempt", () => {
  test("a succeeded attempt pays a pending payment", () => {
    inStatus("pending").when(attempt("succeeded")).then([succeeded()]);
  });

  test("a declined attempt is recorded and the payment stays pending", () => {
    inStatus("pending")
      .when(attempt("declined", "a1", "card declined"))
      .then([declined()]);
  });

  test("a failed attempt (provider down) is recorded and the payment stays pending", () => {
    inStatus("pending")
      .when(attempt("failed", "a1", "provider unavailable"))
      .then([failed()]);
  });

  test(`a payment takes at most ${MAX_PAYMENT_ATTEMPTS} attempts: the next is refused, a repeat of a recorded one is not`, () => {
    const attempts = Array.from({ length: MAX_PAYMENT_ATTEMPTS }, (_, i) => declined(`a${i}`));
    given(requestedEvent(), ...attempts)
      .when(attempt("declined", "one-more", "card declined"))
      .thenThrows(TooManyPaymentAttemptsError, "too-many-payment-attempts", { limit: MAX_PAYMENT_ATTEMPTS });
    given(requestedEvent(), ...attempts)
      .when(attempt("declined", "a3", "card declined"))
      .then([]);
    given(requestedEvent(), ...attempts.slice(1))
      .when(attempt("succeeded", "last"))
      .then([succeeded("last")]);
  });

  test("a declined or failed attempt without a reason gets a default one", () => {
    inStatus("pending")
      .when(attempt("declined"))
      .then([{ type: "PaymentDeclined", data: { attemptId: "a1", at: T1, provider: "simulated", reason: "declined by the provider" } }]);
    inStatus("pending")
      .when(attempt("failed"))
      .then([{ type: "PaymentFailed", data: { attemptId: "a1", at: T1, provider: "simulated", reason: "the provider is unavailable" } }]);
  });

  test("a payment can be retried after a decline or a failure", () => {
    given(requestedEvent(), declined("a1"), failed("a2"))
      .when(attempt("succeeded", "a3"))
      .then([succeeded("a3")]);
  });

  test("recording the same attempt again changes nothing", () => {
    given(requestedEvent(), declined("a1")).when(attempt("declined", "a1")).thenNothing();
    inStatus("paid").when(attempt("succeeded", "a1")).thenNothing();
  });

  test.each(["succeeded", "declined", "failed"] as const)("a %s attempt on a paid payment changes nothing", (outcome) => {
    inStatus("paid").when(attempt(outcome, "a2")).thenNothing();
  });

  test.each(["voided", "refunded"] as const)("paying a %s payment is refused as not payable", (status) => {
    inStatus(status).when(attempt("succeeded", "a9")).thenThrows(PaymentNotPayableError, "payment-not-payable", { status });
  });

  test("a redelivered attempt that was recorded before the void changes nothing", () => {
    given(requestedEvent(), declined("a1"), voided).when(attempt("declined", "a1")).thenNothing();
  });
});

describe("VoidPayment", () => {
  test("voids a pending payment", () => {
    inStatus("pending").when(voidIt).then([voided]);
  });

  test("voids a payment after declined attempts", () => {
    given(requestedEvent(), declined()).when(voidIt).then([voided]);
  });

  test("voiding a voided payment changes nothing", () => {
    inStatus("voided").when(voidIt).thenNothing();
  });

  test.each(["paid", "refunded"] as const)("a %s payment cannot be voided (it must be refunded)", (status) => {
    inStatus(status).when(voidIt).thenThrows(InvalidTransitionError, "invalid-transition", { from: status });
  });
});

describe("RefundPayment", () => {
  test("refunds the whole amount of a paid payment", () => {
    inStatus("paid").when(refund).then([refunded()]);
  });

  test("refunds a zero-amount payment for zero", () => {
    given(requestedEvent(0), succeeded())
      .when(refund)
      .then([refunded(0)]);
  });

  test("refunding a refunded payment changes nothing", () => {
    inStatus("refunded").when(refund).thenNothing();
  });

  test.each(["pending", "voided"] as const)("a %s payment cannot be refunded", (status) => {
    inStatus(status).when(refund).thenThrows(InvalidTransitionError, "invalid-transition", { from: status });
  });
});

describe("evolve", () => {
  test("a requested payment is pending with no attempts", () => {
    expect(stateOf(requestedEvent())).toEqual({
      status: "pending",
      paymentId: RES,
      reservationId: RES,
      customerId: "alice",
      amount: 24_000,
      currency: "KRW",
      attempts: [],
      refund: null,
      requestedAt: T0,
      updatedAt: T0,
    });
  });

  test("records every attempt in order, with its outcome and reason", () => {
    const p = stateOf(requestedEvent(), declined("a1"), failed("a2"), succeeded("a3", T2));
    expect(p.status).toBe("paid");
    expect(p.updatedAt).toBe(T2);
    expect(p.attempts).toEqual([
      { attemptId: "a1", at: T1, outcome: "declined", provider: "simulated", reason: "card declined" },
      { attemptId: "a2", at: T1, outcome: "failed", provider: "simulated", reason: "provider unavailable" },
      { attemptId: "a3", at: T2, outcome: "succeeded", provider: "simulated" },
    ]);
  });

  test("declines and failures leave the payment pending", () => {
    expect(stateOf(requestedEvent(), declined("a1"), failed("a2")).status).toBe("pending");
  });

  test("void and refund are terminal and keep the refund", () => {
    expect(stateOf(requestedEvent(), voided)).toMatchObject({ status: "voided", updatedAt: T2 });
    expect(stateOf(...histories.refunded)).toMatchObject({
      status: "refunded",
      refund: { refundId: "rf1", amount: 24_000, at: T2, reason: "reservation-cancelled" },
    });
  });

  test("a zero amount is paid with a provider-less attempt", () => {
    const state = fold(paymentDecider, paymentDecider.decide(request(0), paymentDecider.initialState));
    expect(state).toMatchObject({ status: "paid", attempts: [{ outcome: "succeeded", provider: "none" }] });
  });

  test("ignores events before the payment was requested", () => {
    expect(fold(paymentDecider, [succeeded()])).toEqual({ status: "none" });
  });
});

describe("event schemas", () => {
  const samples: PaymentEvent[] = [requestedEvent(), succeeded(), declined(), failed(), voided, refunded()];

  testRoundTrips(samples, paymentEventSchemas, parsePaymentEvent);

  testRejections(samples, parsePaymentEvent, [
    ["PaymentRequested", "a negative amount", { amount: -1 }],
    ["PaymentRequested", "a reservation id that is not a UUID", { reservationId: "r1" }],
    ["PaymentRequested", "a missing currency", { currency: undefined }],
    ["PaymentSucceeded", "an empty attempt id", { attemptId: "" }],
    ["PaymentSucceeded", "a missing provider", { provider: undefined }],
    ["PaymentDeclined", "a missing reason", { reason: undefined }],
    ["PaymentFailed", "a time that is not ISO 8601", { at: "now" }],
    ["PaymentVoided", "an empty reason", { reason: "" }],
    ["PaymentRefunded", "a fractional amount", { amount: 0.5 }],
    ["PaymentRefunded", "a missing refund id", { refundId: undefined }],
  ]);

  test("an unknown event type is rejected", () => {
    expect(() => parsePaymentEvent("PaymentLost", {})).toThrow(EventSchemaError);
  });
});
