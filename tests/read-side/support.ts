import { TEST_REDIS_URL } from "../support/redis-url.js";
import { randomUUID } from "node:crypto";
import { type EventStoreDBClient, FORWARDS, START, jsonEvent } from "@eventstore/db-client";
import type { Redis } from "ioredis";
import { afterAll, afterEach, beforeAll } from "vitest";
import type { SourceEvent, StreamReader } from "../../projections/engine.js";
import { createRedis } from "../../src/infrastructure/redis.js";
import type { ConsumedEvent } from "../../src/infrastructure/eventstore/consumer-group.js";
import { createLogger } from "../../src/logger.js";

export const REDIS_URL = TEST_REDIS_URL;

export const silentLogger = () => createLogger({ level: "silent" });

/** A connected client, as the service makes it (fails fast while Redis is away). */
export const connectRedis = async (): Promise<Redis> => {
  const redis = createRedis(REDIS_URL);
  redis.on("error", () => undefined);
  await redis.connect();
  return redis;
};

/** A client pointed at a port where nothing listens: Redis "down". */
export const deadRedis = (): Redis => {
  const redis = createRedis("redis://127.0.0.1:1");
  redis.on("error", () => undefined);
  redis.connect().catch(() => undefined);
  return redis;
};

/** A key root of its own per test file (or test), so that runs never see each other's keys. */
export const uniqueRoot = (label: string): string => `test:${label}:${randomUUID().slice(0, 8)}:rm`;

export const deleteKeys = async (redis: Redis, pattern: string): Promise<void> => {
  let cursor = "0";
  do {
    const [next, keys] = await redis.scan(cursor, "MATCH", pattern, "COUNT", 1000);
    cursor = next;
    if (keys.length > 0) await redis.unlink(...keys);
  } while (cursor !== "0");
};

/**
 * Every key under `<root>:<projection>:<version>:` with its content (strings as parsed JSON, sorted
 * sets as [member, score] pairs), keyed without the version: two versions built from the same events
 * must dump equal.
 */
export const dumpVersion = async (redis: Redis, root: string, projection: string, version: string): Promise<Record<string, unknown>> => {
  const prefix = `${root}:${projection}:${version}:`;
  const out: Record<string, unknown> = {};
  let cursor = "0";
  do {
    const [next, keys] = await redis.scan(cursor, "MATCH", `${prefix}*`, "COUNT", 1000);
    cursor = next;
    for (const key of keys) {
      const type = await redis.type(key);
      const name = key.slice(prefix.length);
      if (type === "string") out[name] = JSON.parse((await redis.get(key)) ?? "null");
      else if (type === "zset") {
        const flat = await redis.zrangebyscore(key, "-inf", "+inf", "WITHSCORES");
        const pairs: Array<[string, number]> = [];
        for (let i = 0; i < flat.length; i += 2) pairs.push([flat[i] ?? "", Number(flat[i + 1])]);
        out[name] = pairs;
      } else out[name] = `<${type}>`;
    }
  } while (cursor !== "0");
  return Object.fromEntries(Object.entries(out).sort(([a], [b]) => (a < b ? -1 : 1)));
};

export const liveVersion = async (redis: Redis, root: string, projection: string): Promise<string> =>
  (await redis.get(`${root}:${projection}:live`)) ?? "(none)";

export const dumpLive = async (redis: Redis, root: string, projection: string): Promise<Record<string, unknown>> =>
  dumpVersion(redis, root, projection, await liveVersion(redis, root, projection));

/** A consumer's view of an event. */
export const consumed = (event: SourceEvent, position = 0n): ConsumedEvent => ({
  ...event,
  position,
  metadata: undefined,
  created: new Date(),
  retryCount: 0,
});

/** Deterministic instants: 2030-01-01 plus n seconds. */
export const at = (seconds: number): string => new Date(Date.UTC(2030, 0, 1) + seconds * 1000).toISOString();

/**
 * An in-memory event log with the write side's event shapes, to feed projections without a
 * server; `reader()` serves gap reads from it like the stream reader does from EventStoreDB.
 */
export class SyntheticLog {
  readonly events: SourceEvent[] = [];
  private readonly revisions = new Map<string, number>();
  private clock = 0;

  append(streamId: string, type: string, data: Record<string, unknown>): SourceEvent {
    const revision = (this.revisions.get(streamId) ?? -1) + 1;
    this.revisions.set(streamId, revision);
    const event: SourceEvent = { eventId: randomUUID(), streamId, revision, type, data };
    this.events.push(event);
    return event;
  }

  tick(): string {
    this.clock += 1;
    return at(this.clock);
  }

  stream(streamId: string): SourceEvent[] {
    return this.events.filter((event) => event.streamId === streamId);
  }

