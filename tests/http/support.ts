import type { AddressInfo } from "node:net";
import type { Server } from "node:http";
import { randomUUID } from "node:crypto";
import { afterAll, beforeAll } from "vitest";
import type {
  Actor,
  CommandContext,
  PaymentService,
  PaymentView,
  ProductService,
  ProductView,
  ReadinessProbe,
  ReservationService,
  ReservationView,
  Role,
} from "../../src/application/ports.js";
import { comesBefore, encodeCursor, type Page } from "../../src/application/list-cursor.js";
import { AccessDeniedError, PaymentDeclinedError, ResourceNotFoundError } from "../../src/application/errors.js";
import { PaymentProviderUnavailableError } from "../../src/application/payment-provider.js";
import {
  createReadModels,
  type ListOptions,
  type MyPageView,
  type NotificationView,
  ReadModelUnavailableError,
  type ReadModels,
  type ReadModelStore,
  type ReadScope,
} from "../../src/application/read-models.js";
import { PaymentNotPayableError } from "../../src/domain/errors.js";
import { loadConfig, type Config } from "../../src/config.js";
import { createApp } from "../../src/http/app.js";
import { signToken } from "../../src/http/auth.js";
import { createLogger } from "../../src/logger.js";
import { Metrics } from "../../src/metrics.js";
import { PRODUCT_DEFAULTS } from "../support/product-fields.js";

/**
 * Test doubles of the application services: just enough state to exercise the edge in isolation.
 * The rules themselves are the real services' business and are tested against the event store.
 */
export interface Call {
  readonly method: string;
  readonly context?: CommandContext;
  readonly args: readonly unknown[];
}

export const SELLER = "seller-1";
export const CUSTOMER = "customer-1";

export function productView(overrides: Partial<ProductView> = {}): ProductView {
  return {
    id: randomUUID(),
    sellerId: SELLER,
    name: "Kickboard",
    capacity: 3,
    available: 3,
    held: 0,
    committed: 0,
    status: "available",
    unitPrice: 1000,
    ...PRODUCT_DEFAULTS,
    // An array of its own: the shared default is read-only.
    fulfilmentSteps: [],
    revision: 0,
    ...overrides,
  };
}

export function reservationView(overrides: Partial<ReservationView> = {}): ReservationView {
  const id = randomUUID();
  return {
    id,
    productId: randomUUID(),
    productName: "Kickboard",
    customerId: CUSTOMER,
    sellerId: SELLER,
    quantity: 1,
    amount: 1000,
    currency: "KRW",
    status: "placed",
    paymentId: id,
    paymentStatus: "pending",
    currentStep: null,
    expiresAt: "2030-01-01T00:15:00.000Z",
    createdAt: "2030-01-01T00:00:00.000Z",
    updatedAt: "2030-01-01T00:00:00.000Z",
    revision: 0,
    ...overrides,
  };
}

export class FakeProducts implements ProductService {
  readonly items = new Map<string, ProductView>();
  readonly calls: Call[] = [];

  async register(context: CommandContext, input: Parameters<ProductService["register"]>[1]): Promise<ProductView> {
    this.calls.push({ method: "register", context, args: [input] });
    const product = productView({ ...input, sellerId: context.actor.id, fulfilmentSteps: input.fulfilmentSteps ?? [] });
    this.items.set(product.id, product);
    return product;
  }

  async get(productId: string): Promise<ProductView | undefined> {
    this.calls.push({ method: "get", args: [productId] });
    return this.items.get(productId);
  }

  async update(context: CommandContext, productId: string, input: Parameters<ProductService["update"]>[2]): Promise<ProductView> {
    this.calls.push({ method: "update", context, args: [productId, input] });
    const product = this.owned(context, productId);
    const updated = { ...product, ...input, revision: product.revision + 1 };
    this.items.set(productId, updated);
    return updated;
  }

  async withdraw(context: CommandContext, productId: string): Promise<ProductView> {
    this.calls.push({ method: "withdraw", context, args: [productId] });
    const product = this.owned(context, productId);
    const withdrawn = { ...product, status: "withdrawn" as const, revision: product.revision + 1 };
    this.items.set(productId, withdrawn);
    return withdrawn;
  }

  private owned(context: CommandContext, productId: string): ProductView {
    const product = this.items.get(productId);
    if (product === undefined) throw new ResourceNotFoundError("product", productId);
    if (context.actor.role !== "admin" && product.sellerId !== context.actor.id) throw new AccessDeniedError("not your product");
    return product;
  }
}

