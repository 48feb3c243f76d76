/**
 * The scenario harness without any test-runner dependency, so that `bench/` scripts can use it too
 * (`support.ts` adds the vitest hooks and assertions on top).
 *
 * A scenario talks to a real service only through its HTTP API: `startService` in ROLE=all (API,
 * saga, notifier, projections in one process), the embedded event store (in memory unless a data
 * dir is given), the simulated payment provider and a real Redis. Every service gets a key root of
 * its own (`READ_MODEL_KEY_ROOT`), so runs sharing one Redis never see each other's keys, and
 * `stop()` deletes every key under that root.
 */
import { TEST_REDIS_URL } from "../support/redis-url.js";
import { randomUUID } from "node:crypto";
import { Redis } from "ioredis";
import type { Role } from "../../src/application/ports.js";
import { loadConfig } from "../../src/config.js";
import { signToken } from "../../src/http/auth.js";
import { PROBLEM_TYPE_BASE } from "../../src/http/problem.js";
import type {
  MyPageResponse,
  NotificationResponse,
  PaymentResponse,
  ProductResponse,
  ReservationResponse,
} from "../../src/http/schemas.js";
import { createLogger } from "../../src/logger.js";
import { startService, type RunningService, type ServiceOptions } from "../../src/service.js";

export type { MyPageResponse, NotificationResponse, PaymentResponse, ProductResponse, ReservationResponse };
export type MyPageItem = MyPageResponse["reservations"][number];

export const SHARED_REDIS_URL = TEST_REDIS_URL;

/** The users of every scenario. */
export const USERS = {
  alice: { sub: "customer-alice", role: "customer" },
  bob: { sub: "customer-bob", role: "customer" },
  carol: { sub: "customer-carol", role: "customer" },
  seller: { sub: "seller-sam", role: "seller" },
  seller2: { sub: "seller-sue", role: "seller" },
  admin: { sub: "admin-ada", role: "admin" },
} as const satisfies Record<string, { sub: string; role: Role }>;

export type UserName = keyof typeof USERS;

export interface ApiResponse<T> {
  readonly status: number;
  readonly headers: Headers;
  /** Parsed JSON when the body is JSON, otherwise the text. */
  readonly body: T;
}

export interface RequestOptions {
  /** One of `USERS`; no Authorization header when absent. */
  readonly as?: UserName;
  readonly json?: unknown;
  readonly headers?: Readonly<Record<string, string>>;
  /** Per request; 20 s unless told. */
  readonly timeoutMs?: number;
}

export interface ScenarioOptions {
  /** Where Redis is; the test run's (TEST_REDIS_URL) unless told. */
  readonly redisUrl?: string;
  /** A durable data dir for the embedded event store; in memory when absent. */
  readonly dataDir?: string;
  /** Extra environment for `loadConfig`. */
  readonly env?: Readonly<Record<string, string>>;
  readonly service?: Omit<ServiceOptions, "inMemoryEventStore">;
  /** Label inside the key root (for humans reading Redis). */
  readonly label?: string;
}

export interface Scenario {
  readonly url: string;
  readonly service: RunningService;
  /** `READ_MODEL_KEY_ROOT` of this service. */
  readonly keyRoot: string;
  readonly redisUrl: string;
  readonly authSecret: string;
  request<T = unknown>(method: string, path: string, options?: RequestOptions): Promise<ApiResponse<T>>;
  get<T = unknown>(path: string, options?: RequestOptions): Promise<ApiResponse<T>>;
  post<T = unknown>(path: string, options?: RequestOptions): Promise<ApiResponse<T>>;
  patch<T = unknown>(path: string, options?: RequestOptions): Promise<ApiResponse<T>>;
  delete<T = unknown>(path: string, options?: RequestOptions): Promise<ApiResponse<T>>;
  /** Stops the service, then deletes every Redis key under its key root. */
  stop(): Promise<void>;
}

/** Deletes every key under `<root>:` (SCAN + UNLINK); returns how many. */
export async function deleteKeysUnder(redisUrl: string, root: string): Promise<number> {
  const redis = new Redis(redisUrl, { lazyConnect: true, maxRetriesPerRequest: 1, retryStrategy: () => null });
  redis.on("error", () => undefined);
  let deleted = 0;
  try {
    await redis.connect();
    let cursor = "0";
    do {
      const [next, keys] = await redis.scan(cursor, "MATCH", `${root}:*`, "COUNT", 1000);
      cursor = next;
      if (keys.length > 0) deleted += await redis.unlink(...keys);
    } while (cursor !== "0");
  } finally {
    redis.disconnect();
  }
  return deleted;
}

