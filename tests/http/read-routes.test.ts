import { randomUUID } from "node:crypto";
import { beforeEach, describe, expect, it } from "vitest";
import type { NotificationView } from "../../src/application/read-models.js";
import {
  CUSTOMER,
  PROBLEM_BASE,
  paymentView,
  problemOf,
  productView,
  reservationView,
  SELLER,
  useTestServer,
  type TestServer,
} from "./support.js";

const notification = (overrides: Partial<NotificationView> = {}): NotificationView => ({
  id: randomUUID(),
  audience: "customer",
  customerId: CUSTOMER,
  reservationId: randomUUID(),
  kind: "payment.paid",
  message: "Your payment of 1,000 KRW was received.",
  createdAt: "2030-01-01T00:01:00.000Z",
  deliveries: [{ channel: "log", status: "delivered" }],
  ...overrides,
});

/** A list that fits in one page: no link to a next one, no cursor. */
const onePage = <T>(items: T[]) => ({ items, next: null, nextCursor: null });

describe("read-model routes", () => {
  let server: TestServer;
  let customer: string;
  let seller: string;
  let admin: string;
  useTestServer((fixture) => ({ server, customer, seller, admin } = fixture));
  beforeEach(() => {
    server.store.down = false;
    server.store.calls.length = 0;
  });

  describe("GET /products", () => {
    it("lists for anyone, without a token, and filters by status", async () => {
      const available = productView();
      const soldout = productView({ status: "soldout", available: 0, committed: 3 });
      server.store.products_ = [available, soldout];

      const all = await server.request("/products");
      expect(all.status).toBe(200);
      expect(all.headers.get("cache-control")).toBe("no-store");
      expect(await all.json()).toEqual(onePage([available, soldout]));

      const filtered = await server.request("/products?status=soldout&limit=5");
      expect(await filtered.json()).toEqual(onePage([soldout]));
      expect(server.store.calls.at(-1)).toEqual({ method: "products", args: [{ status: "soldout", limit: 5 }] });
    });

    it("answers 400 for an unknown status, a bad limit, a repeated or unknown parameter", async () => {
      for (const [query, path] of [
        ["status=gone", "query.status"],
        ["limit=0", "query.limit"],
        ["limit=1001", "query.limit"],
        ["limit=ten", "query.limit"],
        ["status=available&status=pending", "query.status"],
        ["colour=red", "query.colour"],
      ] as const) {
        const response = await server.request(`/products?${query}`);
        expect(response.status, query).toBe(400);
        expect((await problemOf(response)).errors?.[0]?.path, query).toBe(path);
      }
    });

    it("answers 503 read-model-unavailable with Retry-After while the store is down", async () => {
      server.store.down = true;
      const response = await server.request("/products");
      expect(response.status).toBe(503);
      expect(response.headers.get("retry-after")).toBe("5");
      expect(await problemOf(response)).toMatchObject({ type: `${PROBLEM_BASE}read-model-unavailable`, status: 503 });
    });
  });

  describe("GET /reservations", () => {
    const mine = reservationView();
    const theirs = reservationView({ customerId: "customer-2", sellerId: "seller-2", status: "confirmed" });
    beforeEach(() => {
      server.store.reservations_ = [mine, theirs];
    });

    it("needs a token", async () => {
      expect((await server.request("/reservations")).status).toBe(401);
    });

    it("shows a customer their own, a seller those on their products, an admin all", async () => {
      expect(await (await server.request("/reservations", { token: customer })).json()).toEqual(onePage([mine]));
      expect(server.store.calls.at(-1)?.args[0]).toEqual({ kind: "customer", customerId: CUSTOMER });
      expect(await (await server.request("/reservations", { token: seller })).json()).toEqual(onePage([mine]));
      expect(server.store.calls.at(-1)?.args[0]).toEqual({ kind: "seller", sellerId: SELLER });
      expect(await (await server.request("/reservations", { token: admin })).json()).toEqual(onePage([mine, theirs]));
      expect(server.store.calls.at(-1)?.args[0]).toEqual({ kind: "all" });
    });

    it("filters by status and validates it", async () => {
      expect(await (await server.request("/reservations?status=confirmed", { token: admin })).json()).toEqual(onePage([theirs]));
      const bad = await server.request("/reservations?status=lost", { token: admin });
      expect(bad.status).toBe(400);
      expect((await problemOf(bad)).errors?.[0]?.path).toBe("query.status");
    });
  });

  describe("GET /payments", () => {
    it("shows a customer their own and an admin all; refuses sellers", async () => {
      const mine = paymentView();
      const theirs = paymentView({ customerId: "customer-2" });
      server.store.payments_ = [mine, theirs];
      expect(await (await server.request("/payments", { token: customer })).json()).toEqual(onePage([mine]));
      expect(await (await server.request("/payments", { token: admin })).json()).toEqual(onePage([mine, theirs]));
      const refused = await server.request("/payments", { token: seller });
      expect(refused.status).toBe(403);
      expect((await problemOf(refused)).type).toBe(`${PROBLEM_BASE}forbidden`);
    });
  });

  describe("GET /my-page", () => {
    it("answers the customer's own page in API.md's shape", async () => {
      const reservation = reservationView({ paymentStatus: null, updatedAt: "2030-01-01T00:02:00.000Z" });
      server.store.reservations_ = [reservation, reservationView({ customerId: "customer-2" })];
      const response = await server.request("/my-page", { token: customer });
      expect(response.status).toBe(200);
      expect(response.headers.get("cache-control")).toBe("no-store");
      expect(await response.json()).toEqual({
        customerId: CUSTOMER,
        reservations: [
          {
            reservationId: reservation.id,
            productId: reservation.productId,
            productName: reservation.productName,
            quantity: reservation.quantity,
            amount: reservation.amount,
            currency: reservation.currency,
            reservationStatus: reservation.status,
            paymentStatus: null,
            currentStep: null,
            updatedAt: "2030-01-01T00:02:00.000Z",
          },
        ],
        updatedAt: "2030-01-01T00:02:00.000Z",
        next: null,
        nextCursor: null,
      });
    });

    it("is for customers only and takes no query", async () => {
      expect((await server.request("/my-page", { token: seller })).status).toBe(403);
      expect((await server.request("/my-page", { token: admin })).status).toBe(403);
      expect((await server.request("/my-page")).status).toBe(401);
      expect((await server.request("/my-page?x=1", { token: customer })).status).toBe(400);
    });

    it("answers 503 while the store is down", async () => {
      server.store.down = true;
      const response = await server.request("/my-page", { token: customer });
      expect(response.status).toBe(503);
      expect(response.headers.get("retry-after")).toBe("5");
    });
  });

  describe("GET /notifications", () => {
    const mine = notification();
    const theirs = notification({ customerId: "customer-2", kind: "reservation.cancelled" });
    beforeEach(() => {
      server.store.notifications_ = [mine, theirs];
    });

    it("shows a customer their own, an admin all, and filters by reservation", async () => {
      expect(await (await server.request("/notifications", { token: customer })).json()).toEqual(onePage([mine]));
      expect(await (await server.request("/notifications", { token: admin })).json()).toEqual(onePage([mine, theirs]));
      const filtered = await server.request(`/notifications?reservationId=${theirs.reservationId}`, { token: admin });
      expect(await filtered.json()).toEqual(onePage([theirs]));
      expect(server.store.calls.at(-1)).toEqual({
        method: "notifications",
        args: [{ kind: "all" }, { reservationId: theirs.reservationId }],
      });
    });

    it("shows a seller only the seller notifications about their own products", async () => {
      const forMe = notification({ audience: "seller", sellerId: SELLER, kind: "seller.reservation.awaiting-acceptance" });
      const forAnother = notification({ audience: "seller", sellerId: "seller-2", kind: "seller.reservation.cancelled" });
      const aboutMyProductForTheCustomer = notification({ sellerId: SELLER });
      server.store.notifications_ = [forMe, forAnother, aboutMyProductForTheCustomer];
      expect(await (await server.request("/notifications", { token: seller })).json()).toEqual(onePage([forMe]));
      expect(server.store.calls.at(-1)).toEqual({ method: "notifications", args: [{ kind: "seller", sellerId: SELLER }, {}] });
      // The customer's own list is unchanged by seller notifications on their reservations.
      expect(await (await server.request("/notifications", { token: customer })).json()).toEqual(onePage([aboutMyProductForTheCustomer]));
      expect((await server.request("/notifications")).status).toBe(401);
    });

    it("validates the reservation id", async () => {
      const bad = await server.request("/notifications?reservationId=nope", { token: customer });
      expect(bad.status).toBe(400);
      expect((await problemOf(bad)).errors?.[0]?.path).toBe("query.reservationId");
    });
  });
});

