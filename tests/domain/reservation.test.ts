import { describe, expect, test } from "vitest";
import { fold } from "../../src/domain/decider.js";
import {
  CancelNotAllowedError,
  InvalidCommandError,
  InvalidTransitionError,
  NotFoundError,
  NotNextStepError,
  NotYetExpiredError,
} from "../../src/domain/errors.js";
import { EventSchemaError, type Actor } from "../../src/domain/events.js";
import {
  parseReservationEvent,
  reservationDecider,
  reservationEventSchemas,
  type Reservation,
  type ReservationCommand,
  type ReservationEvent,
  type ReservationStatus,
} from "../../src/domain/reservation/index.js";
import { testRejections, testRoundTrips } from "./event-schemas.js";
import { given as givenEvents } from "./given-when-then.js";
import { EXPIRES, PRODUCT, RES, T0, T1, TERMS, placed } from "./reservation-fixtures.js";

const T2 = "2025-03-01T09:30:00.000Z";
const CUSTOMER: Actor = { id: "alice", role: "customer" };

const given = (...history: ReservationEvent[]) =>
  givenEvents(reservationDecider, history, { validate: (e) => parseReservationEvent(e.type, e.data) });

const STEPS = ["cooking", "cooked", "picked-up", "delivered"];

// Events

const settled = (status: "confirmed" | "awaiting-acceptance" = "confirmed"): ReservationEvent => ({
  type: "ReservationPaymentSettled",
  data: { paymentId: RES, settledAt: T1, status },
});
const accepted: ReservationEvent = { type: "ReservationAccepted", data: { acceptedAt: T1 } };
const rejected = (reason?: string): ReservationEvent => ({
  type: "ReservationRejected",
  data: reason === undefined ? { rejectedAt: T1 } : { rejectedAt: T1, reason },
});
const progressed = (step: string, stepIndex: number): ReservationEvent => ({
  type: "ReservationProgressed",
  data: { step, stepIndex, progressedAt: T1 },
});
const completed: ReservationEvent = { type: "ReservationCompleted", data: { completedAt: T1 } };
const started: ReservationEvent = { type: "RentalStarted", data: { startedAt: T1 } };
const returned: ReservationEvent = { type: "RentalReturned", data: { returnedAt: T1 } };
const cancelled = (
  previousStatus: "placed" | "awaiting-acceptance" | "confirmed",
  paymentSettled: boolean,
  by: Actor = CUSTOMER,
  reason?: string,
): ReservationEvent => ({
  type: "ReservationCancelled",
  data: {
    cancelledAt: T1,
    cancelledBy: by,
    ...(reason === undefined ? {} : { reason }),
    previousStatus,
    paymentSettled,
  },
});
const expired: ReservationEvent = { type: "ReservationExpired", data: { expiredAt: T2 } };

// Commands

const place = (terms: Partial<Extract<ReservationCommand, { type: "PlaceReservation" }>["data"]> = {}): ReservationCommand => ({
  type: "PlaceReservation",
  data: {
    ...TERMS,
    holdTtlSeconds: 900,
    now: T0,
    ...terms,
  },
});
const settle: ReservationCommand = { type: "SettleReservationPayment", data: { now: T1 } };
const accept: ReservationCommand = { type: "AcceptReservation", data: { now: T1 } };
const reject = (reason?: string): ReservationCommand => ({
  type: "RejectReservation",
  data: reason === undefined ? { now: T1 } : { reason, now: T1 },
});
const progress = (step: string): ReservationCommand => ({ type: "ProgressReservation", data: { step, now: T1 } });
const start: ReservationCommand = { type: "StartRental", data: { now: T1 } };
const giveBack: ReservationCommand = { type: "ReturnRental", data: { now: T1 } };
const cancel = (by: Actor = CUSTOMER, reason?: string): ReservationCommand => ({
  type: "CancelReservation",
  data: reason === undefined ? { by, now: T1 } : { by, reason, now: T1 },
});
const expire = (now: string): ReservationCommand => ({ type: "ExpireReservation", data: { now } });

