/**
 * Plumbing for the worker-side suite: a real embedded EventStoreDB (in memory or on a temp dir), the
 * real repositories and services, the real saga and watchdog. Nothing of the store is mocked; the
 * only stand-ins are payment providers that count calls around the simulated one.
 *
 * Every test uses unique ids, group names, stream prefixes and Redis keys, and polls with a bound
 * instead of sleeping.
 */
import { TEST_REDIS_URL } from "../support/redis-url.js";
import { keyedIdempotencyIds } from "../../src/core/event-ids.js";
import { randomUUID } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { EventStoreDBClient, FORWARDS, START, StreamNotFoundError, type ResolvedEvent } from "@eventstore/db-client";
import { Redis } from "ioredis";
import { afterAll, afterEach, beforeAll } from "vitest";
import { paymentAggregate, productAggregate, reservationAggregate } from "../../src/application/aggregates.js";
import { createPaymentService, type PaymentRepository } from "../../src/application/payment-service.js";
import type { ChargeRequest, ChargeResult, PaymentProvider, RefundRequest } from "../../src/application/payment-provider.js";
import type { ProductRepository } from "../../src/application/product-service.js";
import type { Actor, CommandContext, PaymentService } from "../../src/application/ports.js";
import { type ReservationRepository, ReservationService } from "../../src/application/reservation-service.js";
import { startEmbeddedEventStore, type EmbeddedEventStore } from "../../src/embedded-eventstore/index.js";
import { AggregateRepository } from "../../src/infrastructure/eventstore/aggregate-repository.js";
import { parseEventMetadata } from "../../src/core/event-metadata.js";
import type { PaymentTokenStore } from "../../src/application/payment-token-store.js";
import { SimulatedPaymentProvider } from "../../src/infrastructure/payments/simulated-provider.js";
import { createLogger, type Logger } from "../../src/logger.js";
import {
  ConsumerGroup,
  type ConsumedEvent,
  type Consumer,
  type ConsumerGroupOptions,
} from "../../src/infrastructure/eventstore/consumer-group.js";
import { reservationSaga } from "../../src/worker/reservation-saga.js";

/** How the worlds of these tests derive reservation ids from Idempotency-Keys. */
export const IDEMPOTENCY_IDS = keyedIdempotencyIds("worker-tests-idempotency-secret");
import { isPlaced, isRegistered, isRequested, type Payment, type Product, type Reservation } from "../../src/domain/index.js";

export const REDIS_URL = TEST_REDIS_URL;

/** Silent unless WORKER_TEST_LOG_LEVEL is set (e.g. `debug`) to look at a failing run. */
export const testLogger = (): Logger =>
  createLogger({ level: (process.env.WORKER_TEST_LOG_LEVEL as "debug" | undefined) ?? "silent", name: "worker-tests" });

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** A short unique token for names (group names, stream prefixes, Redis keys). */
export const uniqueName = (prefix: string): string => `${prefix}${randomUUID().replaceAll("-", "").slice(0, 12)}`;

/**
 * Polls `probe` until it returns something other than `undefined`/`false`, or fails after
 * `timeoutMs` with `what` and the last value seen. Returns the value.
 */
export async function waitFor<T>(
  what: string,
  probe: () => T | undefined | false | Promise<T | undefined | false>,
  { timeoutMs = 15_000, intervalMs = 25 }: { timeoutMs?: number; intervalMs?: number } = {},
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await probe();
      if (value !== undefined && value !== false) return value;
      lastError = undefined;
    } catch (error) {
      lastError = error;
    }
    if (Date.now() >= deadline) {
      throw new Error(
        `timed out after ${timeoutMs} ms waiting for ${what}${lastError ? `: ${lastError instanceof Error ? lastError.message : JSON.stringify(lastError)}` : ""}`,
      );
    }
    await sleep(intervalMs);
  }
}

export interface Deferred<T = void> {
  readonly promise: Promise<T>;
  resolve(value: T): void;
  reject(error: unknown): void;
}