export class FakeReservations implements ReservationService {
  readonly items = new Map<string, ReservationView>();
  readonly byKey = new Map<string, ReservationView>();
  readonly calls: Call[] = [];

  async place(context: CommandContext, input: Parameters<ReservationService["place"]>[1], idempotencyKey?: string) {
    this.calls.push({ method: "place", context, args: [input, idempotencyKey] });
    const scopedKey = idempotencyKey === undefined ? undefined : `${context.actor.id}:${idempotencyKey}`;
    const earlier = scopedKey === undefined ? undefined : this.byKey.get(scopedKey);
    if (earlier !== undefined) return { reservation: earlier, created: false };
    const reservation = reservationView({ productId: input.productId, quantity: input.quantity, customerId: context.actor.id });
    this.items.set(reservation.id, reservation);
    if (scopedKey !== undefined) this.byKey.set(scopedKey, reservation);
    return { reservation, created: true };
  }

  async get(actor: CommandContext["actor"], reservationId: string): Promise<ReservationView> {
    this.calls.push({ method: "get", args: [actor, reservationId] });
    return this.find(reservationId);
  }

  cancel = this.transition("cancel", "cancelled");
  accept = this.transition("accept", "confirmed");
  start = this.transition("start", "in-use");
  return = this.transition("return", "completed");

  async reject(context: CommandContext, reservationId: string, reason?: string): Promise<ReservationView> {
    this.calls.push({ method: "reject", context, args: [reservationId, reason] });
    return this.update(reservationId, { status: "rejected" });
  }

  async progress(context: CommandContext, reservationId: string, step: string): Promise<ReservationView> {
    this.calls.push({ method: "progress", context, args: [reservationId, step] });
    return this.update(reservationId, { status: "in-progress", currentStep: step });
  }

  private transition(method: string, status: ReservationView["status"]) {
    return async (context: CommandContext, reservationId: string): Promise<ReservationView> => {
      this.calls.push({ method, context, args: [reservationId] });
      return this.update(reservationId, { status });
    };
  }

  private find(reservationId: string): ReservationView {
    const reservation = this.items.get(reservationId);
    if (reservation === undefined) throw new ResourceNotFoundError("reservation", reservationId);
    return reservation;
  }

  private update(reservationId: string, change: Partial<ReservationView>): ReservationView {
    const current = this.find(reservationId);
    const updated = { ...current, ...change, revision: current.revision + 1 };
    this.items.set(reservationId, updated);
    return updated;
  }
}

export function paymentView(overrides: Partial<PaymentView> = {}): PaymentView {
  const id = randomUUID();
  return {
    id,
    reservationId: id,
    customerId: CUSTOMER,
    amount: 1000,
    currency: "KRW",
    status: "pending",
    attempts: [],
    updatedAt: "2030-01-01T00:00:00.000Z",
    revision: 0,
    ...overrides,
  };
}

/**
 * Pays by token like the simulated provider: `tok_ok` pays, `tok_declined` declines (402),
 * `tok_unavailable` fails like an outage (503). Voided and refunded payments are not payable (409).
 */
export class FakePayments implements PaymentService {
  readonly items = new Map<string, PaymentView>();
  readonly calls: Call[] = [];
  private readonly answered = new Map<string, PaymentView>();

  async get(actor: Actor, paymentId: string): Promise<PaymentView> {
    this.calls.push({ method: "get", args: [actor, paymentId] });
    return this.owned(actor, paymentId);
  }

  async pay(context: CommandContext, paymentId: string, token: string, idempotencyKey?: string): Promise<PaymentView> {
    this.calls.push({ method: "pay", context, args: [paymentId, token, idempotencyKey] });
    const payment = this.owned(context.actor, paymentId);
    const key = idempotencyKey === undefined ? undefined : `${context.actor.id}:${paymentId}:${idempotencyKey}`;
    const earlier = key === undefined ? undefined : this.answered.get(key);
    if (earlier !== undefined) return earlier;
    if (payment.status === "paid") return payment;
    if (payment.status === "voided" || payment.status === "refunded") throw new PaymentNotPayableError(payment.status);
    const at = "2030-01-01T00:01:00.000Z";
    if (token === "tok_unavailable") throw new PaymentProviderUnavailableError("the circuit is open", 2);
    if (token === "tok_declined") {
      const declined = this.save({
        ...payment,
        attempts: [...payment.attempts, { at, outcome: "declined", reason: "card declined" }],
        revision: payment.revision + 1,
      });
      throw new PaymentDeclinedError("card declined", declined);
    }
    const paid = this.save({
      ...payment,
      status: "paid",
      attempts: [...payment.attempts, { at, outcome: "succeeded" }],
      updatedAt: at,
      revision: payment.revision + 1,
    });
    if (key !== undefined) this.answered.set(key, paid);
    return paid;
  }