/** A history that leaves a sale reservation (with steps) or a rental in each status. */
const sale = { fulfilmentSteps: STEPS };
const rentalTerms = { kind: "rental" as const, quantity: 1, amount: 12_000 };
const histories: Record<ReservationStatus, ReservationEvent[]> = {
  placed: [placed(sale)],
  "awaiting-acceptance": [placed({ ...sale, sellerAcceptance: true }), settled("awaiting-acceptance")],
  confirmed: [placed(sale), settled()],
  "in-progress": [placed(sale), settled(), progressed("cooking", 0)],
  "in-use": [placed(rentalTerms), settled(), started],
  completed: [placed(sale), settled(), ...STEPS.map((s, i) => progressed(s, i)), completed],
  cancelled: [placed(sale), cancelled("placed", false)],
  expired: [placed(sale), expired],
  rejected: [placed({ ...sale, sellerAcceptance: true }), settled("awaiting-acceptance"), rejected()],
};
const inStatus = (status: ReservationStatus) => given(...histories[status]);
const otherThan = (...allowed: ReservationStatus[]) => (Object.keys(histories) as ReservationStatus[]).filter((s) => !allowed.includes(s));

const stateOf = (...history: ReservationEvent[]): Reservation => {
  const state = fold(reservationDecider, history);
  if (state.status === "none" || state.status === "abandoned") throw new Error("not placed");
  return state;
};

test("the fixture histories reach the status they are named after", () => {
  for (const [status, history] of Object.entries(histories)) expect(stateOf(...history).status).toBe(status);
});

describe("PlaceReservation", () => {
  test("places a reservation: amount = quantity * unitPrice, expires at now + holdTtlSeconds", () => {
    given().when(place()).then([placed()]);
  });

  test("records that a payment token came with it, never the token", () => {
    given()
      .when(place({ paymentTokenProvided: true, holdTtlSeconds: 60 }))
      .then([placed({ paymentTokenProvided: true, expiresAt: "2025-03-01T09:01:00.000Z" })]);
  });

  test("copies the product terms it was placed under", () => {
    given()
      .when(place({ kind: "rental", sellerAcceptance: true, fulfilmentSteps: STEPS, unitPrice: 0, currency: "USD" }))
      .then([placed({ kind: "rental", sellerAcceptance: true, fulfilmentSteps: STEPS, unitPrice: 0, amount: 0, currency: "USD" })]);
  });

  test("placing an existing reservation again is a retry and changes nothing", () => {
    given(placed())
      .when(place({ quantity: 9 }))
      .thenNothing();
  });

  test.each([
    ["a quantity of 0", { quantity: 0 }, "quantity"],
    ["a quantity over 10,000", { quantity: 10_001 }, "quantity"],
    ["a fractional price", { unitPrice: 0.5 }, "unitPrice"],
    ["a currency that is not ISO 4217", { currency: "Won" }, "currency"],
    ["an empty product name", { productName: "" }, "productName"],
    ["an invalid time", { now: "soon" }, "now"],
  ])("refuses %s", (_, terms, field) => {
    given().when(place(terms)).thenThrows(InvalidCommandError, "invalid-command", { field });
  });

  test.each<[string, ReservationCommand]>([
    ["SettleReservationPayment", settle],
    ["AcceptReservation", accept],
    ["RejectReservation", reject()],
    ["ProgressReservation", progress("cooking")],
    ["StartRental", start],
    ["ReturnRental", giveBack],
    ["CancelReservation", cancel()],
    ["ExpireReservation", expire(T2)],
  ])("%s on an unknown reservation is refused as not found", (_, command) => {
    given().when(command).thenThrows(NotFoundError, "not-found", { aggregate: "reservation" });
  });
});

