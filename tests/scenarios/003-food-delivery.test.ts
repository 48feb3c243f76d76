/**
 * Reference 003, food delivery (DESIGN §7): the store must accept paid orders, and an order goes
 * through the steps cooking -> cooked -> picked-up -> delivered. Orders come with a payment token
 * (charged automatically); paid -> awaiting-acceptance; the store accepts (-> confirmed) or
 * rejects (-> refunded and released); steps must come in order (409 `not-next-step`); an order can
 * be cancelled until cooking starts (409 `cancel-not-allowed` after); the customer confirms the
 * final step.
 */
import { describe, expect, it } from "vitest";
import {
  command,
  createProduct,
  expectProblem,
  expectStatus,
  getProduct,
  reserve,
  useScenario,
  waitForMyPage,
  waitForNotifications,
  waitForPayment,
  waitForProduct,
  waitForReservation,
  type ProductResponse,
  type ReservationResponse,
} from "./support.js";

const scenario = useScenario({ label: "003-food" });

const STEPS = ["cooking", "cooked", "picked-up", "delivered"];

describe("003 food delivery: sellerAcceptance, steps cooking..delivered", () => {
  let menu: ProductResponse;
  let order: ReservationResponse;

  it("a store registers a dish that needs acceptance and has delivery steps", async () => {
    menu = await createProduct(scenario(), {
      name: "Fried chicken",
      capacity: 20,
      unitPrice: 18_000,
      sellerAcceptance: true,
      fulfilmentSteps: STEPS,
    });
    expect(menu).toMatchObject({ sellerAcceptance: true, fulfilmentSteps: STEPS, available: 20 });
  });

  it("an order placed with a token is charged at once and awaits the store's acceptance", async () => {
    const s = scenario();
    order = await reserve(s, menu.id, 2, { paymentToken: "tok_ok" });
    expect(order).toMatchObject({ amount: 36_000, quantity: 2 });
    await waitForPayment(s, order.id, { status: "paid", amount: 36_000 });
    await waitForReservation(s, order.id, { status: "awaiting-acceptance", paymentStatus: "paid" });
    // Paid units are committed even before the store accepts.
    await waitForProduct(s, menu.id, { held: 0, committed: 2, available: 18 });
    await waitForMyPage(s, order.id, { reservationStatus: "awaiting-acceptance", paymentStatus: "paid" });
    // With a token there is no reservation.placed: the charge's outcome is what the customer learns.
    await waitForNotifications(s, order.id, ["payment.paid", "reservation.awaiting-acceptance"]);
  });

  it("steps are refused before the store accepts; only the store accepts", async () => {
    const s = scenario();
    expectProblem(await command(s, order.id, "progress", "seller", { step: "cooking" }), 409, "invalid-transition");
    expectProblem(await command(s, order.id, "accept", "alice"), 403, "forbidden");
    expectProblem(await command(s, order.id, "accept", "seller2"), 403, "forbidden");
    const accepted = expectStatus(await command(s, order.id, "accept", "seller"), 200);
    expect(accepted.status).toBe("confirmed");
    // Accepting twice is refused: only valid in awaiting-acceptance.
    expectProblem(await command(s, order.id, "accept", "seller"), 409, "invalid-transition");
    await waitForMyPage(s, order.id, { reservationStatus: "confirmed" });
  });

  it("a second order can be cancelled before cooking: refunded and released", async () => {
    const s = scenario();
    const second = await reserve(s, menu.id, 1, { paymentToken: "tok_ok", as: "bob" });
    await waitForReservation(s, second.id, { status: "awaiting-acceptance", paymentStatus: "paid" }, "bob");
    expectStatus(await command(s, second.id, "accept", "seller"), 200);
    const cancelled = expectStatus(await command(s, second.id, "cancel", "bob"), 200);
    expect(cancelled.status).toBe("cancelled");
    await waitForPayment(s, second.id, { status: "refunded" }, "bob");
    await waitForProduct(s, menu.id, { held: 0, committed: 2, available: 18 });
    await waitForNotifications(
      s,
      second.id,
      ["payment.paid", "reservation.awaiting-acceptance", "reservation.accepted", "reservation.cancelled", "payment.refunded"],
      "bob",
    );
  });

  it("steps go in order; a wrong step is 409 not-next-step; cancelling is refused once cooking started", async () => {
    const s = scenario();
    const wrong = expectProblem(await command(s, order.id, "progress", "seller", { step: "cooked" }), 409, "not-next-step");
    expect(wrong).toMatchObject({ step: "cooked", expected: "cooking" });
    // The customer may only confirm the final step.
    expectProblem(await command(s, order.id, "progress", "alice", { step: "cooking" }), 403, "forbidden");

    const cooking = expectStatus(await command(s, order.id, "progress", "seller", { step: "cooking" }), 200);
    expect(cooking).toMatchObject({ status: "in-progress", currentStep: "cooking" });
    expectProblem(await command(s, order.id, "cancel", "alice"), 409, "cancel-not-allowed");

    // Re-sending the step just completed changes nothing.
    expect(expectStatus(await command(s, order.id, "progress", "seller", { step: "cooking" }), 200).revision).toBe(cooking.revision);
    expectProblem(await command(s, order.id, "progress", "seller", { step: "delivered" }), 409, "not-next-step");
    expect(expectStatus(await command(s, order.id, "progress", "seller", { step: "cooked" }), 200).currentStep).toBe("cooked");
    expect(expectStatus(await command(s, order.id, "progress", "seller", { step: "picked-up" }), 200).currentStep).toBe("picked-up");
    await waitForMyPage(s, order.id, { reservationStatus: "in-progress", currentStep: "picked-up" });
  });

  it("the customer confirms the final step: the order is completed and stays sold", async () => {
    const s = scenario();
    const delivered = expectStatus(await command(s, order.id, "progress", "alice", { step: "delivered" }), 200);
    expect(delivered).toMatchObject({ status: "completed", currentStep: "delivered" });
    expectProblem(await command(s, order.id, "cancel", "alice"), 409, "cancel-not-allowed");
    await waitForMyPage(s, order.id, { reservationStatus: "completed", currentStep: "delivered", paymentStatus: "paid" });
    await waitForNotifications(s, order.id, [
      "payment.paid",
      "reservation.awaiting-acceptance",
      "reservation.accepted",
      "reservation.in-progress",
      "reservation.in-progress",
      "reservation.in-progress",
      "reservation.completed",
    ]);
    expect(await getProduct(s, menu.id)).toMatchObject({ committed: 2, held: 0 });
  });

  it("an order the store rejects is refunded and its units released", async () => {
    const s = scenario();
    const third = await reserve(s, menu.id, 3, { paymentToken: "tok_ok", as: "carol" });
    await waitForReservation(s, third.id, { status: "awaiting-acceptance", paymentStatus: "paid" }, "carol");
    await waitForProduct(s, menu.id, { committed: 5, available: 15 });
    const rejected = expectStatus(await command(s, third.id, "reject", "seller", { reason: "out of chicken" }), 200);
    expect(rejected.status).toBe("rejected");
    await waitForPayment(s, third.id, { status: "refunded" }, "carol");
    await waitForProduct(s, menu.id, { committed: 2, held: 0, available: 18 });
    await waitForMyPage(s, third.id, { reservationStatus: "rejected", paymentStatus: "refunded" }, "carol");
    await waitForNotifications(
      s,
      third.id,
      ["payment.paid", "reservation.awaiting-acceptance", "reservation.rejected", "payment.refunded"],
      "carol",
    );
    expectProblem(await command(s, third.id, "cancel", "carol"), 409, "cancel-not-allowed");
  });
});
