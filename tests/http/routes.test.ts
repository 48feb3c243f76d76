import { describe, expect, it } from "vitest";
import { RESERVATION_COMMANDS } from "../../src/http/routes/reservations.js";
import { CUSTOMER, PROBLEM_BASE, problemOf, productView, reservationView, SELLER, type TestServer, useTestServer } from "./support.js";

describe("product routes", () => {
  let server: TestServer;
  let seller: string;
  useTestServer((fixture) => ({ server, seller } = fixture));

  it("registers with defaults applied: 201, Location, ETag", async () => {
    const response = await server.request("/products", {
      method: "POST",
      token: seller,
      json: { name: "Book", capacity: 2, unitPrice: 0 },
    });
    expect(response.status).toBe(201);
    const body = (await response.json()) as { id: string };
    expect(response.headers.get("location")).toBe(`/products/${body.id}`);
    expect(response.headers.get("etag")).toBe('W/"0"');
    expect(server.products.calls.at(-1)?.args[0]).toEqual({
      name: "Book",
      capacity: 2,
      unitPrice: 0,
      currency: "KRW",
      kind: "sale",
      sellerAcceptance: false,
      fulfilmentSteps: [],
      holdTtlSeconds: 900,
    });
    expect(server.products.calls.at(-1)?.context).toMatchObject({ actor: { id: SELLER, role: "seller" } });
    expect(typeof server.products.calls.at(-1)?.context?.requestId).toBe("string");
  });

  it("reads, updates and withdraws", async () => {
    const product = productView();
    server.products.items.set(product.id, product);
    expect(await (await server.request(`/products/${product.id}`)).json()).toEqual(product);

    const patched = await server.request(`/products/${product.id}`, { method: "PATCH", token: seller, json: { name: "Renamed" } });
    expect(patched.status).toBe(200);
    expect(await patched.json()).toMatchObject({ name: "Renamed", revision: 1 });
    expect(server.products.calls.at(-1)?.args).toEqual([product.id, { name: "Renamed" }]);

    const withdrawn = await server.request(`/products/${product.id}`, { method: "DELETE", token: seller });
    expect(withdrawn.status).toBe(200);
    expect(await withdrawn.json()).toMatchObject({ status: "withdrawn", revision: 2 });
  });

  it("answers 404 for an unknown product and 400 for an id that is not a UUID", async () => {
    const unknown = await server.request("/products/0b4c2f4e-5c1a-4a57-9d9c-3c3f2f6b2a10");
    expect(unknown.status).toBe(404);
    expect(await problemOf(unknown)).toMatchObject({ type: `${PROBLEM_BASE}not-found`, resource: "product" });
    const malformed = await server.request("/products/not-a-uuid");
    expect(malformed.status).toBe(400);
    expect((await problemOf(malformed)).errors?.[0]?.path).toBe("params.id");
  });

  it("lets the service refuse another seller's product (403)", async () => {
    const product = productView({ sellerId: "someone-else" });
    server.products.items.set(product.id, product);
    const response = await server.request(`/products/${product.id}`, { method: "DELETE", token: seller });
    expect(response.status).toBe(403);
  });
});

