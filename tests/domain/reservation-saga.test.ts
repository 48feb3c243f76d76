import { assert, describe, expect, test } from "vitest";
import { fold } from "../../src/domain/decider.js";
import { paymentDecider, type Payment, type PaymentEvent } from "../../src/domain/payment/index.js";
import { isRegistered, productDecider, type ProductEvent } from "../../src/domain/product/index.js";
import { isPlaced, reservationDecider, type ReservationEvent, type ReservationStatus } from "../../src/domain/reservation/index.js";
import {
  ENDED,
  SETTLED,
  decideReservationSaga,
  decideUnrecordedCharge,
  type SagaAction,
  type SagaDecision,
  type SagaPicture,
  type SagaStage,
} from "../../src/domain/processes/index.js";
import { isEqual } from "./given-when-then.js";
import { EXPIRES, PRODUCT, RES, T0, T1, placed } from "./reservation-fixtures.js";

const NOW = "2025-03-01T09:10:00.000Z";

interface Histories {
  readonly reservation: readonly ReservationEvent[];
  /** None: the payment was never requested. */
  readonly payment?: readonly PaymentEvent[];
  /** None: the saga has not read the product (yet). */
  readonly product?: readonly ProductEvent[];
}

interface Then {
  /** The saga asks for exactly these actions, and then for nothing more in this round. */
  then(actions: SagaAction[]): void;
  /** The saga asks for these actions, and to be asked again at `stage` with what they changed. */
  thenAgainAt(stage: SagaStage, actions: SagaAction[]): void;
  /** Nothing to do: the aggregates are already in line. */
  thenNothing(): void;
}

/**
 * given({ reservation, payment, product } histories).when(trigger, stage).then(actions) — the
 * histories are folded with the deciders into the picture the runner would load. Like the deciders'
 * helper, it also checks that the decision is pure: the picture is left untouched, and the same
 * picture decides the same thing twice.
 */
const given = (histories: Histories) => ({
  when(trigger: string, stage: SagaStage = "start"): Then {
    const reservation = fold(reservationDecider, histories.reservation);
    if (!isPlaced(reservation)) throw new Error("the given reservation was never placed");
    const product = histories.product === undefined ? undefined : fold(productDecider, histories.product);
    const picture: SagaPicture = {
      stage,
      trigger,
      reservation,
      payment: fold(paymentDecider, histories.payment ?? []),
      units:
        product === undefined
          ? { read: false }
          : { read: true, allocation: isRegistered(product) ? product.allocations.get(RES) : undefined },
      now: NOW,
    };
    const decide = (): SagaDecision => {
      const before = structuredClone(picture);
      const decision = decideReservationSaga(picture);
      expect(picture, "deciding must not modify the picture").toEqual(before);
      return decision;
    };
    const decision = decide();
    if (!isEqual(decision, decide())) assert.fail("the saga is not deterministic: the same picture decided differently");
    return {
      then: (actions) => expect(decision).toStrictEqual({ actions }),
      thenAgainAt: (next, actions) => expect(decision).toStrictEqual({ actions, next }),
      thenNothing: () => expect(decision).toStrictEqual({ actions: [] }),
    };
  },
});

// Reservation events

const withToken = placed({ paymentTokenProvided: true });
const free = placed({ unitPrice: 0, amount: 0 });
const rental = placed({ kind: "rental" });
const settled = (status: "confirmed" | "awaiting-acceptance" = "confirmed"): ReservationEvent => ({
  type: "ReservationPaymentSettled",
  data: { paymentId: RES, settledAt: T1, status },
});
const cancelled = (previousStatus: "placed" | "confirmed", paymentSettled: boolean): ReservationEvent => ({
  type: "ReservationCancelled",
  data: { cancelledAt: T1, cancelledBy: { id: "alice", role: "customer" }, previousStatus, paymentSettled },
});
const expired: ReservationEvent = { type: "ReservationExpired", data: { expiredAt: T1 } };
const rejected: ReservationEvent = { type: "ReservationRejected", data: { rejectedAt: T1, reason: "kitchen closed" } };
const started: ReservationEvent = { type: "RentalStarted", data: { startedAt: T1 } };
const returned: ReservationEvent = { type: "RentalReturned", data: { returnedAt: T1 } };
const completed: ReservationEvent = { type: "ReservationCompleted", data: { completedAt: T1 } };
const progressed = (step: string, stepIndex: number): ReservationEvent => ({
  type: "ReservationProgressed",
  data: { step, stepIndex, progressedAt: T1 },
});