describe("SettleReservationPayment", () => {
  test("confirms a placed reservation when the seller need not accept", () => {
    given(placed())
      .when(settle)
      .then([settled("confirmed")]);
  });

  test("awaits the seller when the product needs acceptance", () => {
    given(placed({ sellerAcceptance: true }))
      .when(settle)
      .then([settled("awaiting-acceptance")]);
  });

  test("a payment that lands after the hold TTL but before the expiry was processed still counts", () => {
    given(placed())
      .when({ type: "SettleReservationPayment", data: { now: T2 } })
      .then([{ type: "ReservationPaymentSettled", data: { paymentId: RES, settledAt: T2, status: "confirmed" } }]);
  });

  test.each(["awaiting-acceptance", "confirmed", "in-progress", "in-use", "completed", "rejected"] as const)(
    "settling again when %s changes nothing",
    (status) => inStatus(status).when(settle).thenNothing(),
  );

  test("settling again after a cancellation of a paid reservation changes nothing", () => {
    given(placed(), settled(), cancelled("confirmed", true)).when(settle).thenNothing();
  });

  test.each(["cancelled", "expired"] as const)(
    "a payment for a reservation %s before it was paid is refused, so the saga refunds it",
    (status) => inStatus(status).when(settle).thenThrows(InvalidTransitionError, "invalid-transition", { from: status }),
  );
});

describe("AcceptReservation", () => {
  test("confirms a reservation awaiting acceptance", () => {
    inStatus("awaiting-acceptance").when(accept).then([accepted]);
  });

  test.each(otherThan("awaiting-acceptance"))("is refused when %s", (status) => {
    inStatus(status).when(accept).thenThrows(InvalidTransitionError, "invalid-transition", { from: status });
  });
});

describe("RejectReservation", () => {
  test("rejects a reservation awaiting acceptance, with a reason", () => {
    inStatus("awaiting-acceptance")
      .when(reject("out of stock"))
      .then([rejected("out of stock")]);
  });

  test("the reason is optional", () => {
    inStatus("awaiting-acceptance").when(reject()).then([rejected()]);
  });

  test.each(otherThan("awaiting-acceptance"))("is refused when %s", (status) => {
    inStatus(status).when(reject()).thenThrows(InvalidTransitionError, "invalid-transition", { from: status });
  });
});

describe("ProgressReservation", () => {
  test("the first step starts fulfilment of a confirmed reservation", () => {
    inStatus("confirmed")
      .when(progress("cooking"))
      .then([progressed("cooking", 0)]);
  });

  test("each next step moves fulfilment on", () => {
    inStatus("in-progress")
      .when(progress("cooked"))
      .then([progressed("cooked", 1)]);
  });

  test("the last step completes the reservation", () => {
    given(placed(sale), settled(), progressed("cooking", 0), progressed("cooked", 1), progressed("picked-up", 2))
      .when(progress("delivered"))
      .then([progressed("delivered", 3), completed]);
  });

  test("a single-step product completes on its only step", () => {
    given(placed({ fulfilmentSteps: ["handed-over"] }), settled())
      .when(progress("handed-over"))
      .then([progressed("handed-over", 0), completed]);
  });

  test("a step that is not the next one is refused and names the expected step", () => {
    inStatus("in-progress")
      .when(progress("delivered"))
      .thenThrows(NotNextStepError, "not-next-step", { step: "delivered", expected: "cooked" });
    inStatus("confirmed")
      .when(progress("nonsense"))
      .thenThrows(NotNextStepError, "not-next-step", { step: "nonsense", expected: "cooking" });
  });

  test("an earlier step is refused", () => {
    given(placed(sale), settled(), progressed("cooking", 0), progressed("cooked", 1))
      .when(progress("cooking"))
      .thenThrows(NotNextStepError, "not-next-step", { expected: "picked-up" });
  });

  test("repeating the step just completed is a retry and changes nothing", () => {
    inStatus("in-progress").when(progress("cooking")).thenNothing();
    inStatus("completed").when(progress("delivered")).thenNothing();
  });

  test("a product without steps has no next step", () => {
    given(placed(), settled()).when(progress("cooking")).thenThrows(NotNextStepError, "not-next-step", { expected: null });
  });

  test("rentals are started and returned, not progressed", () => {
    given(placed({ ...rentalTerms, fulfilmentSteps: ["delivered"] }), settled())
      .when(progress("delivered"))
      .thenThrows(InvalidTransitionError, "invalid-transition");
  });

  test.each(otherThan("confirmed", "in-progress"))("is refused when %s", (status) => {
    inStatus(status).when(progress("cooking")).thenThrows(InvalidTransitionError, "invalid-transition", { from: status });
  });
});

