/**
 * Reservations over HTTP against the real stack (API.md "Reservations"): placing, reading, the
 * lifecycle commands that are reachable while no payment saga runs (every reservation stays
 * `placed` until it is paid), idempotency keys, and who may do what.
 */
import { randomUUID } from "node:crypto";
import { describe, expect, it } from "vitest";
import {
  type ProductResponse,
  type ReservationResponse,
  UNKNOWN_ID,
  etagOf,
  eventually,
  expectProblem,
  expectValidationError,
  expiredToken,
  refusedTokens,
  useApi,
  USERS,
} from "./support.js";

const api = useApi();

/**
 * A reservation without `paymentStatus`: that field is the payment's, which the saga requests and
 * settles asynchronously, so it may move between two reads of an unchanged reservation.
 */
const own = ({ paymentStatus: _paymentStatus, ...rest }: ReservationResponse) => rest;

const place = (json: unknown, as: string = "customer", headers: Record<string, string> = {}) =>
  api().post<ReservationResponse>("/reservations", { as, json, headers });

/** POST /reservations/{id}/progress with `step`, as `as`: the tests try many callers and steps on one reservation. */
const progress = (id: string, as: string, step: string) => api().post(`/reservations/${id}/progress`, { as, json: { step } });

describe("POST /reservations", () => {
  it("places for a customer: 201, Location, ETag, the product's terms, and holds the units", async () => {
    const product = await api().createProduct({ name: "Seats", capacity: 10, unitPrice: 1500, holdTtlSeconds: 600 });
    const before = Date.now();
    const response = await place({ productId: product.id, quantity: 3 });
    expect(response.status).toBe(201);
    const reservation = response.body;
    expect(response.headers.get("location")).toBe(`/reservations/${reservation.id}`);
    expect(response.headers.get("etag")).toBe(etagOf(0));
    expect(reservation).toEqual({
      id: reservation.id,
      productId: product.id,
      productName: "Seats",
      customerId: USERS.customer.sub,
      sellerId: USERS.seller.sub,
      quantity: 3,
      amount: 4500,
      currency: "KRW",
      status: "placed",
      paymentId: reservation.id,
      // null until the saga has requested the payment, then pending
      paymentStatus: reservation.paymentStatus === null ? null : "pending",
      currentStep: null,
      expiresAt: reservation.expiresAt,
      createdAt: reservation.createdAt,
      updatedAt: reservation.createdAt,
      revision: 0,
    });
    const created = Date.parse(reservation.createdAt);
    expect(created).toBeGreaterThanOrEqual(before - 1000);
    expect(Date.parse(reservation.expiresAt) - created).toBe(600_000);
    expect(await api().product(product.id)).toMatchObject({ held: 3, available: 7, committed: 0, status: "available", revision: 1 });
  });

  it("takes a paymentToken (the reservation is placed; the charge is asynchronous)", async () => {
    const product = await api().createProduct({ capacity: 2 });
    const response = await place({ productId: product.id, quantity: 1, paymentToken: "tok_ok" });
    expect(response.status).toBe(201);
    expect(response.body).toMatchObject({ status: "placed", quantity: 1 });
  });

  it("answers 400 validation-failed naming every missing field", async () => {
    const problem = expectValidationError(await place({}), "productId", "required");
    expect(problem.errors?.map((error) => error.path).sort()).toEqual(["productId", "quantity"]);
  });

  it.each([
    ["productId", { productId: "not-a-uuid", quantity: 1 }],
    ["quantity", { quantity: 0 }],
    ["quantity", { quantity: 10_001 }],
    ["quantity", { quantity: 1.5 }],
    ["quantity", { quantity: "2" }],
    ["quantity", { quantity: -1 }],
    ["paymentToken", { quantity: 1, paymentToken: "" }],
    ["paymentToken", { quantity: 1, paymentToken: 7 }],
    ["customerId", { quantity: 1, customerId: "someone-else" }],
  ])("answers 400 with errors[] naming %s for %j, and holds nothing", async (path, fields) => {
    const product = await api().createProduct();
    expectValidationError(await place({ productId: product.id, ...fields }), path);
    expect((await api().product(product.id)).held).toBe(0);
  });

  it("answers 400 for an Idempotency-Key longer than 200 characters", async () => {
    const product = await api().createProduct();
    expectValidationError(
      await place({ productId: product.id, quantity: 1 }, "customer", { "idempotency-key": "k".repeat(201) }),
      "headers.idempotency-key",
    );
    expect((await api().product(product.id)).held).toBe(0);
  });

  it("answers 400 invalid-json for a malformed body", async () => {
    const response = await api().post("/reservations", { as: "customer", raw: "{", headers: { "content-type": "application/json" } });
    expectProblem(response, 400, "invalid-json");
  });

  it("answers 401 without a token and with an expired, foreign or unsigned one", async () => {
    const product = await api().createProduct();
    const json = { productId: product.id, quantity: 1 };
    expectProblem(await api().post("/reservations", { json }), 401, "unauthorized");
    for (const token of await refusedTokens()) {
      expectProblem(await place(json, token), 401, "unauthorized");
    }
    expect((await api().product(product.id)).held).toBe(0);
  });

  it("answers 403 for a seller and for an admin (only customers reserve)", async () => {
    const product = await api().createProduct();
    expectProblem(await place({ productId: product.id, quantity: 1 }, "seller"), 403, "forbidden");
    expectProblem(await place({ productId: product.id, quantity: 1 }, "admin"), 403, "forbidden");
    expect((await api().product(product.id)).held).toBe(0);
  });

  it("answers 404 not-found for an unknown product", async () => {
    const problem = expectProblem(await place({ productId: UNKNOWN_ID, quantity: 1 }), 404, "not-found");
    expect(problem.resource).toBe("product");
    expectProblem(await api().get(`/products/${UNKNOWN_ID}`), 404, "not-found");
  });

  it("answers 409 insufficient-availability with `available`, and holds nothing", async () => {
    const product = await api().createProduct({ capacity: 4 });
    await api().reserve(product.id, 3);
    const refused = expectProblem(await place({ productId: product.id, quantity: 2 }, "customer2"), 409, "insufficient-availability");
    expect(refused).toMatchObject({ available: 1, requested: 2 });
    expect(await api().product(product.id)).toMatchObject({ held: 3, available: 1, revision: 1 });
    const rest = await api().reserve(product.id, 1, "customer2");
    expect(rest.quantity).toBe(1);
    expect(await api().product(product.id)).toMatchObject({ held: 4, available: 0, status: "pending" });
  });

  it("answers 409 insufficient-availability for more than the capacity on an untouched product", async () => {
    const product = await api().createProduct({ capacity: 2 });
    expect(expectProblem(await place({ productId: product.id, quantity: 3 }), 409, "insufficient-availability")).toMatchObject({
      available: 2,
    });
  });

  it("answers 409 product-withdrawn", async () => {
    const product = await api().createProduct();
    await api().delete(`/products/${product.id}`, { as: "seller" });
    expectProblem(await place({ productId: product.id, quantity: 1 }), 409, "product-withdrawn");
  });

  it("answers 413 and 415", async () => {
    const product = await api().createProduct();
    const huge = await place({ productId: product.id, quantity: 1, paymentToken: "t".repeat(70 * 1024) });
    expectProblem(huge, 413, "payload-too-large");
    const text = await api().post("/reservations", {
      as: "customer",
      raw: `productId=${product.id}`,
      headers: { "content-type": "text/plain" },
    });
    expectProblem(text, 415, "unsupported-media-type");
    expect((await api().product(product.id)).held).toBe(0);
  });
});

