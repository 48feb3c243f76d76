/**
 * The crash test's checker on hand-made logs: a healthy saga passes, and each kind of damage a
 * crash could leave (a second charge, a missing refund, units that leak or overbook, a lost or
 * doubled notification, a stale My Page) is reported. Proves the invariants are not vacuous.
 */
import { randomUUID } from "node:crypto";
import { describe, expect, it } from "vitest";
import { type EventLog, type LoggedEvent, buildModel, checkInvariants, compareMyPageWithLog, pendingWatchdogWork } from "./invariants.js";

const T0 = Date.parse("2030-01-01T00:00:00.000Z");
const at = (seconds: number): string => new Date(T0 + seconds * 1000).toISOString();
const NOW = new Date(T0 + 60_000);

class LogBuilder {
  private readonly streams = new Map<string, LoggedEvent[]>();
  private position = 0n;

  append(streamId: string, type: string, data: unknown, eventId: string = randomUUID()): string {
    const list = this.streams.get(streamId) ?? [];
    this.position += 100n;
    list.push({ streamId, revision: list.length, eventId, type, data, position: this.position, created: new Date(T0) });
    this.streams.set(streamId, list);
    return eventId;
  }

  remove(streamId: string, type: string): void {
    const list = this.streams.get(streamId) ?? [];
    const index = list.findIndex((event) => event.type === type);
    if (index >= 0) list.splice(index, 1);
  }

  build(): EventLog {
    return {
      head: this.position,
      total: [...this.streams.values()].reduce((n, list) => n + list.length, 0),
      streams: this.streams,
      typeCounts: {},
      tokenLeaks: [],
    };
  }
}

interface Flow {
  readonly log: LogBuilder;
  readonly productId: string;
  readonly reservationId: string;
  /** Records a notification for a causing event (with its delivery on the log channel). */
  notify(causeStream: string, causeEventId: string, causeType: string, kind: string): void;
}

const registration = (productId: string) => ({
  productId,
  sellerId: "seller-1",
  name: "Seats",
  capacity: 2,
  unitPrice: 1000,
  currency: "KRW",
  kind: "sale",
  sellerAcceptance: false,
  fulfilmentSteps: [],
  holdTtlSeconds: 10,
  registeredAt: at(0),
});

/** A product (capacity 2) and one reservation placed without a token, paid and confirmed, notified as the spec says. */
const paidReservation = (): Flow => {
  const log = new LogBuilder();
  const productId = randomUUID();
  const reservationId = randomUUID();
  const product = `product-${productId}`;
  const reservation = `reservation-${reservationId}`;
  const payment = `payment-${reservationId}`;
  const notify = (causeStream: string, causeEventId: string, causeType: string, kind: string): void => {
    const notificationId = randomUUID();
    const forSeller = kind.startsWith("seller.");
    log.append(`notification-${reservationId}`, "NotificationRecorded", {
      notificationId,
      audience: forSeller ? "seller" : "customer",
      customerId: "customer-1",
      sellerId: "seller-1",
      reservationId,
      kind,
      message: kind,
      createdAt: at(1),
      channels: ["log"],
      cause: { streamId: causeStream, revision: 0, eventId: causeEventId, type: causeType },
    });
    log.append(`notification-${reservationId}`, "NotificationDelivered", {
      notificationId,
      channel: "log",
      deliveredAt: at(2),
      attempts: 1,
    });
  };
  log.append(product, "ProductRegistered", registration(productId));
  log.append(product, "UnitsHeld", { reservationId, quantity: 1, heldAt: at(1), expiresAt: at(11) });
  const placed = log.append(reservation, "ReservationPlaced", {
    reservationId,
    productId,
    productName: "Seats",
    customerId: "customer-1",
    sellerId: "seller-1",
    quantity: 1,
    unitPrice: 1000,
    amount: 1000,
    currency: "KRW",
    kind: "sale",
    sellerAcceptance: false,
    fulfilmentSteps: [],
    placedAt: at(1),
    expiresAt: at(11),
    paymentTokenProvided: false,
  });
  notify(reservation, placed, "ReservationPlaced", "reservation.placed");
  log.append(payment, "PaymentRequested", {
    paymentId: reservationId,
    reservationId,
    customerId: "customer-1",
    amount: 1000,
    currency: "KRW",
    requestedAt: at(2),
  });
  const succeeded = log.append(payment, "PaymentSucceeded", { attemptId: "a1", at: at(3), provider: "simulated" });
  notify(payment, succeeded, "PaymentSucceeded", "payment.paid");
  const settled = log.append(reservation, "ReservationPaymentSettled", { paymentId: reservationId, settledAt: at(4), status: "confirmed" });
  notify(reservation, settled, "ReservationPaymentSettled", "reservation.confirmed");
  log.append(product, "HeldUnitsCommitted", { reservationId, quantity: 1, committedAt: at(5) });
  return { log, productId, reservationId, notify };
};

