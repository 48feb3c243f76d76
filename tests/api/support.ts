/**
 * The API acceptance suite runs against the real stack: `startService` with the embedded event
 * store in memory, real application services, real HTTP, and (ROLE defaults to `all`) the workers
 * in the same process. Nothing is mocked. Each test file starts its own service (vitest runs files
 * in separate forks), so every file sees an empty event store. Redis (`REDIS_URL`) is used by the
 * workers; the routes under test are the write side and the consistent reads by id.
 */
import { TEST_REDIS_URL } from "../support/redis-url.js";
import { randomUUID } from "node:crypto";
import { SignJWT } from "jose";
import { afterAll, beforeAll, expect } from "vitest";
import type { Role } from "../../src/application/ports.js";
import { loadConfig } from "../../src/config.js";
import { signToken } from "../../src/http/auth.js";
import { PROBLEM_CONTENT_TYPE, PROBLEM_TYPE_BASE, type Problem } from "../../src/http/problem.js";
import type { ProductResponse, ReservationResponse } from "../../src/http/schemas.js";
import { createLogger } from "../../src/logger.js";
import { startService, type RunningService } from "../../src/service.js";

export type { Problem, ProductResponse, ReservationResponse };

export const TEST_SECRET = `api-acceptance-secret-${randomUUID()}`;

/** The users every test file works with: two of each role but admin. */
export const USERS = {
  customer: { sub: "customer-alice", role: "customer" },
  customer2: { sub: "customer-bob", role: "customer" },
  seller: { sub: "seller-sam", role: "seller" },
  seller2: { sub: "seller-sue", role: "seller" },
  admin: { sub: "admin-ada", role: "admin" },
} as const satisfies Record<string, { sub: string; role: Role }>;

export type UserName = keyof typeof USERS;
export type Tokens = Readonly<Record<UserName, string>>;

export interface ApiResponse<T> {
  readonly status: number;
  readonly headers: Headers;
  /** Parsed JSON when the body is JSON, otherwise the text. */
  readonly body: T;
}

export interface RequestOptions {
  /** A bearer token, or the name of one of `USERS`. */
  readonly as?: UserName | (string & {});
  /** Serialised as JSON with `Content-Type: application/json`. */
  readonly json?: unknown;
  /** Sent as is (with whatever `Content-Type` `headers` give). */
  readonly raw?: string;
  readonly headers?: Readonly<Record<string, string>>;
}

export interface Api {
  readonly url: string;
  readonly service: RunningService;
  readonly tokens: Tokens;
  request<T = unknown>(method: string, path: string, options?: RequestOptions): Promise<ApiResponse<T>>;
  get<T = unknown>(path: string, options?: RequestOptions): Promise<ApiResponse<T>>;
  post<T = unknown>(path: string, options?: RequestOptions): Promise<ApiResponse<T>>;
  patch<T = unknown>(path: string, options?: RequestOptions): Promise<ApiResponse<T>>;
  delete<T = unknown>(path: string, options?: RequestOptions): Promise<ApiResponse<T>>;
  /** Registers a product as `as` (default: the seller); fails the test unless 201. */
  createProduct(fields?: Partial<RegisterProductFields>, as?: UserName): Promise<ProductResponse>;
  /** Places a reservation as `as` (default: the customer); fails the test unless 201. */
  reserve(productId: string, quantity?: number, as?: UserName): Promise<ReservationResponse>;
  product(id: string): Promise<ProductResponse>;
}

export interface RegisterProductFields {
  name: string;
  capacity: number;
  unitPrice: number;
  currency: string;
  kind: "sale" | "rental";
  sellerAcceptance: boolean;
  fulfilmentSteps: string[];
  holdTtlSeconds: number;
  perCustomerLimit: number;
}

export const signFor = (sub: string, role: Role, ttlSeconds = 3600): Promise<string> =>
  signToken(TEST_SECRET, { sub, role, ttlSeconds });

/** A correctly signed token whose `exp` lies in the past. */
export const expiredToken = async (sub: string = USERS.customer.sub, role: Role = "customer"): Promise<string> => {
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({ role })
    .setProtectedHeader({ alg: "HS256", typ: "JWT" })
    .setSubject(sub)
    .setIssuedAt(now - 3600)
    .setExpirationTime(now - 60)
    .sign(new TextEncoder().encode(TEST_SECRET));
};

/** Well-formed, but signed with another key. */
export const foreignToken = (sub: string = USERS.customer.sub, role: Role = "customer"): Promise<string> =>
  signToken("some-other-secret", { sub, role, ttlSeconds: 3600 });

/** An unsigned token (`alg: none`) claiming to be an admin. */
export const unsignedToken = (): string => {
  const part = (value: object) => Buffer.from(JSON.stringify(value)).toString("base64url");
  return `${part({ alg: "none", typ: "JWT" })}.${part({ sub: "mallory", role: "admin", exp: Math.floor(Date.now() / 1000) + 3600 })}.`;
};

/** Signed with the right key, but the role is not one of the three. */
export const badRoleToken = async (): Promise<string> =>
  new SignJWT({ role: "superuser" })
    .setProtectedHeader({ alg: "HS256", typ: "JWT" })
    .setSubject("mallory")
    .setIssuedAt()
    .setExpirationTime("1h")
    .sign(new TextEncoder().encode(TEST_SECRET));

export const UNKNOWN_ID = "0b4c2f4e-5c1a-4a57-9d9c-3c3f2f6b2a10";

