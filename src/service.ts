import { createHmac } from "node:crypto";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import type { Duplex } from "node:stream";
import type { Redis } from "ioredis";
import type Koa from "koa";
import { paymentAggregate, productAggregate, reservationAggregate } from "./application/aggregates.js";
import { createPaymentService, type PaymentRepository } from "./application/payment-service.js";
import { ProductService, type ProductRepository } from "./application/product-service.js";
import { ReservationService, type ReservationRepository } from "./application/reservation-service.js";
import type { Config } from "./config.js";
import { createApp, createOperationsApp } from "./http/app.js";
import { RequestDrain } from "./http/request-drain.js";
import type { AppState } from "./http/state.js";
import { PROBLEM_TYPE_BASE } from "./http/problem.js";
import { AggregateRepository } from "./infrastructure/eventstore/aggregate-repository.js";
import { EventStoreCircuit } from "./infrastructure/eventstore/event-store-circuit.js";
import { keyedIdempotencyIds } from "./core/event-ids.js";
import { connectEventStore, type EventStoreConnection } from "./infrastructure/eventstore/connect.js";
import { GuardedPaymentProvider } from "./infrastructure/payments/guarded-provider.js";
import { SimulatedPaymentProvider } from "./infrastructure/payments/simulated-provider.js";
import { startWorkers } from "./worker/workers.js";
import { createNotifierConsumers } from "./worker/notifier.js";
import { createNotificationChannels } from "./worker/notification-channels/index.js";
import { createProjectionConsumers, createRedisReadModels } from "../projections/index.js";
import { Metrics } from "./metrics.js";
import { createReadinessProbe } from "./infrastructure/readiness.js";
import { createRedis } from "./infrastructure/redis.js";
import { provideRedis } from "./infrastructure/embedded-redis/redis-endpoint.js";
import { RedisIdempotencyRecords } from "./infrastructure/redis-idempotency-records.js";
import { RedisPaymentTokenStore } from "./infrastructure/redis-payment-token-store.js";
import { RedisUnpaidHolds } from "./infrastructure/redis-unpaid-holds.js";
import { describeRedisFailure } from "./infrastructure/redis-failure.js";
import type { Logger } from "./logger.js";
import { stopInOrder } from "./shutdown.js";
import { readOrCreateStoreId } from "./infrastructure/eventstore/store-identity.js";
import { guardKeyRoot, markEmptyKeyRoot } from "./worker/read-model-ownership.js";
import { setTimeout as delay } from "node:timers/promises";

/** How long start-up waits for Redis to say which store its keys reflect; later, the check runs when Redis is ready. */
const KEY_ROOT_CHECK_WAIT_MS = 3000;

/**
 * Requests Node's HTTP parser refuses never reach Koa; they still get a problem+json answer
 * (431 for oversized headers, 400 otherwise) before the connection is closed.
 */
const answerUnparseableRequest = (error: Error & { code?: string }, socket: Duplex): void => {
  if (!socket.writable) {
    socket.destroy();
    return;
  }
  const status = error.code === "HPE_HEADER_OVERFLOW" ? 431 : 400;
  const title = status === 431 ? "Request Header Fields Too Large" : "Bad Request";
  const body = JSON.stringify({
    type: `${PROBLEM_TYPE_BASE}${status === 431 ? "headers-too-large" : "malformed-request"}`,
    title,
    status,
    detail: "the request could not be parsed as HTTP",
  });
  socket.end(
    `HTTP/1.1 ${status} ${title}\r\nContent-Type: application/problem+json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n` +
      `X-Content-Type-Options: nosniff\r\nCache-Control: no-store\r\nConnection: close\r\n\r\n${body}`,
  );
};

export interface ServiceOptions {
  /** Embedded event store (and the managed Redis, when `REDIS_URL` is unset) keep nothing on disk (tests). */
  readonly inMemoryEventStore?: boolean;
  /** Simulated payment provider latency. */
  readonly paymentLatencyMs?: number;
  /** How often the hold watchdog looks for due deadlines. */
  readonly holdExpiryIntervalMs?: number;
}

export interface RunningService {
  /** Where the API listens; in the worker role, its health and metrics endpoints. */
  readonly url: string;
  readonly eventStore: EventStoreConnection;
  stop(): Promise<void>;
}

