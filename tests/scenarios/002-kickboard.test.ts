/**
 * Reference 002, kickboard rental (DESIGN §7): a rental of capacity 1. Reserve and pay, then start
 * (refused until paid) and return (completes and releases the unit). The kickboard cannot be
 * withdrawn while it is held or rented out (409 `units-in-use`); after the return it can.
 */
import { describe, expect, it } from "vitest";
import { useReferenceSystem } from "./reference.js";
import { expectProblem, expectStatus, type ProductResponse, type ReservationResponse } from "./support.js";

const app = useReferenceSystem("002-kickboard");

const withdraw = (id: string) => app.delete<ProductResponse>(`/products/${id}`, { as: "seller" });

describe("002 kickboard rental: rental, capacity 1", () => {
  let board: ProductResponse;
  let rental: ReservationResponse;

  it("a seller registers one kickboard for rent", async () => {
    board = await app.createProduct({ name: "Kickboard #7", capacity: 1, unitPrice: 3_000, kind: "rental" });
    expect(board).toMatchObject({ kind: "rental", capacity: 1, available: 1, status: "available" });
  });

  it("reserving holds it; it cannot be started before it is paid, nor withdrawn while held", async () => {
    rental = await app.reserve(board.id, 1);
    expect(await app.getProduct(board.id)).toMatchObject({ held: 1, available: 0, status: "pending" });
    await app.waitForPayment(rental.id, { status: "pending", amount: 3_000 });

    expectProblem(await app.command(rental.id, "start", "alice"), 409, "invalid-transition");
    expect((await app.get<ReservationResponse>(`/reservations/${rental.id}`, { as: "alice" })).body.status).toBe("placed");

    const refused = expectProblem(await withdraw(board.id), 409, "units-in-use");
    expect(refused).toMatchObject({ held: 1, inUse: 0 });
    await app.waitForMyPage(rental.id, { reservationStatus: "placed", paymentStatus: "pending" });
  });

  it("paying confirms the rental and commits the unit; still not withdrawable", async () => {
    expect(expectStatus(await app.pay(rental.id, "tok_ok"), 200).status).toBe("paid");
    await app.waitForReservation(rental.id, { status: "confirmed", paymentStatus: "paid" });
    await app.waitForProduct(board.id, { held: 0, committed: 1, available: 0, status: "soldout" });
    expectProblem(await withdraw(board.id), 409, "units-in-use");
    // Only the customer (or an admin) starts a rental.
    expectProblem(await app.command(rental.id, "start", "bob"), 403, "forbidden");
  });

  it("starting puts it in use: withdrawing is refused while it is rented out", async () => {
    const started = expectStatus(await app.command(rental.id, "start", "alice"), 200);
    expect(started.status).toBe("in-use");
    // Starting again changes nothing.
    expect(expectStatus(await app.command(rental.id, "start", "alice"), 200)).toMatchObject({
      status: "in-use",
      revision: started.revision,
    });
    // A rental cannot be cancelled once it started.
    expectProblem(await app.command(rental.id, "cancel", "alice"), 409, "cancel-not-allowed");

    const refused = expectProblem(await withdraw(board.id), 409, "units-in-use");
    expect(refused).toMatchObject({ held: 0, inUse: 1 });
    expect(await app.getProduct(board.id)).toMatchObject({ committed: 1, status: "soldout" });
    await app.waitForMyPage(rental.id, { reservationStatus: "in-use", paymentStatus: "paid" });
  });

  it("returning completes the rental and releases the unit; then it can be withdrawn", async () => {
    const returned = expectStatus(await app.command(rental.id, "return", "alice"), 200);
    expect(returned.status).toBe("completed");
    // The release is the saga's, asynchronous.
    await app.waitForProduct(board.id, { held: 0, committed: 0, available: 1, status: "available" });
    await app.waitForMyPage(rental.id, { reservationStatus: "completed", paymentStatus: "paid" });
    await app.waitForNotifications(rental.id, [
      "reservation.placed",
      "payment.paid",
      "reservation.confirmed",
      "reservation.in-use",
      "reservation.completed",
    ]);
    // The payment is kept: a returned rental was used and paid for.
    await app.waitForPayment(rental.id, { status: "paid" });

    const withdrawn = expectStatus(await withdraw(board.id), 200);
    expect(withdrawn.status).toBe("withdrawn");
    expectProblem(await app.tryReserve(board.id, 1, { as: "bob" }), 409, "product-withdrawn");
  });
});
