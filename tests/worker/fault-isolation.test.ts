/**
 * DESIGN §6 fault isolation: with only the API role running (no saga, no watchdog), reservations
 * and payments are still accepted; a worker started later on the same event store catches up and
 * nothing is lost. Two `startService` instances in this process (ROLE=api, then ROLE=worker) share
 * one embedded EventStoreDB started separately and reached through EVENTSTORE_URL.
 */
import { randomUUID } from "node:crypto";
import type { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Role } from "../../src/application/ports.js";
import { loadConfig, type ProcessRole } from "../../src/config.js";
import { signToken } from "../../src/http/auth.js";
import { startService, type RunningService } from "../../src/service.js";
import {
  REDIS_URL,
  type Store,
  type World,
  contextOf,
  deleteKeysUnder,
  redisClient,
  sleep,
  startStore,
  testLogger,
  uniqueKeyRoot,
  waitFor,
  world,
} from "./support.js";

interface Response<T = Record<string, unknown>> {
  readonly status: number;
  readonly body: T;
}

describe("fault isolation: the API alone, then a worker", () => {
  const secret = `fault-isolation-${randomUUID()}`;
  const customerId = `customer-${randomUUID()}`;
  const sellerId = `seller-${randomUUID()}`;
  let store: Store;
  let api: RunningService;
  let worker: RunningService | undefined;
  let w: World;
  let redis: Redis;
  const tokens: Partial<Record<Role, string>> = {};
  const keyRoot = uniqueKeyRoot();

  /** Reservations accepted while no worker ran. */
  const whileDown: { plain?: string; token?: string; zero?: string; paid?: string; productId?: string; freeProductId?: string } = {};

  const configFor = (role: ProcessRole) =>
    loadConfig({
      ROLE: role,
      READ_MODEL_KEY_ROOT: keyRoot,
      PORT: "0",
      EVENTSTORE_URL: store.server.connectionString,
      AUTH_SECRET: secret,
      LOG_LEVEL: "silent",
      REDIS_URL,
    });

  const request = async <T = Record<string, unknown>>(method: string, path: string, as: Role, json?: unknown): Promise<Response<T>> => {
    const response = await fetch(`${api.url}${path}`, {
      method,
      headers: { authorization: `Bearer ${tokens[as]}`, ...(json === undefined ? {} : { "content-type": "application/json" }) },
      ...(json === undefined ? {} : { body: JSON.stringify(json) }),
    });
    const text = await response.text();
    return {
      status: response.status,
      body: (text && /json/.test(response.headers.get("content-type") ?? "") ? JSON.parse(text) : text) as T,
    };
  };

  const reserve = async (productId: string, paymentToken?: string): Promise<string> => {
    const response = await request<{ id: string; status: string }>("POST", "/reservations", "customer", {
      productId,
      quantity: 1,
      ...(paymentToken === undefined ? {} : { paymentToken }),
    });
    expect(response.status, JSON.stringify(response.body)).toBe(201);
    expect(response.body.status).toBe("placed");
    return response.body.id;
  };

  const allocation = async (productId: string, reservationId: string) => (await w.product(productId)).allocations.get(reservationId);

  beforeAll(async () => {
    store = await startStore();
    api = await startService(configFor("api"), testLogger());
    w = world(store.client);
    redis = redisClient();
    tokens.customer = await signToken(secret, { sub: customerId, role: "customer", ttlSeconds: 3600 });
    tokens.seller = await signToken(secret, { sub: sellerId, role: "seller", ttlSeconds: 3600 });
  }, 60_000);

  afterAll(async () => {
    for (const service of [worker, api]) if (service) await Promise.race([service.stop(), sleep(10_000)]);
    await deleteKeysUnder(redis, keyRoot);
    redis.disconnect();
    await store.close();
  }, 60_000);

  it("accepts reservations while no worker runs; they stay placed and no consumer group exists", async () => {
    expect(api.url).toBeDefined();
    const product = await request<{ id: string }>("POST", "/products", "seller", { name: "Seats", capacity: 10, unitPrice: 1000 });
    expect(product.status, JSON.stringify(product.body)).toBe(201);
    const free = await request<{ id: string }>("POST", "/products", "seller", { name: "Library book", capacity: 10, unitPrice: 0 });
    expect(free.status).toBe(201);
    whileDown.productId = product.body.id;
    whileDown.freeProductId = free.body.id;

    whileDown.plain = await reserve(product.body.id);
    whileDown.token = await reserve(product.body.id, "tok_ok");
    whileDown.zero = await reserve(free.body.id);

    // Placed, with their payment already requested (a zero amount is settled at once); nothing more without a worker.
    for (const [id, paymentStatus] of [
      [whileDown.plain, "pending"],
      [whileDown.token, "pending"],
      [whileDown.zero, "paid"],
    ] as const) {
      const read = await request<{ status: string; paymentStatus: string | null }>("GET", `/reservations/${id}`, "customer");
      expect(read.status).toBe(200);
      expect(read.body).toMatchObject({ status: "placed", paymentStatus });
    }
    expect(await store.client.listAllPersistentSubscriptions()).toEqual([]);
    expect((await w.product(product.body.id)).held).toBe(2);
  });

  it("accepts a payment while no worker runs: the attempt is recorded and the payment is paid (service level)", async () => {
    const productId = whileDown.productId ?? "";
    const { reservationId, customer } = await w.place(productId);
    const answer = await w.paymentService.pay(contextOf(customer), reservationId, "tok_ok").catch((error: unknown) => error);
    expect(answer, String(answer)).toMatchObject({ status: "paid" });
  });

  it("accepts a payment over HTTP while no worker runs: 200 paid", async () => {
    const reservationId = await reserve(whileDown.productId ?? "");
    whileDown.paid = reservationId;
    const paid = await request<{ status: string; attempts: unknown[] }>("POST", `/payments/${reservationId}/pay`, "customer", {
      token: "tok_ok",
    });
    expect(paid.status, JSON.stringify(paid.body)).toBe(200);
    expect(paid.body).toMatchObject({ status: "paid", attempts: [{ outcome: "succeeded" }] });
  });

  it("a worker started later catches up: token and zero-amount reservations confirmed and committed, the others' payments requested", async () => {
    worker = await startService(configFor("worker"), testLogger(), { holdExpiryIntervalMs: 100 });
    // A worker serves only its health and metrics.
    expect((await fetch(`${worker.url}/health/live`)).status).toBe(200);
    expect((await fetch(`${worker.url}/products`)).status).toBe(404);
    const { productId = "", freeProductId = "", token = "", zero = "", plain = "" } = whileDown;

    await waitFor("the token reservation to be confirmed", async () => (await w.reservation(token)).status === "confirmed");
    await waitFor("its units to be committed", async () => (await allocation(productId, token))?.stage === "committed");
    await waitFor("the zero-amount reservation to be confirmed", async () => (await w.reservation(zero)).status === "confirmed");
    await waitFor("its units to be committed", async () => (await allocation(freeProductId, zero))?.stage === "committed");
    await waitFor("the plain reservation's payment to be requested", async () => (await w.payment(plain))?.status === "pending");

    // The API's consistent reads show it.
    const read = await request<{ status: string; paymentStatus: string }>("GET", `/reservations/${token}`, "customer");
    expect(read.body).toMatchObject({ status: "confirmed", paymentStatus: "paid" });

    // And the product flow goes on as usual with the worker up.
    const owner = { id: customerId, role: "customer" as const };
    await w.paymentService.pay(contextOf(owner), plain, "tok_ok");
    await waitFor("the plain reservation to be confirmed", async () => (await w.reservation(plain)).status === "confirmed");
    await waitFor("its units to be committed", async () => (await allocation(productId, plain))?.stage === "committed");
  }, 60_000);

  it("the reservation paid while no worker ran is confirmed and its units committed once a worker runs", async () => {
    const { productId = "", paid = "" } = whileDown;
    expect(worker).toBeDefined();
    await waitFor("the payment to be paid", async () => (await w.payment(paid))?.status === "paid", { timeoutMs: 10_000 });
    await waitFor("the reservation to be confirmed", async () => (await w.reservation(paid)).status === "confirmed");
    await waitFor("its units to be committed", async () => (await allocation(productId, paid))?.stage === "committed");
  }, 30_000);
});