type PaidReservation = ReturnType<typeof paidReservation>;

const BOTH_TOLD = ["reservation.cancelled", "seller.reservation.cancelled"];

/** The customer cancels the paid reservation; a notification of each of `kinds` is recorded for it. */
const cancelPaid = ({ log, reservationId, notify }: PaidReservation, kinds: readonly string[]): string => {
  const cancelled = log.append(`reservation-${reservationId}`, "ReservationCancelled", {
    cancelledAt: at(6),
    cancelledBy: { id: "customer-1", role: "customer" },
    previousStatus: "confirmed",
    paymentSettled: true,
  });
  for (const kind of kinds) notify(`reservation-${reservationId}`, cancelled, "ReservationCancelled", kind);
  return cancelled;
};

/** The saga's answer to the cancellation: the unit given back, then each refund of `refundIds`, each notified. */
const releaseAndRefund = ({ log, productId, reservationId, notify }: PaidReservation, refundIds: readonly string[]): void => {
  log.append(`product-${productId}`, "CommittedUnitsReleased", { reservationId, quantity: 1, reason: "cancelled", releasedAt: at(7) });
  for (const refundId of refundIds) {
    const refunded = log.append(`payment-${reservationId}`, "PaymentRefunded", {
      refundId,
      amount: 1000,
      refundedAt: at(7),
      reason: "cancelled",
    });
    notify(`payment-${reservationId}`, refunded, "PaymentRefunded", "payment.refunded");
  }
};

/** Units of the flow's product held under a reservation id no reservation stream has. */
const holdForNoReservation = ({ log, productId }: PaidReservation, quantity: number, heldAt: string, expiresAt: string): void => {
  log.append(`product-${productId}`, "UnitsHeld", { reservationId: randomUUID(), quantity, heldAt, expiresAt });
};

/** A hold the reservation places on a product it is not for: all 10 units of `other`, from 1 s until `expiresAt`. */
const holdAllOfAnotherProduct = ({ log, reservationId }: PaidReservation, other: string, expiresAt: string): void => {
  log.append(`product-${other}`, "ProductRegistered", { ...registration(other), capacity: 10 });
  log.append(`product-${other}`, "UnitsHeld", { reservationId, quantity: 10, heldAt: at(1), expiresAt });
};

const check = (log: LogBuilder) => checkInvariants(buildModel(log.build()), { now: NOW });
const names = (log: LogBuilder): string[] => [...new Set(check(log).map((violation) => violation.invariant))].sort();