// Payment events

const requested = (amount = 24_000): PaymentEvent => ({
  type: "PaymentRequested",
  data: { paymentId: RES, reservationId: RES, customerId: "alice", amount, currency: "KRW", requestedAt: T0 },
});
const succeeded: PaymentEvent = {
  type: "PaymentSucceeded",
  data: { attemptId: "a1", at: T1, provider: "simulated", providerReference: "ch_a1" },
};
const zeroAmountPaid: PaymentEvent = { type: "PaymentSucceeded", data: { attemptId: "zero-amount", at: T0, provider: "none" } };
const declined: PaymentEvent = {
  type: "PaymentDeclined",
  data: { attemptId: "a1", at: T1, provider: "simulated", reason: "card declined" },
};
const failed: PaymentEvent = {
  type: "PaymentFailed",
  data: { attemptId: "a1", at: T1, provider: "simulated", reason: "provider unavailable" },
};
const voided: PaymentEvent = { type: "PaymentVoided", data: { voidedAt: T1, reason: "reservation cancelled" } };
const refunded: PaymentEvent = {
  type: "PaymentRefunded",
  data: { refundId: "rf1", amount: 24_000, refundedAt: T1, reason: "reservation cancelled" },
};
const pending = [requested()];
const paid = [requested(), succeeded];

// Product events

const registered = (kind: "sale" | "rental" = "sale"): ProductEvent => ({
  type: "ProductRegistered",
  data: {
    productId: PRODUCT,
    sellerId: "seller-1",
    name: "Bulgogi",
    capacity: 5,
    unitPrice: 12_000,
    currency: "KRW",
    kind,
    sellerAcceptance: false,
    fulfilmentSteps: [],
    holdTtlSeconds: 900,
    registeredAt: T0,
  },
});
const held: ProductEvent = { type: "UnitsHeld", data: { reservationId: RES, quantity: 2, heldAt: T0, expiresAt: EXPIRES } };
const committed: ProductEvent = { type: "HeldUnitsCommitted", data: { reservationId: RES, quantity: 2, committedAt: T1 } };
const heldReleased: ProductEvent = {
  type: "HeldUnitsReleased",
  data: { reservationId: RES, quantity: 2, reason: "cancelled", releasedAt: T1 },
};
const unitsHeld = [registered(), held];
const unitsCommitted = [registered(), held, committed];

// Actions

const requestPayment = (amount = 24_000): SagaAction => ({
  type: "send",
  to: "payment",
  id: RES,
  command: { type: "RequestPayment", data: { paymentId: RES, reservationId: RES, customerId: "alice", amount, currency: "KRW", now: NOW } },
});
const settle: SagaAction = { type: "send", to: "reservation", id: RES, command: { type: "SettleReservationPayment", data: { now: NOW } } };
const commit: SagaAction = {
  type: "send",
  to: "product",
  id: PRODUCT,
  command: { type: "CommitHeldUnits", data: { reservationId: RES, now: NOW } },
};
const release = (reason: "cancelled" | "expired" | "rejected" | "returned"): SagaAction => ({
  type: "send",
  to: "product",
  id: PRODUCT,
  command: { type: "ReleaseUnits", data: { reservationId: RES, reason, now: NOW } },
});
const voidPayment = (status: ReservationStatus): SagaAction => ({
  type: "send",
  to: "payment",
  id: RES,
  command: { type: "VoidPayment", data: { reason: `reservation ${status}`, now: NOW } },
});
const refund = (status: ReservationStatus, amount = 24_000): SagaAction => ({
  type: "refund",
  paymentId: RES,
  refundOf: "refund",
  ...(amount > 0 ? { atProvider: { amount, currency: "KRW" } } : {}),
  record: { reason: `reservation ${status}`, now: NOW },
});
const releaseUnpaidHold: SagaAction = { type: "release-unpaid-hold", customerId: "alice", reservationId: RES };
const readUnits: SagaAction = { type: "read-units", productId: PRODUCT, reservationId: RES };
const chargeToken: SagaAction = { type: "charge-token", reservationId: RES };
const discardToken: SagaAction = { type: "discard-token", reservationId: RES };