describe("unitPrice on POST /reservations: the price the customer agreed to", () => {
  it("places at the agreed price; after the seller changes it, 409 price-changed and nothing is held", async () => {
    const product = await api().createProduct({ capacity: 10, unitPrice: 1 });
    const placed = await place({ productId: product.id, quantity: 2, unitPrice: 1 });
    expect(placed.status).toBe(201);
    expect(placed.body.amount).toBe(2);

    // The attack: the price is raised between the customer's GET and their POST with a payment token.
    const raised = await api().patch(`/products/${product.id}`, { as: "seller", json: { unitPrice: 1_000_000_000 } });
    expect(raised.status).toBe(200);
    const refused = expectProblem(
      await place({ productId: product.id, quantity: 5, paymentToken: "tok_ok", unitPrice: 1 }),
      409,
      "price-changed",
    );
    expect(refused).toMatchObject({ unitPrice: 1_000_000_000, agreedUnitPrice: 1 });
    expect(await api().product(product.id)).toMatchObject({ held: 2 });
  });

  it("is validated like any price", async () => {
    const product = await api().createProduct();
    expectValidationError(await place({ productId: product.id, quantity: 1, unitPrice: -1 }), "unitPrice");
  });
});

describe("perCustomerLimit: units one customer may hold and reserve on a product", () => {
  it("refuses a customer past the limit with 409 per-customer-limit, while other customers still reserve", async () => {
    // The attack: one customer held 30 million units in 3,000 requests.
    const product = await api().createProduct({ capacity: 100, perCustomerLimit: 4 });
    expect(product.perCustomerLimit).toBe(4);
    expect((await place({ productId: product.id, quantity: 3 })).status).toBe(201);
    const refused = expectProblem(await place({ productId: product.id, quantity: 2 }), 409, "per-customer-limit");
    expect(refused).toMatchObject({ limit: 4, allocated: 3, requested: 2 });
    expect((await place({ productId: product.id, quantity: 1 })).status).toBe(201);
    expect((await place({ productId: product.id, quantity: 4 }, "customer2")).status).toBe(201);
    expect(await api().product(product.id)).toMatchObject({ held: 8, perCustomerLimit: 4 });
  });

  it("is validated at registration", async () => {
    const response = await api().post("/products", {
      as: "seller",
      json: { name: "Seats", capacity: 10, unitPrice: 1, perCustomerLimit: 0 },
    });
    expectValidationError(response, "perCustomerLimit");
  });
});

