import { randomUUID } from "node:crypto";
import type { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createProjectionConsumers } from "../../projections/consumers.js";
import { createRedisReadModels } from "../../projections/read-store.js";
import { AccessDeniedError } from "../../src/application/errors.js";
import { decodeCursor } from "../../src/application/list-cursor.js";
import { ReadModelUnavailableError, type ReadModels } from "../../src/application/read-models.js";
import type { Actor } from "../../src/application/ports.js";
import { connectRedis, consumed, deadRedis, deleteKeys, silentLogger, SyntheticLog, uniqueRoot } from "./support.js";

const customer = (userId: string): Actor => ({ id: userId, role: "customer" });
const seller = (userId: string): Actor => ({ id: userId, role: "seller" });
const admin: Actor = { id: "admin-1", role: "admin" };

let redis: Redis;
let readModels: ReadModels;
const keyRoot = uniqueRoot("read-models");
const log = SyntheticLog.sample();

beforeAll(async () => {
  redis = await connectRedis();
  // Notifications of one of alice's reservations, as the notifier and a delivery consumer record them.
  const aliceReservation = log.events.find(
    (event) => event.type === "ReservationPlaced" && (event.data as { customerId: string }).customerId === "alice",
  );
  const reservationId = aliceReservation?.streamId.slice("reservation-".length) ?? "";
  const stream = `notification-${reservationId}`;
  const first = randomUUID();
  const second = randomUUID();
  const recorded = (notificationId: string, kind: string, seconds: number) => ({
    notificationId,
    customerId: "alice",
    reservationId,
    kind,
    message: kind,
    createdAt: new Date(Date.UTC(2030, 0, 1) + seconds * 1000).toISOString(),
    channels: ["log", "webhook"],
    cause: { streamId: `reservation-${reservationId}`, revision: 0, eventId: randomUUID(), type: "X" },
  });
  log.append(stream, "NotificationRecorded", recorded(first, "payment.paid", 100));
  log.append(stream, "NotificationRecorded", recorded(second, "reservation.confirmed", 101));
  log.append(stream, "NotificationDelivered", {
    notificationId: first,
    channel: "log",
    deliveredAt: new Date().toISOString(),
    attempts: 1,
  });
  log.append(stream, "NotificationDeliveryFailed", {
    notificationId: first,
    channel: "webhook",
    failedAt: new Date().toISOString(),
    attempts: 4,
    error: "503",
  });
  log.append(stream, "NotificationRecorded", recorded(first, "payment.paid", 100)); // a duplicate record changes nothing
  // The seller's notification of the same reservation: never among alice's.
  log.append(stream, "NotificationRecorded", {
    ...recorded(randomUUID(), "seller.reservation.cancelled", 99),
    audience: "seller",
    sellerId: "seller-1",
  });

  const consumers = createProjectionConsumers({ redis, logger: silentLogger(), reader: log.reader(), keyRoot });
  for (const event of log.events) {
    for (const consumer of consumers) {
      if (consumer.streamPrefixes.some((prefix) => event.streamId.startsWith(prefix))) await consumer.handle(consumed(event));
    }
  }
  readModels = createRedisReadModels(redis, { keyRoot });
});

afterAll(async () => {
  await deleteKeys(redis, `${keyRoot}:*`);
  redis.disconnect();
});