describe("crash invariants on hand-made logs", () => {
  it("a healthy paid reservation passes", () => {
    expect(check(paidReservation().log)).toEqual([]);
  });

  it("a healthy cancel after payment (release + one refund + notifications) passes", () => {
    const paid = paidReservation();
    cancelPaid(paid, BOTH_TOLD);
    releaseAndRefund(paid, ["r1"]);
    expect(check(paid.log)).toEqual([]);
  });

  it("reports a cancellation the seller was not told of", () => {
    const paid = paidReservation();
    cancelPaid(paid, ["reservation.cancelled"]);
    const violations = check(paid.log).filter((violation) => violation.invariant === "notifications.missing");
    expect(violations.map((violation) => violation.message)).toEqual([expect.stringContaining("seller.reservation.cancelled")]);
  });

  it("reports a second successful charge", () => {
    const { log, reservationId } = paidReservation();
    log.append(`payment-${reservationId}`, "PaymentSucceeded", { attemptId: "a2", at: at(6), provider: "simulated" });
    expect(names(log)).toContain("payment.charges");
  });

  it("reports a cancelled paid reservation without its refund, and units it never gave back", () => {
    const paid = paidReservation();
    cancelPaid(paid, BOTH_TOLD);
    expect(names(paid.log)).toEqual(["payment.refunds", "units.accounting", "units.allocation"]);
  });

  it("reports two refunds", () => {
    const paid = paidReservation();
    cancelPaid(paid, BOTH_TOLD);
    releaseAndRefund(paid, ["r1", "r2"]);
    expect(names(paid.log)).toEqual(["payment.refunds"]);
  });

  it("reports a missing, a doubled and an unexpected notification, and a missing delivery outcome", () => {
    const missing = paidReservation();
    missing.log.remove(`notification-${missing.reservationId}`, "NotificationRecorded");
    expect(names(missing.log)).toContain("notifications.missing");

    const doubled = paidReservation();
    cancelPaid(doubled, ["reservation.cancelled", "reservation.cancelled"]);
    expect(names(doubled.log)).toContain("notifications.duplicate");

    const unexpected = paidReservation();
    const requested = unexpected.log.build().streams.get(`payment-${unexpected.reservationId}`)?.[0]?.eventId ?? "";
    unexpected.notify(`payment-${unexpected.reservationId}`, requested, "PaymentRequested", "payment.paid");
    expect(names(unexpected.log)).toEqual(["notifications.unexpected"]);

    const undelivered = paidReservation();
    undelivered.log.remove(`notification-${undelivered.reservationId}`, "NotificationDelivered");
    expect(names(undelivered.log)).toEqual(["notifications.delivery"]);
  });

  it("reports more units allocated than the capacity at any point", () => {
    const flow = paidReservation();
    holdForNoReservation(flow, 2, at(50), at(1000));
    expect(names(flow.log)).toContain("units.capacity");
  });

  it("counts an orphaned hold until its deadline, and reports it once the watchdog should have released it", () => {
    const pending = paidReservation();
    holdForNoReservation(pending, 1, at(50), at(1000));
    expect(check(pending.log)).toEqual([]);
    expect(pendingWatchdogWork(buildModel(pending.log.build()), new Date(T0 + 2_000_000)).map((work) => work.what)).toEqual(["abandon"]);

    const overdue = paidReservation();
    holdForNoReservation(overdue, 1, at(20), at(30));
    expect(names(overdue.log)).toEqual(["units.accounting", "units.orphan-hold"]);
  });

  it("treats a hold under a reservation placed on another product as an orphan: counted until its deadline, then reported", () => {
    const pending = paidReservation();
    const other = randomUUID();
    holdAllOfAnotherProduct(pending, other, at(1000));
    expect(check(pending.log)).toEqual([]);
    expect(pendingWatchdogWork(buildModel(pending.log.build()), new Date(T0 + 2_000_000))).toMatchObject([
      { what: "release-abandoned", reservationId: pending.reservationId, productId: other },
    ]);

    const overdue = paidReservation();
    holdAllOfAnotherProduct(overdue, other, at(11));
    const violations = check(overdue.log);
    expect(violations.map((violation) => violation.invariant).sort()).toEqual(["units.accounting", "units.orphan-hold"]);
    expect(violations.find((violation) => violation.invariant === "units.orphan-hold")?.message).toContain(
      `is on product-${overdue.productId}`,
    );

    // Released by the watchdog: nothing to report.
    overdue.log.append(`product-${other}`, "HeldUnitsReleased", {
      reservationId: overdue.reservationId,
      quantity: 10,
      reason: "abandoned",
      releasedAt: at(12),
    });
    expect(check(overdue.log)).toEqual([]);
  });

  it("reports a reservation the saga never settled after its payment succeeded", () => {
    const { log, reservationId, productId } = paidReservation();
    log.remove(`reservation-${reservationId}`, "ReservationPaymentSettled");
    log.remove(`product-${productId}`, "HeldUnitsCommitted");
    expect(names(log)).toContain("payment.not-settled");
  });

  it("compares My Page with the log", () => {
    const { log, reservationId, productId } = paidReservation();
    const model = buildModel(log.build());
    const entry = {
      reservationId,
      productId,
      quantity: 1,
      amount: 1000,
      reservationStatus: "confirmed",
      paymentStatus: "paid",
      currentStep: null,
    };
    expect(compareMyPageWithLog(model, "customer-1", { customerId: "customer-1", reservations: [entry] })).toEqual([]);
    expect(
      compareMyPageWithLog(model, "customer-1", {
        customerId: "customer-1",
        reservations: [{ ...entry, reservationStatus: "placed", paymentStatus: "pending" }],
      }).map((v) => v.invariant),
    ).toEqual(["mypage.stale"]);
    expect(compareMyPageWithLog(model, "customer-1", { customerId: "customer-1", reservations: [] }).map((v) => v.invariant)).toEqual([
      "mypage.stale",
    ]);
  });
});
