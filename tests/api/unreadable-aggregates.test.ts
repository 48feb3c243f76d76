/**
 * What the API answers when the log holds something the aggregates cannot use (found by the
 * adversarial test: each answered 500 for ever): a tombstoned stream is gone (404), and an event
 * that fails its schema makes the aggregate unreadable (503 aggregate-unreadable with Retry-After)
 * until it is upcast or repaired — never an anonymous 500.
 */
import { jsonEvent } from "@eventstore/db-client";
import { describe, expect, it } from "vitest";
import { expectProblem, useApi } from "./support.js";

const api = useApi();

describe("aggregates the log can no longer give", () => {
  it("a tombstoned product is 404 for reads and for commands", async () => {
    const product = await api().createProduct({ capacity: 5 });
    await api().service.eventStore.client.tombstoneStream(`product-${product.id}`);
    expect(expectProblem(await api().get(`/products/${product.id}`), 404, "not-found").resource).toBe("product");
    expectProblem(await api().post("/reservations", { as: "customer", json: { productId: product.id, quantity: 1 } }), 404, "not-found");
    expectProblem(await api().patch(`/products/${product.id}`, { as: "seller", json: { name: "Renamed" } }), 404, "not-found");
  });

  it("a reservation with a malformed event answers 503 aggregate-unreadable to reads and commands, and the service keeps serving others", async () => {
    const product = await api().createProduct({ capacity: 5 });
    const reservation = await api().reserve(product.id, 1);
    await api().service.eventStore.client.appendToStream(
      `reservation-${reservation.id}`,
      jsonEvent({ type: "ReservationCancelled", data: { by: "not an actor", cancelledAt: 42 } }),
    );
    for (const response of [
      await api().get(`/reservations/${reservation.id}`, { as: "customer" }),
      await api().post(`/reservations/${reservation.id}/cancel`, { as: "customer" }),
    ]) {
      expectProblem(response, 503, "aggregate-unreadable");
      expect(response.headers.get("retry-after")).toBe("60");
    }
    // Other reservations are unaffected.
    const other = await api().reserve(product.id, 1);
    expect((await api().get(`/reservations/${other.id}`, { as: "customer" })).status).toBe(200);
  });
});
