/**
 * The crash test's workload: a seeded, mixed workload over HTTP. Several virtual users place
 * reservations (with `tok_ok`, `tok_declined`, `tok_unavailable`, without a token), pay (sometimes
 * racing a cancel), cancel; sellers accept (sometimes racing a cancel),
 * reject and progress; renters start and return. Each follow-up action first reads the reservation
 * by id (a consistent read) and picks what fits its status, sometimes something that does not (a
 * refusal is a valid answer too).
 *
 * While the service is dead requests fail with connection errors: that is expected. Placing and
 * paying carry an `Idempotency-Key`, so they are retried with the same key (or, sometimes, given up,
 * which leaves an unknown outcome — e.g. a hold without its reservation — for the system to heal).
 * Every HTTP answer counts against the request budget; answers the API contract does not allow for
 * the request (any 5xx but 503, an unexpected 4xx) are kept as anomalies.
 */
import { sendRequest } from "../support/principals.js";

/** Small, fast, seedable PRNG (mulberry32). */
export class Rng {
  private state: number;

  constructor(seed: number) {
    this.state = seed >>> 0;
  }

  next(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  }

  int(minInclusive: number, maxInclusive: number): number {
    return minInclusive + Math.floor(this.next() * (maxInclusive - minInclusive + 1));
  }

  pick<T>(items: readonly T[]): T {
    const item = items[Math.floor(this.next() * items.length)];
    if (item === undefined) throw new Error("pick from an empty list");
    return item;
  }

  chance(probability: number): boolean {
    return this.next() < probability;
  }

  hex(length = 12): string {
    let out = "";
    while (out.length < length)
      out += Math.floor(this.next() * 0x1_0000_0000)
        .toString(16)
        .padStart(8, "0");
    return out.slice(0, length);
  }
}

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

export interface ProductSpec {
  readonly label: string;
  readonly seller: string;
  readonly capacity: number;
  readonly unitPrice: number;
  readonly kind: "sale" | "rental";
  readonly sellerAcceptance: boolean;
  readonly fulfilmentSteps: readonly string[];
  readonly holdTtlSeconds: number;
}

export interface TrackedProduct extends ProductSpec {
  readonly id: string;
}

/**
 * The products of every run: the reference systems' shapes (DESIGN §7). Most holds last 10 s (the
 * minimum), so that expiry, late payments and abandoned holds all happen within a short run; two
 * keep 900 s, so that reservations and orphaned holds are still legitimately held at the end.
 */
export const PRODUCT_SPECS: readonly ProductSpec[] = [
  {
    label: "seats",
    seller: "seller-1",
    capacity: 6,
    unitPrice: 1000,
    kind: "sale",
    sellerAcceptance: false,
    fulfilmentSteps: [],
    holdTtlSeconds: 10,
  },
  {
    label: "food",
    seller: "seller-1",
    capacity: 8,
    unitPrice: 1500,
    kind: "sale",
    sellerAcceptance: true,
    fulfilmentSteps: ["cooking", "cooked", "delivered"],
    holdTtlSeconds: 10,
  },
  {
    label: "kickboard",
    seller: "seller-2",
    capacity: 2,
    unitPrice: 500,
    kind: "rental",
    sellerAcceptance: false,
    fulfilmentSteps: [],
    holdTtlSeconds: 10,
  },
  {
    label: "free-book",
    seller: "seller-2",
    capacity: 4,
    unitPrice: 0,
    kind: "sale",
    sellerAcceptance: false,
    fulfilmentSteps: [],
    holdTtlSeconds: 900,
  },
  {
    label: "camera",
    seller: "seller-1",
    capacity: 3,
    unitPrice: 2000,
    kind: "rental",
    sellerAcceptance: true,
    fulfilmentSteps: [],
    holdTtlSeconds: 900,
  },
  {
    label: "parcel",
    seller: "seller-2",
    capacity: 5,
    unitPrice: 700,
    kind: "sale",
    sellerAcceptance: false,
    fulfilmentSteps: ["packed", "shipped"],
    holdTtlSeconds: 10,
  },
];

export const CUSTOMERS = ["customer-1", "customer-2", "customer-3", "customer-4"] as const;
export const SELLERS = ["seller-1", "seller-2"] as const;

export type Outcome =
  { readonly ok: true; readonly status: number; readonly body: unknown } | { readonly ok: false; readonly error: string };