/** Starts the real service (ROLE=all, embedded event store in memory) and signs a token per user. */
export async function startApi(): Promise<Api> {
  const config = loadConfig({
    PORT: "0",
    EMBEDDED_EVENTSTORE_PORT: "0",
    AUTH_SECRET: TEST_SECRET,
    LOG_LEVEL: "silent",
    REDIS_URL: TEST_REDIS_URL,
    // Its own Redis keys: other test files' services share this Redis.
    READ_MODEL_KEY_ROOT: `test-api-${randomUUID()}`,
  });
  const logger = createLogger({ level: "silent" });
  const service = await startService(config, logger, { inMemoryEventStore: true });
  const url = service.url;
  if (url === undefined) throw new Error("the service started without an HTTP listener");
  const entries = await Promise.all(Object.entries(USERS).map(async ([name, user]) => [name, await signFor(user.sub, user.role)] as const));
  const tokens = Object.fromEntries(entries) as Record<UserName, string>;

  const request = async <T>(method: string, path: string, options: RequestOptions = {}): Promise<ApiResponse<T>> => {
    const headers: Record<string, string> = { ...options.headers };
    if (options.as !== undefined) {
      headers.authorization = `Bearer ${options.as in tokens ? tokens[options.as as UserName] : options.as}`;
    }
    let body: string | undefined;
    if (options.json !== undefined) {
      headers["content-type"] ??= "application/json";
      body = JSON.stringify(options.json);
    } else if (options.raw !== undefined) {
      body = options.raw;
    }
    const response = await fetch(`${url}${path}`, {
      method,
      headers,
      signal: AbortSignal.timeout(20_000),
      ...(body === undefined ? {} : { body }),
    });
    const text = await response.text();
    const type = response.headers.get("content-type") ?? "";
    const parsed: unknown = /json/.test(type) && text !== "" ? JSON.parse(text) : text;
    return { status: response.status, headers: response.headers, body: parsed as T };
  };

  return {
    url,
    service,
    tokens,
    request,
    get: (path, options) => request("GET", path, options),
    post: (path, options) => request("POST", path, options),
    patch: (path, options) => request("PATCH", path, options),
    delete: (path, options) => request("DELETE", path, options),
    createProduct: async (fields = {}, as = "seller") => {
      const response = await request<ProductResponse>("POST", "/products", {
        as,
        json: { name: "Kickboard", capacity: 5, unitPrice: 1000, ...fields },
      });
      expect(response.status, JSON.stringify(response.body)).toBe(201);
      return response.body;
    },
    reserve: async (productId, quantity = 1, as = "customer") => {
      const response = await request<ReservationResponse>("POST", "/reservations", { as, json: { productId, quantity } });
      expect(response.status, JSON.stringify(response.body)).toBe(201);
      return response.body;
    },
    product: async (id) => {
      const response = await request<ProductResponse>("GET", `/products/${id}`);
      expect(response.status, JSON.stringify(response.body)).toBe(200);
      return response.body;
    },
  };
}

/** Resolves true when `work` settles within `ms`, false when it is still pending then. */
export const settlesWithin = async (work: Promise<unknown>, ms: number): Promise<boolean> => {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), ms);
  });
  try {
    return await Promise.race([work.then(() => true), timeout]);
  } finally {
    clearTimeout(timer);
  }
};

export const STOP_TIMEOUT_MS = 10_000;

/**
 * Starts the real service for the test file (beforeAll) and stops it (afterAll). A stop that hangs
 * is reported on stderr but does not fail the file: `service-lifecycle.test.ts` is where a clean
 * stop is asserted.
 */
export function useApi(): () => Api {
  let api: Api | undefined;

  beforeAll(async () => {
    api = await startApi();
  }, 60_000);

  afterAll(async () => {
    const running = api;
    api = undefined;
    if (running && !(await settlesWithin(running.service.stop(), STOP_TIMEOUT_MS))) {
      console.warn(`service.stop() did not finish within ${STOP_TIMEOUT_MS} ms (see tests/api/service-lifecycle.test.ts)`);
    }
  }, STOP_TIMEOUT_MS + 5000);

  return () => {
    if (api === undefined) throw new Error("useApi(): the service is not started yet (use it inside tests or hooks)");
    return api;
  };
}

/** Asserts an RFC 9457 problem answer with the given status and `type` suffix; returns its body. */
export function expectProblem(response: ApiResponse<unknown>, status: number, code: string): Problem {
  const context = JSON.stringify(response.body);
  expect(response.status, context).toBe(status);
  expect(response.headers.get("content-type") ?? "", context).toContain(PROBLEM_CONTENT_TYPE);
  const problem = response.body as Problem;
  expect(problem.type, context).toBe(`${PROBLEM_TYPE_BASE}${code}`);
  expect(problem.status).toBe(status);
  expect(typeof problem.title).toBe("string");
  return problem;
}

/** A 400 `validation-failed` whose `errors` name `path` (and, when given, say `message`). */
export function expectValidationError(response: ApiResponse<unknown>, path: string, message?: string | RegExp): Problem {
  const problem = expectProblem(response, 400, "validation-failed");
  const errors = problem.errors ?? [];
  const matching = errors.filter((error) => error.path === path);
  expect(matching, `no error for ${path} in ${JSON.stringify(errors)}`).not.toHaveLength(0);
  if (message !== undefined) expect(matching.map((error) => error.message).join(" | ")).toMatch(message);
  return problem;
}

/** `W/"<revision>"`. */
export const etagOf = (revision: number): string => `W/"${revision}"`;

/** Polls until `check` passes or the time is up; the last failure is rethrown. */
export async function eventually<T>(check: () => Promise<T>, { timeoutMs = 5000, intervalMs = 100 } = {}): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await check();
    } catch (error) {
      if (Date.now() >= deadline) throw error;
      await new Promise((resolve) => setTimeout(resolve, intervalMs));
    }
  }
}
