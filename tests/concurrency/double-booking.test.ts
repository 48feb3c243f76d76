/**
 * The acceptance test of the write side (DESIGN §6: "No double booking, ever, under any
 * concurrency, across processes").
 *
 * One embedded EventStoreDB runs as its own process; two API processes (`ROLE=api`) share it, as
 * two nodes behind a load balancer would. A product of capacity 100 receives 200 concurrent
 * reservation requests for 1..3 units each (about 400 units of demand), alternately on the two
 * processes, from several customers. Nothing releases units meanwhile (no saga, no expiry worker
 * runs, and the hold TTL is 15 minutes), so the product's `available` can only go down.
 *
 * What is asserted, and why it is sound:
 * - Never oversold: the units of all 201 answers add up to at most 100; the product ends with
 *   held = that sum and available = 100 - held, and the product stream holds exactly one
 *   `UnitsHeld` per 201 (same reservation id and quantity) and nothing else, at gapless revisions.
 * - No wrong refusal: a 409 `insufficient-availability` reports the `available` it was decided on.
 *   That value must be smaller than the quantity asked for, must be a state the stream really went
 *   through (100 minus a prefix sum of its `UnitsHeld`), must not be staler than the holds already
 *   acknowledged when the request was sent, and — as `available` never rises here — the final
 *   `available` is at most it. So every refused request was refused while fewer units than it
 *   asked for remained, and none would fit into what is left at the end.
 * - Consistent reads: every GET of two sequential readers during the storm sees available >= 0 and held + available = 100,
 *   at least the holds acknowledged before it was sent, revisions that never go back, and every
 *   201 reservation can be read from the other process.
 * - No 5xx except 503 `service-unavailable` with `Retry-After` (API.md: "503 with Retry-After when
 *   overloaded": admission control sheds requests past its queue, and the repository gives up after
 *   bounded retries under contention); they are counted by reason and printed, and they held
 *   nothing (the stream has no UnitsHeld but the 201s'). No error is logged by either process.
 */
import { TEST_REDIS_URL } from "../support/redis-url.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { EventStoreDBClient, FORWARDS, START } from "@eventstore/db-client";
import { signToken } from "../../src/http/auth.js";
import { startAppProcess, startEventStoreProcess, type AppProcess, type EventStoreProcess } from "./processes.js";
import { prng } from "../support/prng.js";

const SECRET = "double-booking-acceptance-secret";
const CAPACITY = 100;
const REQUESTS = 200;
const CUSTOMERS = 8;
const PROBLEM = "https://reservations.example/problems/";

interface Answer {
  readonly index: number;
  readonly node: number;
  readonly customer: string;
  readonly quantity: number;
  readonly status: number;
  readonly body: Record<string, unknown>;
  readonly retryAfter: string | null;
  /** Units acknowledged (201 received) before this request was sent. */
  readonly ackedBefore: number;
}

interface Sample {
  /** Each reader sends its GETs one after the other. */
  readonly reader: number;
  readonly node: number;
  readonly status: number;
  readonly available: number;
  readonly held: number;
  readonly committed: number;
  readonly capacity: number;
  readonly revision: number;
  readonly ackedBefore: number;
  /** Units asked for by every POST sent before this GET's answer arrived. */
  readonly askedBefore: number;
}

const fetchJson = async (url: string, init: RequestInit & { token?: string; json?: unknown } = {}) => {
  const { token, json, ...rest } = init;
  const headers: Record<string, string> = {};
  if (token !== undefined) headers.authorization = `Bearer ${token}`;
  if (json !== undefined) headers["content-type"] = "application/json";
  const response = await fetch(url, {
    ...rest,
    headers,
    ...(json === undefined ? {} : { body: JSON.stringify(json) }),
    signal: AbortSignal.timeout(60_000),
  });
  const text = await response.text();
  let body: Record<string, unknown>;
  try {
    body = text === "" ? {} : (JSON.parse(text) as Record<string, unknown>);
  } catch {
    body = { text };
  }
  return { status: response.status, headers: response.headers, body };
};