describe("StartRental", () => {
  const rental = (...rest: ReservationEvent[]) => given(placed(rentalTerms), ...rest);

  test("starts a confirmed rental", () => {
    rental(settled()).when(start).then([started]);
  });

  test("starting a rental in use again changes nothing", () => {
    rental(settled(), started).when(start).thenNothing();
  });

  test("an unpaid rental cannot start", () => {
    rental().when(start).thenThrows(InvalidTransitionError, "invalid-transition", { from: "placed" });
  });

  test("a rental awaiting acceptance cannot start", () => {
    given(placed({ ...rentalTerms, sellerAcceptance: true }), settled("awaiting-acceptance"))
      .when(start)
      .thenThrows(InvalidTransitionError, "invalid-transition", { from: "awaiting-acceptance" });
  });

  test.each<[string, ReservationEvent[]]>([
    ["completed", [settled(), started, returned, completed]],
    ["cancelled", [cancelled("placed", false)]],
    ["expired", [expired]],
  ])("a rental that is %s cannot start", (status, rest) => {
    rental(...rest)
      .when(start)
      .thenThrows(InvalidTransitionError, "invalid-transition", { from: status });
  });

  test("a sale cannot be started", () => {
    inStatus("confirmed").when(start).thenThrows(InvalidTransitionError, "invalid-transition", { reason: "not a rental" });
  });
});

describe("ReturnRental", () => {
  const rental = (...rest: ReservationEvent[]) => given(placed(rentalTerms), ...rest);

  test("returning a rental in use completes it", () => {
    rental(settled(), started).when(giveBack).then([returned, completed]);
  });

  test("returning a returned rental changes nothing", () => {
    rental(settled(), started, returned, completed).when(giveBack).thenNothing();
  });

  test.each<[string, ReservationEvent[]]>([
    ["placed", []],
    ["confirmed", [settled()]],
    ["cancelled", [cancelled("placed", false)]],
  ])("a rental that is %s cannot be returned", (status, rest) => {
    rental(...rest)
      .when(giveBack)
      .thenThrows(InvalidTransitionError, "invalid-transition", { from: status });
  });

  test("a sale cannot be returned", () => {
    inStatus("completed").when(giveBack).thenThrows(InvalidTransitionError, "invalid-transition");
  });
});

describe("CancelReservation", () => {
  test("cancels a placed reservation; no payment was settled, so the saga voids it", () => {
    inStatus("placed")
      .when(cancel())
      .then([cancelled("placed", false)]);
  });

  test("cancels a reservation awaiting acceptance; the payment was settled, so the saga refunds it", () => {
    inStatus("awaiting-acceptance")
      .when(cancel())
      .then([cancelled("awaiting-acceptance", true)]);
  });

  test("cancels a confirmed reservation; the saga refunds it", () => {
    inStatus("confirmed")
      .when(cancel())
      .then([cancelled("confirmed", true)]);
  });

  test("records who cancelled and why", () => {
    const admin: Actor = { id: "root", role: "admin" };
    inStatus("placed")
      .when(cancel(admin, "duplicate order"))
      .then([cancelled("placed", false, admin, "duplicate order")]);
  });

  test("cancelling a cancelled reservation changes nothing", () => {
    inStatus("cancelled").when(cancel()).thenNothing();
  });

  test.each(["in-progress", "in-use", "completed", "expired", "rejected"] as const)("is refused when %s", (status) => {
    inStatus(status).when(cancel()).thenThrows(CancelNotAllowedError, "cancel-not-allowed", { status });
  });
});

