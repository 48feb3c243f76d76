/**
 * Projection lag under open-loop load: how long after `POST /reservations` answers 201 does the
 * reservation show up in `GET /my-page` (the read model in Redis, fed by the `projection-mypage`
 * persistent subscription), and what the service's own `subscription_lag_seconds` says for every
 * consumer group (the saga's included).
 *
 * - `rate` reservations per second for `durationS` seconds, round-robin over `customers` customers
 *   (one product of large capacity), each fired on schedule whether or not earlier ones answered.
 * - `pollers` pollers share the customers; each polls `GET /my-page` of its customers that have
 *   reservations not seen yet, every `pollIntervalMs`. Visible = listed with status `placed` or any
 *   later one. Lag = arrival of that answer − arrival of the 201 (an upper bound; resolution ≈ poll
 *   interval + one request), and − the reservation's `createdAt` (the server's clock).
 */
import { signToken } from "../../src/http/auth.js";
import { parseSubscriptionMetrics, type GroupLag } from "./subscription-metrics.js";
import { reservationStatus } from "../../src/domain/index.js";

export interface LagOptions {
  /** The service (ROLE=all, or api with workers elsewhere). */
  readonly url: string;
  /** Its AUTH_SECRET, to mint the customers' and the seller's tokens. */
  readonly secret: string;
  readonly rate: number;
  readonly durationS: number;
  readonly customers: number;
  readonly pollers: number;
  readonly pollIntervalMs: number;
  /** How long to keep polling after the load for reservations not seen yet. */
  readonly drainS: number;
  /** Sent with every reservation so that the saga charges it (e.g. `tok_ok`). */
  readonly paymentToken?: string | undefined;
}

export interface LagResult {
  readonly requested: number;
  readonly placed: number;
  /** Requests that did not get a 201, per status or error name. */
  readonly failures: Readonly<Record<string, number>>;
  /** Placed but not seen in My Page within the drain. */
  readonly unseen: number;
  readonly polls: number;
  readonly loadMs: number;
  readonly writeLatencyMs: readonly number[];
  readonly fromAnswerMs: readonly number[];
  readonly fromCreatedMs: readonly number[];
  /** Per consumer group, from `GET /metrics` at the end. */
  readonly groups: ReadonlyMap<string, GroupLag>;
}

/** Any status of the domain's: the entry is a projected reservation, whatever it has become since. */
const VISIBLE = new Set<string>(reservationStatus.options);

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

export const measureProjectionLag = async (options: LagOptions): Promise<LagResult> => {
  const { url, secret, rate, durationS, pollIntervalMs } = options;
  const seller = await signToken(secret, { sub: "bench-seller", role: "seller", ttlSeconds: 3600 });
  const customers = await Promise.all(
    Array.from({ length: options.customers }, async (_, i) => {
      const sub = `bench-customer-${i}`;
      return { sub, token: await signToken(secret, { sub, role: "customer", ttlSeconds: 3600 }) };
    }),
  );
  const created = await fetch(`${url}/products`, {
    method: "POST",
    headers: { authorization: `Bearer ${seller}`, "content-type": "application/json" },
    body: JSON.stringify({ name: "Bench arena", capacity: 1_000_000, unitPrice: 1000 }),
  });
  if (created.status !== 201) throw new Error(`could not register the product: ${created.status} ${await created.text()}`);
  const product = (await created.json()) as { id: string };

  /** Per customer: reservation id → when its 201 arrived and its createdAt. */
  const pending = customers.map(() => new Map<string, { answeredAt: number; createdAt: number }>());
  const fromAnswerMs: number[] = [];
  const fromCreatedMs: number[] = [];
  const writeLatencyMs: number[] = [];
  const failures: Record<string, number> = {};
  const fail = (key: string): void => {
    failures[key] = (failures[key] ?? 0) + 1;
  };
  let polls = 0;
  let loadDone = false;

  const place = async (i: number): Promise<void> => {
    const c = i % customers.length;
    const customer = customers[c];
    if (!customer) return;
    const started = performance.now();
    try {
      const response = await fetch(`${url}/reservations`, {
        method: "POST",
        headers: { authorization: `Bearer ${customer.token}`, "content-type": "application/json" },
        body: JSON.stringify({
          productId: product.id,
          quantity: 1,
          ...(options.paymentToken ? { paymentToken: options.paymentToken } : {}),
        }),
        signal: AbortSignal.timeout(30_000),
      });
      const answeredAt = Date.now();
      const body = (await response.json()) as { id?: string; createdAt?: string };
      writeLatencyMs.push(performance.now() - started);
      if (response.status !== 201 || body.id === undefined) return fail(String(response.status));
      pending[c]?.set(body.id, { answeredAt, createdAt: Date.parse(body.createdAt ?? "") });
    } catch (error) {
      fail(error instanceof Error ? error.name : "error");
    }
  };

  const poller = async (p: number): Promise<void> => {
    const mine = customers.map((_, c) => c).filter((c) => c % options.pollers === p);
    while (!loadDone || mine.some((c) => (pending[c]?.size ?? 0) > 0)) {
      let polled = false;
      for (const c of mine) {
        const waiting = pending[c];
        const customer = customers[c];
        if (!waiting || !customer || waiting.size === 0) continue;
        polled = true;
        polls += 1;
        try {
          const response = await fetch(`${url}/my-page`, {
            headers: { authorization: `Bearer ${customer.token}` },
            signal: AbortSignal.timeout(10_000),
          });
          const seenAt = Date.now();
          if (response.status !== 200) {
            await response.arrayBuffer();
            continue;
          }
          const page = (await response.json()) as { reservations: Array<{ reservationId: string; reservationStatus: string }> };
          for (const entry of page.reservations) {
            const placed = waiting.get(entry.reservationId);
            if (!placed || !VISIBLE.has(entry.reservationStatus)) continue;
            waiting.delete(entry.reservationId);
            fromAnswerMs.push(Math.max(0, seenAt - placed.answeredAt));
            if (Number.isFinite(placed.createdAt)) fromCreatedMs.push(Math.max(0, seenAt - placed.createdAt));
          }
        } catch {
          // A slow or failed poll only lowers the resolution.
        }
      }
      await sleep(polled ? pollIntervalMs : Math.max(pollIntervalMs, 10));
    }
  };

  const requested = Math.round(rate * durationS);
  const started = Date.now();
  const pollers = Array.from({ length: options.pollers }, (_, p) => poller(p));
  const requests: Promise<void>[] = [];
  for (let i = 0; i < requested; i += 1) {
    const wait = started + (i * 1000) / rate - Date.now();
    if (wait > 0) await sleep(wait);
    requests.push(place(i));
  }
  await Promise.all(requests);
  const loadMs = Date.now() - started;
  loadDone = true;
  const drained = await Promise.race([Promise.all(pollers).then(() => true), sleep(options.drainS * 1000).then(() => false)]);
  const unseen = pending.reduce((sum, map) => sum + map.size, 0);
  if (!drained) for (const map of pending) map.clear(); // stops the pollers

  const metrics = await fetch(`${url}/metrics`).then((response) => response.text());
  await Promise.all(pollers);
  const placed = requested - Object.values(failures).reduce((sum, n) => sum + n, 0);
  return {
    requested,
    placed,
    failures,
    unseen,
    polls,
    loadMs,
    writeLatencyMs,
    fromAnswerMs,
    fromCreatedMs,
    groups: parseSubscriptionMetrics(metrics),
  };
};
