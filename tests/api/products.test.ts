/**
 * Products over HTTP against the real stack (API.md "Products"): register, read, change, withdraw;
 * every 4xx the contract lists; who may do what; status transitions driven by reservations.
 */
import { describe, expect, it } from "vitest";
import {
  type ProductResponse,
  type RegisterProductFields,
  type ReservationResponse,
  UNKNOWN_ID,
  badRoleToken,
  etagOf,
  expectProblem,
  expectValidationError,
  expiredToken,
  refusedTokens,
  useApi,
  USERS,
} from "./support.js";
import { PRODUCT_DEFAULTS } from "../support/product-fields.js";

const api = useApi();

describe("POST /products", () => {
  it('registers for a seller: 201, Location, ETag W/"0", defaults applied, the seller owns it', async () => {
    const response = await api().post<ProductResponse>("/products", {
      as: "seller",
      json: { name: "Book", capacity: 3, unitPrice: 12_000 },
    });
    expect(response.status).toBe(201);
    expect(response.headers.get("content-type")).toMatch(/^application\/json/);
    const product = response.body;
    expect(product.id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
    expect(response.headers.get("location")).toBe(`/products/${product.id}`);
    expect(response.headers.get("etag")).toBe(etagOf(0));
    expect(product).toEqual({
      id: product.id,
      sellerId: USERS.seller.sub,
      name: "Book",
      capacity: 3,
      available: 3,
      held: 0,
      committed: 0,
      status: "available",
      unitPrice: 12_000,
      ...PRODUCT_DEFAULTS,
      revision: 0,
    });
  });

  it("takes every optional field", async () => {
    const fields = {
      capacity: 1_000_000,
      unitPrice: 1_000_000_000,
      currency: "USD",
      kind: "rental",
      sellerAcceptance: true,
      fulfilmentSteps: ["cooking", "cooked", "picked-up", "delivered"],
      holdTtlSeconds: 10,
    } satisfies Partial<RegisterProductFields>;
    const product = await api().createProduct({ name: "Delivery", ...fields });
    // Every field comes back as given.
    expect(product).toMatchObject({ ...fields, available: 1_000_000 });
  });

  it("registers for an admin, who then owns it", async () => {
    const product = await api().createProduct({}, "admin");
    expect(product.sellerId).toBe(USERS.admin.sub);
  });

  it("answers 400 validation-failed naming every missing field", async () => {
    const response = await api().post("/products", { as: "seller", json: {} });
    const problem = expectValidationError(response, "name", "required");
    expect(problem.errors?.map((error) => error.path).sort()).toEqual(["capacity", "name", "unitPrice"]);
  });

  const base = { name: "Valid", capacity: 1, unitPrice: 0 };
  it.each([
    ["name", { ...base, name: "" }],
    ["name", { ...base, name: "x".repeat(201) }],
    ["name", { ...base, name: 42 }],
    ["capacity", { ...base, capacity: 0 }],
    ["capacity", { ...base, capacity: 1_000_001 }],
    ["capacity", { ...base, capacity: 1.5 }],
    ["capacity", { ...base, capacity: "10" }],
    ["unitPrice", { ...base, unitPrice: -1 }],
    ["unitPrice", { ...base, unitPrice: 1_000_000_001 }],
    ["currency", { ...base, currency: "krw" }],
    ["kind", { ...base, kind: "lease" }],
    ["sellerAcceptance", { ...base, sellerAcceptance: "yes" }],
    ["fulfilmentSteps", { ...base, fulfilmentSteps: ["a", "a"] }],
    ["fulfilmentSteps", { ...base, fulfilmentSteps: Array.from({ length: 11 }, (_, i) => `step-${i}`) }],
    ["fulfilmentSteps.0", { ...base, fulfilmentSteps: ["x".repeat(41)] }],
    ["fulfilmentSteps.1", { ...base, fulfilmentSteps: ["a", ""] }],
    ["holdTtlSeconds", { ...base, holdTtlSeconds: 9 }],
    ["holdTtlSeconds", { ...base, holdTtlSeconds: 86_401 }],
    ["sellerId", { ...base, sellerId: "someone-else" }],
  ])("answers 400 with errors[] naming %s for %j", async (path, json) => {
    const response = await api().post("/products", { as: "seller", json });
    expectValidationError(response, path);
  });

  it("answers 400 for a blank name (whitespace passes the schema; the domain refuses it as invalid-command)", async () => {
    const response = await api().post("/products", { as: "seller", json: { name: "   ", capacity: 1, unitPrice: 0 } });
    expect(response.status).toBe(400);
    expect(response.headers.get("content-type")).toContain("application/problem+json");
  });

  it("accepts the boundaries of every range", async () => {
    const low = await api().createProduct({ name: "x", capacity: 1, unitPrice: 0, holdTtlSeconds: 10, fulfilmentSteps: [] });
    expect(low.capacity).toBe(1);
    const high = await api().createProduct({
      name: "x".repeat(200),
      capacity: 1_000_000,
      unitPrice: 1_000_000_000,
      holdTtlSeconds: 86_400,
      fulfilmentSteps: Array.from({ length: 10 }, (_, i) => `${i}`.padEnd(40, "s")),
    });
    expect(high.holdTtlSeconds).toBe(86_400);
  });

  it("answers 400 invalid-json for a malformed body and for a bare scalar", async () => {
    expectProblem(
      await api().post("/products", { as: "seller", raw: '{"name":', headers: { "content-type": "application/json" } }),
      400,
      "invalid-json",
    );
    const scalar = await api().post("/products", { as: "seller", raw: "42", headers: { "content-type": "application/json" } });
    expect(scalar.status).toBe(400);
  });

  it("answers 401 without a token, with an expired, a foreign, an unsigned, a malformed token, or a bad role claim", async () => {
    const json = { name: "x", capacity: 1, unitPrice: 0 };
    const none = expectProblem(await api().post("/products", { json }), 401, "unauthorized");
    expect(none.detail).toMatch(/Bearer/);
    for (const token of [...(await refusedTokens(USERS.seller.sub, "seller")), "not.a.jwt", await badRoleToken()]) {
      const response = await api().post("/products", { as: token, json });
      expectProblem(response, 401, "unauthorized");
      expect(response.headers.get("www-authenticate")).toMatch(/^Bearer /);
    }
    const expired = await api().post("/products", { as: await expiredToken(USERS.seller.sub, "seller"), json });
    expect((expired.body as { detail: string }).detail).toMatch(/expired/);
    const scheme = await api().post("/products", { json, headers: { authorization: `Basic ${Buffer.from("a:b").toString("base64")}` } });
    expectProblem(scheme, 401, "unauthorized");
  });

  it("answers 403 for a customer", async () => {
    expectProblem(await api().post("/products", { as: "customer", json: { name: "x", capacity: 1, unitPrice: 0 } }), 403, "forbidden");
  });

  it("answers 413 for a body over the limit and 415 for a body that is not JSON", async () => {
    const huge = { name: "x", capacity: 1, unitPrice: 0, padding: "x".repeat(70 * 1024) };
    expectProblem(await api().post("/products", { as: "seller", json: huge }), 413, "payload-too-large");
    const text = await api().post("/products", { as: "seller", raw: "name=x", headers: { "content-type": "text/plain" } });
    expectProblem(text, 415, "unsupported-media-type");
    const form = await api().post("/products", {
      as: "seller",
      raw: "name=x&capacity=1&unitPrice=0",
      headers: { "content-type": "application/x-www-form-urlencoded" },
    });
    expectProblem(form, 415, "unsupported-media-type");
  });
});

describe("GET /products/{id}", () => {
  it('lets anyone read a product, without a token, with ETag W/"<revision>"', async () => {
    const created = await api().createProduct({ name: "Readable" });
    await api().patch(`/products/${created.id}`, { as: "seller", json: { name: "Renamed" } });
    const response = await api().get<ProductResponse>(`/products/${created.id}`);
    expect(response.status).toBe(200);
    expect(response.body).toEqual({ ...created, name: "Renamed", revision: 1 });
    expect(response.headers.get("etag")).toBe(etagOf(1));
    for (const as of ["customer", "seller2", "admin"] as const) {
      expect((await api().get<ProductResponse>(`/products/${created.id}`, { as })).body.name).toBe("Renamed");
    }
  });

  it("answers 404 not-found for an unknown id and 400 for an id that is not a UUID", async () => {
    const unknown = expectProblem(await api().get(`/products/${UNKNOWN_ID}`), 404, "not-found");
    expect(unknown.resource).toBe("product");
    expectValidationError(await api().get("/products/not-a-uuid"), "params.id");
  });
});

describe("PATCH /products/{id}", () => {
  it("changes name, capacity and price for the owner; the revision and ETag move on", async () => {
    const product = await api().createProduct({ capacity: 5, unitPrice: 100 });
    const response = await api().patch<ProductResponse>(`/products/${product.id}`, {
      as: "seller",
      json: { name: "Renamed", capacity: 7, unitPrice: 250 },
    });
    expect(response.status).toBe(200);
    expect(response.body).toMatchObject({ name: "Renamed", capacity: 7, available: 7, unitPrice: 250, revision: 1 });
    expect(response.headers.get("etag")).toBe(etagOf(1));
    expect(await api().product(product.id)).toEqual(response.body);
  });

  it("changes nothing when nothing differs (same revision)", async () => {
    const product = await api().createProduct({ name: "Same" });
    const response = await api().patch<ProductResponse>(`/products/${product.id}`, { as: "seller", json: { name: "Same" } });
    expect(response.status).toBe(200);
    expect(response.body.revision).toBe(0);
    const empty = await api().patch<ProductResponse>(`/products/${product.id}`, { as: "seller", json: {} });
    expect(empty.status).toBe(200);
    expect(empty.body.revision).toBe(0);
  });

  it("honours If-Match: a matching ETag or * applies, a stale one is 412 and changes nothing", async () => {
    const product = await api().createProduct({ name: "v0" });
    const matching = await api().patch<ProductResponse>(`/products/${product.id}`, {
      as: "seller",
      json: { name: "v1" },
      headers: { "if-match": etagOf(0) },
    });
    expect(matching.status).toBe(200);
    expect(matching.headers.get("etag")).toBe(etagOf(1));

    const stale = await api().patch(`/products/${product.id}`, { as: "seller", json: { name: "v2" }, headers: { "if-match": etagOf(0) } });
    const problem = expectProblem(stale, 412, "revision-mismatch");
    expect(problem).toMatchObject({ expectedRevision: 0, currentRevision: 1 });
    const strong = await api().patch(`/products/${product.id}`, { as: "seller", json: { name: "v2" }, headers: { "if-match": '"7"' } });
    expectProblem(strong, 412, "revision-mismatch");
    const notARevision = await api().patch(`/products/${product.id}`, {
      as: "seller",
      json: { name: "v2" },
      headers: { "if-match": '"abc"' },
    });
    expectProblem(notARevision, 412, "revision-mismatch");
    expect(await api().product(product.id)).toMatchObject({ name: "v1", revision: 1 });

    const star = await api().patch<ProductResponse>(`/products/${product.id}`, {
      as: "seller",
      json: { name: "v2" },
      headers: { "if-match": "*" },
    });
    expect(star.status).toBe(200);
    expect(star.body).toMatchObject({ name: "v2", revision: 2 });
    const strongMatching = await api().patch<ProductResponse>(`/products/${product.id}`, {
      as: "seller",
      json: { name: "v3" },
      headers: { "if-match": '"2"' },
    });
    expect(strongMatching.body).toMatchObject({ name: "v3", revision: 3 });
  });

  it("answers 400 invalid-if-match for a malformed If-Match", async () => {
    const product = await api().createProduct();
    for (const header of ["3", 'W/"1", W/"2"', "W/3"]) {
      expectProblem(
        await api().patch(`/products/${product.id}`, { as: "seller", json: { name: "x" }, headers: { "if-match": header } }),
        400,
        "invalid-if-match",
      );
    }
  });

  it("answers 403 for another seller and for a customer, and changes nothing; an admin may", async () => {
    const product = await api().createProduct({ name: "Mine" });
    expectProblem(await api().patch(`/products/${product.id}`, { as: "seller2", json: { name: "Stolen" } }), 403, "forbidden");
    expectProblem(await api().patch(`/products/${product.id}`, { as: "customer", json: { name: "Stolen" } }), 403, "forbidden");
    expect(await api().product(product.id)).toMatchObject({ name: "Mine", revision: 0 });
    const admin = await api().patch<ProductResponse>(`/products/${product.id}`, { as: "admin", json: { name: "Moderated" } });
    expect(admin.status).toBe(200);
    expect(admin.body).toMatchObject({ name: "Moderated", sellerId: USERS.seller.sub });
  });

  it("answers 401 without a token, 404 for an unknown id, 400 for a bad id", async () => {
    const product = await api().createProduct();
    expectProblem(await api().patch(`/products/${product.id}`, { json: { name: "x" } }), 401, "unauthorized");
    expectProblem(await api().patch(`/products/${UNKNOWN_ID}`, { as: "seller", json: { name: "x" } }), 404, "not-found");
    expectProblem(await api().patch(`/products/${UNKNOWN_ID}`, { as: "admin", json: { name: "x" } }), 404, "not-found");
    expectValidationError(await api().patch("/products/123", { as: "seller", json: { name: "x" } }), "params.id");
  });

  it.each([
    ["name", { name: "" }],
    ["capacity", { capacity: 0 }],
    ["capacity", { capacity: 1_000_001 }],
    ["unitPrice", { unitPrice: -5 }],
    ["currency", { currency: "USD" }],
    ["kind", { kind: "rental" }],
  ])("answers 400 naming %s for %j (and changes nothing)", async (path, json) => {
    const product = await api().createProduct();
    expectValidationError(await api().patch(`/products/${product.id}`, { as: "seller", json }), path);
    expect((await api().product(product.id)).revision).toBe(0);
  });

  it("answers 413 and 415", async () => {
    const product = await api().createProduct();
    expectProblem(
      await api().patch(`/products/${product.id}`, { as: "seller", json: { name: "x".repeat(70 * 1024) } }),
      413,
      "payload-too-large",
    );
    expectProblem(
      await api().patch(`/products/${product.id}`, { as: "seller", raw: "name=x", headers: { "content-type": "text/plain" } }),
      415,
      "unsupported-media-type",
    );
  });

  it("answers 409 capacity-below-allocated when capacity would fall below held + committed; down to it is fine", async () => {
    const product = await api().createProduct({ capacity: 5 });
    await api().reserve(product.id, 3);
    const refused = expectProblem(
      await api().patch(`/products/${product.id}`, { as: "seller", json: { capacity: 2 } }),
      409,
      "capacity-below-allocated",
    );
    expect(refused).toMatchObject({ capacity: 2, held: 3, committed: 0 });
    expect(await api().product(product.id)).toMatchObject({ capacity: 5, held: 3, available: 2, revision: 1 });

    const exact = await api().patch<ProductResponse>(`/products/${product.id}`, { as: "seller", json: { capacity: 3 } });
    expect(exact.status).toBe(200);
    expect(exact.body).toMatchObject({ capacity: 3, held: 3, available: 0, status: "pending" });
    const raised = await api().patch<ProductResponse>(`/products/${product.id}`, { as: "admin", json: { capacity: 4 } });
    expect(raised.body).toMatchObject({ capacity: 4, available: 1, status: "available" });
  });

  it("answers 409 product-withdrawn on a withdrawn product", async () => {
    const product = await api().createProduct();
    expect((await api().delete(`/products/${product.id}`, { as: "seller" })).status).toBe(200);
    expectProblem(await api().patch(`/products/${product.id}`, { as: "seller", json: { name: "Back" } }), 409, "product-withdrawn");
  });
});

describe("DELETE /products/{id}", () => {
  it("withdraws for the owner: 200 withdrawn; repeating it changes nothing", async () => {
    const product = await api().createProduct();
    const response = await api().delete<ProductResponse>(`/products/${product.id}`, { as: "seller" });
    expect(response.status).toBe(200);
    expect(response.body).toMatchObject({ id: product.id, status: "withdrawn", revision: 1, available: 5 });
    expect(response.headers.get("etag")).toBe(etagOf(1));
    const again = await api().delete<ProductResponse>(`/products/${product.id}`, { as: "seller" });
    expect(again.status).toBe(200);
    expect(again.body).toMatchObject({ status: "withdrawn", revision: 1 });
    expect(await api().product(product.id)).toMatchObject({ status: "withdrawn", revision: 1 });
  });

  it("answers 403 for another seller and a customer, lets an admin withdraw", async () => {
    const product = await api().createProduct();
    expectProblem(await api().delete(`/products/${product.id}`, { as: "seller2" }), 403, "forbidden");
    expectProblem(await api().delete(`/products/${product.id}`, { as: "customer" }), 403, "forbidden");
    expect((await api().product(product.id)).status).toBe("available");
    const admin = await api().delete<ProductResponse>(`/products/${product.id}`, { as: "admin" });
    expect(admin.status).toBe(200);
    expect(admin.body.status).toBe("withdrawn");
  });

  it("answers 401, 404 and 400", async () => {
    const product = await api().createProduct();
    expectProblem(await api().delete(`/products/${product.id}`), 401, "unauthorized");
    expectProblem(await api().delete(`/products/${UNKNOWN_ID}`, { as: "seller" }), 404, "not-found");
    expectValidationError(await api().delete("/products/nope", { as: "seller" }), "params.id");
  });

  it("honours If-Match (412 on a stale revision, nothing changes)", async () => {
    const product = await api().createProduct();
    await api().patch(`/products/${product.id}`, { as: "seller", json: { name: "moved on" } });
    expectProblem(
      await api().delete(`/products/${product.id}`, { as: "seller", headers: { "if-match": etagOf(0) } }),
      412,
      "revision-mismatch",
    );
    expect((await api().product(product.id)).status).toBe("available");
    const ok = await api().delete<ProductResponse>(`/products/${product.id}`, { as: "seller", headers: { "if-match": etagOf(1) } });
    expect(ok.body.status).toBe("withdrawn");
  });

  it("answers 409 units-in-use while units are held, and changes nothing", async () => {
    const product = await api().createProduct({ capacity: 3 });
    await api().reserve(product.id, 1);
    const refused = expectProblem(await api().delete(`/products/${product.id}`, { as: "seller" }), 409, "units-in-use");
    expect(refused).toMatchObject({ held: 1 });
    expectProblem(await api().delete(`/products/${product.id}`, { as: "admin" }), 409, "units-in-use");
    expect(await api().product(product.id)).toMatchObject({ status: "available", held: 1, revision: 1 });
  });
});

describe("product status driven by reservations", () => {
  it("is available while units remain, pending once all are held, and refuses more with insufficient-availability", async () => {
    const product = await api().createProduct({ capacity: 2 });
    await api().reserve(product.id, 1);
    expect(await api().product(product.id)).toMatchObject({ status: "available", available: 1, held: 1 });
    await api().reserve(product.id, 1, "customer2");
    expect(await api().product(product.id)).toMatchObject({ status: "pending", available: 0, held: 2, committed: 0, revision: 2 });
    const refused = await api().post("/reservations", { as: "customer", json: { productId: product.id, quantity: 1 } });
    expect(expectProblem(refused, 409, "insufficient-availability")).toMatchObject({ available: 0, requested: 1 });
    expect((await api().product(product.id)).revision).toBe(2);
  });

  it("a withdrawn product refuses reservations with product-withdrawn", async () => {
    const product = await api().createProduct();
    await api().delete(`/products/${product.id}`, { as: "seller" });
    const refused = await api().post<ReservationResponse>("/reservations", {
      as: "customer",
      json: { productId: product.id, quantity: 1 },
    });
    expectProblem(refused, 409, "product-withdrawn");
    expect(await api().product(product.id)).toMatchObject({ status: "withdrawn", held: 0, available: 5, revision: 1 });
  });
});