/** Wires the process for its role from configuration: the composition root. */
export const startService = async (config: Config, logger: Logger, options: ServiceOptions = {}): Promise<RunningService> => {
  if (config.auth.usingDevelopmentSecret) {
    logger.warn(
      "AUTH_SECRET is not set: bearer tokens are signed with the public development secret. Anyone can mint tokens. Set AUTH_SECRET outside development.",
    );
  }
  const eventStore = await openEventStore(config, logger, options);
  const redisEndpoint = await provideRedis(
    {
      // Behind Sentinel the sentinels name the server: there is nothing to manage.
      url: config.redis.url ?? (config.redis.sentinel ? "redis://127.0.0.1:6379" : undefined),
      dataDir: config.eventStore.dataDir,
      port: config.redis.embeddedPort,
      inMemory: options.inMemoryEventStore ?? false,
    },
    logger,
  ).catch(async (error: unknown) => {
    await eventStore.close();
    throw error;
  });
  const redis = connectRedis(redisEndpoint.url, config, logger);
  const parts = assemble(config, logger, options, eventStore, redis);
  const { circuit, metrics, repositories } = parts;

  // Before the workers start, so that no hold deadline or read model of another store is acted on.
  const keyRootGuard =
    config.role === "api" ? undefined : guardKeyRoot({ client: eventStore.client, redis, keyRoot: parts.keyRoot, logger });
  if (keyRootGuard) await Promise.race([keyRootGuard.checked, delay(KEY_ROOT_CHECK_WAIT_MS, undefined, { ref: false })]);
  if (config.role === "api") await markKeyRootOfApi(eventStore, redis, parts.keyRoot);
  const workers =
    config.role === "api"
      ? undefined
      : startWorkers({
          readSide: [
            ...createProjectionConsumers({ client: eventStore.client, redis, logger, keyRoot: parts.keyRoot }),
            ...createNotifierConsumers({
              client: eventStore.client,
              repositories: { reservations: repositories.reservations, payments: repositories.payments },
              logger,
              channels: createNotificationChannels(logger, config.notifications),
            }),
          ],
          client: eventStore.client,
          redis,
          logger,
          ...repositories,
          provider: parts.provider,
          paymentTokens: parts.paymentTokens,
          ...(parts.unpaidHolds ? { unpaidHolds: parts.unpaidHolds } : {}),
          redisKeyRoot: parts.keyRoot,
          onHandled: (group, outcome, appendedAt) => metrics.observeHandled(group, outcome, appendedAt),
          stallAfterMs: config.subscriptionStallMs,
          ...(options.holdExpiryIntervalMs === undefined ? {} : { holdExpiryIntervalMs: options.holdExpiryIntervalMs }),
          ...(keyRootGuard ? { keyRootVerified: () => keyRootGuard.verified() } : {}),
        });

  if (workers) metrics.stalledGroups(() => workers.stalled());
  const drain = new RequestDrain();
  const readiness = createReadinessProbe(eventStore.client, redis, workers ? () => workers.states() : undefined);
  const server = await listen(createHttpApp(config, logger, parts, redis, { readiness, drain }), config);
  const url = `http://${config.http.host}:${(server.address() as AddressInfo).port}`;

  return {
    url,
    eventStore,
    stop: () =>
      stopInOrder({
        logger,
        graceMs: config.shutdownGraceMs,
        server,
        drain,
        stopWorkers: async () => {
          keyRootGuard?.stop();
          await workers?.stop();
        },
        closeEventStore: async () => {
          await eventStore.close();
          // After the client: a call still in flight gets the client's cancellation, not "circuit shut down".
          circuit.shutdown();
          redis.disconnect();
          // Last: a managed Redis outlives every client that writes to it.
          await redisEndpoint.stop();
        },
      }),
  };
};

/** The embedded store (or the client of `EVENTSTORE_URL`), with a line that says which. */
const openEventStore = async (config: Config, logger: Logger, options: ServiceOptions): Promise<EventStoreConnection> => {
  const eventStore = await connectEventStore({
    url: config.eventStore.url,
    dataDir: config.eventStore.dataDir,
    embeddedPort: config.eventStore.embeddedPort,
    inMemory: options.inMemoryEventStore ?? false,
    // Without its store the process cannot keep a single promise: say why and let the supervisor restart it.
    onEmbeddedCrash: (error) => {
      logger.fatal({ err: error }, "the embedded EventStoreDB stopped unexpectedly; exiting");
      process.exit(1);
    },
  });
  if (eventStore.embedded) {
    logger.info(
      {
        eventStore: eventStore.connectionString,
        streamBrowser: `http://127.0.0.1:${eventStore.embedded.port}/web/`,
        dataDir: options.inMemoryEventStore ? "(in memory)" : config.eventStore.dataDir,
      },
      "embedded EventStoreDB started (set EVENTSTORE_URL to use a real one)",
    );
  } else {
    logger.info({ eventStore: eventStore.connectionString }, "using EventStoreDB");
  }
  return eventStore;
};

/** Connects in the background: without Redis at start the service still starts and says so. */
const connectRedis = (url: string, config: Config, logger: Logger): Redis => {
  const redis = createRedis(url, config.redis.sentinel);
  redis.on("error", (error: Error) => logger.debug({ err: error.message }, "redis connection error"));
  redis
    .connect()
    .catch((error: unknown) => logger.warn(`${describeRedisFailure(error, redis)} at start; read models are unavailable until it is back`));
  return redis;
};