describe("the Redis read models", () => {
  it("list products newest first, with counts and status, filtered by status", async () => {
    const products = (await readModels.listProducts({})).items;
    expect(products.map((product) => product.name)).toEqual(["Book (2nd ed.)", "Phantom of the Opera"]);
    const [book, seats] = products;
    expect(book).toMatchObject({ capacity: 3, held: 0, committed: 1, available: 2, status: "available", unitPrice: 0, revision: 3 });
    // 10 seats: alice 2 (committed), bob 1 (released), alice 3 (held), carol 1 (released).
    expect(seats).toMatchObject({ held: 3, committed: 2, available: 5, status: "available", sellerId: "seller-1" });
    expect((await readModels.listProducts({ status: "soldout" })).items).toEqual([]);
    expect((await readModels.listProducts({ status: "available", limit: 1 })).items.map((product) => product.name)).toEqual([
      "Book (2nd ed.)",
    ]);
  });

  it("list reservations by role, as GET /reservations/{id} shows them", async () => {
    const alices = (await readModels.listReservations(customer("alice"), {})).items;
    expect(
      alices.map((reservation) => [reservation.productName, reservation.quantity, reservation.status, reservation.paymentStatus]),
    ).toEqual([
      ["Book", 1, "confirmed", "paid"],
      ["Phantom of the Opera", 3, "placed", "pending"],
      ["Phantom of the Opera", 2, "confirmed", "paid"],
    ]);
    expect(alices[2]).toMatchObject({
      customerId: "alice",
      sellerId: "seller-1",
      amount: 100_000,
      currency: "KRW",
      currentStep: null,
      revision: 1,
    });
    expect(alices[2]?.paymentId).toBe(alices[2]?.id);

    expect((await readModels.listReservations(seller("seller-2"), {})).items.map((reservation) => reservation.productName)).toEqual([
      "Book",
    ]);
    expect((await readModels.listReservations(seller("nobody"), {})).items).toEqual([]);
    expect((await readModels.listReservations(admin, {})).items).toHaveLength(5);
    const cancelled = (await readModels.listReservations(admin, { status: "cancelled" })).items;
    expect(cancelled.map((reservation) => [reservation.customerId, reservation.paymentStatus])).toEqual([
      ["carol", "voided"],
      ["bob", "refunded"],
    ]);
    expect((await readModels.listReservations(customer("bob"), { status: "confirmed" })).items).toEqual([]);
  });

  it("list payments: a customer's own, an admin's all; sellers are refused", async () => {
    const alices = (await readModels.listPayments(customer("alice"), {})).items;
    expect(alices.map((payment) => [payment.amount, payment.status, payment.attempts.map((attempt) => attempt.outcome)])).toEqual([
      [0, "paid", ["succeeded"]],
      [150_000, "pending", ["declined"]],
      [100_000, "paid", ["succeeded"]],
    ]);
    expect(alices[1]?.attempts[0]).toMatchObject({ reason: "card declined" });
    expect((await readModels.listPayments(admin, {})).items).toHaveLength(5);
    await expect(readModels.listPayments(seller("seller-1"), {})).rejects.toBeInstanceOf(AccessDeniedError);
  });

  it("serve My Page newest first, combining the reservation and its payment", async () => {
    const page = await readModels.myPage(customer("alice"));
    expect(page.customerId).toBe("alice");
    expect(page.reservations.map((entry) => [entry.productName, entry.reservationStatus, entry.paymentStatus])).toEqual([
      ["Book", "confirmed", "paid"],
      ["Phantom of the Opera", "placed", "pending"],
      ["Phantom of the Opera", "confirmed", "paid"],
    ]);
    expect(Object.keys(page.reservations[0] ?? {}).sort()).toEqual(
      [
        "amount",
        "currency",
        "currentStep",
        "paymentStatus",
        "productId",
        "productName",
        "quantity",
        "reservationId",
        "reservationStatus",
        "updatedAt",
      ].sort(),
    );
    expect(page.updatedAt).toBe(
      page.reservations
        .map((entry) => entry.updatedAt)
        .sort()
        .at(-1),
    );
    const bob = await readModels.myPage(customer("bob"));
    expect(bob.reservations.map((entry) => [entry.reservationStatus, entry.paymentStatus])).toEqual([["cancelled", "refunded"]]);
    expect(await readModels.myPage(customer("nobody"))).toEqual({
      customerId: "nobody",
      reservations: [],
      updatedAt: null,
      nextCursor: null,
    });
    await expect(readModels.myPage(admin)).rejects.toBeInstanceOf(AccessDeniedError);
  });

  it("list notifications newest first with their deliveries, by customer and by reservation", async () => {
    const alices = (await readModels.listNotifications(customer("alice"), {})).items;
    expect(alices.map((notification) => [notification.kind, notification.deliveries])).toEqual([
      [
        "reservation.confirmed",
        [
          { channel: "log", status: "pending" },
          { channel: "webhook", status: "pending" },
        ],
      ],
      [
        "payment.paid",
        [
          { channel: "log", status: "delivered" },
          { channel: "webhook", status: "failed" },
        ],
      ],
    ]);
    const reservationId = alices[0]?.reservationId ?? "";
    expect((await readModels.listNotifications(customer("alice"), { reservationId })).items).toEqual(alices);
    expect((await readModels.listNotifications(customer("bob"), { reservationId })).items).toEqual([]);
    expect((await readModels.listNotifications(customer("bob"), {})).items).toEqual([]);
    expect((await readModels.listNotifications(admin, { limit: 1 })).items).toEqual(alices.slice(0, 1));
    // Sellers read their own notifications only: the customer's are not theirs, and another seller's neither.
    const sellers = (await readModels.listNotifications(seller("seller-1"), {})).items;
    expect(sellers.map((notification) => [notification.kind, notification.audience, notification.sellerId])).toEqual([
      ["seller.reservation.cancelled", "seller", "seller-1"],
    ]);
    expect((await readModels.listNotifications(seller("seller-1"), { reservationId })).items).toEqual(sellers);
    expect((await readModels.listNotifications(seller("seller-2"), {})).items).toEqual([]);
    expect((await readModels.listNotifications(seller("seller-2"), { reservationId })).items).toEqual([]);
    expect((await readModels.listNotifications(admin, { reservationId })).items.map((notification) => notification.audience)).toEqual([
      "customer",
      "customer",
      "seller",
    ]);
  });

  it("page one reservation's notifications in the order of the lists", async () => {
    const alices = (await readModels.listNotifications(customer("alice"), {})).items;
    const reservationId = alices[0]?.reservationId ?? "";
    const first = await readModels.listNotifications(customer("alice"), { reservationId, limit: 1 });
    expect(first.items).toEqual(alices.slice(0, 1));
    const after = decodeCursor(first.nextCursor ?? "");
    expect(after).toBeDefined();
    const second = await readModels.listNotifications(customer("alice"), { reservationId, limit: 1, after });
    expect(second).toEqual({ items: alices.slice(1, 2), nextCursor: null });
    // The same cursor on the customer's whole list continues it the same way.
    expect((await readModels.listNotifications(customer("alice"), { limit: 1, after })).items).toEqual(alices.slice(1, 2));
  });

  it("answer empty lists before anything was projected", async () => {
    const empty = createRedisReadModels(redis, { keyRoot: uniqueRoot("empty") });
    expect((await empty.listProducts({})).items).toEqual([]);
    expect((await empty.listReservations(admin, {})).items).toEqual([]);
    expect(await empty.myPage(customer("alice"))).toEqual({ customerId: "alice", reservations: [], updatedAt: null, nextCursor: null });
    expect((await empty.listNotifications(admin, { reservationId: randomUUID() })).items).toEqual([]);
  });

  it("throw ReadModelUnavailableError (503) while Redis is unreachable", async () => {
    const dead = deadRedis();
    try {
      const down = createRedisReadModels(dead, { keyRoot, retryAfterSeconds: 3 });
      for (const query of [
        () => down.listProducts({}),
        () => down.listReservations(admin, {}),
        () => down.listPayments(admin, {}),
        () => down.myPage(customer("alice")),
        () => down.listNotifications(admin, {}),
      ]) {
        const error = await query().catch((caught: unknown) => caught);
        expect(error).toBeInstanceOf(ReadModelUnavailableError);
        expect((error as ReadModelUnavailableError).retryAfterSeconds).toBe(3);
      }
    } finally {
      dead.disconnect();
    }
  });

  it("throw ReadModelUnavailableError when Redis does not answer in time", async () => {
    const slow = await connectRedis();
    try {
      const blocked = slow.duplicate();
      await blocked.connect();
      // A Redis that hangs: its only connection is stuck behind a blocking call.
      const hanging = createRedisReadModels(blocked, { keyRoot, timeoutMs: 100 });
      const blocking = blocked.blpop(`${keyRoot}:never`, 0.5).catch(() => undefined);
      const error = await hanging.listProducts({}).catch((caught: unknown) => caught);
      expect(error).toBeInstanceOf(ReadModelUnavailableError);
      await blocking;
      blocked.disconnect();
    } finally {
      slow.disconnect();
    }
  });
});
