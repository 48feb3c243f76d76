/**
 * Reference 004, musical seats (DESIGN §7): capacity = seats, reservations come with a payment
 * token and are charged automatically. Over-capacity is refused; cancelling refunds and gives the
 * seats back; cancelling again changes nothing. Also the declined-card path: a reservation whose
 * token is declined keeps a pending payment (with the declined attempt) that the customer pays
 * explicitly: 402 with a declined card, 200 with a good one.
 */
import { describe, expect, it } from "vitest";
import { useReferenceSystem } from "./reference.js";
import { expectProblem, expectStatus, staysTrue, eventually, type ProductResponse, type ReservationResponse } from "./support.js";

const app = useReferenceSystem("004-musical");

const PRICE = 120_000;

describe("004 musical seats: capacity 100, reservations with a payment token", () => {
  let show: ProductResponse;
  let first: ReservationResponse;
  let second: ReservationResponse;

  it("a theatre registers 100 seats", async () => {
    show = await app.createProduct({ name: "Les Misérables, Saturday 19:00", capacity: 100, unitPrice: PRICE });
    expect(show).toMatchObject({ capacity: 100, available: 100 });
  });

  it("reserves 10 and 15 seats with tok_ok; 200 seats are refused with the availability", async () => {
    first = await app.reserve(show.id, 10, { paymentToken: "tok_ok" });
    second = await app.reserve(show.id, 15, { paymentToken: "tok_ok" });
    expect(first).toMatchObject({ quantity: 10, amount: 10 * PRICE });
    expect(second).toMatchObject({ quantity: 15, amount: 15 * PRICE });

    const refused = expectProblem(await app.tryReserve(show.id, 200, { paymentToken: "tok_ok" }), 409, "insufficient-availability");
    expect(refused.available).toBe(75);
    // The refusal changed nothing.
    expect((await app.getProduct(show.id)).available).toBe(75);
  });

  it("both are charged automatically: 75 seats available, all 25 committed, none held", async () => {
    await app.waitForProduct(show.id, { available: 75, held: 0, committed: 25, status: "available" });
    for (const reservation of [first, second]) {
      const payment = await app.waitForPayment(reservation.id, { status: "paid", amount: reservation.amount });
      expect(payment.attempts.map((attempt) => attempt.outcome)).toEqual(["succeeded"]);
      await app.waitForReservation(reservation.id, { status: "confirmed", paymentStatus: "paid" });
    }
  });

  it("2 notifications each (paid, confirmed); My Page shows both confirmed", async () => {
    for (const reservation of [first, second]) {
      await app.waitForNotifications(reservation.id, ["payment.paid", "reservation.confirmed"]);
    }
    await app.waitForMyPage(first.id, { reservationStatus: "confirmed", paymentStatus: "paid", quantity: 10 });
    await app.waitForMyPage(second.id, { reservationStatus: "confirmed", paymentStatus: "paid", quantity: 15 });
    const page = await app.myPage();
    expect(page.reservations.map((entry) => entry.reservationId)).toEqual([second.id, first.id]);
  });

  it("cancelling the first gives its seats back (85) and refunds it, with a cancellation and a refund notification", async () => {
    const cancelled = expectStatus(await app.command(first.id, "cancel", "alice"), 200);
    expect(cancelled.status).toBe("cancelled");
    await app.waitForProduct(show.id, { available: 85, held: 0, committed: 15 });
    await app.waitForPayment(first.id, { status: "refunded" });
    await app.waitForMyPage(first.id, { reservationStatus: "cancelled", paymentStatus: "refunded" });
    await app.waitForMyPage(second.id, { reservationStatus: "confirmed", paymentStatus: "paid" });
    await app.waitForNotifications(first.id, ["payment.paid", "reservation.confirmed", "reservation.cancelled", "payment.refunded"]);
    await app.waitForNotifications(second.id, ["payment.paid", "reservation.confirmed"]);
  });

  it("cancelling again answers 200 and changes nothing: same state, no new notification", async () => {
    const before = await app.getReservation(first.id);
    const again = expectStatus(await app.command(first.id, "cancel", "alice"), 200);
    expect(again).toEqual(before);
    await staysTrue(async () => {
      expect(await app.getReservation(first.id)).toEqual(before);
      expect(await app.getProduct(show.id)).toMatchObject({ available: 85, committed: 15, held: 0 });
      expect((await app.getPayment(first.id)).status).toBe("refunded");
      expect((await app.notifications(first.id)).map((item) => item.kind).sort()).toEqual(
        ["payment.paid", "payment.refunded", "reservation.cancelled", "reservation.confirmed"].sort(),
      );
    }, 2000);
  });
});