  reader(): StreamReader & { reads: number } {
    const stream = (streamId: string): SourceEvent[] => this.stream(streamId);
    const reader = {
      reads: 0,
      async *read(streamId: string, fromRevision: number, count: number): AsyncIterable<SourceEvent> {
        reader.reads += 1;
        for (const event of stream(streamId)) {
          if (event.revision >= fromRevision && event.revision < fromRevision + count) yield event;
        }
      },
    };
    return reader;
  }

  product(
    options: {
      sellerId?: string;
      name?: string;
      capacity?: number;
      unitPrice?: number;
      sellerAcceptance?: boolean;
      fulfilmentSteps?: string[];
    } = {},
  ) {
    const productId = randomUUID();
    const stream = `product-${productId}`;
    const terms = {
      productId,
      sellerId: options.sellerId ?? "seller-1",
      name: options.name ?? "Phantom of the Opera",
      capacity: options.capacity ?? 10,
      unitPrice: options.unitPrice ?? 50_000,
      currency: "KRW",
      kind: "sale" as const,
      sellerAcceptance: options.sellerAcceptance ?? false,
      fulfilmentSteps: options.fulfilmentSteps ?? [],
      holdTtlSeconds: 900,
    };
    this.append(stream, "ProductRegistered", { ...terms, registeredAt: this.tick() });
    return terms;
  }

  /** Holds units and places a reservation; returns its id. */
  place(product: ReturnType<SyntheticLog["product"]>, customerId: string, quantity: number, paymentTokenProvided = true): string {
    const reservationId = randomUUID();
    const now = this.tick();
    const expiresAt = at(this.clock + 900);
    this.append(`product-${product.productId}`, "UnitsHeld", { reservationId, quantity, heldAt: now, expiresAt });
    this.append(`reservation-${reservationId}`, "ReservationPlaced", {
      reservationId,
      productId: product.productId,
      productName: product.name,
      customerId,
      sellerId: product.sellerId,
      quantity,
      unitPrice: product.unitPrice,
      amount: quantity * product.unitPrice,
      currency: product.currency,
      kind: product.kind,
      sellerAcceptance: product.sellerAcceptance,
      fulfilmentSteps: product.fulfilmentSteps,
      placedAt: now,
      expiresAt,
      paymentTokenProvided,
    });
    return reservationId;
  }

  requestPayment(reservationId: string, customerId: string, amount: number): void {
    const now = this.tick();
    this.append(`payment-${reservationId}`, "PaymentRequested", {
      paymentId: reservationId,
      reservationId,
      customerId,
      amount,
      currency: "KRW",
      requestedAt: now,
    });
    if (amount === 0) this.append(`payment-${reservationId}`, "PaymentSucceeded", { attemptId: "zero-amount", at: now, provider: "none" });
  }

  pay(reservationId: string, productId: string, quantity: number, outcome: "succeeded" | "declined" = "succeeded"): void {
    const now = this.tick();
    if (outcome === "declined") {
      this.append(`payment-${reservationId}`, "PaymentDeclined", {
        attemptId: randomUUID(),
        at: now,
        provider: "simulated",
        reason: "card declined",
      });
      return;
    }
    this.append(`payment-${reservationId}`, "PaymentSucceeded", {
      attemptId: randomUUID(),
      at: now,
      provider: "simulated",
      providerReference: "ref-1",
    });
    this.settle(reservationId, productId, quantity);
  }

  settle(reservationId: string, productId: string, quantity: number, status: "confirmed" | "awaiting-acceptance" = "confirmed"): void {
    const now = this.tick();
    this.append(`reservation-${reservationId}`, "ReservationPaymentSettled", { paymentId: reservationId, settledAt: now, status });
    this.append(`product-${productId}`, "HeldUnitsCommitted", { reservationId, quantity, committedAt: now });
  }

  cancel(reservationId: string, productId: string, quantity: number, customerId: string, paid: boolean): void {
    const now = this.tick();
    this.append(`reservation-${reservationId}`, "ReservationCancelled", {
      cancelledAt: now,
      cancelledBy: { id: customerId, role: "customer" },
      previousStatus: paid ? "confirmed" : "placed",
      paymentSettled: paid,
    });
    this.append(`product-${productId}`, paid ? "CommittedUnitsReleased" : "HeldUnitsReleased", {
      reservationId,
      quantity,
      reason: "cancelled",
      releasedAt: now,
    });
    if (paid)
      this.append(`payment-${reservationId}`, "PaymentRefunded", {
        refundId: randomUUID(),
        amount: quantity * 50_000,
        refundedAt: now,
        reason: "cancelled",
      });
    else this.append(`payment-${reservationId}`, "PaymentVoided", { voidedAt: now, reason: "cancelled" });
  }

