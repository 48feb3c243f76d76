import { randomBytes, randomUUID } from "node:crypto";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { EventStoreDBClient, FORWARDS, StreamNotFoundError } from "@eventstore/db-client";
import type { Redis } from "ioredis";
import { Webhook, WebhookVerificationError } from "standardwebhooks";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createProjectionConsumers } from "../../projections/consumers.js";
import { createRedisReadModels } from "../../projections/read-store.js";
import { startEmbeddedEventStore, type EmbeddedEventStore } from "../../src/embedded-eventstore/index.js";
import { ConsumerGroup, type ConsumedEvent, type Consumer } from "../../src/infrastructure/eventstore/consumer-group.js";
import {
  createNotificationChannels,
  DeliveryFailedError,
  logChannel,
  type Notification,
  type NotificationChannel,
  webhookChannel,
} from "../../src/worker/notification-channels/index.js";
import { paymentAggregate, reservationAggregate } from "../../src/application/aggregates.js";
import { AggregateRepository } from "../../src/infrastructure/eventstore/aggregate-repository.js";
import { createNotifierConsumers, notificationDelivery, notificationRecorder } from "../../src/worker/notifier.js";
import { formatAmount } from "../../src/worker/amount-format.js";
import { isTransientFailure } from "../../src/core/transient.js";
import { appendToEventStore, connectRedis, deleteKeys, readAllEvents, silentLogger, SyntheticLog, uniqueRoot, waitFor } from "./support.js";

let server: EmbeddedEventStore;
let client: EventStoreDBClient;
let redis: Redis;
const keyRoot = uniqueRoot("notifier");

beforeAll(async () => {
  server = await startEmbeddedEventStore({ port: 0, inMemory: true });
  client = EventStoreDBClient.connectionString(server.connectionString);
  redis = await connectRedis();
});
afterAll(async () => {
  await deleteKeys(redis, `${keyRoot}:*`);
  redis.disconnect();
  await client.dispose();
  await server.stop();
});

interface StoredEvent {
  readonly type: string;
  readonly data: Record<string, unknown>;
  readonly id: string;
}

const readStream = async (streamId: string): Promise<StoredEvent[]> => {
  const out: StoredEvent[] = [];
  try {
    for await (const resolved of client.readStream(streamId, { direction: FORWARDS })) {
      if (resolved.event)
        out.push({ type: resolved.event.type, data: resolved.event.data as Record<string, unknown>, id: resolved.event.id });
    }
  } catch (error) {
    if (!(error instanceof StreamNotFoundError)) throw error;
  }
  return out;
};

const recordedFor = async (reservationId: string, audience: "customer" | "seller"): Promise<StoredEvent[]> =>
  (await readStream(`notification-${reservationId}`)).filter(
    (event) => event.type === "NotificationRecorded" && event.data.audience === audience,
  );

/** The customer's notifications of a reservation, by kind, in recording order. */
const kindsOf = async (reservationId: string): Promise<string[]> =>
  (await recordedFor(reservationId, "customer")).map((event) => String(event.data.kind));

/** The seller's notifications of a reservation, by kind, in recording order. */
const sellerKindsOf = async (reservationId: string): Promise<string[]> =>
  (await recordedFor(reservationId, "seller")).map((event) => String(event.data.kind));

/** Appends the log's new events to the store and returns them as the consumer groups would deliver them. */
let delivered = new Set<string>();
const publish = async (log: SyntheticLog): Promise<ConsumedEvent[]> => {
  const fresh = log.events.filter((event) => !delivered.has(event.eventId));
  await appendToEventStore(client, fresh);
  for (const event of fresh) delivered.add(event.eventId);
  const ids = new Set(fresh.map((event) => event.eventId));
  return (await readAllEvents(client)).filter((event) => ids.has(event.eventId));
};

/** A new log, none of whose events is published yet. */
const freshLog = (): SyntheticLog => {
  delivered = new Set();
  return new SyntheticLog();
};

const forRecorder = (events: readonly ConsumedEvent[]) =>
  events.filter((event) => event.streamId.startsWith("reservation-") || event.streamId.startsWith("payment-"));

