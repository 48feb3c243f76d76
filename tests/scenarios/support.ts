/**
 * Support for the reference-system scenarios (DESIGN §7): each test file starts one real service
 * (ROLE=all, embedded event store in memory, real Redis under a key root of its own) and drives it
 * through the HTTP API only. Read models (lists, /my-page, /notifications) are eventually
 * consistent, so everything read from them is awaited with bounded polling (`eventually`); reads by
 * id are consistent with the commands already answered, but what the saga does after a command
 * (payment requested, units committed or released, refunds) is asynchronous too.
 */
import { afterAll, beforeAll, expect } from "vitest";
import { PROBLEM_CONTENT_TYPE, type Problem } from "../../src/http/problem.js";
import type { ProductFields } from "../support/product-fields.js";
import {
  type ApiResponse,
  type MyPageItem,
  type MyPageResponse,
  type NotificationResponse,
  type PaymentResponse,
  type ProductResponse,
  type ReservationResponse,
  type Scenario,
  type ScenarioOptions,
  type UserName,
  USERS,
  eventually,
  problemCode,
  sleep,
  startScenario,
} from "./harness.js";

export * from "./harness.js";
export type { Problem, ProductFields };

/** Starts the scenario's service before the file's tests and stops it (deleting its Redis keys) after. */
export function useScenario(options: ScenarioOptions = {}): () => Scenario {
  let scenario: Scenario | undefined;
  beforeAll(async () => {
    scenario = await startScenario(options);
  }, 60_000);
  afterAll(async () => {
    await scenario?.stop();
    scenario = undefined;
  }, 30_000);
  return () => {
    if (scenario === undefined) throw new Error("useScenario(): the service is not started (use it inside tests or hooks)");
    return scenario;
  };
}

const show = (response: ApiResponse<unknown>): string => `${response.status} ${JSON.stringify(response.body)}`;

/** Asserts an RFC 9457 problem with this status and `type` code; returns it. */
export function expectProblem(response: ApiResponse<unknown>, status: number, code: string): Problem {
  expect(response.status, show(response)).toBe(status);
  expect(response.headers.get("content-type") ?? "", show(response)).toContain(PROBLEM_CONTENT_TYPE);
  expect(problemCode(response.body), show(response)).toBe(code);
  return response.body as Problem;
}

/** Asserts the status and returns the body. */
export function expectStatus<T>(response: ApiResponse<T>, status: number): T {
  expect(response.status, show(response)).toBe(status);
  return response.body;
}

export async function createProduct(s: Scenario, fields: Partial<ProductFields>, as: UserName = "seller"): Promise<ProductResponse> {
  const response = await s.post<ProductResponse>("/products", { as, json: { name: "Product", capacity: 1, unitPrice: 1000, ...fields } });
  const product = expectStatus(response, 201);
  expect(response.headers.get("location")).toBe(`/products/${product.id}`);
  return product;
}

export interface ReserveOptions {
  readonly as?: UserName;
  readonly paymentToken?: string;
  readonly headers?: Readonly<Record<string, string>>;
}

/** `POST /reservations`, whatever the answer. */
export const tryReserve = (s: Scenario, productId: string, quantity: number, options: ReserveOptions = {}) =>
  s.post<ReservationResponse>("/reservations", {
    as: options.as ?? "alice",
    json: { productId, quantity, ...(options.paymentToken === undefined ? {} : { paymentToken: options.paymentToken }) },
    ...(options.headers === undefined ? {} : { headers: options.headers }),
  });

/** `POST /reservations`; fails unless 201 `placed`. */
export async function reserve(
  s: Scenario,
  productId: string,
  quantity: number,
  options: ReserveOptions = {},
): Promise<ReservationResponse> {
  const response = await tryReserve(s, productId, quantity, options);
  const reservation = expectStatus(response, 201);
  expect(reservation.status).toBe("placed");
  expect(response.headers.get("location")).toBe(`/reservations/${reservation.id}`);
  return reservation;
}

export async function getProduct(s: Scenario, id: string): Promise<ProductResponse> {
  return expectStatus(await s.get<ProductResponse>(`/products/${id}`), 200);
}

