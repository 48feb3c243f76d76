/**
 * Sellers' notifications over HTTP against the real stack (API.md "Additions"): a paid order that
 * waits for the seller's acceptance, and cancellations on their products, in the seller's own
 * `GET /notifications`; nothing of another seller's; the customer's notifications unchanged.
 */
import { randomUUID } from "node:crypto";
import { describe, expect, it } from "vitest";
import type { NotificationResponse } from "../../src/http/schemas.js";
import { type ProductResponse, type ReservationResponse, eventually, expectProblem, foreignToken, signFor, useApi } from "./support.js";

const api = useApi();

interface NotificationList {
  readonly items: NotificationResponse[];
  readonly next: string | null;
  readonly nextCursor: string | null;
}

const READ_MODEL_WAIT = { timeoutMs: 20_000, intervalMs: 100 };

const notificationsOf = async (token: string, query = ""): Promise<NotificationResponse[]> => {
  const response = await api().get<NotificationList>(`/notifications${query}`, { as: token });
  expect(response.status, JSON.stringify(response.body)).toBe(200);
  return response.body.items;
};

/** Polls until the reservation's notifications for `token` are exactly these kinds (as a multiset). */
const waitForKinds = (token: string, reservationId: string, kinds: readonly string[]) =>
  eventually(async () => {
    const items = await notificationsOf(token, `?reservationId=${reservationId}`);
    expect(items.map((item) => item.kind).sort()).toEqual([...kinds].sort());
    return items;
  }, READ_MODEL_WAIT);

const register = async (seller: string, fields: Record<string, unknown> = {}): Promise<ProductResponse> => {
  const response = await api().post<ProductResponse>("/products", {
    as: seller,
    json: { name: "Bibimbap", capacity: 20, unitPrice: 9000, ...fields },
  });
  expect(response.status, JSON.stringify(response.body)).toBe(201);
  return response.body;
};

const orderPaid = async (customer: string, productId: string): Promise<ReservationResponse> => {
  const response = await api().post<ReservationResponse>("/reservations", {
    as: customer,
    json: { productId, quantity: 1, paymentToken: "tok_ok", unitPrice: 9000 },
  });
  expect(response.status, JSON.stringify(response.body)).toBe(201);
  return response.body;
};

const cancel = async (customer: string, reservationId: string): Promise<void> => {
  const response = await api().post(`/reservations/${reservationId}/cancel`, { as: customer, json: {} });
  expect(response.status, JSON.stringify(response.body)).toBe(200);
};

const waitForStatus = (token: string, reservationId: string, status: string) =>
  eventually(async () => {
    const response = await api().get<ReservationResponse>(`/reservations/${reservationId}`, { as: token });
    expect(response.body.status).toBe(status);
  }, READ_MODEL_WAIT);