describe("payment routes", () => {
  let server: TestServer;
  let customer: string;
  let other: string;
  let seller: string;
  let admin: string;
  useTestServer((fixture) => ({ server, customer, other, seller, admin } = fixture));

  const pending = () => {
    const payment = paymentView();
    server.payments.items.set(payment.id, payment);
    return payment;
  };
  const pay = (id: string, token: string | undefined, body: unknown, headers: Record<string, string> = {}) =>
    server.request(`/payments/${id}/pay`, { method: "POST", ...(token === undefined ? {} : { token }), json: body, headers });

  it("reads a payment with its ETag, for its customer and admins", async () => {
    const payment = pending();
    const response = await server.request(`/payments/${payment.id}`, { token: customer });
    expect(response.status).toBe(200);
    expect(response.headers.get("etag")).toBe('W/"0"');
    expect(await response.json()).toEqual(payment);
    expect((await server.request(`/payments/${payment.id}`, { token: admin })).status).toBe(200);
    expect((await server.request(`/payments/${payment.id}`, { token: other })).status).toBe(403);
    expect((await server.request(`/payments/${payment.id}`, { token: seller })).status).toBe(403);
    expect((await server.request(`/payments/${payment.id}`)).status).toBe(401);
  });

  it("answers 404 for an unknown payment and 400 for an id that is not a UUID", async () => {
    const unknown = await server.request(`/payments/${randomUUID()}`, { token: customer });
    expect(unknown.status).toBe(404);
    expect(await problemOf(unknown)).toMatchObject({ resource: "payment" });
    expect((await server.request("/payments/not-a-uuid", { token: customer })).status).toBe(400);
  });

  it("pays: 200 paid with the new revision, the Idempotency-Key passed on, and paying again changes nothing", async () => {
    const payment = pending();
    const response = await pay(payment.id, customer, { token: "tok_ok" }, { "Idempotency-Key": "pay-1" });
    expect(response.status).toBe(200);
    expect(response.headers.get("etag")).toBe('W/"1"');
    expect(await response.json()).toMatchObject({ id: payment.id, status: "paid", attempts: [{ outcome: "succeeded" }], revision: 1 });
    expect(server.payments.calls.at(-1)).toMatchObject({
      method: "pay",
      context: { actor: { id: CUSTOMER, role: "customer" } },
      args: [payment.id, "tok_ok", "pay-1"],
    });
    const again = await pay(payment.id, customer, { token: "tok_ok" });
    expect(again.status).toBe(200);
    expect(await again.json()).toMatchObject({ status: "paid", revision: 1 });
  });

  it("answers 402 payment-declined with the reason", async () => {
    const payment = pending();
    const response = await pay(payment.id, customer, { token: "tok_declined" });
    expect(response.status).toBe(402);
    expect(await problemOf(response)).toMatchObject({
      type: `${PROBLEM_BASE}payment-declined`,
      title: "Payment declined",
      status: 402,
      reason: "card declined",
      paymentId: payment.id,
      paymentStatus: "pending",
    });
  });

  it("answers 503 payment-provider-unavailable with Retry-After when the provider is down", async () => {
    const payment = pending();
    const response = await pay(payment.id, customer, { token: "tok_unavailable" });
    expect(response.status).toBe(503);
    expect(response.headers.get("retry-after")).toBe("2");
    expect(await problemOf(response)).toMatchObject({ type: `${PROBLEM_BASE}payment-provider-unavailable`, status: 503 });
  });

  it("answers 409 payment-not-payable for a voided or refunded payment", async () => {
    for (const status of ["voided", "refunded"] as const) {
      const payment = paymentView({ status });
      server.payments.items.set(payment.id, payment);
      const response = await pay(payment.id, customer, { token: "tok_ok" });
      expect(response.status).toBe(409);
      expect(await problemOf(response)).toMatchObject({ type: `${PROBLEM_BASE}payment-not-payable`, status: 409 });
    }
  });

  it("validates the body and the key, and lets only customers pay", async () => {
    const payment = pending();
    const missing = await pay(payment.id, customer, {});
    expect(missing.status).toBe(400);
    expect((await problemOf(missing)).errors).toEqual([{ path: "token", message: "required" }]);
    const unknownField = await pay(payment.id, customer, { token: "tok_ok", amount: 1 });
    expect(unknownField.status).toBe(400);
    const longKey = await pay(payment.id, customer, { token: "tok_ok" }, { "Idempotency-Key": "k".repeat(201) });
    expect((await problemOf(longKey)).errors?.[0]?.path).toBe("headers.idempotency-key");
    expect((await pay(payment.id, admin, { token: "tok_ok" })).status).toBe(403);
    expect((await pay(payment.id, seller, { token: "tok_ok" })).status).toBe(403);
    expect((await pay(payment.id, other, { token: "tok_ok" })).status).toBe(403);
    expect((await pay(payment.id, undefined, { token: "tok_ok" })).status).toBe(401);
    const notJson = await server.request(`/payments/${payment.id}/pay`, {
      method: "POST",
      token: customer,
      headers: { "Content-Type": "text/plain" },
      body: "tok_ok",
    });
    expect(notJson.status).toBe(415);
    expect(server.payments.items.get(payment.id)?.status).toBe("pending");
  });
});