export async function getReservation(s: Scenario, id: string, as: UserName = "alice"): Promise<ReservationResponse> {
  return expectStatus(await s.get<ReservationResponse>(`/reservations/${id}`, { as }), 200);
}

export async function getPayment(s: Scenario, id: string, as: UserName = "alice"): Promise<PaymentResponse> {
  return expectStatus(await s.get<PaymentResponse>(`/payments/${id}`, { as }), 200);
}

/** `POST /reservations/{id}/<command>`, whatever the answer. */
export const command = (s: Scenario, id: string, name: string, as: UserName, json: unknown = {}) =>
  s.post<ReservationResponse>(`/reservations/${id}/${name}`, { as, json });

/** `POST /payments/{id}/pay`, whatever the answer. */
export const pay = (s: Scenario, id: string, token: string, as: UserName = "alice", headers?: Record<string, string>) =>
  s.post<PaymentResponse>(`/payments/${id}/pay`, { as, json: { token }, ...(headers === undefined ? {} : { headers }) });

/** Polls `GET /reservations/{id}` (consistent read) until it matches. */
export const waitForReservation = (s: Scenario, id: string, expected: Partial<ReservationResponse>, as: UserName = "alice") =>
  eventually(async () => {
    const reservation = await getReservation(s, id, as);
    expect(reservation).toMatchObject(expected);
    return reservation;
  });

/** Polls `GET /payments/{id}` until the saga has requested the payment and it matches. */
export const waitForPayment = (s: Scenario, id: string, expected: Partial<PaymentResponse> = {}, as: UserName = "alice") =>
  eventually(async () => {
    const response = await s.get<PaymentResponse>(`/payments/${id}`, { as });
    expect(response.status, show(response)).toBe(200);
    expect(response.body).toMatchObject(expected);
    return response.body;
  });

/** Polls `GET /products/{id}` until it matches (the saga commits and releases units asynchronously). */
export const waitForProduct = (s: Scenario, id: string, expected: Partial<ProductResponse>) =>
  eventually(async () => {
    const product = await getProduct(s, id);
    expect(product).toMatchObject(expected);
    return product;
  });

export async function myPage(s: Scenario, as: UserName = "alice"): Promise<MyPageResponse> {
  return expectStatus(await s.get<MyPageResponse>("/my-page", { as }), 200);
}

/** Polls My Page until the reservation's entry matches. */
export const waitForMyPage = (s: Scenario, reservationId: string, expected: Partial<MyPageItem>, as: UserName = "alice") =>
  eventually(async () => {
    const page = await myPage(s, as);
    expect(page.customerId).toBe(USERS[as].sub);
    const entry = page.reservations.find((item) => item.reservationId === reservationId);
    expect(entry, `no My Page entry for ${reservationId} in ${JSON.stringify(page)}`).toBeDefined();
    expect(entry).toMatchObject(expected);
    return entry as MyPageItem;
  });

export async function notifications(s: Scenario, reservationId: string, as: UserName = "alice"): Promise<NotificationResponse[]> {
  return expectStatus(await s.get<{ items: NotificationResponse[] }>(`/notifications?reservationId=${reservationId}`, { as }), 200).items;
}

const sorted = (kinds: readonly string[]): string[] => [...kinds].sort();

/**
 * Polls `/notifications?reservationId=` until the reservation's notifications are exactly these
 * kinds (as a multiset: one per status change, none twice); returns them.
 */
export const waitForNotifications = (s: Scenario, reservationId: string, kinds: readonly string[], as: UserName = "alice") =>
  eventually(async () => {
    const items = await notifications(s, reservationId, as);
    expect(sorted(items.map((item) => item.kind))).toEqual(sorted(kinds));
    for (const item of items) {
      expect(item).toMatchObject({ reservationId, customerId: USERS[as].sub });
      expect(item.message.length).toBeGreaterThan(0);
    }
    return items;
  });

/**
 * The opposite of `eventually`: `check` must keep passing for the whole of `ms` (polled), e.g. "no
 * further notification arrives". Bounded, and asserts nothing about timing.
 */
export async function staysTrue(check: () => Promise<void>, ms = 1500, intervalMs = 150): Promise<void> {
  const deadline = Date.now() + ms;
  do {
    await check();
    await sleep(intervalMs);
  } while (Date.now() < deadline);
  await check();
}