describe("GET /notifications for sellers", () => {
  it("tells the seller of a paid order awaiting acceptance and of its cancellation; the customer hears what they always did", async () => {
    const sellerId = `seller-${randomUUID()}`;
    const seller = await signFor(sellerId, "seller");
    const otherSeller = await signFor(`seller-${randomUUID()}`, "seller");
    const customerId = `customer-${randomUUID()}`;
    const customer = await signFor(customerId, "customer");
    const restaurant = await register(seller, { sellerAcceptance: true, fulfilmentSteps: ["cooking", "delivered"] });

    const order = await orderPaid(customer, restaurant.id);
    await waitForStatus(customer, order.id, "awaiting-acceptance");
    const [waiting] = await waitForKinds(seller, order.id, ["seller.reservation.awaiting-acceptance"]);
    expect(waiting).toMatchObject({
      audience: "seller",
      sellerId,
      customerId,
      reservationId: order.id,
      message: "A new order of 1 × Bibimbap (9,000 KRW) is paid and waits for your acceptance.",
    });
    // The seller's list (no filter) has it too, and another seller sees nothing of it.
    expect((await notificationsOf(seller)).map((item) => item.id)).toEqual([waiting?.id]);
    expect(await notificationsOf(otherSeller)).toEqual([]);
    expect(await notificationsOf(otherSeller, `?reservationId=${order.id}`)).toEqual([]);
    // The customer's own are unchanged: no seller notification among them.
    const customers = await waitForKinds(customer, order.id, ["payment.paid", "reservation.awaiting-acceptance"]);
    expect(customers.every((item) => item.audience === "customer" && item.customerId === customerId)).toBe(true);

    await cancel(customer, order.id);
    await waitForKinds(seller, order.id, ["seller.reservation.awaiting-acceptance", "seller.reservation.cancelled"]);
    await waitForKinds(customer, order.id, [
      "payment.paid",
      "reservation.awaiting-acceptance",
      "reservation.cancelled",
      "payment.refunded",
    ]);
    // An admin sees every audience.
    await waitForKinds("admin", order.id, [
      "payment.paid",
      "reservation.awaiting-acceptance",
      "reservation.cancelled",
      "payment.refunded",
      "seller.reservation.awaiting-acceptance",
      "seller.reservation.cancelled",
    ]);
    expect(await notificationsOf(otherSeller)).toEqual([]);
  });

  it("asks no acceptance of a product without it, yet tells of its cancellations; each seller sees only their own products'", async () => {
    const seller = await signFor(`seller-${randomUUID()}`, "seller");
    const otherSellerId = `seller-${randomUUID()}`;
    const otherSeller = await signFor(otherSellerId, "seller");
    const customer = await signFor(`customer-${randomUUID()}`, "customer");
    const seats = await register(seller, { name: "Seats" });
    const theirs = await register(otherSeller, { name: "Theirs" });

    const confirmed = await orderPaid(customer, seats.id);
    await waitForStatus(customer, confirmed.id, "confirmed");
    await waitForKinds(customer, confirmed.id, ["payment.paid", "reservation.confirmed"]);
    expect(await notificationsOf(seller)).toEqual([]);

    const unpaid = await api().post<ReservationResponse>("/reservations", { as: customer, json: { productId: theirs.id, quantity: 1 } });
    expect(unpaid.status).toBe(201);
    await cancel(customer, confirmed.id);
    await cancel(customer, unpaid.body.id);
    const [mine] = await waitForKinds(seller, confirmed.id, ["seller.reservation.cancelled"]);
    expect(mine?.message).toBe("A reservation of 1 × Seats was cancelled by the customer after it was confirmed; its units are released.");
    const [other] = await waitForKinds(otherSeller, unpaid.body.id, ["seller.reservation.cancelled"]);
    expect(other).toMatchObject({
      sellerId: otherSellerId,
      message: "A reservation of 1 × Theirs was cancelled by the customer before it was paid; its units are released.",
    });

    // Each list holds only its own seller's, and pages like every list.
    expect((await notificationsOf(seller)).map((item) => item.reservationId)).toEqual([confirmed.id]);
    expect((await notificationsOf(otherSeller)).map((item) => item.reservationId)).toEqual([unpaid.body.id]);
    expect(await notificationsOf(seller, `?reservationId=${unpaid.body.id}`)).toEqual([]);
  });

  it("pages a seller's notifications", async () => {
    const seller = await signFor(`seller-${randomUUID()}`, "seller");
    const customer = await signFor(`customer-${randomUUID()}`, "customer");
    const product = await register(seller, { name: "Pages" });
    const ids: string[] = [];
    for (let i = 0; i < 3; i += 1) {
      const reservation = await api().post<ReservationResponse>("/reservations", {
        as: customer,
        json: { productId: product.id, quantity: 1 },
      });
      expect(reservation.status).toBe(201);
      ids.push(reservation.body.id);
      await cancel(customer, reservation.body.id);
    }
    const all = await eventually(async () => {
      const items = await notificationsOf(seller, "?limit=1000");
      expect(items).toHaveLength(3);
      return items.map((item) => item.id);
    }, READ_MODEL_WAIT);
    const seen: string[] = [];
    let path: string | null = "/notifications?limit=2";
    while (path !== null) {
      const response: { body: NotificationList } = await api().get<NotificationList>(path, { as: seller });
      seen.push(...response.body.items.map((item) => item.id));
      path = response.body.next;
    }
    expect(seen).toEqual(all);
  });

  it("needs a valid token (401); sellers still may not read payments or My Page (403)", async () => {
    expectProblem(await api().get("/notifications"), 401, "unauthorized");
    expectProblem(await api().get("/notifications", { as: await foreignToken("seller-x", "seller") }), 401, "unauthorized");
    expectProblem(await api().get("/payments", { as: "seller" }), 403, "forbidden");
    expectProblem(await api().get("/my-page", { as: "seller" }), 403, "forbidden");
  });
});
