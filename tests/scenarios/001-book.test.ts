/**
 * Reference 001, book reservation (DESIGN §7): capacity = copies, unitPrice 0. Reserving takes a
 * copy at once; the confirmation (the reference's "assignment") happens asynchronously and needs no
 * payment call, because a zero amount settles itself (src/domain/README.md "Zero amounts":
 * `RequestPayment` of 0 appends `PaymentRequested` + `PaymentSucceeded` with provider `none`).
 * Cancelling gives the copy back. The payment of a cancelled free book is *refunded*, not voided:
 * it was already paid (by the zero-amount settlement), and the saga refunds paid payments of ended
 * reservations. Zero-amount payment changes are not notified (projections/README.md "Kinds").
 */
import { describe, expect, it } from "vitest";
import { useReferenceSystem } from "./reference.js";
import { expectProblem, expectStatus, staysTrue, type ProductResponse, type ReservationResponse } from "./support.js";

const app = useReferenceSystem("001-book");

describe("001 book reservation: capacity = copies, unitPrice 0", () => {
  let book: ProductResponse;
  let loan: ReservationResponse;

  it("a library registers 3 copies of a free book", async () => {
    book = await app.createProduct({ name: "The Little Prince", capacity: 3, unitPrice: 0 });
    expect(book).toMatchObject({ capacity: 3, available: 3, unitPrice: 0, status: "available" });
  });

  it("reserving takes a copy at once; the confirmation follows asynchronously without any pay call", async () => {
    loan = await app.reserve(book.id, 1);
    expect(loan).toMatchObject({ status: "placed", amount: 0, quantity: 1 });
    // The copy is down synchronously (held), before any confirmation.
    expect(await app.getProduct(book.id)).toMatchObject({ available: 2, held: 1, committed: 0, status: "available" });

    // No POST /payments/{id}/pay: the zero amount settles itself and the saga confirms.
    await app.waitForReservation(loan.id, { status: "confirmed", paymentStatus: "paid" });
    const payment = await app.waitForPayment(loan.id, { status: "paid", amount: 0 });
    expect(payment.attempts.map((attempt) => attempt.outcome)).toEqual(["succeeded"]);
    await app.waitForProduct(book.id, { available: 2, held: 0, committed: 1 });
    await app.waitForMyPage(loan.id, { reservationStatus: "confirmed", paymentStatus: "paid", amount: 0 });
    // Placed, then confirmed; money never moved, so no payment.* notification.
    await app.waitForNotifications(loan.id, ["reservation.placed", "reservation.confirmed"]);
  });

  it("copies run out: the last two go to Bob, Carol is refused with the availability", async () => {
    const bobs = await app.reserve(book.id, 2, { as: "bob" });
    expect(await app.getProduct(book.id)).toMatchObject({ available: 0 });
    const refused = expectProblem(await app.tryReserve(book.id, 1, { as: "carol" }), 409, "insufficient-availability");
    expect(refused.available).toBe(0);
    await app.waitForReservation(bobs.id, { status: "confirmed" }, "bob");
    await app.waitForProduct(book.id, { available: 0, held: 0, committed: 3, status: "soldout" });
  });

  it("cancelling restores the copy; the zero payment is refunded (it was paid), with one notification", async () => {
    const cancelled = expectStatus(await app.command(loan.id, "cancel", "alice"), 200);
    expect(cancelled.status).toBe("cancelled");

    await app.waitForProduct(book.id, { available: 1, committed: 2, held: 0, status: "available" });
    await app.waitForPayment(loan.id, { status: "refunded", amount: 0 });
    await app.waitForReservation(loan.id, { status: "cancelled", paymentStatus: "refunded" });
    await app.waitForMyPage(loan.id, { reservationStatus: "cancelled", paymentStatus: "refunded" });
    const items = await app.waitForNotifications(loan.id, ["reservation.placed", "reservation.confirmed", "reservation.cancelled"]);
    // No payment.refunded for a zero amount, not even later.
    await staysTrue(async () => {
      expect((await app.notifications(loan.id)).length).toBe(items.length);
    });
    // Carol can now borrow the restored copy.
    const carols = await app.reserve(book.id, 1, { as: "carol" });
    await app.waitForReservation(carols.id, { status: "confirmed" }, "carol");
    await app.waitForProduct(book.id, { available: 0, committed: 3 });
  });

  it("more copies: Alice borrows again; My Page lists her own loans only, newest first", async () => {
    expectProblem(await app.tryReserve(book.id, 1, { as: "alice" }), 409, "insufficient-availability");
    const grown = expectStatus(await app.patch<ProductResponse>(`/products/${book.id}`, { as: "seller", json: { capacity: 4 } }), 200);
    expect(grown).toMatchObject({ capacity: 4, available: 1 });
    const second = await app.reserve(book.id, 1, { as: "alice" });
    await app.waitForMyPage(second.id, { reservationStatus: "confirmed", paymentStatus: "paid" });
    const page = await app.myPage("alice");
    expect(page.reservations.map((entry) => entry.reservationId)).toEqual([second.id, loan.id]);
  });
});