describe("Idempotency-Key on POST /reservations", () => {
  it("the same key from the same user returns the first reservation (200) and changes nothing", async () => {
    const product = await api().createProduct({ capacity: 5 });
    const key = randomUUID();
    const first = await place({ productId: product.id, quantity: 2 }, "customer", { "idempotency-key": key });
    expect(first.status).toBe(201);
    const afterFirst = await api().product(product.id);
    expect(afterFirst).toMatchObject({ held: 2, revision: 1 });

    const again = await place({ productId: product.id, quantity: 2 }, "customer", { "idempotency-key": key });
    expect(again.status).toBe(200);
    expect(own(again.body)).toEqual(own(first.body));
    expect(again.headers.get("location")).toBe(`/reservations/${first.body.id}`);
    expect(again.headers.get("etag")).toBe(etagOf(0));

    // A different body under the same key is another request: 422, and nothing changes.
    const different = await place({ productId: product.id, quantity: 4 }, "customer", { "idempotency-key": key });
    expect(expectProblem(different, 422, "idempotency-key-reused").reservationId).toBe(first.body.id);
    expect(await api().product(product.id)).toEqual(afterFirst);
    const withToken = await place({ productId: product.id, quantity: 2, paymentToken: "tok_ok" }, "customer", { "idempotency-key": key });
    expectProblem(withToken, 422, "idempotency-key-reused");
    expect(await api().product(product.id)).toEqual(afterFirst);
  });

  it("the same key used later for another product answers 422 and holds nothing on it", async () => {
    const first = await api().createProduct({ capacity: 5 });
    const second = await api().createProduct({ capacity: 5 });
    const key = randomUUID();
    expect((await place({ productId: first.id, quantity: 1 }, "customer", { "idempotency-key": key })).status).toBe(201);
    expectProblem(
      await place({ productId: second.id, quantity: 1 }, "customer", { "idempotency-key": key }),
      422,
      "idempotency-key-reused",
    );
    expect(await api().product(second.id)).toEqual(second);
  });

  it("one key sent at once for ten products reserves one of them; the other nine get 422 and their units back at once", async () => {
    // The attack: every request held its product's whole capacity before the key was checked, and
    // nine of those holds were never released, so one customer locked ten products for good.
    const products = await Promise.all(Array.from({ length: 10 }, () => api().createProduct({ capacity: 10, holdTtlSeconds: 10 })));
    const key = randomUUID();
    const answers = await Promise.all(
      products.map((product) => place({ productId: product.id, quantity: 10 }, "customer", { "idempotency-key": key })),
    );
    const statuses = answers.map((answer) => answer.status);
    expect(statuses.filter((status) => status === 201)).toHaveLength(1);
    expect(statuses.filter((status) => status === 422)).toHaveLength(9);
    const winner = answers.find((answer) => answer.status === 201)?.body;
    for (const answer of answers) if (answer.status === 422) expectProblem(answer, 422, "idempotency-key-reused");
    for (const product of products) {
      const current = await api().product(product.id);
      if (product.id === winner?.productId) expect(current).toMatchObject({ held: 10, available: 0 });
      else expect(current, `product ${product.id}`).toMatchObject({ held: 0, available: 10, status: "available" });
    }
  });

  it("the same key from another user makes another reservation", async () => {
    const product = await api().createProduct({ capacity: 5 });
    const key = randomUUID();
    const alice = await place({ productId: product.id, quantity: 1 }, "customer", { "idempotency-key": key });
    const bob = await place({ productId: product.id, quantity: 1 }, "customer2", { "idempotency-key": key });
    expect(alice.status).toBe(201);
    expect(bob.status).toBe(201);
    expect(bob.body.id).not.toBe(alice.body.id);
    expect(bob.body.customerId).toBe(USERS.customer2.sub);
    expect(await api().product(product.id)).toMatchObject({ held: 2, revision: 2 });
  });

  it("concurrent requests with one key make one reservation: one 201, the rest 200 with the same id", async () => {
    const product = await api().createProduct({ capacity: 20 });
    const key = randomUUID();
    const answers = await Promise.all(
      Array.from({ length: 6 }, () => place({ productId: product.id, quantity: 3 }, "customer", { "idempotency-key": key })),
    );
    expect(answers.map((answer) => answer.status).sort()).toEqual([200, 200, 200, 200, 200, 201]);
    expect(new Set(answers.map((answer) => answer.body.id)).size).toBe(1);
    expect(await api().product(product.id)).toMatchObject({ held: 3, revision: 1 });
  });

  it("a key whose reservation was cancelled still answers with it and holds nothing new", async () => {
    const product = await api().createProduct({ capacity: 5 });
    const key = randomUUID();
    const first = await place({ productId: product.id, quantity: 1 }, "customer", { "idempotency-key": key });
    await api().post(`/reservations/${first.body.id}/cancel`, { as: "customer" });
    // the saga releases the cancelled reservation's units: wait for that before comparing
    const productBefore = await eventually(
      async () => {
        const current = await api().product(product.id);
        expect(current.held).toBe(0);
        return current;
      },
      { timeoutMs: 15_000 },
    );
    const again = await place({ productId: product.id, quantity: 1 }, "customer", { "idempotency-key": key });
    expect(again.status).toBe(200);
    expect(again.body).toMatchObject({ id: first.body.id, status: "cancelled" });
    expect(await api().product(product.id)).toEqual(productBefore);
  });

  it("a refused first attempt does not poison the key: once units are free the same key places", async () => {
    const product = await api().createProduct({ capacity: 2 });
    const key = randomUUID();
    expectProblem(
      await place({ productId: product.id, quantity: 3 }, "customer", { "idempotency-key": key }),
      409,
      "insufficient-availability",
    );
    const placed = await place({ productId: product.id, quantity: 2 }, "customer", { "idempotency-key": key });
    expect(placed.status).toBe(201);
    expect(await api().product(product.id)).toMatchObject({ held: 2 });
  });
});