// As the process does: the notifier shares the repositories (and their event-store circuit) of the other workers.
const repositoriesOf = (on: EventStoreDBClient) => ({
  reservations: new AggregateRepository(on, reservationAggregate),
  payments: new AggregateRepository(on, paymentAggregate),
});

const recorder = () =>
  notificationRecorder({ client, logger: silentLogger(), channels: [logChannel(silentLogger())], repositories: repositoriesOf(client) });

/** Publishes the log's new events and has `notifier` record what they change for the customer. */
const recordNew = async (log: SyntheticLog, notifier: Consumer): Promise<void> => {
  for (const event of forRecorder(await publish(log))) await notifier.handle(event);
};

describe("the notifier records one notification per customer-visible change", () => {
  it("musical seats (004): reserve with a token → paid → confirmed gives 2; cancel gives a cancellation and a refund", async () => {
    const log = freshLog();
    const seats = log.product();
    const reservationId = log.place(seats, "alice", 2, true);
    log.requestPayment(reservationId, "alice", 100_000);
    log.pay(reservationId, seats.productId, 2);
    const notifier = recorder();
    await recordNew(log, notifier);
    expect(await kindsOf(reservationId)).toEqual(["payment.paid", "reservation.confirmed"]);
    // No acceptance asked of the seller of seats: nothing waits for them.
    expect(await sellerKindsOf(reservationId)).toEqual([]);

    log.cancel(reservationId, seats.productId, 2, "alice", true);
    await recordNew(log, notifier);
    expect(await kindsOf(reservationId)).toEqual(["payment.paid", "reservation.confirmed", "reservation.cancelled", "payment.refunded"]);
    const [cancelled] = await recordedFor(reservationId, "seller");
    expect(cancelled?.data).toMatchObject({
      audience: "seller",
      sellerId: seats.sellerId,
      customerId: "alice",
      reservationId,
      kind: "seller.reservation.cancelled",
      message: "A reservation of 2 × Phantom of the Opera was cancelled by the customer after it was confirmed; its units are released.",
      cause: { streamId: `reservation-${reservationId}`, type: "ReservationCancelled" },
    });
    expect(await sellerKindsOf(reservationId)).toEqual(["seller.reservation.cancelled"]);

    const [recorded] = (await readStream(`notification-${reservationId}`)).filter((event) => event.type === "NotificationRecorded");
    expect(recorded?.data).toMatchObject({
      customerId: "alice",
      reservationId,
      kind: "payment.paid",
      message: "Your payment of 100,000 KRW was received.",
      channels: ["log"],
      cause: { streamId: `payment-${reservationId}`, type: "PaymentSucceeded" },
    });
    expect(recorded?.id).toBe(recorded?.data.notificationId);
  });

  it("product flow without a token: placed (pay before …), paid, confirmed; a declined attempt, an unpaid cancel with its void", async () => {
    const log = freshLog();
    const product = log.product({ name: "Kickboard", unitPrice: 3_000 });
    const paid = log.place(product, "bob", 1, false);
    log.requestPayment(paid, "bob", 3_000);
    log.pay(paid, product.productId, 1, "declined");
    log.pay(paid, product.productId, 1);
    const unpaid = log.place(product, "bob", 1, false);
    log.requestPayment(unpaid, "bob", 3_000);
    log.cancel(unpaid, product.productId, 1, "bob", false);
    const notifier = recorder();
    await recordNew(log, notifier);
    expect(await kindsOf(paid)).toEqual(["reservation.placed", "payment.declined", "payment.paid", "reservation.confirmed"]);
    expect(await kindsOf(unpaid)).toEqual(["reservation.placed", "reservation.cancelled", "payment.voided"]);
    expect(await sellerKindsOf(paid)).toEqual([]);
    expect(await sellerKindsOf(unpaid)).toEqual(["seller.reservation.cancelled"]);
    const [placed] = await readStream(`notification-${paid}`);
    expect(String(placed?.data.message)).toMatch(/^Your reservation of 1 × Kickboard is placed: please pay 3,000 KRW before 2030-/);
  });

  it("a free book (zero amount): placed and confirmed, no payment notifications", async () => {
    const log = freshLog();
    const books = log.product({ name: "Book", unitPrice: 0 });
    const id = log.place(books, "carol", 1, false);
    log.requestPayment(id, "carol", 0);
    log.settle(id, books.productId, 1);
    const notifier = recorder();
    await recordNew(log, notifier);
    expect(await kindsOf(id)).toEqual(["reservation.placed", "reservation.confirmed"]);
    expect(await sellerKindsOf(id)).toEqual([]);
  });

  it("food delivery (003): awaiting acceptance, accepted, each step but the last, completed", async () => {
    const log = freshLog();
    const food = log.product({
      name: "Bibimbap",
      unitPrice: 9_000,
      sellerAcceptance: true,
      fulfilmentSteps: ["cooking", "cooked", "delivered"],
    });
    const id = log.place(food, "dave", 1, true);
    log.requestPayment(id, "dave", 9_000);
    log.append(`payment-${id}`, "PaymentSucceeded", { attemptId: randomUUID(), at: log.tick(), provider: "simulated" });
    log.settle(id, food.productId, 1, "awaiting-acceptance");
    const stream = `reservation-${id}`;
    log.append(stream, "ReservationAccepted", { acceptedAt: log.tick() });
    log.append(stream, "ReservationProgressed", { step: "cooking", stepIndex: 0, progressedAt: log.tick() });
    log.append(stream, "ReservationProgressed", { step: "cooked", stepIndex: 1, progressedAt: log.tick() });
    const done = log.tick();
    log.append(stream, "ReservationProgressed", { step: "delivered", stepIndex: 2, progressedAt: done });
    log.append(stream, "ReservationCompleted", { completedAt: done });
    const notifier = recorder();
    await recordNew(log, notifier);
    expect(await kindsOf(id)).toEqual([
      "payment.paid",
      "reservation.awaiting-acceptance",
      "reservation.accepted",
      "reservation.in-progress",
      "reservation.in-progress",
      "reservation.completed",
    ]);
    // Only once paid does the order wait for the seller, and they hear of it once.
    const [waiting] = await recordedFor(id, "seller");
    expect(waiting?.data).toMatchObject({
      sellerId: food.sellerId,
      kind: "seller.reservation.awaiting-acceptance",
      message: "A new order of 1 × Bibimbap (9,000 KRW) is paid and waits for your acceptance.",
      cause: { type: "ReservationPaymentSettled" },
    });
    expect(await sellerKindsOf(id)).toEqual(["seller.reservation.awaiting-acceptance"]);
  });

  it("exactly once under redelivery: the same events again, concurrently, from two processes", async () => {
    const log = freshLog();
    const seats = log.product();
    const id = log.place(seats, "erin", 1, true);
    log.requestPayment(id, "erin", 50_000);
    log.pay(id, seats.productId, 1);
    log.cancel(id, seats.productId, 1, "erin", true);
    const events = forRecorder(await publish(log));
    const first = recorder();
    const second = recorder();
    await Promise.all(
      [...events, ...events, ...events].flatMap((event) => [
        first.handle({ ...event, retryCount: 1 }),
        second.handle({ ...event, retryCount: 2 }),
      ]),
    );
    for (const event of events) await first.handle(event);
    expect(await kindsOf(id)).toEqual(
      expect.arrayContaining(["payment.paid", "reservation.confirmed", "reservation.cancelled", "payment.refunded"]),
    );
    expect(await kindsOf(id)).toHaveLength(4);
    expect(await sellerKindsOf(id)).toEqual(["seller.reservation.cancelled"]);
  });
});