  private save(payment: PaymentView): PaymentView {
    this.items.set(payment.id, payment);
    return payment;
  }

  private owned(actor: Actor, paymentId: string): PaymentView {
    const payment = this.items.get(paymentId);
    if (payment === undefined) throw new ResourceNotFoundError("payment", paymentId);
    if (actor.role !== "admin" && !(actor.role === "customer" && payment.customerId === actor.id)) {
      throw new AccessDeniedError("only the payment's customer or an admin may see it");
    }
    return payment;
  }
}

/** An in-memory read-model store behind the real `createReadModels` (so its role scoping is exercised too). */
export class FakeReadModelStore implements ReadModelStore {
  products_: ProductView[] = [];
  reservations_: ReservationView[] = [];
  payments_: PaymentView[] = [];
  notifications_: NotificationView[] = [];
  readonly calls: Call[] = [];
  /** When set, every query fails like Redis being unreachable. */
  down = false;

  private check(method: string, args: readonly unknown[]): void {
    this.calls.push({ method, args });
    if (this.down) throw new ReadModelUnavailableError("the read models cannot be read right now (Connection is closed.)", 5);
  }

  /**
   * A page of items already in list order: positions are (score = index from the end, member = id),
   * so the cursor round trip is the real one without Redis.
   */
  private static limit<T extends { readonly id: string }>(items: T[], options: ListOptions): Page<T> {
    const positioned = items.map((item, i) => ({ item, position: { score: items.length - i, member: item.id } }));
    const after = options.after;
    const rest = after === undefined ? positioned : positioned.filter(({ position }) => comesBefore(after, position));
    const limit = options.limit ?? 100;
    const shown = rest.slice(0, limit);
    const last = shown.at(-1);
    return {
      items: shown.map(({ item }) => item),
      nextCursor: rest.length > limit && last !== undefined ? encodeCursor(last.position) : null,
    };
  }

  async products(query: Parameters<ReadModelStore["products"]>[0]): Promise<Page<ProductView>> {
    this.check("products", [query]);
    return FakeReadModelStore.limit(
      this.products_.filter((item) => query.status === undefined || item.status === query.status),
      query,
    );
  }

  async reservations(scope: ReadScope, query: Parameters<ReadModelStore["reservations"]>[1]): Promise<Page<ReservationView>> {
    this.check("reservations", [scope, query]);
    const visible = this.reservations_.filter(
      (item) =>
        (scope.kind === "all" ||
          (scope.kind === "customer" && item.customerId === scope.customerId) ||
          (scope.kind === "seller" && item.sellerId === scope.sellerId)) &&
        (query.status === undefined || item.status === query.status) &&
        (query.productId === undefined || item.productId === query.productId),
    );
    return FakeReadModelStore.limit(visible, query);
  }

  async payments(scope: Exclude<ReadScope, { kind: "seller" }>, query: ListOptions): Promise<Page<PaymentView>> {
    this.check("payments", [scope, query]);
    return FakeReadModelStore.limit(
      this.payments_.filter((item) => scope.kind === "all" || item.customerId === scope.customerId),
      query,
    );
  }

  async myPage(customerId: string, query: ListOptions): Promise<MyPageView> {
    this.check("myPage", [customerId, query]);
    const page = FakeReadModelStore.limit(
      this.reservations_.filter((item) => item.customerId === customerId),
      query,
    );
    const reservations = page.items.map((item) => ({
      reservationId: item.id,
      productId: item.productId,
      productName: item.productName,
      quantity: item.quantity,
      amount: item.amount,
      currency: item.currency,
      reservationStatus: item.status,
      paymentStatus: item.paymentStatus,
      currentStep: item.currentStep,
      updatedAt: item.updatedAt,
    }));
    return { customerId, reservations, updatedAt: reservations[0]?.updatedAt ?? null, nextCursor: page.nextCursor };
  }

  async notifications(scope: ReadScope, query: Parameters<ReadModelStore["notifications"]>[1]): Promise<Page<NotificationView>> {
    this.check("notifications", [scope, query]);
    const visible = this.notifications_.filter(
      (item) =>
        (scope.kind === "all" ||
          (scope.kind === "customer" && item.audience === "customer" && item.customerId === scope.customerId) ||
          (scope.kind === "seller" && item.audience === "seller" && item.sellerId === scope.sellerId)) &&
        (query.reservationId === undefined || item.reservationId === query.reservationId),
    );
    return FakeReadModelStore.limit(visible, query);
  }
}

