/**
 * Reference 000, product reservation (DESIGN §7): a product of capacity 1 for sale. Reserve ->
 * product `pending`; pay -> `soldout` and the reservation confirmed; cancel -> refunded and the
 * product `available` again; a notification for every change; My Page follows every state.
 * Also the payment provider's outage (`tok_unavailable`): 503 with Retry-After, the payment stays
 * pending and can be paid later.
 */
import { describe, expect, it } from "vitest";
import { useReferenceSystem } from "./reference.js";
import {
  expectProblem,
  expectStatus,
  eventually,
  type PaymentResponse,
  type ProductResponse,
  type ReservationResponse,
} from "./support.js";

const app = useReferenceSystem("000-product");

describe("000 product reservation: capacity 1, sale", () => {
  let product: ProductResponse;
  let reservation: ReservationResponse;

  it("a seller registers a product of capacity 1", async () => {
    product = await app.createProduct({ name: "Vintage camera", capacity: 1, unitPrice: 50_000 });
    expect(product).toMatchObject({ capacity: 1, available: 1, held: 0, committed: 0, status: "available", kind: "sale", currency: "KRW" });
    await eventually(async () => {
      const list = expectStatus(await app.get<{ items: ProductResponse[] }>("/products?status=available"), 200);
      expect(list.items.map((item) => item.id)).toContain(product.id);
    });
  });

  it("reserving holds the only unit: the product is pending, the reservation placed with a pending payment", async () => {
    reservation = await app.reserve(product.id, 1);
    expect(reservation).toMatchObject({
      productId: product.id,
      quantity: 1,
      amount: 50_000,
      customerId: "customer-alice",
      status: "placed",
    });
    expect(await app.getProduct(product.id)).toMatchObject({ status: "pending", held: 1, committed: 0, available: 0 });

    // The saga requests the payment right after the placing.
    await app.waitForPayment(reservation.id, { status: "pending", amount: 50_000, reservationId: reservation.id, attempts: [] });
    await app.waitForMyPage(reservation.id, {
      reservationStatus: "placed",
      paymentStatus: "pending",
      amount: 50_000,
      productName: "Vintage camera",
    });
    await app.waitForNotifications(reservation.id, ["reservation.placed"]);
  });

  it("nobody else can reserve the held unit", async () => {
    const problem = expectProblem(await app.tryReserve(product.id, 1, { as: "bob" }), 409, "insufficient-availability");
    expect(problem.available).toBe(0);
  });

  it("while the payment provider is down, paying answers 503 with Retry-After and the payment stays pending", async () => {
    const response = await app.pay(reservation.id, "tok_unavailable");
    expectProblem(response, 503, "payment-provider-unavailable");
    expect(Number(response.headers.get("retry-after"))).toBeGreaterThanOrEqual(1);
    const payment = await app.getPayment(reservation.id);
    expect(payment.status).toBe("pending");
    expect(payment.attempts.map((attempt) => attempt.outcome)).toEqual(["failed"]);
    expect((await app.getReservation(reservation.id)).status).toBe("placed");
    // A failed provider call changes nothing the customer sees: no notification for it.
    await app.waitForNotifications(reservation.id, ["reservation.placed"]);
  });

  it("paying confirms the reservation and sells the product out", async () => {
    const payment = expectStatus(await app.pay(reservation.id, "tok_ok"), 200);
    expect(payment.status).toBe("paid");
    expect(payment.attempts.map((attempt) => attempt.outcome)).toEqual(["failed", "succeeded"]);

    await app.waitForReservation(reservation.id, { status: "confirmed", paymentStatus: "paid" });
    await app.waitForProduct(product.id, { status: "soldout", held: 0, committed: 1, available: 0 });
    await app.waitForMyPage(reservation.id, { reservationStatus: "confirmed", paymentStatus: "paid" });
    await app.waitForNotifications(reservation.id, ["reservation.placed", "payment.paid", "reservation.confirmed"]);

    // Paying a paid payment answers 200 and changes nothing.
    const again = expectStatus(await app.pay(reservation.id, "tok_ok"), 200);
    expect(again).toMatchObject({ status: "paid", revision: payment.revision });

    // The lists follow.
    await eventually(async () => {
      const reservations = expectStatus(await app.get<{ items: ReservationResponse[] }>("/reservations", { as: "alice" }), 200);
      expect(reservations.items.find((item) => item.id === reservation.id)).toMatchObject({ status: "confirmed", paymentStatus: "paid" });
      const sellers = expectStatus(
        await app.get<{ items: ReservationResponse[] }>("/reservations?status=confirmed", { as: "seller" }),
        200,
      );
      expect(sellers.items.map((item) => item.id)).toContain(reservation.id);
      const payments = expectStatus(await app.get<{ items: PaymentResponse[] }>("/payments", { as: "alice" }), 200);
      expect(payments.items.find((item) => item.id === reservation.id)?.status).toBe("paid");
      const soldout = expectStatus(await app.get<{ items: ProductResponse[] }>("/products?status=soldout"), 200);
      expect(soldout.items.map((item) => item.id)).toContain(product.id);
    });
  });

  it("cancelling refunds the payment and makes the product available again", async () => {
    const cancelled = expectStatus(await app.command(reservation.id, "cancel", "alice"), 200);
    expect(cancelled.status).toBe("cancelled");

    await app.waitForPayment(reservation.id, { status: "refunded" });
    await app.waitForProduct(product.id, { status: "available", held: 0, committed: 0, available: 1 });
    await app.waitForReservation(reservation.id, { status: "cancelled", paymentStatus: "refunded" });
    await app.waitForMyPage(reservation.id, { reservationStatus: "cancelled", paymentStatus: "refunded" });
    await app.waitForNotifications(reservation.id, [
      "reservation.placed",
      "payment.paid",
      "reservation.confirmed",
      "reservation.cancelled",
      "payment.refunded",
    ]);
    // A refunded payment cannot be paid again.
    expectProblem(await app.pay(reservation.id, "tok_ok"), 409, "payment-not-payable");
  });

  it("the released unit can be reserved by someone else", async () => {
    const next = await app.reserve(product.id, 1, { as: "bob" });
    expect(await app.getProduct(product.id)).toMatchObject({ status: "pending", held: 1, available: 0 });
    await app.waitForMyPage(next.id, { reservationStatus: "placed" }, "bob");
    // Alice's page does not show Bob's reservation.
    await eventually(async () => {
      const page = expectStatus(await app.get<{ reservations: Array<{ reservationId: string }> }>("/my-page", { as: "alice" }), 200);
      expect(page.reservations.map((entry) => entry.reservationId)).toEqual([reservation.id]);
    });
  });
});
