/**
 * An open-loop (constant arrival rate) HTTP load driver for `POST /reservations`, the figures it
 * reports, and the check that nothing was oversold. Used by `bench/load.ts` and
 * `tests/load/overload.test.ts`.
 *
 * Open loop: request i is sent at `start + i / rate` whatever happened to the earlier ones, so when
 * the service slows down arrivals do not (a closed-loop driver, N clients each waiting for its
 * answer, would quietly lower the offered rate to what the service manages). Requests go out over
 * a keep-alive `node:http` agent with plenty of sockets; every request has a client timeout, and a
 * request that times out is counted as such, never as an answer.
 */
import http from "node:http";
import { performance } from "node:perf_hooks";
import { EventStoreDBClient, FORWARDS, START, StreamNotFoundError } from "@eventstore/db-client";
import { isRegistered, parseProductEvent, productDecider, type ProductState } from "../../src/domain/index.js";
import { signToken } from "../../src/http/auth.js";
export { prng } from "../support/prng.js";

export const PROBLEM_CONTENT_TYPE = "application/problem+json";
const INSUFFICIENT = "https://reservations.example/problems/insufficient-availability";

// ---- HTTP ----

export interface Answer {
  /** 0 when no answer came: `error` says why. */
  readonly status: number;
  /** From handing the request to the socket pool to the end of the answer's body (or the failure). */
  readonly ms: number;
  /** When the request was sent, ms since the phase began. */
  readonly sentAt: number;
  readonly error?: "timeout" | "network";
  readonly errorDetail?: string;
  readonly retryAfter?: string;
  readonly contentType?: string;
  readonly body?: unknown;
}

export interface HttpClient {
  request(method: string, url: string, options?: { token?: string; json?: unknown; timeoutMs?: number }): Promise<Omit<Answer, "sentAt">>;
  close(): void;
}

/** A keep-alive client with up to `maxSockets` connections (requests beyond wait for a socket). */
export function httpClient(maxSockets = 1024): HttpClient {
  // Idle sockets are closed after 2 s, well before the server's 5 s keep-alive timeout: otherwise a
  // request can go out on a socket the server is closing at that moment (ECONNRESET, not the server's fault).
  const agent = new http.Agent({ keepAlive: true, timeout: 2000, maxSockets, maxFreeSockets: maxSockets, scheduling: "lifo" });
  const request: HttpClient["request"] = (method, url, options = {}) =>
    new Promise((resolve) => {
      const started = performance.now();
      const payload = options.json === undefined ? undefined : Buffer.from(JSON.stringify(options.json));
      const headers: Record<string, string | number> = { accept: "application/json" };
      if (options.token !== undefined) headers.authorization = `Bearer ${options.token}`;
      if (payload !== undefined) {
        headers["content-type"] = "application/json";
        headers["content-length"] = payload.length;
      }
      let settled = false;
      const finish = (answer: Omit<Answer, "sentAt" | "ms">): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        resolve({ ...answer, ms: performance.now() - started });
      };
      const req = http.request(url, { method, agent, headers }, (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (chunk: Buffer) => chunks.push(chunk));
        res.on("error", (error) => finish({ status: 0, error: "network", errorDetail: error.message }));
        res.on("end", () => {
          const text = Buffer.concat(chunks).toString("utf8");
          let body: unknown = text;
          try {
            body = text === "" ? undefined : JSON.parse(text);
          } catch {
            // not JSON: kept as text
          }
          const retryAfter = res.headers["retry-after"];
          const contentType = res.headers["content-type"];
          finish({
            status: res.statusCode ?? 0,
            body,
            ...(retryAfter === undefined ? {} : { retryAfter }),
            ...(contentType === undefined ? {} : { contentType }),
          });
        });
      });
      const timer = setTimeout(() => {
        finish({ status: 0, error: "timeout", errorDetail: `no answer within ${options.timeoutMs} ms` });
        req.destroy();
      }, options.timeoutMs ?? 30_000);
      req.on("error", (error) => finish({ status: 0, error: "network", errorDetail: error.message }));
      req.end(payload);
    });
  return { request, close: () => agent.destroy() };
}