/** A fresh key root: `scn:<label>:<random>`. */
export const uniqueKeyRoot = (label = "scenario"): string => `scn:${label}:${randomUUID().slice(0, 8)}`;

const withTimeout = async <T>(work: Promise<T>, ms: number): Promise<T | undefined> => {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([work, new Promise<undefined>((resolve) => (timer = setTimeout(() => resolve(undefined), ms)))]);
  } finally {
    clearTimeout(timer);
  }
};

/** Starts a real service (ROLE=all) with a key root of its own. */
export async function startScenario(options: ScenarioOptions = {}): Promise<Scenario> {
  const redisUrl = options.redisUrl ?? SHARED_REDIS_URL;
  const keyRoot = uniqueKeyRoot(options.label);
  const authSecret = `scenario-secret-${randomUUID()}`;
  const config = loadConfig({
    PORT: "0",
    HOST: "127.0.0.1",
    EMBEDDED_EVENTSTORE_PORT: "0",
    AUTH_SECRET: authSecret,
    // SCENARIO_LOG_LEVEL=debug shows the service's log while debugging a scenario.
    LOG_LEVEL: process.env.SCENARIO_LOG_LEVEL ?? "silent",
    ROLE: "all",
    REDIS_URL: redisUrl,
    READ_MODEL_KEY_ROOT: keyRoot,
    ...(options.dataDir === undefined ? {} : { DATA_DIR: options.dataDir }),
    ...options.env,
  });
  const logger = createLogger({ level: config.logLevel });
  const service = await startService(config, logger, { ...options.service, inMemoryEventStore: options.dataDir === undefined });
  const url = service.url;
  if (url === undefined) throw new Error("the service started without an HTTP listener");

  const tokens = new Map<UserName, string>();
  for (const [name, user] of Object.entries(USERS) as Array<[UserName, { sub: string; role: Role }]>) {
    tokens.set(name, await signToken(authSecret, { sub: user.sub, role: user.role, ttlSeconds: 3600 }));
  }

  const request = async <T>(method: string, path: string, opts: RequestOptions = {}): Promise<ApiResponse<T>> => {
    const headers: Record<string, string> = { ...opts.headers };
    if (opts.as !== undefined) headers.authorization = `Bearer ${tokens.get(opts.as) ?? ""}`;
    let body: string | undefined;
    if (opts.json !== undefined) {
      headers["content-type"] ??= "application/json";
      body = JSON.stringify(opts.json);
    }
    const response = await fetch(`${url}${path}`, {
      method,
      headers,
      signal: AbortSignal.timeout(opts.timeoutMs ?? 20_000),
      ...(body === undefined ? {} : { body }),
    });
    const text = await response.text();
    const type = response.headers.get("content-type") ?? "";
    const parsed: unknown = /json/.test(type) && text !== "" ? JSON.parse(text) : text;
    return { status: response.status, headers: response.headers, body: parsed as T };
  };

  let stopped = false;
  return {
    url,
    service,
    keyRoot,
    redisUrl,
    authSecret,
    request,
    get: (path, opts) => request("GET", path, opts),
    post: (path, opts) => request("POST", path, opts),
    patch: (path, opts) => request("PATCH", path, opts),
    delete: (path, opts) => request("DELETE", path, opts),
    stop: async () => {
      if (stopped) return;
      stopped = true;
      if ((await withTimeout(service.stop().then(() => true), 15_000)) === undefined) {
        process.stderr.write(`scenario: service.stop() did not finish within 15 s (key root ${keyRoot})\n`);
      }
      await deleteKeysUnder(redisUrl, keyRoot).catch((error: unknown) =>
        process.stderr.write(`scenario: could not delete the keys under ${keyRoot}: ${String(error)}\n`),
      );
    },
  };
}

/** `https://…/problems/<code>` → `<code>`; undefined for anything that is not a problem of ours. */
export const problemCode = (body: unknown): string | undefined => {
  if (typeof body !== "object" || body === null) return undefined;
  const type = (body as { type?: unknown }).type;
  return typeof type === "string" && type.startsWith(PROBLEM_TYPE_BASE) ? type.slice(PROBLEM_TYPE_BASE.length) : undefined;
};

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

export interface PollOptions {
  /** Give up after this long (the last failure is rethrown); 15 s unless told. */
  readonly timeoutMs?: number;
  readonly intervalMs?: number;
}

/**
 * Bounded polling for eventually consistent results: runs `check` until it returns without
 * throwing, or rethrows its last failure once `timeoutMs` has passed.
 */
export async function eventually<T>(check: () => Promise<T>, { timeoutMs = 15_000, intervalMs = 100 }: PollOptions = {}): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await check();
    } catch (error) {
      if (Date.now() >= deadline) throw error;
      await sleep(intervalMs);
    }
  }
}