  /** A varied history: several products, customers and lifecycles. */
  static sample(): SyntheticLog {
    const log = new SyntheticLog();
    const seats = log.product();
    const books = log.product({ sellerId: "seller-2", name: "Book", unitPrice: 0, capacity: 3 });
    const confirmed = log.place(seats, "alice", 2);
    log.requestPayment(confirmed, "alice", 100_000);
    log.pay(confirmed, seats.productId, 2);
    const cancelled = log.place(seats, "bob", 1);
    log.requestPayment(cancelled, "bob", 50_000);
    log.pay(cancelled, seats.productId, 1);
    log.cancel(cancelled, seats.productId, 1, "bob", true);
    const unpaid = log.place(seats, "alice", 3, false);
    log.requestPayment(unpaid, "alice", 150_000);
    log.pay(unpaid, seats.productId, 3, "declined");
    const voided = log.place(seats, "carol", 1, false);
    log.requestPayment(voided, "carol", 50_000);
    log.cancel(voided, seats.productId, 1, "carol", false);
    const book = log.place(books, "alice", 1, false);
    log.requestPayment(book, "alice", 0);
    log.settle(book, books.productId, 1);
    log.append(`product-${books.productId}`, "ProductUpdated", { name: "Book (2nd ed.)", updatedAt: log.tick() });
    // Not ours: must be ignored everywhere.
    log.append(`paymenttoken-${randomUUID()}`, "PaymentTokenProvided", { token: "tok_ok" });
    return log;
  }
}

/** Appends a synthetic log to EventStoreDB, keeping its event ids; returns the events as read back from `$all`. */
export const appendToEventStore = async (client: EventStoreDBClient, events: readonly SourceEvent[]): Promise<void> => {
  for (const event of events) {
    await client.appendToStream(
      event.streamId,
      jsonEvent({
        id: event.eventId,
        type: event.type,
        data: event.data as Record<string, unknown>,
        metadata: { $correlationId: event.streamId, $causationId: event.eventId, actor: { id: "test", role: "system" }, schemaVersion: 1 },
      }),
    );
  }
};

/** What a consumer group would deliver: every non-system event of `$all`, with its position. */
export const readAllEvents = async (client: EventStoreDBClient): Promise<ConsumedEvent[]> => {
  const out: ConsumedEvent[] = [];
  for await (const resolved of client.readAll({ direction: FORWARDS, fromPosition: START })) {
    const recorded = resolved.event;
    if (!recorded || recorded.streamId.startsWith("$") || recorded.type.startsWith("$")) continue;
    out.push({
      eventId: recorded.id,
      streamId: recorded.streamId,
      revision: Number(recorded.revision),
      position: recorded.position?.commit ?? 0n,
      type: recorded.type,
      data: recorded.data,
      metadata: undefined,
      created: recorded.created,
      retryCount: 0,
    });
  }
  return out;
};

/** Fisher–Yates with a seed, so a failing order can be replayed. */
export const shuffled = <T>(items: readonly T[], seed: number): T[] => {
  const out = [...items];
  let state = seed >>> 0 || 1;
  const next = () => {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    return (state >>> 0) / 0x1_0000_0000;
  };
  for (let i = out.length - 1; i > 0; i -= 1) {
    const j = Math.floor(next() * (i + 1));
    [out[i], out[j]] = [out[j] as T, out[i] as T];
  }
  return out;
};

export const waitFor = async <T>(probe: () => Promise<T | undefined>, timeoutMs = 10_000, what = "condition"): Promise<T> => {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
};

/**
 * A Redis connection for the test file (handed to `connected` in beforeAll, closed in afterAll);
 * returns `root(label)`, a fresh key root whose keys are deleted after each test.
 */
export function useKeyRoots(connected: (redis: Redis) => void): (label: string) => string {
  let redis: Redis | undefined;
  const roots: string[] = [];
  beforeAll(async () => {
    redis = await connectRedis();
    connected(redis);
  });
  afterEach(async () => {
    for (const made of roots.splice(0)) await deleteKeys(redis!, `${made}:*`);
  });
  afterAll(() => {
    redis?.disconnect();
  });
  return (label) => {
    const made = uniqueRoot(label);
    roots.push(made);
    return made;
  };
}

/** Every live read model under `keyRoot`, by projection. */
export const dumpAllLive = async (
  redis: Redis,
  keyRoot: string,
): Promise<Record<"mypage" | "lists" | "notifications", Record<string, unknown>>> => ({
  mypage: await dumpLive(redis, keyRoot, "mypage"),
  lists: await dumpLive(redis, keyRoot, "lists"),
  notifications: await dumpLive(redis, keyRoot, "notifications"),
});