describe("reservation routes", () => {
  let server: TestServer;
  let customer: string;
  const productId = "0b4c2f4e-5c1a-4a57-9d9c-3c3f2f6b2a10";
  useTestServer((fixture) => ({ server, customer } = fixture));

  it("places: 201 with Location and ETag, passing the Idempotency-Key", async () => {
    const response = await server.request("/reservations", {
      method: "POST",
      token: customer,
      headers: { "Idempotency-Key": "order-1" },
      json: { productId, quantity: 2, paymentToken: "tok_ok" },
    });
    expect(response.status).toBe(201);
    const body = (await response.json()) as { id: string };
    expect(response.headers.get("location")).toBe(`/reservations/${body.id}`);
    expect(response.headers.get("etag")).toBe('W/"0"');
    expect(server.reservations.calls.at(-1)).toMatchObject({
      method: "place",
      context: { actor: { id: CUSTOMER, role: "customer" } },
      args: [{ productId, quantity: 2, paymentToken: "tok_ok" }, "order-1"],
    });
  });

  it("answers a repeated Idempotency-Key with 200 and the first body", async () => {
    const send = () =>
      server.request("/reservations", {
        method: "POST",
        token: customer,
        headers: { "Idempotency-Key": "order-2" },
        json: { productId, quantity: 1 },
      });
    const first = await send();
    const second = await send();
    expect(first.status).toBe(201);
    expect(second.status).toBe(200);
    expect(await second.json()).toEqual(await first.json());
    expect(second.headers.get("location")).toBe(first.headers.get("location"));
  });

  it("passes no key without the header", async () => {
    await server.request("/reservations", { method: "POST", token: customer, json: { productId, quantity: 1 } });
    expect(server.reservations.calls.at(-1)?.args[1]).toBeUndefined();
  });

  it("validates the Idempotency-Key and the body", async () => {
    const longKey = await server.request("/reservations", {
      method: "POST",
      token: customer,
      headers: { "Idempotency-Key": "k".repeat(201) },
      json: { productId, quantity: 1 },
    });
    expect(longKey.status).toBe(400);
    expect((await problemOf(longKey)).errors).toEqual([expect.objectContaining({ path: "headers.idempotency-key" })]);

    const bad = await server.request("/reservations", {
      method: "POST",
      token: customer,
      json: { productId: "nope", quantity: 10_001, paymentToken: "" },
    });
    expect(bad.status).toBe(400);
    expect((await problemOf(bad)).errors?.map((error) => error.path).sort()).toEqual(["paymentToken", "productId", "quantity"]);
  });

  it("reads a reservation for any authenticated role, the service deciding who may", async () => {
    const reservation = reservationView();
    server.reservations.items.set(reservation.id, reservation);
    for (const role of ["customer", "seller", "admin"] as const) {
      const response = await server.request(`/reservations/${reservation.id}`, { token: await server.token(role) });
      expect(response.status).toBe(200);
      expect(response.headers.get("etag")).toBe('W/"0"');
    }
    expect((await server.request(`/reservations/${reservation.id}`)).status).toBe(401);
  });

  it.each([
    ["cancel", "customer", undefined, []],
    ["accept", "seller", undefined, []],
    ["reject", "seller", { reason: "out of stock" }, ["out of stock"]],
    ["reject", "admin", {}, [undefined]],
    ["progress", "seller", { step: "cooking" }, ["cooking"]],
    ["progress", "customer", { step: "picked-up" }, ["picked-up"]],
    ["start", "customer", undefined, []],
    ["return", "admin", undefined, []],
  ] as const)("runs %s for a %s", async (command, role, json, extraArgs) => {
    const reservation = reservationView();
    server.reservations.items.set(reservation.id, reservation);
    const response = await server.request(`/reservations/${reservation.id}/${command}`, {
      method: "POST",
      token: await server.token(role),
      ...(json === undefined ? {} : { json }),
    });
    expect(response.status).toBe(200);
    expect(await response.json()).toMatchObject({ id: reservation.id, revision: 1 });
    expect(server.reservations.calls.at(-1)).toMatchObject({ method: command, args: [reservation.id, ...extraArgs] });
  });

  it.each(
    RESERVATION_COMMANDS.flatMap((command) =>
      (["customer", "seller", "admin"] as const).map((role) => [command.name, role, command.roles.includes(role)] as const),
    ),
  )("%s by a %s is allowed by role: %s", async (name, role, allowed) => {
    const reservation = reservationView();
    server.reservations.items.set(reservation.id, reservation);
    const response = await server.request(`/reservations/${reservation.id}/${name}`, {
      method: "POST",
      token: await server.token(role),
      ...(name === "progress" ? { json: { step: "cooking" } } : {}),
    });
    expect(response.status).toBe(allowed ? 200 : 403);
  });

  it("matches API.md's roles for the commands", () => {
    expect(Object.fromEntries(RESERVATION_COMMANDS.map((command) => [command.name, [...command.roles].sort()]))).toEqual({
      cancel: ["admin", "customer"],
      accept: ["admin", "seller"],
      reject: ["admin", "seller"],
      progress: ["admin", "customer", "seller"],
      start: ["admin", "customer"],
      return: ["admin", "customer"],
    });
  });

  it("validates command bodies", async () => {
    const reservation = reservationView();
    server.reservations.items.set(reservation.id, reservation);
    const seller = await server.token("seller");
    const longReason = await server.request(`/reservations/${reservation.id}/reject`, {
      method: "POST",
      token: seller,
      json: { reason: "r".repeat(501) },
    });
    expect(longReason.status).toBe(400);
    const longStep = await server.request(`/reservations/${reservation.id}/progress`, {
      method: "POST",
      token: seller,
      json: { step: "s".repeat(41) },
    });
    expect(longStep.status).toBe(400);
  });
});