export interface Anomaly {
  readonly kind: "server-error" | "unexpected-status";
  readonly method: string;
  readonly path: string;
  readonly status: number;
  readonly body: string;
  readonly atMs: number;
}

export interface WorkloadStats {
  /** Requests sent (answered or not). */
  readonly sent: number;
  /** Requests that got an HTTP answer. */
  readonly answered: number;
  readonly connectionErrors: number;
  readonly statuses: Readonly<Record<string, number>>;
  readonly actions: Readonly<Record<string, number>>;
  /** Reservations the driver knows were placed (201/200 answers). */
  readonly reservationsPlaced: number;
  /** Placements given up after a connection error: their outcome is unknown to the driver. */
  readonly placementsGivenUp: number;
  readonly anomalies: readonly Anomaly[];
  readonly durationMs: number;
}

export interface HttpTarget {
  /** The API's base URL now (it may change across restarts). */
  url(): string;
}

interface Tracked {
  readonly id: string;
  readonly customer: string;
  readonly product: TrackedProduct;
  final: boolean;
  payAttempts: number;
}

export interface WorkloadOptions {
  readonly seed: number;
  /** HTTP answers to collect before stopping. */
  readonly requests: number;
  readonly concurrency: number;
  /** The time the workload should take (requests are paced to fill it). */
  readonly targetMs: number;
  /** Hard stop, whatever was answered. */
  readonly maxMs: number;
  readonly target: HttpTarget;
  /** Bearer tokens per user id. */
  readonly tokens: ReadonlyMap<string, string>;
  readonly products: readonly TrackedProduct[];
  readonly customers: readonly string[];
}

const ALLOWED_COMMAND = [200, 409, 412, 503];

/** POST/GET over fetch with a deadline; a network failure is an outcome, not an exception. */
export const httpRequest = async (
  baseUrl: string,
  method: string,
  path: string,
  options: { token?: string; json?: unknown; idempotencyKey?: string; timeoutMs?: number } = {},
): Promise<Outcome> => {
  const headers: Record<string, string> = {};
  if (options.token) headers.authorization = `Bearer ${options.token}`;
  if (options.idempotencyKey) headers["idempotency-key"] = options.idempotencyKey;
  try {
    const response = await sendRequest(`${baseUrl}${path}`, method, {
      headers,
      json: options.json,
      timeoutMs: options.timeoutMs ?? 10_000,
    });
    const text = await response.text();
    let parsed: unknown = text;
    if (/json/.test(response.headers.get("content-type") ?? "") && text !== "") {
      try {
        parsed = JSON.parse(text);
      } catch {
        parsed = text;
      }
    }
    return { ok: true, status: response.status, body: parsed };
  } catch (error) {
    const cause = error instanceof Error && error.cause instanceof Error ? `${error.message}: ${error.cause.message}` : String(error);
    return { ok: false, error: cause };
  }
};

const field = (body: unknown, name: string): unknown =>
  body !== null && typeof body === "object" && name in body ? (body as Record<string, unknown>)[name] : undefined;

export class Workload {
  private readonly tracked: Tracked[] = [];
  private sent = 0;
  private answered = 0;
  private connectionErrors = 0;
  private placementsGivenUp = 0;
  private readonly statuses: Record<string, number> = {};
  private readonly actions: Record<string, number> = {};
  private readonly anomalies: Anomaly[] = [];
  private started = Date.now();
  private finished = false;

  constructor(private readonly options: WorkloadOptions) {}

  /** HTTP answers so far (the kill schedule keys off this). */
  answers(): number {
    return this.answered;
  }

  /** Makes every virtual user stop after its current request (the run failed). */
  stop(): void {
    this.finished = true;
  }

  done(): boolean {
    return this.finished || this.answered >= this.options.requests || Date.now() - this.started > this.options.maxMs;
  }

  async run(): Promise<WorkloadStats> {
    this.started = Date.now();
    const users = Array.from({ length: this.options.concurrency }, (_, index) =>
      this.virtualUser(new Rng(this.options.seed * 7919 + index * 104_729 + 1)),
    );
    await Promise.all(users);
    this.finished = true;
    return this.stats();
  }