describe("GET /reservations/{id}", () => {
  it("its customer, the product's seller and an admin may read it; another customer or seller may not", async () => {
    const product = await api().createProduct();
    const reservation = await api().reserve(product.id, 2);
    for (const as of ["customer", "seller", "admin"] as const) {
      const response = await api().get<ReservationResponse>(`/reservations/${reservation.id}`, { as });
      expect(response.status, as).toBe(200);
      expect(own(response.body)).toEqual(own(reservation));
      expect(response.headers.get("etag")).toBe(etagOf(0));
    }
    expectProblem(await api().get(`/reservations/${reservation.id}`, { as: "customer2" }), 403, "forbidden");
    expectProblem(await api().get(`/reservations/${reservation.id}`, { as: "seller2" }), 403, "forbidden");
  });

  it("answers 401 without a token, 404 for an unknown id, 400 for a bad id", async () => {
    const product = await api().createProduct();
    const reservation = await api().reserve(product.id);
    expectProblem(await api().get(`/reservations/${reservation.id}`), 401, "unauthorized");
    expectProblem(await api().get(`/reservations/${reservation.id}`, { as: await expiredToken() }), 401, "unauthorized");
    const unknown = expectProblem(await api().get(`/reservations/${UNKNOWN_ID}`, { as: "admin" }), 404, "not-found");
    expect(unknown.resource).toBe("reservation");
    expectProblem(await api().get(`/reservations/${UNKNOWN_ID}`, { as: "customer" }), 404, "not-found");
    expectValidationError(await api().get("/reservations/xyz", { as: "customer" }), "params.id");
  });

  it("a product id is not a reservation id (404)", async () => {
    const product = await api().createProduct();
    expectProblem(await api().get(`/reservations/${product.id}`, { as: "admin" }), 404, "not-found");
  });
});