describe("004 musical seats: a declined card, a payment provider outage", () => {
  it("tok_declined leaves the payment pending with a declined attempt; 402 with tok_declined, 200 with tok_ok", async () => {
    const show = await app.createProduct({ name: "Cats, Sunday 14:00", capacity: 50, unitPrice: 90_000 });
    const reservation = await app.reserve(show.id, 2, { paymentToken: "tok_declined", as: "bob" });

    const declined = await eventually(async () => {
      const payment = await app.getPayment(reservation.id, "bob");
      expect(payment.status).toBe("pending");
      expect(payment.attempts.map((attempt) => attempt.outcome)).toEqual(["declined"]);
      return payment;
    });
    expect(declined.attempts[0]?.reason).toBeTruthy();
    expect((await app.getReservation(reservation.id, "bob")).status).toBe("placed");
    expect(await app.getProduct(show.id)).toMatchObject({ held: 2, committed: 0, available: 48 });
    // The customer is told to pay before the hold expires.
    await app.waitForNotifications(reservation.id, ["payment.declined"], "bob");
    await app.waitForMyPage(reservation.id, { reservationStatus: "placed", paymentStatus: "pending" }, "bob");

    const key = { "idempotency-key": `pay-${reservation.id}` };
    const refused = expectProblem(await app.pay(reservation.id, "tok_declined", "bob", key), 402, "payment-declined");
    expect(refused).toMatchObject({ paymentId: reservation.id, paymentStatus: "pending" });
    expect((await app.getPayment(reservation.id, "bob")).attempts.map((attempt) => attempt.outcome)).toEqual(["declined", "declined"]);
    // The same key again is a repeat: the first answer, and the provider is not asked again ...
    expectProblem(await app.pay(reservation.id, "tok_declined", "bob", key), 402, "payment-declined");
    // ... but the same key with another token is another request, refused without paying.
    const reused = expectProblem(await app.pay(reservation.id, "tok_ok", "bob", key), 422, "idempotency-key-reused");
    expect(reused).toMatchObject({ reservationId: reservation.id });
    expect((await app.getPayment(reservation.id, "bob")).attempts.map((attempt) => attempt.outcome)).toEqual(["declined", "declined"]);
    // Only the payment's customer pays it.
    expectProblem(await app.pay(reservation.id, "tok_ok", "alice"), 403, "forbidden");

    const paid = expectStatus(await app.pay(reservation.id, "tok_ok", "bob"), 200);
    expect(paid.status).toBe("paid");
    expect(paid.attempts.map((attempt) => attempt.outcome)).toEqual(["declined", "declined", "succeeded"]);
    await app.waitForReservation(reservation.id, { status: "confirmed", paymentStatus: "paid" }, "bob");
    await app.waitForProduct(show.id, { held: 0, committed: 2, available: 48 });
    await app.waitForMyPage(reservation.id, { reservationStatus: "confirmed", paymentStatus: "paid" }, "bob");
    await app.waitForNotifications(
      reservation.id,
      ["payment.declined", "payment.declined", "payment.paid", "reservation.confirmed"],
      "bob",
    );
  });

  it("tok_unavailable with the reservation: the automatic charge fails, the payment stays pending, paying later works", async () => {
    const show = await app.createProduct({ name: "Wicked, Friday 20:00", capacity: 10, unitPrice: 80_000 });
    const reservation = await app.reserve(show.id, 1, { paymentToken: "tok_unavailable", as: "carol" });
    await eventually(async () => {
      const payment = await app.getPayment(reservation.id, "carol");
      expect(payment.status).toBe("pending");
      expect(payment.attempts.map((attempt) => attempt.outcome)).toEqual(["failed"]);
    });
    const unavailable = await app.pay(reservation.id, "tok_unavailable", "carol");
    expectProblem(unavailable, 503, "payment-provider-unavailable");
    expect(Number(unavailable.headers.get("retry-after"))).toBeGreaterThanOrEqual(1);
    expect((await app.getPayment(reservation.id, "carol")).status).toBe("pending");
    expect((await app.getReservation(reservation.id, "carol")).status).toBe("placed");

    expect(expectStatus(await app.pay(reservation.id, "tok_ok", "carol"), 200).status).toBe("paid");
    await app.waitForReservation(reservation.id, { status: "confirmed" }, "carol");
    // Provider failures are not customer-visible changes; the payment and the confirmation are.
    await app.waitForNotifications(reservation.id, ["payment.paid", "reservation.confirmed"], "carol");
  });
});