describe("the status groups", () => {
  test("ended: cancelled, expired, rejected; settled: paid and not given back", () => {
    expect([...ENDED].sort()).toEqual(["cancelled", "expired", "rejected"]);
    expect([...SETTLED].sort()).toEqual(["awaiting-acceptance", "completed", "confirmed", "in-progress", "in-use"]);
  });
});

describe("placed: the payment", () => {
  test("requests the payment of a reservation that has none, then looks at the token", () => {
    given({ reservation: [placed()] })
      .when("ReservationPlaced")
      .thenAgainAt("token", [requestPayment()]);
  });

  test("requests the payment of a zero amount too (the payment settles itself)", () => {
    given({ reservation: [free] })
      .when("ReservationPlaced")
      .thenAgainAt("token", [requestPayment(0)]);
  });

  test("does nothing more while the payment is pending: the product is not even read", () => {
    given({ reservation: [placed()], payment: pending })
      .when("PaymentRequested")
      .thenNothing();
    given({ reservation: [placed()], payment: pending })
      .when("ReservationPlaced", "token")
      .thenNothing();
  });

  test("leaves a declined or failed payment pending: the customer may pay again", () => {
    given({ reservation: [placed()], payment: [requested(), declined] })
      .when("PaymentDeclined")
      .thenNothing();
    given({ reservation: [placed()], payment: [requested(), failed] })
      .when("PaymentFailed")
      .thenNothing();
  });

  test("refuses to go on when the requested payment does not show up", () => {
    expect(() => given({ reservation: [placed()] }).when("ReservationPlaced", "token")).toThrow(`payment ${RES} was not requested`);
  });
});

describe("placed with a token: the automatic charge", () => {
  test("charges the token on the placement, then looks at the payment again", () => {
    given({ reservation: [withToken], payment: pending })
      .when("ReservationPlaced")
      .thenAgainAt("settlement", [chargeToken]);
  });

  test("charges right after requesting the payment, in the same round", () => {
    given({ reservation: [withToken] })
      .when("ReservationPlaced")
      .thenAgainAt("token", [requestPayment()]);
    given({ reservation: [withToken], payment: pending })
      .when("ReservationPlaced", "token")
      .thenAgainAt("settlement", [chargeToken]);
  });

  test("does not charge again once an attempt was made (a redelivered placement)", () => {
    given({ reservation: [withToken], payment: [requested(), failed] })
      .when("ReservationPlaced")
      .thenNothing();
    given({ reservation: [withToken], payment: [requested(), declined] })
      .when("ReservationPlaced")
      .thenNothing();
  });

  test("charges only on the placement: other events leave the token to the retry schedule", () => {
    given({ reservation: [withToken], payment: pending })
      .when("PaymentRequested")
      .thenNothing();
    given({ reservation: [withToken], payment: pending })
      .when("PaymentFailed")
      .thenNothing();
  });

  test("forgets the token of a payment that is no longer pending, and settles", () => {
    given({ reservation: [withToken], payment: paid })
      .when("ReservationPlaced")
      .thenAgainAt("units", [discardToken, settle]);
  });

  test("forgets the token of a reservation already settled", () => {
    given({ reservation: [withToken, settled()], payment: paid, product: unitsCommitted })
      .when("ReservationPlaced", "token")
      .then([discardToken]);
  });

  test("forgets the token of a reservation that ended before it was charged, once (in the settlement)", () => {
    given({ reservation: [withToken, cancelled("placed", false)], payment: pending, product: unitsHeld })
      .when("ReservationPlaced", "token")
      .then([discardToken, release("cancelled"), voidPayment("cancelled")]);
  });
});