export class FakeReadiness implements ReadinessProbe {
  state: Awaited<ReturnType<ReadinessProbe["check"]>> = { eventstore: { up: true } };
  failure: Error | undefined;

  async check() {
    if (this.failure !== undefined) throw this.failure;
    return this.state;
  }
}

export interface TestServer {
  readonly base: string;
  readonly config: Config;
  readonly products: FakeProducts;
  readonly reservations: FakeReservations;
  readonly payments: FakePayments;
  readonly store: FakeReadModelStore;
  readonly readModels: ReadModels;
  readonly readiness: FakeReadiness;
  /** Every log line the app wrote, parsed. */
  readonly logs: Array<Record<string, unknown>>;
  token(role: Role, sub?: string, ttlSeconds?: number): Promise<string>;
  request(path: string, init?: RequestInit & { token?: string; json?: unknown }): Promise<Response>;
  close(): Promise<void>;
}

export async function startTestServer(env: NodeJS.ProcessEnv = {}): Promise<TestServer> {
  const config = loadConfig({ NODE_ENV: "test", AUTH_SECRET: "test-secret-for-the-http-edge-tests", ...env });
  const logs: Array<Record<string, unknown>> = [];
  const logger = createLogger({
    level: "info",
    destination: { write: (line: string) => void logs.push(JSON.parse(line) as Record<string, unknown>) },
  });
  const products = new FakeProducts();
  const reservations = new FakeReservations();
  const payments = new FakePayments();
  const store = new FakeReadModelStore();
  const readModels = createReadModels(store);
  const readiness = new FakeReadiness();
  const metrics = new Metrics();
  const app = createApp({ config, logger, products, reservations, payments, readModels, readiness, metrics });
  const server: Server = await new Promise((resolve) => {
    const listening = app.listen(0, "127.0.0.1", () => resolve(listening));
  });
  const { port } = server.address() as AddressInfo;
  const base = `http://127.0.0.1:${port}`;
  return {
    base,
    config,
    products,
    reservations,
    payments,
    store,
    readModels,
    readiness,
    logs,
    token: (role, sub = role === "seller" ? SELLER : role === "customer" ? CUSTOMER : "admin-1", ttlSeconds = 300) =>
      signToken(config.auth.secret, { sub, role, ttlSeconds }),
    request: (path, init = {}) => {
      const { token, json, headers, ...rest } = init;
      const merged = new Headers(headers);
      if (token !== undefined) merged.set("Authorization", `Bearer ${token}`);
      if (json !== undefined) merged.set("Content-Type", "application/json");
      return fetch(`${base}${path}`, { ...rest, headers: merged, ...(json === undefined ? {} : { body: JSON.stringify(json) }) });
    },
    close: () =>
      new Promise((resolve, reject) => {
        server.closeAllConnections();
        server.close((error) => (error === undefined ? resolve() : reject(error)));
      }),
  };
}

export interface ProblemJson {
  type: string;
  title: string;
  status: number;
  detail?: string;
  errors?: Array<{ path: string; message: string }>;
  [extension: string]: unknown;
}

export async function problemOf(response: Response): Promise<ProblemJson> {
  const contentType = response.headers.get("content-type") ?? "";
  if (!contentType.startsWith("application/problem+json")) {
    throw new Error(`expected a problem, got ${response.status} ${contentType}: ${await response.text()}`);
  }
  return (await response.json()) as ProblemJson;
}

export const PROBLEM_BASE = "https://reservations.example/problems/";

export interface ServerFixture {
  readonly server: TestServer;
  /** Tokens of `customer`, a second customer (`customer-2`), `seller` and `admin`. */
  readonly customer: string;
  readonly other: string;
  readonly seller: string;
  readonly admin: string;
}

/** Starts a test server for the enclosing block (closed after it) and hands it, with tokens, to `started`. */
export function useTestServer(started: (fixture: ServerFixture) => unknown): void {
  let server: TestServer | undefined;
  beforeAll(async () => {
    server = await startTestServer();
    const [customer, other, seller, admin] = await Promise.all([
      server.token("customer"),
      server.token("customer", "customer-2"),
      server.token("seller"),
      server.token("admin"),
    ]);
    started({ server, customer, other, seller, admin });
  });
  afterAll(() => server?.close());
}

/** Runs `work` against a test server of its own, closed afterwards whatever happens. */
export async function withTestServer(work: (server: TestServer) => Promise<void>): Promise<void> {
  const server = await startTestServer();
  try {
    await work(server);
  } finally {
    await server.close();
  }
}