/** A webhook receiver on 127.0.0.1 that answers with the given statuses in turn (then the last one); `hang` never answers. */
const startReceiver = async (statuses: Array<number | "hang">) => {
  const requests: Array<{ headers: IncomingMessage["headers"]; body: unknown; raw: string }> = [];
  const hanging: ServerResponse[] = [];
  const httpServer: Server = createServer((req, res) => {
    let body = "";
    req.on("data", (chunk: Buffer) => (body += chunk.toString()));
    req.on("end", () => {
      requests.push({ headers: req.headers, body: JSON.parse(body) as unknown, raw: body });
      const status = statuses[Math.min(requests.length - 1, statuses.length - 1)] ?? 200;
      if (status === "hang") {
        hanging.push(res);
        return;
      }
      res.writeHead(status, { "Content-Type": "application/json" }).end("{}");
    });
  });
  await new Promise<void>((resolve) => httpServer.listen(0, "127.0.0.1", resolve));
  const { port } = httpServer.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/hooks/notify`,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        for (const res of hanging) res.destroy();
        httpServer.closeAllConnections();
        httpServer.close(() => resolve());
      }),
  };
};

const aNotification = (): Notification => ({
  id: randomUUID(),
  audience: "customer",
  customerId: "alice",
  reservationId: randomUUID(),
  kind: "payment.paid",
  message: "Your payment of 1,000 KRW was received.",
  createdAt: "2030-01-01T00:00:00.000Z",
});

describe("the webhook channel", () => {
  it("POSTs JSON with an Idempotency-Key, retrying 5xx and 429 with backoff", async () => {
    const receiver = await startReceiver([503, 429, 200]);
    try {
      const channel = webhookChannel({ url: receiver.url, backoffMs: 10, attempts: 4 });
      const notification = aNotification();
      expect(await channel.deliver(notification)).toEqual({ attempts: 3 });
      expect(receiver.requests).toHaveLength(3);
      expect(receiver.requests[0]?.headers["content-type"]).toBe("application/json");
      expect(receiver.requests[0]?.headers["idempotency-key"]).toBe(notification.id);
      expect(receiver.requests[2]?.body).toEqual(notification);
    } finally {
      await receiver.close();
    }
  });

  it("signs every attempt as Standard Webhooks says, so the receiver can verify it with the shared secret", async () => {
    const secret = `whsec_${randomBytes(32).toString("base64")}`;
    const receiver = await startReceiver([503, 200]);
    try {
      const notification = aNotification();
      await webhookChannel({ url: receiver.url, backoffMs: 10, attempts: 3, secret }).deliver(notification);
      expect(receiver.requests).toHaveLength(2);
      for (const request of receiver.requests) {
        const headers = Object.fromEntries(
          ["webhook-id", "webhook-timestamp", "webhook-signature"].map((name) => [name, String(request.headers[name] ?? "")]),
        );
        // The id is the notification's on every retry: receivers drop duplicates by it.
        expect(headers["webhook-id"]).toBe(notification.id);
        expect(Math.abs(Number(headers["webhook-timestamp"]) - Date.now() / 1000)).toBeLessThan(60);
        expect(headers["webhook-signature"]).toMatch(/^v1,[A-Za-z0-9+/]+=*$/);
        // What a receiver does (the library's verify): the genuine delivery passes ...
        expect(new Webhook(secret).verify(request.raw, headers)).toEqual(notification);
        // ... a changed body, or another secret, does not.
        expect(() => new Webhook(secret).verify(request.raw.replace("payment.paid", "payment.refunded"), headers)).toThrow(
          WebhookVerificationError,
        );
        expect(() => new Webhook(`whsec_${randomBytes(32).toString("base64")}`).verify(request.raw, headers)).toThrow(
          WebhookVerificationError,
        );
      }
    } finally {
      await receiver.close();
    }
  });

  it("sends no signature headers without a secret", async () => {
    const receiver = await startReceiver([200]);
    try {
      await webhookChannel({ url: receiver.url }).deliver(aNotification());
      expect(receiver.requests[0]?.headers["webhook-signature"]).toBeUndefined();
    } finally {
      await receiver.close();
    }
  });

  it("gives up after its attempts, and at once on a refusal (4xx)", async () => {
    const failing = await startReceiver([500]);
    const refusing = await startReceiver([400]);
    try {
      const error = await webhookChannel({ url: failing.url, backoffMs: 5, attempts: 3 })
        .deliver(aNotification())
        .catch((caught: unknown) => caught);
      expect(error).toBeInstanceOf(DeliveryFailedError);
      expect(error).toMatchObject({ attempts: 3, message: expect.stringMatching(/answered 500 \(after 3 attempts\)/) });
      expect(failing.requests).toHaveLength(3);

      const refused = await webhookChannel({ url: refusing.url, backoffMs: 5, attempts: 3 })
        .deliver(aNotification())
        .catch((caught: unknown) => caught);
      expect(refused).toMatchObject({ attempts: 1, message: expect.stringMatching(/answered 400; not retried/) });
      expect(refusing.requests).toHaveLength(1);
    } finally {
      await failing.close();
      await refusing.close();
    }
  });

  it("times out a receiver that does not answer, and fails on one that is not there", async () => {
    const hanging = await startReceiver(["hang"]);
    try {
      const started = Date.now();
      const error = await webhookChannel({ url: hanging.url, timeoutMs: 150, backoffMs: 5, attempts: 2 })
        .deliver(aNotification())
        .catch((caught: unknown) => caught);
      expect(error).toMatchObject({ attempts: 2, message: expect.stringMatching(/timed out/) });
      expect(Date.now() - started).toBeLessThan(5_000);
    } finally {
      await hanging.close();
    }
    const nobody = await webhookChannel({ url: "http://127.0.0.1:1/", backoffMs: 5, attempts: 2 })
      .deliver(aNotification())
      .catch((caught: unknown) => caught);
    expect(nobody).toMatchObject({ attempts: 2, message: expect.stringMatching(/could not be reached/) });
  });

  it("is configured from NOTIFY_WEBHOOK_URL beside the log channel", () => {
    expect(createNotificationChannels(silentLogger()).map((channel) => channel.name)).toEqual(["log"]);
    expect(createNotificationChannels(silentLogger(), { webhookUrl: "http://127.0.0.1:9/x" }).map((channel) => channel.name)).toEqual([
      "log",
      "webhook",
    ]);
  });
});

describe("delivery consumers", () => {
  const recordOne = async (channels: readonly NotificationChannel[]): Promise<{ reservationId: string; recorded: ConsumedEvent }> => {
    const log = freshLog();
    const seats = log.product();
    const reservationId = log.place(seats, "frank", 1, false);
    const notifier = notificationRecorder({ client, logger: silentLogger(), channels, repositories: repositoriesOf(client) });
    await recordNew(log, notifier);
    const recorded = (await readAllEvents(client)).find(
      (event) => event.streamId === `notification-${reservationId}` && event.type === "NotificationRecorded",
    );
    if (!recorded) throw new Error("nothing recorded");
    return { reservationId, recorded };
  };

  it("deliver once and record it; a redelivered notification is not sent again", async () => {
    const sent: Notification[] = [];
    const counting: NotificationChannel = { name: "log", deliver: async (notification) => (sent.push(notification), { attempts: 1 }) };
    const { reservationId, recorded } = await recordOne([counting]);
    const consumer = notificationDelivery(counting, { client, logger: silentLogger() });
    await consumer.handle(recorded);
    await consumer.handle(recorded);
    expect(sent).toHaveLength(1);
    const outcomes = (await readStream(`notification-${reservationId}`)).filter((event) => event.type !== "NotificationRecorded");
    expect(outcomes.map((event) => [event.type, event.data.channel, event.data.attempts])).toEqual([["NotificationDelivered", "log", 1]]);
  });

  it("record a failed webhook delivery (never lost silently), beside the log channel's success", async () => {
    const receiver = await startReceiver([500]);
    try {
      const webhook = webhookChannel({ url: receiver.url, backoffMs: 5, attempts: 3 });
      const log = logChannel(silentLogger());
      const { reservationId, recorded } = await recordOne([log, webhook]);
      await notificationDelivery(webhook, { client, logger: silentLogger() }).handle(recorded);
      await notificationDelivery(log, { client, logger: silentLogger() }).handle(recorded);
      const outcomes = (await readStream(`notification-${reservationId}`)).filter((event) => event.type !== "NotificationRecorded");
      expect(outcomes.map((event) => [event.type, event.data.channel, event.data.attempts])).toEqual([
        ["NotificationDeliveryFailed", "webhook", 3],
        ["NotificationDelivered", "log", 1],
      ]);
      expect(String(outcomes[0]?.data.error)).toMatch(/500/);
      expect(receiver.requests).toHaveLength(3);
    } finally {
      await receiver.close();
    }
  });

  it("run in their own groups, one per channel, apart from recording", () => {
    const consumers = createNotifierConsumers({
      client,
      logger: silentLogger(),
      channels: createNotificationChannels(silentLogger(), { webhookUrl: "http://127.0.0.1:9/x" }),
      repositories: repositoriesOf(client),
    });
    expect(consumers.map((consumer) => [consumer.group, consumer.streamPrefixes])).toEqual([
      ["notifier", ["reservation-", "payment-"]],
      ["notification-delivery-log", ["notification-"]],
      ["notification-delivery-webhook", ["notification-"]],
    ]);
    expect(() =>
      createNotifierConsumers({
        client,
        logger: silentLogger(),
        channels: [logChannel(silentLogger()), logChannel(silentLogger())],
        repositories: repositoriesOf(client),
      }),
    ).toThrow(/two notification channels/);
  });

  it("fail transiently while EventStoreDB is unreachable", async () => {
    const gone = EventStoreDBClient.connectionString("esdb://127.0.0.1:1?tls=false&defaultDeadline=2000");
    try {
      const [event] = forRecorder(
        await (async () => {
          const log = freshLog();
          log.place(log.product(), "gina", 1, false);
          return publish(log);
        })(),
      );
      if (!event) throw new Error("no event");
      const error = await notificationRecorder({ client: gone, logger: silentLogger(), channels: [], repositories: repositoriesOf(gone) })
        .handle(event)
        .catch((caught: unknown) => caught);
      expect(isTransientFailure(error)).toBe(true);
    } finally {
      await gone.dispose();
    }
  });
});

describe("notifications end to end through persistent subscriptions", () => {
  it("are recorded, delivered and projected for GET /notifications", async () => {
    const groups: ConsumerGroup[] = [];
    const logger = silentLogger();
    const consumers: Consumer[] = [
      ...createNotifierConsumers({ client, logger, channels: [logChannel(logger)], repositories: repositoriesOf(client) }),
      ...createProjectionConsumers({ client, redis, logger, keyRoot }, ["notifications", "mypage"]),
    ];
    for (const consumer of consumers) {
      const group = new ConsumerGroup(client, consumer, logger, { isTransient: isTransientFailure, inProcessRetryMs: 1000 });
      groups.push(group);
      group.start();
    }
    try {
      const log = freshLog();
      const seats = log.product();
      const id = log.place(seats, "hana", 2, true);
      log.requestPayment(id, "hana", 100_000);
      log.pay(id, seats.productId, 2);
      await publish(log);
      const readModels = createRedisReadModels(redis, { keyRoot });
      const items = await waitFor(
        async () => {
          const found = (await readModels.listNotifications({ id: "hana", role: "customer" }, {})).items;
          return found.length === 2 && found.every((item) => item.deliveries.every((delivery) => delivery.status === "delivered"))
            ? found
            : undefined;
        },
        20_000,
        "two delivered notifications",
      );
      expect(items.map((item) => item.kind).sort()).toEqual(["payment.paid", "reservation.confirmed"]);
      expect(items[0]).toMatchObject({ customerId: "hana", reservationId: id, deliveries: [{ channel: "log", status: "delivered" }] });
      const page = await waitFor(async () => {
        const current = await readModels.myPage({ id: "hana", role: "customer" });
        return current.reservations[0]?.reservationStatus === "confirmed" ? current : undefined;
      });
      expect(page.reservations[0]).toMatchObject({ reservationId: id, paymentStatus: "paid", quantity: 2, amount: 100_000 });
    } finally {
      await Promise.all(groups.map((group) => group.stop()));
    }
  });
});

describe("formatAmount", () => {
  it("shows minor units in the currency's decimals", () => {
    expect(formatAmount(12_000, "KRW")).toBe("12,000 KRW");
    expect(formatAmount(1_250, "USD")).toBe("12.50 USD");
    expect(formatAmount(5, "XXQ")).toBe("0.05 XXQ");
  });
});
