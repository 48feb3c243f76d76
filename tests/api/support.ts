/**
 * The API acceptance suite runs against the real stack: `startService` with the embedded event
 * store in memory, real application services, real HTTP, and (ROLE defaults to `all`) the workers
 * in the same process. Nothing is mocked. Each test file starts its own service (vitest runs files
 * in separate forks), so every file sees an empty event store. Redis (`REDIS_URL`) is used by the
 * workers; the routes under test are the write side and the consistent reads by id.
 */
import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, expect } from "vitest";
import { PROBLEM_CONTENT_TYPE, PROBLEM_TYPE_BASE, type Problem } from "../../src/http/problem.js";
import type { ProductResponse, ReservationResponse } from "../../src/http/schemas.js";
import type { RunningService } from "../../src/service.js";
import { settlesWithin, startServiceUnderTest } from "../support/in-process-service.js";
import {
  bearerClient,
  mintToken,
  mintTokens,
  expiredToken as expiredFor,
  signedClaims,
  unsignedToken as unsignedWith,
  type ApiResponse,
  type HttpClient,
  PEOPLE,
  type RequestOptions as ClientRequestOptions,
} from "../support/principals.js";
import type { Role } from "../../src/application/ports.js";
import type { ProductFields } from "../support/product-fields.js";

export type { ApiResponse, Problem, ProductResponse, ReservationResponse };
export { eventually, settlesWithin } from "../support/in-process-service.js";

export const TEST_SECRET = `api-acceptance-secret-${randomUUID()}`;

const { alice, bob, sam, sue, ada } = PEOPLE;

/** The users every test file works with: two of each role but admin. */
export const USERS = { customer: alice, customer2: bob, seller: sam, seller2: sue, admin: ada } as const;

export type UserName = keyof typeof USERS;
export type Tokens = Readonly<Record<UserName, string>>;

/** `as`: a bearer token, or the name of one of `USERS`. */
export type RequestOptions = ClientRequestOptions<UserName | (string & {})>;

export interface Api extends HttpClient<UserName | (string & {})> {
  readonly url: string;
  readonly service: RunningService;
  readonly tokens: Tokens;
  /** Registers a product as `as` (default: the seller); fails the test unless 201. */
  createProduct(fields?: Partial<RegisterProductFields>, as?: UserName): Promise<ProductResponse>;
  /** Places a reservation as `as` (default: the customer); fails the test unless 201. */
  reserve(productId: string, quantity?: number, as?: UserName): Promise<ReservationResponse>;
  product(id: string): Promise<ProductResponse>;
}

export interface RegisterProductFields extends ProductFields {
  perCustomerLimit: number;
}

export const signFor = (sub: string, role: Role, ttlSeconds = 3600): Promise<string> => mintToken(TEST_SECRET, sub, role, ttlSeconds);

/** A correctly signed token whose `exp` lies in the past. */
export const expiredToken = (sub: string = USERS.customer.sub, role: Role = "customer"): Promise<string> =>
  expiredFor(TEST_SECRET, sub, role, 3600);

/** Well-formed, but signed with another key. */
export const foreignToken = (sub: string = USERS.customer.sub, role: Role = "customer"): Promise<string> =>
  mintToken("some-other-secret", sub, role);

/** The tokens the service must refuse whatever the route: expired, signed with another key, unsigned. */
export const refusedTokens = async (sub: string = USERS.customer.sub, role: Role = "customer"): Promise<string[]> => [
  await expiredToken(sub, role),
  await foreignToken(sub, role),
  unsignedToken(),
];

/** An unsigned token (`alg: none`) claiming to be an admin. */
export const unsignedToken = (): string => unsignedWith({ sub: "mallory", role: "admin", exp: Math.floor(Date.now() / 1000) + 3600 });

/** Signed with the right key, but the role is not one of the three. */
export const badRoleToken = (): Promise<string> => signedClaims(TEST_SECRET, { role: "superuser", sub: "mallory" });

export const UNKNOWN_ID = "0b4c2f4e-5c1a-4a57-9d9c-3c3f2f6b2a10";

/** Starts the real service (ROLE=all, embedded event store in memory) and signs a token per user. */
export async function startApi(): Promise<Api> {
  const { url, service } = await startServiceUnderTest({
    AUTH_SECRET: TEST_SECRET,
    LOG_LEVEL: "silent",
    // Its own Redis keys: other test files' services share this Redis.
    READ_MODEL_KEY_ROOT: `test-api-${randomUUID()}`,
  });
  const tokens: Tokens = await mintTokens(TEST_SECRET, USERS);
  const client = bearerClient<UserName | (string & {})>(url, (as) => (as in tokens ? tokens[as as UserName] : as));
  const { request } = client;

  return {
    ...client,
    url,
    service,
    tokens,
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