// ---- the service's fixtures ----

export interface Target {
  readonly url: string;
  readonly secret: string;
}

export interface Fixture {
  readonly products: readonly { readonly id: string; readonly capacity: number }[];
  readonly customerTokens: readonly string[];
}

/** Registers `count` products of `capacity` units as a seller and signs `customers` customer tokens. */
export async function createFixture(client: HttpClient, target: Target, count: number, capacity: number, customers = 16): Promise<Fixture> {
  const seller = await signToken(target.secret, { sub: `load-seller-${Date.now()}`, role: "seller", ttlSeconds: 3600 });
  const products: { id: string; capacity: number }[] = [];
  for (let i = 0; i < count; i += 1) {
    const answer = await client.request("POST", `${target.url}/products`, {
      token: seller,
      json: { name: `load product ${i + 1}`, capacity, unitPrice: 1000 },
      timeoutMs: 30_000,
    });
    const id = (answer.body as { id?: unknown } | undefined)?.id;
    if (answer.status !== 201 || typeof id !== "string") {
      throw new Error(`POST /products answered ${answer.status} ${answer.error ?? ""} ${JSON.stringify(answer.body)}`);
    }
    products.push({ id, capacity });
  }
  const customerTokens = await Promise.all(
    Array.from({ length: customers }, (_, i) =>
      signToken(target.secret, { sub: `load-customer-${i + 1}`, role: "customer", ttlSeconds: 3600 }),
    ),
  );
  return { products, customerTokens };
}

// ---- the open-loop driver ----

export interface Sent extends Answer {
  readonly productId: string;
  readonly quantity: number;
  /** The reservation id of a 201. */
  readonly reservationId?: string;
}

export interface PhaseOptions {
  /** Requests per second offered. */
  readonly rate: number;
  readonly durationMs: number;
  readonly timeoutMs: number;
  readonly random: () => number;
  /**
   * Requests sent together (default 1: evenly spaced). Bursts make concurrent requests certain,
   * e.g. while a circuit breaker lets its one trial call through.
   */
  readonly burst?: number;
  /** Largest quantity asked for (1..maxQuantity, uniform). */
  readonly maxQuantity?: number;
  /** Stops sending early when it returns true (checked before each request). */
  readonly until?: () => boolean;
  /** Called with every answer as it arrives. */
  readonly onAnswer?: (answer: Sent) => void;
}

export interface PhaseResult {
  readonly answers: readonly Sent[];
  /** `performance.now()` when the phase began (every `sentAt` counts from it). */
  readonly startedAt: number;
  /** How long requests were being sent, ms. */
  readonly sendingMs: number;
  /** Until the last answer arrived, ms. */
  readonly totalMs: number;
  /** How late the driver sent requests against the schedule (its own lag), ms. */
  readonly lagP99: number;
  readonly lagMax: number;
}

/**
 * Sends `POST /reservations` at `rate` per second for `durationMs` (open loop), each for a random
 * product of the fixture and 1..maxQuantity units, from a random customer; resolves when every
 * request has been answered or has timed out.
 */
