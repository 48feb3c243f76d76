/**
 * Reference 003, food delivery (DESIGN §7): the store must accept paid orders, and an order goes
 * through the steps cooking -> cooked -> picked-up -> delivered. Orders come with a payment token
 * (charged automatically); paid -> awaiting-acceptance; the store accepts (-> confirmed) or
 * rejects (-> refunded and released); steps must come in order (409 `not-next-step`); an order can
 * be cancelled until cooking starts (409 `cancel-not-allowed` after); the customer confirms the
 * final step.
 */
import { describe, expect, it } from "vitest";
import { useReferenceSystem } from "./reference.js";
import { expectProblem, expectStatus, type ProductResponse, type ReservationResponse } from "./support.js";

const app = useReferenceSystem("003-food");

const STEPS = ["cooking", "cooked", "picked-up", "delivered"];

describe("003 food delivery: sellerAcceptance, steps cooking..delivered", () => {
  let menu: ProductResponse;
  let order: ReservationResponse;

  it("a store registers a dish that needs acceptance and has delivery steps", async () => {
    menu = await app.createProduct({
      name: "Fried chicken",
      capacity: 20,
      unitPrice: 18_000,
      sellerAcceptance: true,
      fulfilmentSteps: STEPS,
    });
    expect(menu).toMatchObject({ sellerAcceptance: true, fulfilmentSteps: STEPS, available: 20 });
  });

  it("an order placed with a token is charged at once and awaits the store's acceptance", async () => {
    order = await app.reserve(menu.id, 2, { paymentToken: "tok_ok" });
    expect(order).toMatchObject({ amount: 36_000, quantity: 2 });
    await app.waitForPayment(order.id, { status: "paid", amount: 36_000 });
    await app.waitForReservation(order.id, { status: "awaiting-acceptance", paymentStatus: "paid" });
    // Paid units are committed even before the store accepts.
    await app.waitForProduct(menu.id, { held: 0, committed: 2, available: 18 });
    await app.waitForMyPage(order.id, { reservationStatus: "awaiting-acceptance", paymentStatus: "paid" });
    // With a token there is no reservation.placed: the charge's outcome is what the customer learns.
    await app.waitForNotifications(order.id, ["payment.paid", "reservation.awaiting-acceptance"]);
  });

  it("steps are refused before the store accepts; only the store accepts", async () => {
    expectProblem(await app.command(order.id, "progress", "seller", { step: "cooking" }), 409, "invalid-transition");
    expectProblem(await app.command(order.id, "accept", "alice"), 403, "forbidden");
    expectProblem(await app.command(order.id, "accept", "seller2"), 403, "forbidden");
    const accepted = expectStatus(await app.command(order.id, "accept", "seller"), 200);
    expect(accepted.status).toBe("confirmed");
    // Accepting twice is refused: only valid in awaiting-acceptance.
    expectProblem(await app.command(order.id, "accept", "seller"), 409, "invalid-transition");
    await app.waitForMyPage(order.id, { reservationStatus: "confirmed" });
  });

  it("a second order can be cancelled before cooking: refunded and released", async () => {
    const second = await app.reserve(menu.id, 1, { paymentToken: "tok_ok", as: "bob" });
    await app.waitForReservation(second.id, { status: "awaiting-acceptance", paymentStatus: "paid" }, "bob");
    expectStatus(await app.command(second.id, "accept", "seller"), 200);
    const cancelled = expectStatus(await app.command(second.id, "cancel", "bob"), 200);
    expect(cancelled.status).toBe("cancelled");
    await app.waitForPayment(second.id, { status: "refunded" }, "bob");
    await app.waitForProduct(menu.id, { held: 0, committed: 2, available: 18 });
    await app.waitForNotifications(
      second.id,
      ["payment.paid", "reservation.awaiting-acceptance", "reservation.accepted", "reservation.cancelled", "payment.refunded"],
      "bob",
    );
  });

  it("steps go in order; a wrong step is 409 not-next-step; cancelling is refused once cooking started", async () => {
    const wrong = expectProblem(await app.command(order.id, "progress", "seller", { step: "cooked" }), 409, "not-next-step");
    expect(wrong).toMatchObject({ step: "cooked", expected: "cooking" });
    // The customer may only confirm the final step.
    expectProblem(await app.command(order.id, "progress", "alice", { step: "cooking" }), 403, "forbidden");

    const cooking = expectStatus(await app.command(order.id, "progress", "seller", { step: "cooking" }), 200);
    expect(cooking).toMatchObject({ status: "in-progress", currentStep: "cooking" });
    expectProblem(await app.command(order.id, "cancel", "alice"), 409, "cancel-not-allowed");

    // Re-sending the step just completed changes nothing.
    expect(expectStatus(await app.command(order.id, "progress", "seller", { step: "cooking" }), 200).revision).toBe(cooking.revision);
    expectProblem(await app.command(order.id, "progress", "seller", { step: "delivered" }), 409, "not-next-step");
    expect(expectStatus(await app.command(order.id, "progress", "seller", { step: "cooked" }), 200).currentStep).toBe("cooked");
    expect(expectStatus(await app.command(order.id, "progress", "seller", { step: "picked-up" }), 200).currentStep).toBe("picked-up");
    await app.waitForMyPage(order.id, { reservationStatus: "in-progress", currentStep: "picked-up" });
  });

  it("the customer confirms the final step: the order is completed and stays sold", async () => {
    const delivered = expectStatus(await app.command(order.id, "progress", "alice", { step: "delivered" }), 200);
    expect(delivered).toMatchObject({ status: "completed", currentStep: "delivered" });
    expectProblem(await app.command(order.id, "cancel", "alice"), 409, "cancel-not-allowed");
    await app.waitForMyPage(order.id, { reservationStatus: "completed", currentStep: "delivered", paymentStatus: "paid" });
    await app.waitForNotifications(order.id, [
      "payment.paid",
      "reservation.awaiting-acceptance",
      "reservation.accepted",
      "reservation.in-progress",
      "reservation.in-progress",
      "reservation.in-progress",
      "reservation.completed",
    ]);
    expect(await app.getProduct(menu.id)).toMatchObject({ committed: 2, held: 0 });
  });

  it("an order the store rejects is refunded and its units released", async () => {
    const third = await app.reserve(menu.id, 3, { paymentToken: "tok_ok", as: "carol" });
    await app.waitForReservation(third.id, { status: "awaiting-acceptance", paymentStatus: "paid" }, "carol");
    await app.waitForProduct(menu.id, { committed: 5, available: 15 });
    const rejected = expectStatus(await app.command(third.id, "reject", "seller", { reason: "out of chicken" }), 200);
    expect(rejected.status).toBe("rejected");
    await app.waitForPayment(third.id, { status: "refunded" }, "carol");
    await app.waitForProduct(menu.id, { committed: 2, held: 0, available: 18 });
    await app.waitForMyPage(third.id, { reservationStatus: "rejected", paymentStatus: "refunded" }, "carol");
    await app.waitForNotifications(
      third.id,
      ["payment.paid", "reservation.awaiting-acceptance", "reservation.rejected", "payment.refunded"],
      "carol",
    );
    expectProblem(await app.command(third.id, "cancel", "carol"), 409, "cancel-not-allowed");
  });
});