  stats(): WorkloadStats {
    return {
      sent: this.sent,
      answered: this.answered,
      connectionErrors: this.connectionErrors,
      statuses: { ...this.statuses },
      actions: { ...this.actions },
      reservationsPlaced: this.tracked.length,
      placementsGivenUp: this.placementsGivenUp,
      anomalies: [...this.anomalies],
      durationMs: Date.now() - this.started,
    };
  }

  private token(user: string): string {
    const token = this.options.tokens.get(user);
    if (!token) throw new Error(`no token for ${user}`);
    return token;
  }

  private async call(
    rng: Rng,
    action: string,
    method: string,
    path: string,
    allowed: readonly number[],
    options: { as: string; json?: unknown; idempotencyKey?: string },
  ): Promise<Outcome> {
    this.actions[action] = (this.actions[action] ?? 0) + 1;
    this.sent += 1;
    const outcome = await httpRequest(this.options.target.url(), method, path, {
      token: this.token(options.as),
      ...(options.json === undefined ? {} : { json: options.json }),
      ...(options.idempotencyKey === undefined ? {} : { idempotencyKey: options.idempotencyKey }),
    });
    if (!outcome.ok) {
      this.connectionErrors += 1;
      await sleep(100 + rng.next() * 200);
      return outcome;
    }
    this.answered += 1;
    this.statuses[outcome.status] = (this.statuses[outcome.status] ?? 0) + 1;
    if (!allowed.includes(outcome.status)) {
      this.anomalies.push({
        kind: outcome.status >= 500 ? "server-error" : "unexpected-status",
        method,
        path: `${path} (${action} as ${options.as})`,
        status: outcome.status,
        body: (typeof outcome.body === "string" ? outcome.body : JSON.stringify(outcome.body)).slice(0, 500),
        atMs: Date.now() - this.started,
      });
    }
    // Pace the requests so that they fill the target duration.
    const gap = (this.options.targetMs * this.options.concurrency) / Math.max(1, this.options.requests);
    await sleep(gap * (0.5 + rng.next()));
    return outcome;
  }

  private async virtualUser(rng: Rng): Promise<void> {
    while (!this.done()) {
      const active = this.tracked.filter((item) => !item.final);
      const roll = rng.next();
      if (roll < 0.3 || active.length < 2) await this.reserve(rng);
      else if (roll < 0.93) await this.advance(rng, rng.pick(active));
      else await this.read(rng);
    }
  }

  private async reserve(rng: Rng): Promise<void> {
    const customer = rng.pick(this.options.customers);
    const product = rng.pick(this.options.products);
    const quantity = rng.chance(0.3) ? 2 : 1;
    const tokenRoll = rng.next();
    const paymentToken = tokenRoll < 0.35 ? "tok_ok" : tokenRoll < 0.43 ? "tok_declined" : tokenRoll < 0.46 ? "tok_unavailable" : undefined;
    const idempotencyKey = `reserve-${rng.hex(16)}`;
    const json = { productId: product.id, quantity, ...(paymentToken ? { paymentToken } : {}) };
    for (let attempt = 0; attempt < 5 && !this.done(); attempt += 1) {
      const outcome = await this.call(
        rng,
        paymentToken ? `reserve(${paymentToken})` : "reserve",
        "POST",
        "/reservations",
        [200, 201, 409, 503],
        {
          as: customer,
          json,
          idempotencyKey,
        },
      );
      if (outcome.ok) {
        const id = field(outcome.body, "id");
        if ((outcome.status === 200 || outcome.status === 201) && typeof id === "string" && !this.tracked.some((item) => item.id === id)) {
          this.tracked.push({ id, customer, product, final: false, payAttempts: 0 });
          // Changing one's mind at once races the automatic charge of the token.
          if (paymentToken && rng.chance(0.15)) {
            await this.call(rng, "cancel(right-away)", "POST", `/reservations/${id}/cancel`, ALLOWED_COMMAND, { as: customer, json: {} });
          }
        }
        return;
      }
      // The outcome is unknown: retry with the same key, or walk away and leave it to the system.
      if (rng.chance(0.4)) {
        this.placementsGivenUp += 1;
        return;
      }
      await sleep(150 + rng.next() * 350);
    }
  }