export async function runPhase(client: HttpClient, target: Target, fixture: Fixture, options: PhaseOptions): Promise<PhaseResult> {
  const answers: Sent[] = [];
  const lags: number[] = [];
  const pending = new Set<Promise<void>>();
  const start = performance.now();
  // Requests go out in groups of `burst` (1: evenly spaced); groups are spaced so that the rate holds.
  const burst = Math.max(1, Math.floor(options.burst ?? 1));
  const interval = (1000 / options.rate) * burst;
  const total = Math.ceil((options.durationMs * options.rate) / 1000);
  const maxQuantity = options.maxQuantity ?? 3;
  let sent = 0;
  let stopped = false;

  const send = (): void => {
    const product = fixture.products[Math.floor(options.random() * fixture.products.length)]!;
    const token = fixture.customerTokens[Math.floor(options.random() * fixture.customerTokens.length)]!;
    const quantity = 1 + Math.floor(options.random() * maxQuantity);
    const sentAt = performance.now() - start;
    const work = client
      .request("POST", `${target.url}/reservations`, {
        token,
        json: { productId: product.id, quantity },
        timeoutMs: options.timeoutMs,
      })
      .then((answer) => {
        const id = answer.status === 201 ? (answer.body as { id?: unknown } | undefined)?.id : undefined;
        const recorded: Sent = {
          ...answer,
          sentAt,
          productId: product.id,
          quantity,
          ...(typeof id === "string" ? { reservationId: id } : {}),
        };
        answers.push(recorded);
        options.onAnswer?.(recorded);
      });
    pending.add(work);
    void work.finally(() => pending.delete(work));
  };

  await new Promise<void>((resolve) => {
    const tick = (): void => {
      const now = performance.now() - start;
      const due = Math.min((Math.floor(now / interval) + 1) * burst, total);
      while (sent < due && !stopped) {
        if (options.until?.() === true) {
          stopped = true;
          break;
        }
        lags.push(Math.max(0, now - Math.floor(sent / burst) * interval));
        sent += 1;
        send();
      }
      if (stopped || now >= options.durationMs) {
        resolve();
        return;
      }
      // The next group is due at (sent / burst) * interval; wake a little before (timers are coarse).
      setTimeout(tick, Math.max(0, Math.min(5, (sent / burst) * interval - (performance.now() - start) - 1)));
    };
    tick();
  });
  const sendingMs = performance.now() - start;
  while (pending.size > 0) await Promise.all([...pending]);
  const totalMs = performance.now() - start;
  lags.sort((a, b) => a - b);
  return { answers, startedAt: start, sendingMs, totalMs, lagP99: percentile(lags, 0.99), lagMax: lags.at(-1) ?? 0 };
}

// ---- figures ----

/** The p-quantile (0..1) of ascending `sorted`, nearest rank; NaN when empty. */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1));
  return sorted[rank]!;
}

export interface Latency {
  readonly count: number;
  readonly p50: number;
  readonly p99: number;
  readonly max: number;
}

export function latencyOf(answers: readonly Answer[]): Latency {
  const sorted = answers.map((answer) => answer.ms).sort((a, b) => a - b);
  return { count: sorted.length, p50: percentile(sorted, 0.5), p99: percentile(sorted, 0.99), max: sorted.at(-1) ?? Number.NaN };
}

/** Why a 503 is not the shedding answer API.md promises (`Retry-After`, problem+json with status 503); undefined when it is. */
export function badShedAnswer(answer: Answer): string | undefined {
  if (answer.status !== 503) return `status ${answer.status}`;
  const retryAfter = Number(answer.retryAfter);
  if (answer.retryAfter === undefined || !Number.isInteger(retryAfter) || retryAfter < 1) {
    return `Retry-After is ${JSON.stringify(answer.retryAfter)}`;
  }
  if (!answer.contentType?.startsWith(PROBLEM_CONTENT_TYPE)) return `content type ${answer.contentType}`;
  const body = answer.body as { type?: unknown; title?: unknown; status?: unknown } | undefined;
  if (typeof body !== "object" || body === null || body.status !== 503 || typeof body.type !== "string" || typeof body.title !== "string") {
    return `body ${JSON.stringify(answer.body)}`;
  }
  return undefined;
}