describe("paid: settle, then commit the units", () => {
  test("settles a placed reservation once its payment is paid, then looks at the units", () => {
    given({ reservation: [placed()], payment: paid })
      .when("PaymentSucceeded")
      .thenAgainAt("units", [settle]);
  });

  test("settles a zero amount paid at its request", () => {
    given({ reservation: [free], payment: [requested(0), zeroAmountPaid] })
      .when("PaymentRequested", "token")
      .thenAgainAt("units", [settle]);
  });

  test("reads the units of a settled reservation first, then commits the held ones", () => {
    given({ reservation: [placed(), settled()], payment: paid })
      .when("PaymentSucceeded", "units")
      .thenAgainAt("units", [readUnits]);
    given({ reservation: [placed(), settled()], payment: paid, product: unitsHeld })
      .when("PaymentSucceeded", "units")
      .then([commit]);
  });

  test("commits the units of a reservation awaiting the seller, and releases its unpaid hold on its own events", () => {
    given({ reservation: [placed({ sellerAcceptance: true }), settled("awaiting-acceptance")], payment: paid })
      .when("ReservationPaymentSettled")
      .thenAgainAt("units", [releaseUnpaidHold, readUnits]);
    given({ reservation: [placed({ sellerAcceptance: true }), settled("awaiting-acceptance")], payment: paid, product: unitsHeld })
      .when("ReservationPaymentSettled", "units")
      .then([commit]);
  });

  test("does nothing when the units are already committed, or were never held", () => {
    given({ reservation: [placed(), settled()], payment: paid, product: unitsCommitted })
      .when("ReservationPaymentSettled", "units")
      .thenNothing();
    given({ reservation: [placed(), settled()], payment: paid, product: [registered()] })
      .when("ReservationPaymentSettled", "units")
      .thenNothing();
    given({ reservation: [placed(), settled()], payment: paid, product: [] })
      .when("ReservationPaymentSettled", "units")
      .thenNothing();
  });

  test("keeps sold units committed through the steps to completion, and the payment paid", () => {
    const steps = placed({ fulfilmentSteps: ["cooking", "delivered"] });
    given({ reservation: [steps, settled(), progressed("cooking", 0)], payment: paid, product: unitsCommitted })
      .when("ReservationProgressed", "units")
      .thenNothing();
    given({
      reservation: [steps, settled(), progressed("cooking", 0), progressed("delivered", 1), completed],
      payment: paid,
      product: unitsCommitted,
    })
      .when("ReservationCompleted", "units")
      .thenNothing();
  });

  test("gives a rental’s units back when it is returned, and keeps its payment", () => {
    given({ reservation: [rental, settled(), started], payment: paid, product: [registered("rental"), held, committed] })
      .when("RentalStarted", "units")
      .thenNothing();
    given({
      reservation: [rental, settled(), started, returned, completed],
      payment: paid,
      product: [registered("rental"), held, committed],
    })
      .when("ReservationCompleted", "units")
      .then([release("returned")]);
  });
});

