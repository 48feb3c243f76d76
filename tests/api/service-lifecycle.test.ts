/**
 * The running service as a whole (ROLE=all: API and workers in one process, embedded event store in
 * memory): it must stop promptly whatever it has been doing — a process manager restarts nodes,
 * deployments roll, and a `stop()` that never returns keeps a node half-alive (SIGTERM in main.ts
 * waits for it before exiting).
 */
import { describe, expect, it } from "vitest";
import { type ReservationResponse, STOP_TIMEOUT_MS, type Api, eventually, settlesWithin, startApi } from "./support.js";

const stopsPromptly = async (api: Api): Promise<boolean> => settlesWithin(api.service.stop(), STOP_TIMEOUT_MS);

describe("the service stops promptly", () => {
  it("right after it started (workers still joining their consumer groups)", async () => {
    const api = await startApi();
    expect(await stopsPromptly(api), `service.stop() still pending after ${STOP_TIMEOUT_MS} ms`).toBe(true);
  }, 60_000);

  it("after it has served requests and its workers are running", async () => {
    const api = await startApi();
    const product = await api.createProduct({ capacity: 3 });
    await api.reserve(product.id, 1);
    await new Promise((resolve) => setTimeout(resolve, 1000));
    expect(await stopsPromptly(api), `service.stop() still pending after ${STOP_TIMEOUT_MS} ms`).toBe(true);
  }, 60_000);

  it("after /health/ready was asked", async () => {
    const api = await startApi();
    const ready = await api.get<{ status: string }>("/health/ready");
    expect([200, 503]).toContain(ready.status);
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(await stopsPromptly(api), `service.stop() still pending after ${STOP_TIMEOUT_MS} ms`).toBe(true);
  }, 60_000);

  it("after a reservation placed with a paymentToken was charged by the saga", async () => {
    const api = await startApi();
    const product = await api.createProduct({ capacity: 3, unitPrice: 700 });
    const placed = await api.post<ReservationResponse>("/reservations", {
      as: "customer",
      json: { productId: product.id, quantity: 2, paymentToken: "tok_ok" },
    });
    expect(placed.status).toBe(201);
    // API.md: "when given, the payment is charged automatically right after placing"
    await eventually(
      async () => {
        const current = await api.get<ReservationResponse>(`/reservations/${placed.body.id}`, { as: "customer" });
        expect(current.body).toMatchObject({ status: "confirmed", paymentStatus: "paid" });
      },
      { timeoutMs: 15_000 },
    );
    await eventually(async () => expect(await api.product(product.id)).toMatchObject({ held: 0, committed: 2, available: 1 }), {
      timeoutMs: 15_000,
    });
    expect(await stopsPromptly(api), `service.stop() still pending after ${STOP_TIMEOUT_MS} ms`).toBe(true);
  }, 60_000);
});