describe("POST /reservations/{id}/cancel", () => {
  it("its customer cancels a placed reservation: 200 cancelled; cancelling again answers 200 and changes nothing", async () => {
    const product = await api().createProduct({ capacity: 3 });
    const reservation = await api().reserve(product.id, 2);
    const cancelled = await api().post<ReservationResponse>(`/reservations/${reservation.id}/cancel`, { as: "customer" });
    expect(cancelled.status).toBe(200);
    expect(cancelled.body).toMatchObject({ id: reservation.id, status: "cancelled", revision: 1 });
    expect(cancelled.headers.get("etag")).toBe(etagOf(1));
    expect(Date.parse(cancelled.body.updatedAt)).toBeGreaterThanOrEqual(Date.parse(reservation.updatedAt));

    const again = await api().post<ReservationResponse>(`/reservations/${reservation.id}/cancel`, { as: "customer", json: {} });
    expect(again.status).toBe(200);
    expect(own(again.body)).toEqual(own(cancelled.body));
    expect(own((await api().get<ReservationResponse>(`/reservations/${reservation.id}`, { as: "customer" })).body)).toEqual(
      own(cancelled.body),
    );
  });

  /**
   * DESIGN §5: cancel -> release. Only placing is synchronous; the release of a cancelled
   * reservation's units is the reservation saga's work (a persistent-subscription worker in the
   * same process here: ROLE=all), so it is awaited, within bounds.
   */
  it("cancelling a placed reservation makes its units available again (the saga releases them)", async () => {
    const product = await api().createProduct({ capacity: 1 });
    const reservation = await api().reserve(product.id, 1);
    expect((await api().product(product.id)).status).toBe("pending");
    await api().post(`/reservations/${reservation.id}/cancel`, { as: "customer" });
    await eventually(async () => expect(await api().product(product.id)).toMatchObject({ status: "available", available: 1, held: 0 }), {
      timeoutMs: 15_000,
    });
    expect(
      (await api().post<ReservationResponse>("/reservations", { as: "customer2", json: { productId: product.id, quantity: 1 } })).status,
    ).toBe(201);
  });

  it("an admin may cancel anyone's reservation", async () => {
    const product = await api().createProduct();
    const reservation = await api().reserve(product.id);
    const cancelled = await api().post<ReservationResponse>(`/reservations/${reservation.id}/cancel`, { as: "admin" });
    expect(cancelled.status).toBe(200);
    expect(cancelled.body.status).toBe("cancelled");
  });

  it("another customer and the product's seller may not (403), and nothing changes", async () => {
    const product = await api().createProduct();
    const reservation = await api().reserve(product.id);
    expectProblem(await api().post(`/reservations/${reservation.id}/cancel`, { as: "customer2" }), 403, "forbidden");
    expectProblem(await api().post(`/reservations/${reservation.id}/cancel`, { as: "seller" }), 403, "forbidden");
    expectProblem(await api().post(`/reservations/${reservation.id}/cancel`, { as: "seller2" }), 403, "forbidden");
    expect((await api().get<ReservationResponse>(`/reservations/${reservation.id}`, { as: "customer" })).body).toMatchObject({
      status: "placed",
      revision: 0,
    });
  });

  it("honours If-Match: stale is 412 and changes nothing, matching applies", async () => {
    const product = await api().createProduct();
    const reservation = await api().reserve(product.id);
    const stale = await api().post(`/reservations/${reservation.id}/cancel`, { as: "customer", headers: { "if-match": etagOf(5) } });
    expect(expectProblem(stale, 412, "revision-mismatch")).toMatchObject({ expectedRevision: 5, currentRevision: 0 });
    expect((await api().get<ReservationResponse>(`/reservations/${reservation.id}`, { as: "customer" })).body.status).toBe("placed");
    const matching = await api().post<ReservationResponse>(`/reservations/${reservation.id}/cancel`, {
      as: "customer",
      headers: { "if-match": etagOf(0) },
    });
    expect(matching.status).toBe(200);
    expect(matching.body.status).toBe("cancelled");
    expectProblem(
      await api().post(`/reservations/${reservation.id}/cancel`, { as: "customer", headers: { "if-match": "nonsense" } }),
      400,
      "invalid-if-match",
    );
  });

  it("answers 401, 404, 400 for a bad id or an unknown field, 413, 415", async () => {
    const product = await api().createProduct();
    const reservation = await api().reserve(product.id);
    expectProblem(await api().post(`/reservations/${reservation.id}/cancel`), 401, "unauthorized");
    expectProblem(await api().post(`/reservations/${UNKNOWN_ID}/cancel`, { as: "customer" }), 404, "not-found");
    expectProblem(await api().post(`/reservations/${UNKNOWN_ID}/cancel`, { as: "admin" }), 404, "not-found");
    expectValidationError(await api().post("/reservations/1/cancel", { as: "customer" }), "params.id");
    expectValidationError(
      await api().post(`/reservations/${reservation.id}/cancel`, { as: "customer", json: { why: "because" } }),
      "why",
      "unknown field",
    );
    expectProblem(
      await api().post(`/reservations/${reservation.id}/cancel`, { as: "customer", json: { pad: "x".repeat(70 * 1024) } }),
      413,
      "payload-too-large",
    );
    expectProblem(
      await api().post(`/reservations/${reservation.id}/cancel`, {
        as: "customer",
        raw: "please",
        headers: { "content-type": "text/plain" },
      }),
      415,
      "unsupported-media-type",
    );
    expect((await api().get<ReservationResponse>(`/reservations/${reservation.id}`, { as: "customer" })).body.status).toBe("placed");
  });
});