describe("ended: release the units, void or refund the payment", () => {
  test("reads the units first, after releasing the customer’s unpaid hold", () => {
    given({ reservation: [placed(), cancelled("placed", false)], payment: pending })
      .when("ReservationCancelled")
      .thenAgainAt("settlement", [releaseUnpaidHold, readUnits]);
  });

  test("requests the payment of a reservation cancelled before the saga saw it, to void it", () => {
    given({ reservation: [placed(), cancelled("placed", false)] })
      .when("ReservationCancelled")
      .thenAgainAt("token", [releaseUnpaidHold, requestPayment()]);
  });

  test("cancelled before payment: releases the held units, voids the payment", () => {
    given({ reservation: [placed(), cancelled("placed", false)], payment: pending, product: unitsHeld })
      .when("ReservationCancelled", "settlement")
      .then([release("cancelled"), voidPayment("cancelled")]);
  });

  test("expired unpaid: releases the held units, voids the payment", () => {
    given({ reservation: [placed(), expired], payment: pending, product: unitsHeld })
      .when("ReservationExpired", "settlement")
      .then([release("expired"), voidPayment("expired")]);
  });

  test("cancelled after payment: releases the committed units, refunds at the provider and on the payment", () => {
    given({ reservation: [placed(), settled(), cancelled("confirmed", true)], payment: paid, product: unitsCommitted })
      .when("ReservationCancelled", "settlement")
      .then([release("cancelled"), refund("cancelled")]);
  });

  test("rejected by the seller after payment: releases and refunds", () => {
    given({
      reservation: [placed({ sellerAcceptance: true }), settled("awaiting-acceptance"), rejected],
      payment: paid,
      product: unitsCommitted,
    })
      .when("ReservationRejected", "settlement")
      .then([release("rejected"), refund("rejected")]);
  });

  test("a payment that succeeded after its reservation was cancelled is refunded (compensation)", () => {
    given({ reservation: [placed(), cancelled("placed", false)], payment: paid, product: unitsHeld })
      .when("PaymentSucceeded", "settlement")
      .then([release("cancelled"), refund("cancelled")]);
  });

  test("a payment that won the race against a void is refunded when the saga looks again", () => {
    given({ reservation: [placed(), expired], payment: paid, product: [registered(), held, heldReleased] })
      .when("ReservationExpired", "settlement")
      .then([refund("expired")]);
  });

  test("a zero amount is refunded on the payment only: nothing went through the provider", () => {
    given({
      reservation: [free, settled(), cancelled("confirmed", true)],
      payment: [requested(0), zeroAmountPaid],
      product: unitsCommitted,
    })
      .when("ReservationCancelled", "settlement")
      .then([release("cancelled"), refund("cancelled", 0)]);
  });

  test("does nothing more once the units are released and the payment voided or refunded (redelivery)", () => {
    given({
      reservation: [placed(), cancelled("placed", false)],
      payment: [requested(), voided],
      product: [registered(), held, heldReleased],
    })
      .when("PaymentVoided", "settlement")
      .thenNothing();
    given({
      reservation: [placed(), settled(), cancelled("confirmed", true)],
      payment: [...paid, refunded],
      product: [registered(), held, heldReleased],
    })
      .when("PaymentRefunded", "settlement")
      .thenNothing();
  });

  test("still voids or refunds when the product is gone or never held the units", () => {
    given({ reservation: [placed(), cancelled("placed", false)], payment: pending, product: [] })
      .when("ReservationCancelled", "settlement")
      .then([voidPayment("cancelled")]);
    given({ reservation: [placed(), expired], payment: paid, product: [registered()] })
      .when("ReservationExpired", "settlement")
      .then([refund("expired")]);
  });

  test("forgets the token of an ended reservation on every event", () => {
    given({ reservation: [withToken, cancelled("placed", false)], payment: [requested(), failed], product: unitsHeld })
      .when("ReservationCancelled", "settlement")
      .then([discardToken, release("cancelled"), voidPayment("cancelled")]);
  });
});

describe("a charge the payment refused to record", () => {
  const payment = ((): Payment => {
    const state = fold(paymentDecider, [requested(), voided]);
    if (state.status === "none") throw new Error("not requested");
    return state;
  })();

  test("a successful charge of a payment voided or refunded meanwhile is refunded at the provider, once per attempt", () => {
    expect(decideUnrecordedCharge(payment, { attemptId: "a7", outcome: "succeeded", paymentNotPayable: true })).toStrictEqual({
      type: "refund",
      paymentId: RES,
      refundOf: "refund-late-charge:a7",
      atProvider: { amount: 24_000, currency: "KRW" },
    });
  });

  test("nothing to give back when no money was taken, or when the record failed for another reason", () => {
    expect(decideUnrecordedCharge(payment, { attemptId: "a7", outcome: "declined", paymentNotPayable: true })).toBeUndefined();
    expect(decideUnrecordedCharge(payment, { attemptId: "a7", outcome: "failed", paymentNotPayable: true })).toBeUndefined();
    expect(decideUnrecordedCharge(payment, { attemptId: "a7", outcome: "succeeded", paymentNotPayable: false })).toBeUndefined();
  });
});