describe("ExpireReservation", () => {
  test("expires a placed reservation once its hold TTL has passed", () => {
    inStatus("placed").when(expire(T2)).then([expired]);
  });

  test("expires exactly at expiresAt", () => {
    inStatus("placed")
      .when(expire(EXPIRES))
      .then([{ type: "ReservationExpired", data: { expiredAt: EXPIRES } }]);
  });

  test("compares instants, not strings (offsets are honoured)", () => {
    inStatus("placed")
      .when(expire("2025-03-01T18:15:00+09:00"))
      .then([{ type: "ReservationExpired", data: { expiredAt: "2025-03-01T18:15:00+09:00" } }]);
  });

  test("an expiry that arrives early is refused so that it is rescheduled", () => {
    inStatus("placed").when(expire(T1)).thenThrows(NotYetExpiredError, "not-yet-expired", { expiresAt: EXPIRES, now: T1 });
  });

  test.each(otherThan("placed"))("a late expiry of a reservation that is %s changes nothing", (status) => {
    inStatus(status).when(expire(T2)).thenNothing();
  });

  test("an invalid time is refused", () => {
    inStatus("placed").when(expire("later")).thenThrows(InvalidCommandError, "invalid-command");
  });
});

describe("AbandonReservation", () => {
  const abandon = (now = T2): ReservationCommand => ({
    type: "AbandonReservation",
    data: { reservationId: RES, productId: PRODUCT, now },
  });
  const abandoned: ReservationEvent = {
    type: "ReservationAbandoned",
    data: { reservationId: RES, productId: PRODUCT, abandonedAt: T2 },
  };

  test("closes a reservation stream that was never placed", () => {
    given().when(abandon()).then([abandoned]);
  });

  test.each(Object.keys(histories) as ReservationStatus[])(
    "changes nothing once the reservation was placed (%s): the placement won the race",
    (status) => {
      inStatus(status).when(abandon()).thenNothing();
    },
  );

  test("abandoning twice changes nothing", () => {
    given(abandoned).when(abandon()).thenNothing();
  });

  test("an abandoned reservation can never be placed", () => {
    given(abandoned)
      .when({
        type: "PlaceReservation",
        data: {
          reservationId: RES,
          productId: PRODUCT,
          productName: "Seat",
          customerId: CUSTOMER.id,
          sellerId: "bob",
          quantity: 1,
          unitPrice: 100,
          currency: "KRW",
          kind: "sale",
          sellerAcceptance: false,
          fulfilmentSteps: [],
          holdTtlSeconds: 900,
          now: T2,
        },
      })
      .thenThrows(InvalidTransitionError, "invalid-transition");
  });

  test("every other command on an abandoned reservation finds nothing", () => {
    given(abandoned).when(expire(T2)).thenThrows(NotFoundError, "not-found");
  });

  test("an invalid time is refused", () => {
    given().when(abandon("later")).thenThrows(InvalidCommandError, "invalid-command");
  });
});