describe("seller and rental commands on a placed (unpaid) reservation", () => {
  const setup = async (fields: Parameters<ReturnType<typeof api>["createProduct"]>[0] = {}) => {
    const product = await api().createProduct({ capacity: 5, ...fields });
    const reservation = await api().reserve(product.id, 1);
    return { product, reservation };
  };

  const statusOf = async (id: string) => (await api().get<ReservationResponse>(`/reservations/${id}`, { as: "admin" })).body;

  it("accept and reject: 409 invalid-transition for the product's seller and an admin (only awaiting-acceptance)", async () => {
    const { reservation } = await setup({ sellerAcceptance: true });
    for (const as of ["seller", "admin"] as const) {
      const accept = expectProblem(await api().post(`/reservations/${reservation.id}/accept`, { as }), 409, "invalid-transition");
      expect(accept).toMatchObject({ from: "placed", command: "accept" });
      expectProblem(
        await api().post(`/reservations/${reservation.id}/reject`, { as, json: { reason: "closed today" } }),
        409,
        "invalid-transition",
      );
      expectProblem(await api().post(`/reservations/${reservation.id}/reject`, { as }), 409, "invalid-transition");
    }
    expect(await statusOf(reservation.id)).toMatchObject({ status: "placed", revision: 0 });
  });

  it("accept and reject: 403 for another seller (not the product's) and for customers", async () => {
    const { reservation } = await setup({ sellerAcceptance: true });
    for (const command of ["accept", "reject"]) {
      expectProblem(await api().post(`/reservations/${reservation.id}/${command}`, { as: "seller2" }), 403, "forbidden");
      expectProblem(await api().post(`/reservations/${reservation.id}/${command}`, { as: "customer" }), 403, "forbidden");
      expectProblem(await api().post(`/reservations/${reservation.id}/${command}`, { as: "customer2" }), 403, "forbidden");
    }
  });

  it("accept and reject: 401, 404, 400 (reason too long, unknown field)", async () => {
    const { reservation } = await setup({ sellerAcceptance: true });
    expectProblem(await api().post(`/reservations/${reservation.id}/accept`), 401, "unauthorized");
    expectProblem(await api().post(`/reservations/${UNKNOWN_ID}/accept`, { as: "seller" }), 404, "not-found");
    expectProblem(await api().post(`/reservations/${UNKNOWN_ID}/reject`, { as: "admin" }), 404, "not-found");
    expectValidationError(
      await api().post(`/reservations/${reservation.id}/reject`, { as: "seller", json: { reason: "r".repeat(501) } }),
      "reason",
    );
    expectValidationError(
      await api().post(`/reservations/${reservation.id}/accept`, { as: "seller", json: { note: 1 } }),
      "note",
      "unknown field",
    );
  });

  it("progress: 409 invalid-transition for the seller, an admin, and the customer confirming the last step", async () => {
    const { reservation } = await setup({ fulfilmentSteps: ["cooking", "delivered"] });
    expect(expectProblem(await progress(reservation.id, "seller", "cooking"), 409, "invalid-transition")).toMatchObject({
      from: "placed",
      command: "progress",
    });
    expectProblem(await progress(reservation.id, "admin", "cooking"), 409, "invalid-transition");
    expectProblem(await progress(reservation.id, "customer", "delivered"), 409, "invalid-transition");
    expect(await statusOf(reservation.id)).toMatchObject({ status: "placed", currentStep: null, revision: 0 });
  });

  it("progress: 403 for the customer on a step that is not the last, for another customer and another seller", async () => {
    const { reservation } = await setup({ fulfilmentSteps: ["cooking", "delivered"] });
    expectProblem(await progress(reservation.id, "customer", "cooking"), 403, "forbidden");
    expectProblem(await progress(reservation.id, "customer2", "delivered"), 403, "forbidden");
    expectProblem(await progress(reservation.id, "seller2", "cooking"), 403, "forbidden");
  });

  it("progress: 400 without a step or with a bad one, 409 on a product without steps", async () => {
    const { reservation } = await setup({ fulfilmentSteps: ["cooking"] });
    expectValidationError(await api().post(`/reservations/${reservation.id}/progress`, { as: "seller" }), "step", "required");
    expectValidationError(await progress(reservation.id, "seller", ""), "step");
    expectValidationError(await progress(reservation.id, "seller", "s".repeat(41)), "step");
    const plain = await setup();
    expectProblem(await progress(plain.reservation.id, "seller", "anything"), 409, "invalid-transition");
  });

  it("start and return of a rental: 409 invalid-transition for its customer and an admin (start needs confirmed)", async () => {
    const { reservation } = await setup({ kind: "rental" });
    for (const as of ["customer", "admin"] as const) {
      expect(expectProblem(await api().post(`/reservations/${reservation.id}/start`, { as }), 409, "invalid-transition")).toMatchObject({
        from: "placed",
        command: "start",
      });
      expect(expectProblem(await api().post(`/reservations/${reservation.id}/return`, { as }), 409, "invalid-transition")).toMatchObject({
        from: "placed",
        command: "return",
      });
    }
    expect(await statusOf(reservation.id)).toMatchObject({ status: "placed", revision: 0 });
  });

  it("start and return: 403 for another customer and for sellers; 409 on a sale (not a rental)", async () => {
    const { reservation } = await setup({ kind: "rental" });
    for (const command of ["start", "return"]) {
      expectProblem(await api().post(`/reservations/${reservation.id}/${command}`, { as: "customer2" }), 403, "forbidden");
      expectProblem(await api().post(`/reservations/${reservation.id}/${command}`, { as: "seller" }), 403, "forbidden");
    }
    const sale = await setup({ kind: "sale" });
    expectProblem(await api().post(`/reservations/${sale.reservation.id}/start`, { as: "customer" }), 409, "invalid-transition");
    expectProblem(await api().post(`/reservations/${sale.reservation.id}/return`, { as: "customer" }), 409, "invalid-transition");
  });

  it("start and return: 401, 404", async () => {
    const { reservation } = await setup({ kind: "rental" });
    expectProblem(await api().post(`/reservations/${reservation.id}/start`), 401, "unauthorized");
    expectProblem(await api().post(`/reservations/${UNKNOWN_ID}/start`, { as: "customer" }), 404, "not-found");
    expectProblem(await api().post(`/reservations/${UNKNOWN_ID}/return`, { as: "admin" }), 404, "not-found");
  });

  it("a cancelled reservation refuses accept, progress and start with invalid-transition", async () => {
    const { reservation } = await setup({ kind: "rental" });
    await api().post(`/reservations/${reservation.id}/cancel`, { as: "customer" });
    expectProblem(await api().post(`/reservations/${reservation.id}/accept`, { as: "seller" }), 409, "invalid-transition");
    expectProblem(await api().post(`/reservations/${reservation.id}/start`, { as: "customer" }), 409, "invalid-transition");
    expectProblem(await api().post(`/reservations/${reservation.id}/return`, { as: "customer" }), 409, "invalid-transition");
    const steps = await setup({ fulfilmentSteps: ["cooking"] });
    await api().post(`/reservations/${steps.reservation.id}/cancel`, { as: "admin" });
    expectProblem(await progress(steps.reservation.id, "seller", "cooking"), 409, "invalid-transition");
    expect(await statusOf(reservation.id)).toMatchObject({ status: "cancelled", revision: 1 });
  });

  it("If-Match on the seller's commands: a stale revision is 412 before the rule is checked", async () => {
    const { reservation } = await setup({ sellerAcceptance: true });
    expectProblem(
      await api().post(`/reservations/${reservation.id}/accept`, { as: "seller", headers: { "if-match": etagOf(3) } }),
      412,
      "revision-mismatch",
    );
  });
});