export interface Summary {
  readonly sent: number;
  /** Requests per second offered (sent / sending time). */
  readonly offeredPerSecond: number;
  readonly accepted: number;
  readonly acceptedPerSecond: number;
  readonly acceptedUnits: number;
  readonly shed: number;
  readonly shedPerSecond: number;
  /** 503s missing `Retry-After` or a problem+json body. */
  readonly badShed: number;
  readonly badShedExample?: string;
  /** 503s by their problem `detail` (overloaded, event store unavailable, ...). */
  readonly shedDetails: Readonly<Record<string, number>>;
  /** 409 insufficient-availability. */
  readonly soldOut: number;
  /** Every other answer, by status (and problem type). */
  readonly other: Readonly<Record<string, number>>;
  /** 5xx other than 503. */
  readonly serverErrors: number;
  readonly timeouts: number;
  readonly networkErrors: number;
  /** Client-side failures (timeouts, transport errors) by their message. */
  readonly errorDetails: Readonly<Record<string, number>>;
  readonly acceptedLatency: Latency;
  readonly shedLatency: Latency;
  readonly allLatency: Latency;
}

export function summarise(phase: PhaseResult): Summary {
  const answers = phase.answers;
  const seconds = phase.sendingMs / 1000;
  const accepted = answers.filter((answer) => answer.status === 201);
  const shed = answers.filter((answer) => answer.status === 503);
  const bad = shed.map(badShedAnswer).filter((reason): reason is string => reason !== undefined);
  const soldOut = answers.filter(
    (answer) => answer.status === 409 && (answer.body as { type?: unknown } | undefined)?.type === INSUFFICIENT,
  );
  const shedDetails: Record<string, number> = {};
  for (const answer of shed) {
    const detail = (answer.body as { detail?: unknown } | undefined)?.detail;
    const key = typeof detail === "string" ? detail : "(no detail)";
    shedDetails[key] = (shedDetails[key] ?? 0) + 1;
  }
  const errorDetails: Record<string, number> = {};
  for (const answer of answers) {
    if (answer.error === undefined) continue;
    const key = `${answer.error}: ${answer.errorDetail ?? "?"}`;
    errorDetails[key] = (errorDetails[key] ?? 0) + 1;
  }
  const other: Record<string, number> = {};
  for (const answer of answers) {
    if (answer.status === 201 || answer.status === 503 || answer.status === 0) continue;
    const type = (answer.body as { type?: unknown } | undefined)?.type;
    if (answer.status === 409 && type === INSUFFICIENT) continue;
    const key = `${answer.status}${typeof type === "string" ? ` ${type.replace(/^.*\//, "")}` : ""}`;
    other[key] = (other[key] ?? 0) + 1;
  }
  return {
    sent: answers.length,
    offeredPerSecond: answers.length / seconds,
    accepted: accepted.length,
    acceptedPerSecond: accepted.length / seconds,
    acceptedUnits: accepted.reduce((sum, answer) => sum + answer.quantity, 0),
    shed: shed.length,
    shedPerSecond: shed.length / seconds,
    badShed: bad.length,
    ...(bad[0] === undefined ? {} : { badShedExample: bad[0] }),
    shedDetails,
    soldOut: soldOut.length,
    other,
    serverErrors: answers.filter((answer) => answer.status >= 500 && answer.status !== 503).length,
    timeouts: answers.filter((answer) => answer.error === "timeout").length,
    networkErrors: answers.filter((answer) => answer.error === "network").length,
    errorDetails,
    acceptedLatency: latencyOf(accepted),
    shedLatency: latencyOf(shed),
    allLatency: latencyOf(answers),
  };
}

// ---- never oversold ----

export interface ProductCheck {
  readonly id: string;
  readonly capacity: number;
  readonly held: number;
  readonly committed: number;
  /** Units of the 201 answers for this product. */
  readonly acceptedUnits: number;
  /** 201 reservations without a `UnitsHeld` of the same quantity in the stream (acknowledged writes lost). */
  readonly missingHolds: number;
  /** Holds in the stream without a 201 (requests answered otherwise, e.g. 503 when the store died mid-request). */
  readonly unansweredHolds: number;
  readonly unansweredUnits: number;
}

export interface OversellCheck {
  readonly products: readonly ProductCheck[];
  /** held + committed > capacity anywhere. */
  readonly oversold: number;
  readonly totalCapacity: number;
  readonly totalHeldCommitted: number;
  readonly totalAcceptedUnits: number;
  readonly missingHolds: number;
  readonly unansweredUnits: number;
}

/**
 * Reads each `product-<id>` stream from the store and folds it with the product decider; compares
 * held + committed with capacity and with the 201 answers (by reservation id and quantity).
 */
export async function checkProducts(eventStoreUrl: string, fixture: Fixture, answers: readonly Sent[]): Promise<OversellCheck> {
  const client = EventStoreDBClient.connectionString(eventStoreUrl);
  try {
    const checks: ProductCheck[] = [];
    for (const product of fixture.products) {
      let state: ProductState = productDecider.initialState;
      const holds = new Map<string, number>();
      try {
        for await (const resolved of client.readStream(`product-${product.id}`, { direction: FORWARDS, fromRevision: START })) {
          const recorded = resolved.event;
          if (recorded === undefined) continue;
          const event = parseProductEvent(recorded.type, recorded.data);
          if (event.type === "UnitsHeld") holds.set(event.data.reservationId, event.data.quantity);
          state = productDecider.evolve(state, event);
        }
      } catch (error) {
        if (!(error instanceof StreamNotFoundError)) throw error;
      }
      if (!isRegistered(state)) throw new Error(`product ${product.id} is not in the event store`);
      const accepted = answers.filter((answer) => answer.status === 201 && answer.productId === product.id);
      const acceptedIds = new Set(accepted.map((answer) => answer.reservationId));
      const missing = accepted.filter(
        (answer) => answer.reservationId === undefined || holds.get(answer.reservationId) !== answer.quantity,
      );
      const unanswered = [...holds].filter(([reservationId]) => !acceptedIds.has(reservationId));
      checks.push({
        id: product.id,
        capacity: state.capacity,
        held: state.held,
        committed: state.committed,
        acceptedUnits: accepted.reduce((sum, answer) => sum + answer.quantity, 0),
        missingHolds: missing.length,
        unansweredHolds: unanswered.length,
        unansweredUnits: unanswered.reduce((sum, [, quantity]) => sum + quantity, 0),
      });
    }
    return oversellCheckOf(checks);
  } finally {
    await client.dispose();
  }
}

/** The per-product checks and their totals. */
function oversellCheckOf(checks: ProductCheck[]): OversellCheck {
  const sum = (pick: (check: ProductCheck) => number): number => checks.reduce((total, check) => total + pick(check), 0);
  return {
    products: checks,
    oversold: checks.filter((check) => check.held + check.committed > check.capacity).length,
    totalCapacity: sum((check) => check.capacity),
    totalHeldCommitted: sum((check) => check.held + check.committed),
    totalAcceptedUnits: sum((check) => check.acceptedUnits),
    missingHolds: sum((check) => check.missingHolds),
    unansweredUnits: sum((check) => check.unansweredUnits),
  };
}

/** The same check through `GET /products/{id}` (consistent reads), for a service whose store is not reachable from here. */
export async function checkProductsOverHttp(
  client: HttpClient,
  target: Target,
  fixture: Fixture,
  answers: readonly Sent[],
): Promise<OversellCheck> {
  const checks: ProductCheck[] = [];
  for (const product of fixture.products) {
    const answer = await client.request("GET", `${target.url}/products/${product.id}`, { timeoutMs: 30_000 });
    const body = answer.body as { capacity: number; held: number; committed: number };
    if (answer.status !== 200) throw new Error(`GET /products/${product.id} answered ${answer.status}`);
    const acceptedUnits = answers
      .filter((sent) => sent.status === 201 && sent.productId === product.id)
      .reduce((sum, sent) => sum + sent.quantity, 0);
    const surplus = body.held + body.committed - acceptedUnits;
    checks.push({
      id: product.id,
      capacity: body.capacity,
      held: body.held,
      committed: body.committed,
      acceptedUnits,
      // Without the stream only the sums can be compared.
      missingHolds: surplus < 0 ? -surplus : 0,
      unansweredHolds: Number.NaN,
      unansweredUnits: surplus > 0 ? surplus : 0,
    });
  }
  return oversellCheckOf(checks);
}