export function deferred<T = void>(): Deferred<T> {
  let resolve!: (value: T) => void;
  let reject!: (error: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

/** Settles with "pending" if `promise` has not settled after a few turns of the event loop. */
export async function settledYet(promise: Promise<unknown>, turns = 20): Promise<"resolved" | "rejected" | "pending"> {
  let state: "resolved" | "rejected" | "pending" = "pending";
  promise.then(
    () => (state = "resolved"),
    () => (state = "rejected"),
  );
  for (let i = 0; i < turns; i += 1) await new Promise((resolve) => setImmediate(resolve));
  return state;
}

// ---------------------------------------------------------------------------------------------
// Event store

export interface Store {
  readonly server: EmbeddedEventStore;
  readonly client: EventStoreDBClient;
  close(): Promise<void>;
}

export async function startStore(options: { dataDir?: string; port?: number } = {}): Promise<Store> {
  const server = await startEmbeddedEventStore(
    options.dataDir === undefined ? { port: options.port ?? 0, inMemory: true } : { port: options.port ?? 0, dataDir: options.dataDir },
  );
  const client = EventStoreDBClient.connectionString(server.connectionString);
  return {
    server,
    client,
    close: async () => {
      // Bounded: a client read left unfinished by the code under test makes dispose() wait forever
      // (see the shutdown test in saga.test.ts); the server's stop cuts whatever is left.
      await Promise.race([client.dispose().catch(() => undefined), sleep(2000)]);
      await server.stop();
    },
  };
}

export function tempDir(prefix: string): { path: string; remove(): void } {
  const dir = mkdtempSync(path.join(tmpdir(), prefix));
  return { path: dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

export interface StoredEvent {
  readonly id: string;
  readonly streamId: string;
  readonly revision: number;
  readonly position: bigint;
  readonly type: string;
  readonly data: unknown;
  readonly metadata: unknown;
  readonly created: Date;
}

const toStored = (resolved: ResolvedEvent): StoredEvent | undefined => {
  const recorded = resolved.event;
  if (!recorded) return undefined;
  return {
    id: recorded.id,
    streamId: recorded.streamId,
    revision: Number(recorded.revision),
    position: recorded.position?.commit ?? 0n,
    type: recorded.type,
    data: recorded.data,
    metadata: recorded.metadata,
    created: recorded.created,
  };
};

/** Every event of a stream, oldest first; `[]` when it does not exist. */
export async function readStream(client: EventStoreDBClient, streamId: string, resolveLinkTos = false): Promise<StoredEvent[]> {
  const events: StoredEvent[] = [];
  try {
    for await (const resolved of client.readStream(streamId, { direction: FORWARDS, fromRevision: START, resolveLinkTos })) {
      const stored = toStored(resolved);
      if (stored) events.push(stored);
    }
  } catch (error) {
    if (!(error instanceof StreamNotFoundError)) throw error;
  }
  return events;
}

/** The `ConsumedEvent` a `ConsumerGroup` would hand its consumer for this stored event. */
export const consumedOf = (event: StoredEvent, retryCount = 0): ConsumedEvent => ({
  eventId: event.id,
  streamId: event.streamId,
  revision: event.revision,
  position: event.position,
  type: event.type,
  data: event.data,
  metadata: parseEventMetadata(event.metadata),
  created: event.created,
  retryCount,
});

export const countTypes = (events: readonly { type: string }[]): Record<string, number> => {
  const counts: Record<string, number> = {};
  for (const event of events) counts[event.type] = (counts[event.type] ?? 0) + 1;
  return counts;
};

// ---------------------------------------------------------------------------------------------
// Payment providers that count

/**
 * Wraps a provider and records every call. `afterCharge` runs inside `charge` after the real provider
 * answered and before the answer reaches the caller: the window in which a concurrent command lands.
 */
export class CountingProvider implements PaymentProvider {
  readonly name: string;
  readonly charges: ChargeRequest[] = [];
  readonly refunds: RefundRequest[] = [];
  afterCharge: ((request: ChargeRequest) => Promise<void>) | undefined;

  constructor(private readonly inner: PaymentProvider = new SimulatedPaymentProvider()) {
    this.name = inner.name;
  }

  async charge(request: ChargeRequest): Promise<ChargeResult> {
    this.charges.push(request);
    const result = await this.inner.charge(request);
    if (this.afterCharge) await this.afterCharge(request);
    return result;
  }

  async refund(request: RefundRequest): Promise<{ readonly reference: string }> {
    this.refunds.push(request);
    return this.inner.refund(request);
  }

  chargesOf(paymentId: string): number {
    return this.charges.filter((charge) => charge.paymentId === paymentId).length;
  }

  refundsOf(paymentId: string): number {
    return this.refunds.filter((refund) => refund.paymentId === paymentId).length;
  }
}

// ---------------------------------------------------------------------------------------------
// The write side and the saga on one client

export const customer = (userId = uniqueName("customer-")): Actor => ({ id: userId, role: "customer" });
export const seller = (userId = uniqueName("seller-")): Actor => ({ id: userId, role: "seller" });
export const contextOf = (actor: Actor): CommandContext => ({ actor, requestId: randomUUID() });

export interface ProductTerms {
  capacity?: number;
  unitPrice?: number;
  kind?: "sale" | "rental";
  sellerAcceptance?: boolean;
  fulfilmentSteps?: string[];
  holdTtlSeconds?: number;
}

export interface World {
  readonly client: EventStoreDBClient;
  readonly products: ProductRepository;
  readonly reservations: ReservationRepository;
  readonly payments: PaymentRepository;
  readonly tokens: PaymentTokenStore;
  readonly chargeRetries: MemoryRetrySchedule;
  readonly provider: CountingProvider;
  readonly reservationService: ReservationService;
  readonly paymentService: PaymentService;
  readonly logger: Logger;
  readonly saga: Consumer;
  readonly seller: Actor;
  registerProduct(terms?: ProductTerms): Promise<string>;
  /** Places through the real reservation service (hold, then record). */
  place(
    productId: string,
    options?: { quantity?: number; paymentToken?: string; as?: Actor },
  ): Promise<{ reservationId: string; customer: Actor }>;
  product(productId: string): Promise<Product>;
  reservation(reservationId: string): Promise<Reservation>;
  payment(paymentId: string): Promise<Payment | undefined>;
  streamEvents(kind: "product" | "reservation" | "payment", id: string): Promise<StoredEvent[]>;
  /**
   * Delivers every event of the reservation's and payment's streams to the saga in `$all` order,
   * each once, again and again until the saga writes nothing new (what the subscription would do).
   */
  runSaga(reservationId: string, delivered?: Set<string>): Promise<void>;
}

/**
 * The payment-token port in memory, with the expiry it has in Redis. Shared by every world of a test
 * file, as Redis is shared by every process (reservation ids never repeat).
 */
export class MemoryPaymentTokenStore implements PaymentTokenStore {
  private readonly tokens = new Map<string, { token: string; expiresAtMs: number }>();

  constructor(private readonly now: () => number = Date.now) {}

  async store(reservationId: string, token: string, ttlSeconds: number): Promise<void> {
    this.tokens.set(reservationId, { token, expiresAtMs: this.now() + ttlSeconds * 1000 });
  }

  async read(reservationId: string): Promise<string | undefined> {
    const kept = this.tokens.get(reservationId);
    return kept && kept.expiresAtMs > this.now() ? kept.token : undefined;
  }

  async discard(reservationId: string): Promise<void> {
    this.tokens.delete(reservationId);
  }
}

/** The retry schedule's `add`/`complete` in memory; `dueAt` says what the saga left scheduled. */
export class MemoryRetrySchedule {
  private readonly entries = new Map<string, Date>();

  async add(member: string, due: Date): Promise<void> {
    this.entries.set(member, due);
  }

  async complete(member: string): Promise<void> {
    this.entries.delete(member);
  }

  dueAt(member: string): Date | undefined {
    return this.entries.get(member);
  }
}

const sharedTokens = new MemoryPaymentTokenStore();
const sharedRetries = new MemoryRetrySchedule();

export function world(
  client: EventStoreDBClient,
  options: { provider?: CountingProvider; clock?: () => Date; paymentTokens?: PaymentTokenStore } = {},
): World {
  const products: ProductRepository = new AggregateRepository(client, productAggregate);
  const reservations: ReservationRepository = new AggregateRepository(client, reservationAggregate);
  const payments: PaymentRepository = new AggregateRepository(client, paymentAggregate);
  // A running service's saga reads tokens from its Redis: tests driving one pass its store.
  const tokens = options.paymentTokens ?? sharedTokens;
  const chargeRetries = sharedRetries;
  const provider = options.provider ?? new CountingProvider();
  const logger = testLogger();
  const clock = options.clock ?? (() => new Date());
  const reservationService = new ReservationService({
    products,
    reservations,
    payments,
    paymentTokens: tokens,
    idempotencyIds: IDEMPOTENCY_IDS,
    clock,
  });
  const paymentService = createPaymentService(payments, provider, clock);
  const saga = reservationSaga({ products, reservations, payments, provider, paymentTokens: tokens, chargeRetries, logger, clock });
  const theSeller = seller();

  const streamEvents = (kind: "product" | "reservation" | "payment", id: string) => readStream(client, `${kind}-${id}`);

  const self: World = {
    client,
    products,
    reservations,
    payments,
    tokens,
    chargeRetries,
    provider,
    reservationService,
    paymentService,
    logger,
    saga,
    seller: theSeller,
    registerProduct: async (terms = {}) => {
      const productId = randomUUID();
      await products.handle(
        productId,
        () => ({
          type: "RegisterProduct",
          data: {
            productId,
            sellerId: theSeller.id,
            name: `product ${productId.slice(0, 8)}`,
            capacity: terms.capacity ?? 5,
            unitPrice: terms.unitPrice ?? 1000,
            kind: terms.kind ?? "sale",
            sellerAcceptance: terms.sellerAcceptance ?? false,
            fulfilmentSteps: terms.fulfilmentSteps ?? [],
            holdTtlSeconds: terms.holdTtlSeconds ?? 900,
            now: clock().toISOString(),
          },
        }),
        { correlationId: productId, causationId: randomUUID(), actor: theSeller },
      );
      return productId;
    },
    place: async (productId, placeOptions = {}) => {
      const actor = placeOptions.as ?? customer();
      const { reservation } = await reservationService.place(contextOf(actor), {
        productId,
        quantity: placeOptions.quantity ?? 1,
        ...(placeOptions.paymentToken === undefined ? {} : { paymentToken: placeOptions.paymentToken }),
      });
      return { reservationId: reservation.id, customer: actor };
    },
    product: async (productId) => {
      const { state } = await products.load(productId);
      if (!isRegistered(state)) throw new Error(`product ${productId} is not registered`);
      return state;
    },
    reservation: async (reservationId) => {
      const { state } = await reservations.load(reservationId);
      if (!isPlaced(state)) throw new Error(`reservation ${reservationId} is not placed (${state.status})`);
      return state;
    },
    payment: async (paymentId) => {
      const { state } = await payments.load(paymentId);
      return isRequested(state) ? state : undefined;
    },
    streamEvents,
    runSaga: async (reservationId, delivered = new Set<string>()) => {
      for (let round = 0; round < 50; round += 1) {
        const events = [...(await streamEvents("reservation", reservationId)), ...(await streamEvents("payment", reservationId))].sort(
          (a, b) => (a.position < b.position ? -1 : a.position > b.position ? 1 : 0),
        );
        const fresh = events.filter((event) => !delivered.has(event.id));
        if (fresh.length === 0) return;
        for (const event of fresh) {
          delivered.add(event.id);
          await saga.handle(consumedOf(event));
        }
      }
      throw new Error("the saga did not come to rest after 50 rounds");
    },
  };
  return self;
}

// ---------------------------------------------------------------------------------------------
// Redis

export function redisClient(): Redis {
  return new Redis(REDIS_URL, { lazyConnect: false, maxRetriesPerRequest: 1 });
}

/** A `READ_MODEL_KEY_ROOT` of its own, so that a service under test shares no Redis key with any other process. */
export const uniqueKeyRoot = (): string => uniqueName("test-worker-");

/** Deletes every key under `<root>:` (a service's read models and schedules). */
export async function deleteKeysUnder(redis: Redis, root: string): Promise<void> {
  let cursor = "0";
  do {
    const [next, keys] = await redis.scan(cursor, "MATCH", `${root}:*`, "COUNT", 500);
    cursor = next;
    if (keys.length > 0) await redis.del(...keys);
  } while (cursor !== "0");
}

/** The saga's side effects that must happen at most once per reservation. */
export const ONCE_PER_RESERVATION = [
  "PaymentRequested",
  "PaymentSucceeded",
  "PaymentRefunded",
  "PaymentVoided",
  "HeldUnitsCommitted",
  "HeldUnitsReleased",
  "CommittedUnitsReleased",
] as const;

/** Counts of the once-only events of one reservation across its payment stream and its product's stream. */
export async function sideEffectCounts(w: World, reservationId: string, productId: string): Promise<Record<string, number>> {
  const payment = await w.streamEvents("payment", reservationId);
  const product = (await w.streamEvents("product", productId)).filter(
    (event) => (event.data as { reservationId?: string } | undefined)?.reservationId === reservationId,
  );
  const counts = countTypes([...payment, ...product]);
  return Object.fromEntries(ONCE_PER_RESERVATION.map((type) => [type, counts[type] ?? 0]));
}

/**
 * `sideEffectCounts` of a reservation that was paid and then cancelled: one charge, one refund, its
 * units committed once and given back once. Several saga tests end there by different routes.
 */
export const PAID_THEN_REFUNDED: Readonly<Record<(typeof ONCE_PER_RESERVATION)[number], number>> = {
  PaymentRequested: 1,
  PaymentSucceeded: 1,
  PaymentRefunded: 1,
  PaymentVoided: 0,
  HeldUnitsCommitted: 1,
  HeldUnitsReleased: 0,
  CommittedUnitsReleased: 1,
};

/** A deterministic shuffle (mulberry32), so a failing order can be replayed from its seed. */
export function shuffled<T>(items: readonly T[], seed: number): T[] {
  let state = seed >>> 0;
  const random = () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const copy = [...items];
  for (let i = copy.length - 1; i > 0; i -= 1) {
    const j = Math.floor(random() * (i + 1));
    [copy[i], copy[j]] = [copy[j] as T, copy[i] as T];
  }
  return copy;
}

/**
 * A store for the enclosing block, handed to `started` in beforeAll and closed in afterAll; returns
 * `startGroup`, whose groups are stopped after each test.
 */
export function useConsumerGroups(started: (store: Store) => void): (consumer: Consumer, options?: ConsumerGroupOptions) => ConsumerGroup {
  let store: Store | undefined;
  const running: ConsumerGroup[] = [];
  const logger = testLogger();
  beforeAll(async () => {
    store = await startStore();
    started(store);
  });
  afterEach(async () => {
    // Bounded: a stop() that hangs is reported by its own test, not by every later one.
    await Promise.all(running.splice(0).map((group) => Promise.race([group.stop(), sleep(5000)])));
  });
  afterAll(async () => {
    await store?.close();
  });
  return (consumer, options = {}) => {
    const group = new ConsumerGroup(store!.client, consumer, logger, options);
    running.push(group);
    group.start();
    return group;
  };
}

/** Starts a store on `dataDir` and `port` again once the port is free (a stopped server's port can linger briefly). */
export const restartStore = (dataDir: string, port: number): Promise<Store> =>
  waitFor(
    "the port to be free again",
    async () => {
      try {
        return await startStore({ dataDir, port });
      } catch (error) {
        if (String(error).includes("EADDRINUSE")) return undefined;
        throw error;
      }
    },
    { timeoutMs: 10_000, intervalMs: 100 },
  );

/**
 * A store and a Redis connection for the enclosing block, handed to `started` in beforeAll; in
 * afterAll the Redis `keys` the tests registered are deleted and both are closed.
 */
export function useStoreAndRedis(keys: readonly string[], started: (resources: { store: Store; redis: Redis }) => void): void {
  let store: Store | undefined;
  let redis: Redis | undefined;
  beforeAll(async () => {
    store = await startStore();
    redis = redisClient();
    started({ store, redis });
  });
  afterAll(async () => {
    if (keys.length > 0) await redis?.del(...keys);
    redis?.disconnect();
    await store?.close();
  });
}

/** A store for the enclosing block and the application world over it, handed to `started` in beforeAll; the store is closed in afterAll. */
export function useWorld(started: (w: World, store: Store) => void): void {
  let store: Store | undefined;
  beforeAll(async () => {
    store = await startStore();
    started(world(store.client), store);
  });
  afterAll(async () => {
    await store?.close();
  });
}