describe("evolve", () => {
  test("a placed reservation carries its terms, its payment id and no step yet", () => {
    expect(stateOf(placed({ paymentTokenProvided: true }))).toEqual({
      status: "placed",
      ...TERMS,
      paymentId: RES,
      amount: 24_000,
      paymentTokenProvided: true,
      paymentSettled: false,
      currentStep: null,
      expiresAt: EXPIRES,
      createdAt: T0,
      updatedAt: T0,
    });
  });

  test("follows the sale lifecycle with acceptance and steps", () => {
    const history: ReservationEvent[] = [placed({ ...sale, sellerAcceptance: true })];
    const expectations: Array<[ReservationEvent, Partial<Reservation>]> = [
      [settled("awaiting-acceptance"), { status: "awaiting-acceptance", paymentSettled: true, updatedAt: T1 }],
      [accepted, { status: "confirmed" }],
      [progressed("cooking", 0), { status: "in-progress", currentStep: "cooking" }],
      [progressed("cooked", 1), { status: "in-progress", currentStep: "cooked" }],
      [progressed("picked-up", 2), { status: "in-progress", currentStep: "picked-up" }],
      [progressed("delivered", 3), { status: "in-progress", currentStep: "delivered" }],
      [completed, { status: "completed", currentStep: "delivered" }],
    ];
    for (const [event, expected] of expectations) {
      history.push(event);
      expect(stateOf(...history), event.type).toMatchObject(expected);
    }
  });

  test("follows the rental lifecycle", () => {
    expect(stateOf(placed(rentalTerms), settled(), started).status).toBe("in-use");
    expect(stateOf(placed(rentalTerms), settled(), started, returned).status).toBe("in-use");
    expect(stateOf(placed(rentalTerms), settled(), started, returned, completed).status).toBe("completed");
  });

  test("ends in cancelled, expired or rejected", () => {
    expect(stateOf(placed(), cancelled("placed", false))).toMatchObject({ status: "cancelled", paymentSettled: false });
    expect(stateOf(placed(), expired)).toMatchObject({ status: "expired", updatedAt: T2 });
    expect(stateOf(...histories.rejected)).toMatchObject({ status: "rejected", paymentSettled: true });
  });

  test("ignores events before the reservation was placed", () => {
    expect(fold(reservationDecider, [settled()])).toEqual({ status: "none" });
  });
});

describe("event schemas", () => {
  const samples: ReservationEvent[] = [
    placed({ fulfilmentSteps: STEPS, paymentTokenProvided: true }),
    settled("awaiting-acceptance"),
    accepted,
    rejected("closed"),
    progressed("cooking", 0),
    started,
    returned,
    completed,
    cancelled("confirmed", true, { id: "saga", role: "system" }, "why"),
    expired,
    { type: "ReservationAbandoned", data: { reservationId: RES, productId: PRODUCT, abandonedAt: T2 } },
  ];

  testRoundTrips(samples, reservationEventSchemas, parseReservationEvent);

  test("optional fields may be absent", () => {
    expect(parseReservationEvent("ReservationRejected", { rejectedAt: T1 })).toEqual(rejected());
    expect(parseReservationEvent("ReservationCancelled", cancelled("placed", false).data)).toEqual(cancelled("placed", false));
  });

  testRejections(samples, parseReservationEvent, [
    ["ReservationPlaced", "an amount other than quantity * unitPrice", { amount: 1 }],
    ["ReservationPlaced", "a quantity of 0", { quantity: 0, amount: 0 }],
    ["ReservationPlaced", "a product id that is not a UUID", { productId: "p1" }],
    ["ReservationPlaced", "an unknown kind", { kind: "gift" }],
    ["ReservationPlaced", "a missing expiry", { expiresAt: undefined }],
    ["ReservationPlaced", "a token flag that is not boolean", { paymentTokenProvided: "tok_ok" }],
    ["ReservationPaymentSettled", "a status a payment cannot lead to", { status: "completed" }],
    ["ReservationAccepted", "a missing time", { acceptedAt: undefined }],
    ["ReservationRejected", "an empty reason", { reason: "" }],
    ["ReservationProgressed", "a negative step index", { stepIndex: -1 }],
    ["ReservationProgressed", "a step name over 40 characters", { step: "x".repeat(41) }],
    ["RentalStarted", "a time that is not ISO 8601", { startedAt: "1 March" }],
    ["RentalReturned", "a numeric time", { returnedAt: 0 }],
    ["ReservationCompleted", "a missing time", { completedAt: undefined }],
    ["ReservationCancelled", "an unknown role", { cancelledBy: { id: "x", role: "robot" } }],
    ["ReservationCancelled", "a status a cancel cannot come from", { previousStatus: "in-use" }],
    ["ReservationCancelled", "no payment flag", { paymentSettled: undefined }],
    ["ReservationExpired", "a missing time", { expiredAt: undefined }],
  ]);

  test("an unknown event type is rejected", () => {
    expect(() => parseReservationEvent("ReservationTeleported", {})).toThrow(EventSchemaError);
  });
});