  private async advance(rng: Rng, item: Tracked): Promise<void> {
    const read = await this.call(rng, "get-reservation", "GET", `/reservations/${item.id}`, [200, 503], { as: item.customer });
    if (!read.ok || read.status !== 200) return;
    const status = field(read.body, "status");
    const currentStep = field(read.body, "currentStep");
    const { product } = item;
    const path = (command: string): string => `/reservations/${item.id}/${command}`;
    const cancel = (): Promise<Outcome> =>
      this.call(rng, "cancel", "POST", path("cancel"), ALLOWED_COMMAND, { as: item.customer, json: {} });
    const roll = rng.next();
    switch (status) {
      case "placed": {
        if (roll < 0.12) {
          // Pay and cancel at the same time (two tabs): exactly one of them may win.
          await Promise.all([
            this.call(rng, "pay(race)", "POST", `/payments/${item.id}/pay`, [200, 402, 404, 409, 503], {
              as: item.customer,
              json: { token: "tok_ok" },
              idempotencyKey: `pay-${item.id}-${item.payAttempts++}`,
            }),
            cancel(),
          ]);
        } else if (roll < 0.8) {
          const tokenRoll = rng.next();
          const token = tokenRoll < 0.8 ? "tok_ok" : tokenRoll < 0.93 ? "tok_declined" : "tok_unavailable";
          const idempotencyKey = `pay-${item.id}-${item.payAttempts++}`;
          for (let attempt = 0; attempt < 3; attempt += 1) {
            const outcome = await this.call(rng, `pay(${token})`, "POST", `/payments/${item.id}/pay`, [200, 402, 404, 409, 503], {
              as: item.customer,
              json: { token },
              idempotencyKey,
            });
            if (outcome.ok || rng.chance(0.5)) break;
          }
        } else {
          await cancel();
        }
        return;
      }
      case "awaiting-acceptance":
        if (roll < 0.1) {
          // The seller accepts while the customer cancels.
          await Promise.all([
            this.call(rng, "accept(race)", "POST", path("accept"), ALLOWED_COMMAND, { as: product.seller, json: {} }),
            cancel(),
          ]);
        } else if (roll < 0.6) await this.call(rng, "accept", "POST", path("accept"), ALLOWED_COMMAND, { as: product.seller, json: {} });
        else if (roll < 0.85)
          await this.call(rng, "reject", "POST", path("reject"), ALLOWED_COMMAND, { as: product.seller, json: { reason: "sold out" } });
        else await cancel();
        return;
      case "confirmed":
        if (product.kind === "rental") {
          if (roll < 0.75) await this.call(rng, "start", "POST", path("start"), ALLOWED_COMMAND, { as: item.customer, json: {} });
          else await cancel();
        } else if (product.fulfilmentSteps.length > 0) {
          const step = product.fulfilmentSteps[0] ?? "";
          if (roll < 0.75)
            await this.call(rng, "progress", "POST", path("progress"), ALLOWED_COMMAND, { as: product.seller, json: { step } });
          else await cancel();
        } else if (roll < 0.2) {
          await cancel();
        } else {
          item.final = true; // a sale without steps stays confirmed (seats, books)
        }
        return;
      case "in-progress": {
        const index = product.fulfilmentSteps.indexOf(typeof currentStep === "string" ? currentStep : "");
        const step = product.fulfilmentSteps[index + 1] ?? product.fulfilmentSteps.at(-1) ?? "";
        const last = index + 1 === product.fulfilmentSteps.length - 1;
        if (roll < 0.9) {
          const as = last && rng.chance(0.5) ? item.customer : product.seller;
          await this.call(rng, "progress", "POST", path("progress"), ALLOWED_COMMAND, { as, json: { step } });
        } else {
          await cancel(); // refused once fulfilment started: 409
        }
        return;
      }
      case "in-use":
        if (roll < 0.85) await this.call(rng, "return", "POST", path("return"), ALLOWED_COMMAND, { as: item.customer, json: {} });
        else await cancel(); // 409
        return;
      default:
        // completed, cancelled, expired, rejected: nothing more to do (a repeated cancel is fine).
        item.final = true;
        if (roll < 0.2) await cancel();
    }
  }

  private async read(rng: Rng): Promise<void> {
    const customer = rng.pick(this.options.customers);
    const roll = rng.next();
    if (roll < 0.5) await this.call(rng, "my-page", "GET", "/my-page", [200, 503], { as: customer });
    else if (roll < 0.8) await this.call(rng, "notifications", "GET", "/notifications", [200, 503], { as: customer });
    else await this.call(rng, "products", "GET", "/products", [200, 503], { as: customer });
  }
}