describe("no double booking across two API processes on one event store", () => {
  let eventStore: EventStoreProcess | undefined;
  const apps: AppProcess[] = [];
  let client: EventStoreDBClient | undefined;

  beforeAll(async () => {
    eventStore = await startEventStoreProcess();
    const env = {
      EVENTSTORE_URL: eventStore.connectionString,
      PORT: "0",
      ROLE: "api",
      AUTH_SECRET: SECRET,
      LOG_LEVEL: "info",
      REDIS_URL: TEST_REDIS_URL,
      NODE_ENV: "test",
      // Eight customers storm one product with no worker to settle anything: the hoarding cap would refuse them.
      MAX_UNPAID_HOLDS_PER_CUSTOMER: "0",
    };
    const started = await Promise.allSettled([startAppProcess(env), startAppProcess(env)]);
    for (const result of started) if (result.status === "fulfilled") apps.push(result.value);
    const failed = started.find((result): result is PromiseRejectedResult => result.status === "rejected");
    if (failed) throw failed.reason;
    client = EventStoreDBClient.connectionString(eventStore.connectionString);
  }, 150_000);

  afterAll(async () => {
    await Promise.race([client?.dispose(), new Promise((resolve) => setTimeout(resolve, 5000))]);
    await Promise.allSettled(apps.map((app) => app.stop()));
    await eventStore?.stop();
  }, 30_000);

  it(`${REQUESTS} concurrent reservations of 1..3 units on a capacity of ${CAPACITY}: never oversold, never wrongly refused`, async () => {
    const [a, b] = apps;
    if (!a || !b || !client) throw new Error("the processes did not start");
    const nodes = [a.url, b.url];
    const seller = await signToken(SECRET, { sub: "seller-storm", role: "seller", ttlSeconds: 600 });
    const customers = await Promise.all(
      Array.from({ length: CUSTOMERS }, (_, i) => signToken(SECRET, { sub: `customer-${i}`, role: "customer", ttlSeconds: 600 })),
    );

    const registered = await fetchJson(`${a.url}/products`, {
      method: "POST",
      token: seller,
      json: { name: "Concert seats", capacity: CAPACITY, unitPrice: 50_000 },
    });
    expect(registered.status).toBe(201);
    const productId = String(registered.body.id);
    // Both processes know the product before the storm (not required, but it makes the storm symmetric).
    for (const url of nodes) expect((await fetchJson(`${url}/products/${productId}`)).status).toBe(200);

    const random = prng(20_240_601);
    const quantities = Array.from({ length: REQUESTS }, () => 1 + Math.floor(random() * 3));
    let acked = 0;
    let asked = 0;

    // Two readers that keep asking both processes (alternately) for the product while the storm lasts.
    const samples: Sample[] = [];
    let storming = true;
    const readers = [0, 1].map(async (reader) => {
      for (let i = reader; storming; i += 1) {
        const node = i % 2;
        const ackedBefore = acked;
        const response = await fetchJson(`${nodes[node]}/products/${productId}`);
        samples.push({
          reader,
          node,
          status: response.status,
          available: Number(response.body.available),
          held: Number(response.body.held),
          committed: Number(response.body.committed),
          capacity: Number(response.body.capacity),
          revision: Number(response.body.revision),
          ackedBefore,
          askedBefore: asked,
        });
      }
    });

    const answers = await Promise.all(
      quantities.map(async (quantity, index): Promise<Answer> => {
        const node = index % 2;
        const customer = index % CUSTOMERS;
        const ackedBefore = acked;
        asked += quantity;
        const response = await fetchJson(`${nodes[node]}/reservations`, {
          method: "POST",
          token: customers[customer],
          json: { productId, quantity },
        });
        if (response.status === 201) acked += quantity;
        return {
          index,
          node,
          customer: `customer-${customer}`,
          quantity,
          status: response.status,
          body: response.body,
          retryAfter: response.headers.get("retry-after"),
          ackedBefore,
        };
      }),
    );
    storming = false;
    await Promise.all(readers);

    const accepted = answers.filter((answer) => answer.status === 201);
    const refused = answers.filter((answer) => answer.status === 409);
    const unavailable = answers.filter((answer) => answer.status === 503);
    const acceptedUnits = accepted.reduce((sum, answer) => sum + answer.quantity, 0);
    const reasons = new Map<string, number>();
    for (const answer of unavailable) reasons.set(String(answer.body.detail), (reasons.get(String(answer.body.detail)) ?? 0) + 1);
    console.info(
      `double booking: ${accepted.length} accepted (${acceptedUnits} units; ${accepted.filter((x) => x.node === 0).length} on A, ` +
        `${accepted.filter((x) => x.node === 1).length} on B), ${refused.length} refused, ${unavailable.length} x 503 ` +
        `(${[...reasons].map(([detail, n]) => `${n}: ${detail}`).join("; ") || "none"}), ` +
        `${samples.length} reads during the storm; demand ${quantities.reduce((s, q) => s + q, 0)} units`,
    );

    // --- every answer is 201, 409 insufficient-availability, or a documented 503 ---
    const unexpected = answers.filter((answer) => ![201, 409, 503].includes(answer.status));
    expect(
      unexpected.map((x) => ({ status: x.status, body: x.body })),
      "unexpected answers",
    ).toEqual([]);
    for (const answer of refused) {
      expect(answer.body.type, JSON.stringify(answer.body)).toBe(`${PROBLEM}insufficient-availability`);
      expect(answer.body.requested).toBe(answer.quantity);
    }
    for (const answer of unavailable) {
      expect(answer.body.type, JSON.stringify(answer.body)).toBe(`${PROBLEM}service-unavailable`);
      expect(Number(answer.retryAfter)).toBeGreaterThanOrEqual(1);
    }
    for (const app of apps) {
      expect(
        app.problems.filter((line) => (line.level ?? 0) >= 50),
        "errors logged by an API process",
      ).toEqual([]);
    }
    expect(accepted.length).toBeGreaterThan(0);
    // Demand (~400 units) exceeds capacity: unless contention turned requests away with 503, some must be refused.
    if (unavailable.length === 0) expect(refused.length).toBeGreaterThan(0);

    // --- never oversold ---
    expect(acceptedUnits).toBeLessThanOrEqual(CAPACITY);
    for (const answer of accepted) {
      expect(answer.body).toMatchObject({ productId, quantity: answer.quantity, status: "placed", customerId: answer.customer });
    }
    const finals = await Promise.all(nodes.map((url) => fetchJson(`${url}/products/${productId}`)));
    for (const final of finals) {
      expect(final.status).toBe(200);
      expect(final.body).toMatchObject({
        capacity: CAPACITY,
        held: acceptedUnits,
        committed: 0,
        available: CAPACITY - acceptedUnits,
        status: acceptedUnits === CAPACITY ? "pending" : "available",
        revision: accepted.length,
      });
    }
    const finalAvailable = CAPACITY - acceptedUnits;

    // --- the product stream: exactly one UnitsHeld per 201, matching, gapless ---
    const recorded: { revision: number; type: string; data: Record<string, unknown> }[] = [];
    for await (const resolved of client.readStream(`product-${productId}`, { direction: FORWARDS, fromRevision: START })) {
      if (resolved.event) {
        recorded.push({
          revision: Number(resolved.event.revision),
          type: resolved.event.type,
          data: resolved.event.data as Record<string, unknown>,
        });
      }
    }
    expect(recorded.map((event) => event.revision)).toEqual(recorded.map((_, i) => i));
    expect(recorded[0]?.type).toBe("ProductRegistered");
    const holds = recorded.slice(1);
    expect(
      holds.every((event) => event.type === "UnitsHeld"),
      "only UnitsHeld after the registration",
    ).toBe(true);
    const held = new Map(holds.map((event) => [String(event.data.reservationId), Number(event.data.quantity)]));
    expect(held.size, "one UnitsHeld per reservation").toBe(holds.length);
    expect(held).toEqual(new Map(accepted.map((answer) => [String(answer.body.id), answer.quantity])));

    // --- no wrong refusal ---
    const reachable = new Set<number>([CAPACITY]);
    let remaining = CAPACITY;
    for (const event of holds) {
      remaining -= Number(event.data.quantity);
      expect(remaining).toBeGreaterThanOrEqual(0);
      reachable.add(remaining);
    }
    for (const answer of refused) {
      const available = Number(answer.body.available);
      const context = JSON.stringify(answer);
      expect(available, context).toBeLessThan(answer.quantity);
      expect(reachable.has(available), `${context}: not a state of the stream ${[...reachable].join(",")}`).toBe(true);
      expect(available, `${context}: staler than the holds acknowledged before it was sent`).toBeLessThanOrEqual(
        CAPACITY - answer.ackedBefore,
      );
      expect(finalAvailable, context).toBeLessThanOrEqual(available);
    }
    if (refused.length > 0) {
      expect(finalAvailable).toBeLessThan(Math.min(...refused.map((answer) => answer.quantity)));
    }

    // --- consistent reads during the storm ---
    const lastRevision = [-1, -1];
    for (const sample of samples) {
      const context = JSON.stringify(sample);
      expect(sample.status, context).toBe(200);
      expect(sample.available, context).toBeGreaterThanOrEqual(0);
      expect(sample.available + sample.held + sample.committed, context).toBe(CAPACITY);
      expect(sample.held, context).toBeGreaterThanOrEqual(sample.ackedBefore);
      expect(sample.held, context).toBeLessThanOrEqual(sample.askedBefore);
      expect(sample.revision, `${context}: a later read went back`).toBeGreaterThanOrEqual(lastRevision[sample.reader] ?? -1);
      lastRevision[sample.reader] = sample.revision;
    }

    // --- every accepted reservation is readable, by its customer, from the other process ---
    const reads = await Promise.all(
      accepted.map((answer) =>
        fetchJson(`${nodes[1 - answer.node]}/reservations/${String(answer.body.id)}`, {
          token: customers[Number(answer.customer.slice("customer-".length))],
        }),
      ),
    );
    for (const [i, read] of reads.entries()) {
      expect(read.status).toBe(200);
      expect(read.body).toMatchObject({ id: accepted[i]?.body.id, quantity: accepted[i]?.quantity, status: "placed" });
    }
  }, 180_000);
});