/** What both roles share: the repositories behind one circuit, the provider, the Redis-backed stores, the metrics. */
interface ServiceParts {
  readonly circuit: EventStoreCircuit;
  readonly metrics: Metrics;
  readonly repositories: {
    readonly products: ProductRepository;
    readonly reservations: ReservationRepository;
    readonly payments: PaymentRepository;
  };
  readonly provider: GuardedPaymentProvider;
  readonly keyRoot: string;
  readonly paymentTokens: RedisPaymentTokenStore;
  readonly unpaidHolds: RedisUnpaidHolds | undefined;
}

const assemble = (
  config: Config,
  logger: Logger,
  options: ServiceOptions,
  eventStore: EventStoreConnection,
  redis: Redis,
): ServiceParts => {
  // One circuit per process: when EventStoreDB is away, every command fails fast with a 503.
  const circuit = new EventStoreCircuit();
  const metrics = new Metrics();
  metrics.circuit("eventstore", () => circuit.state);
  const provider = new GuardedPaymentProvider(new SimulatedPaymentProvider({ latencyMs: options.paymentLatencyMs ?? 0 }));
  metrics.circuit("payment_provider", () => provider.state);
  const keyRoot = config.redis.readModelKeyRoot;
  return {
    circuit,
    metrics,
    repositories: {
      products: new AggregateRepository(eventStore.client, productAggregate, { circuit }),
      reservations: new AggregateRepository(eventStore.client, reservationAggregate, { circuit }),
      payments: new AggregateRepository(eventStore.client, paymentAggregate, { circuit }),
    },
    provider,
    keyRoot,
    paymentTokens: new RedisPaymentTokenStore(redis, keyRoot),
    unpaidHolds:
      config.maxUnpaidHoldsPerCustomer > 0
        ? new RedisUnpaidHolds(redis, keyRoot, config.maxUnpaidHoldsPerCustomer, logger.child({ component: "unpaid-holds" }))
        : undefined,
  };
};

/** An API-only process marks an empty key root as its store's; best effort: without Redis now, it writes nothing there until it is back anyway. */
const markKeyRootOfApi = async (eventStore: EventStoreConnection, redis: Redis, keyRoot: string): Promise<void> => {
  const redisReady = redis.status === "ready" ? Promise.resolve() : new Promise<void>((resolve) => redis.once("ready", () => resolve()));
  const marked = Promise.all([readOrCreateStoreId(eventStore.client), redisReady]).then(([storeId]) =>
    markEmptyKeyRoot(redis, keyRoot, storeId),
  );
  await Promise.race([marked.catch(() => undefined), delay(KEY_ROOT_CHECK_WAIT_MS, undefined, { ref: false })]);
};

/** A worker serves only its health and metrics; the API role and the all-in-one serve the whole API. */
const createHttpApp = (
  config: Config,
  logger: Logger,
  parts: ServiceParts,
  redis: Redis,
  probes: { readonly readiness: ReturnType<typeof createReadinessProbe>; readonly drain: RequestDrain },
): Koa<AppState> => {
  const { metrics, repositories, keyRoot } = parts;
  if (config.role === "worker") return createOperationsApp({ config, logger, readiness: probes.readiness, metrics });
  return createApp({
    config,
    logger,
    products: new ProductService(repositories.products),
    reservations: new ReservationService({
      ...repositories,
      paymentTokens: parts.paymentTokens,
      ...(parts.unpaidHolds ? { unpaidHolds: parts.unpaidHolds } : {}),
      idempotencyIds: keyedIdempotencyIds(config.idempotencySecret),
    }),
    payments: createPaymentService(repositories.payments, parts.provider, undefined, {
      records: new RedisIdempotencyRecords(redis, keyRoot),
      fingerprint: (token) => createHmac("sha256", config.idempotencySecret).update(`payment token\n${token}`).digest("base64url"),
    }),
    readModels: createRedisReadModels(redis, { keyRoot }),
    metrics,
    readiness: probes.readiness,
    drain: probes.drain,
  });
};

const listen = async (app: Koa<AppState>, config: Config): Promise<Server> => {
  const handle = app.callback();
  // Koa's handler answers its own errors; the promise it returns is only for callers that wait.
  const server = createServer((request, response) => void handle(request, response));
  server.on("clientError", answerUnparseableRequest);
  // Slow clients hold a connection, never more: short bounds on headers and on whole requests.
  server.headersTimeout = config.http.headersTimeoutMs;
  server.requestTimeout = config.http.requestTimeoutMs;
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(config.http.port, config.http.host, () => resolve());
  });
  return server;
};