describe("role and ownership matrix across products and reservations", () => {
  it("a seller's product and its reservations belong to that seller; admin can do everything", async () => {
    const product: ProductResponse = await api().createProduct({ capacity: 10, sellerAcceptance: true });
    const alice = await api().reserve(product.id, 1, "customer");
    const bob = await api().reserve(product.id, 2, "customer2");

    // customers: own reservation only
    expect((await api().get(`/reservations/${alice.id}`, { as: "customer" })).status).toBe(200);
    expect((await api().get(`/reservations/${bob.id}`, { as: "customer" })).status).toBe(403);
    expect((await api().post(`/reservations/${bob.id}/cancel`, { as: "customer" })).status).toBe(403);
    // the product's seller: reads both, may not cancel; another seller: nothing
    expect((await api().get(`/reservations/${alice.id}`, { as: "seller" })).status).toBe(200);
    expect((await api().get(`/reservations/${bob.id}`, { as: "seller" })).status).toBe(200);
    expect((await api().get(`/reservations/${bob.id}`, { as: "seller2" })).status).toBe(403);
    expect((await api().post(`/reservations/${bob.id}/accept`, { as: "seller2" })).status).toBe(403);
    expect((await api().patch(`/products/${product.id}`, { as: "seller2", json: { unitPrice: 1 } })).status).toBe(403);
    expect((await api().delete(`/products/${product.id}`, { as: "seller2" })).status).toBe(403);
    // admin: reads, changes, cancels anything
    expect((await api().get(`/reservations/${bob.id}`, { as: "admin" })).status).toBe(200);
    expect((await api().patch(`/products/${product.id}`, { as: "admin", json: { unitPrice: 1 } })).status).toBe(200);
    expect((await api().post(`/reservations/${bob.id}/cancel`, { as: "admin" })).status).toBe(200);
    expect((await api().post(`/reservations/${alice.id}/cancel`, { as: "customer" })).status).toBe(200);

    // the reservation keeps the price it was placed at
    expect((await api().get<ReservationResponse>(`/reservations/${bob.id}`, { as: "customer2" })).body).toMatchObject({
      amount: 2000,
      status: "cancelled",
    });
  });
});
