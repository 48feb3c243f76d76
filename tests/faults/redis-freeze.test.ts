/**
 * Fault: Redis hangs instead of going away (SIGSTOP on a private redis-server: connections stay
 * open, nothing answers — a hung node or a network black hole). Unlike a dead Redis, nothing fails
 * fast here, so every caller needs its own bound:
 *  - the read endpoints answer 503 `read-model-unavailable` with Retry-After (their 2 s bound,
 *    projections/README.md), /health/ready 503 naming redis (its 1 s bound);
 *  - the write side and the saga keep working;
 *  - once Redis answers again, the read models catch up with nothing lost (its data was kept);
 *  - stopping the service (SIGTERM in `npm start`) must not wait forever on a hung Redis.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  createProduct,
  eventually,
  expectProblem,
  expectStatus,
  myPage,
  pay,
  reserve,
  sleep,
  startScenario,
  waitForMyPage,
  waitForNotifications,
  waitForPayment,
  waitForReservation,
  type ProductResponse,
  type ReservationResponse,
  type Scenario,
} from "../scenarios/support.js";
import { hasRedisServer, PrivateRedis } from "./private-redis.js";

interface Ready {
  status: string;
  dependencies: Record<string, { up: boolean; detail?: string }>;
}

/** A generous bound for a clean stop: the consumer groups' own in-process retry window is 10 s. */
const STOP_BOUND_MS = 20_000;

describe.skipIf(!hasRedisServer)(
  `Redis hangs (private redis-server, SIGSTOP${hasRedisServer ? "" : ": SKIPPED, no redis-server binary on PATH"})`,
  () => {
    let redis: PrivateRedis;
    let s: Scenario;
    let stopping: Promise<void> | undefined;
    let product: ProductResponse;
    let before: ReservationResponse;

    beforeAll(async () => {
      redis = await PrivateRedis.create();
      s = await startScenario({ label: "redis-freeze", redisUrl: redis.url });
    }, 60_000);

    afterAll(async () => {
      redis?.thaw();
      await stopping?.catch(() => undefined);
      await s?.stop();
      await redis?.kill();
    }, 60_000);

    it("while Redis hangs: reads 503 (bounded), readiness 503 naming redis, writes and the saga keep working; afterwards everything catches up", async () => {
      product = await createProduct(s, { name: "Theatre", capacity: 50, unitPrice: 7_000 });
      before = await reserve(s, product.id, 2, { paymentToken: "tok_ok" });
      await waitForMyPage(s, before.id, { reservationStatus: "confirmed", paymentStatus: "paid" });

      redis.freeze();
      try {
        const page = await s.get("/my-page", { as: "alice" });
        expectProblem(page, 503, "read-model-unavailable");
        expect(Number(page.headers.get("retry-after"))).toBeGreaterThanOrEqual(1);
        expectProblem(await s.get("/reservations", { as: "alice" }), 503, "read-model-unavailable");

        const ready = await s.get<Ready>("/health/ready");
        expect(ready.status).toBe(503);
        expect(ready.body.dependencies.redis?.up).toBe(false);
        expect(ready.body.dependencies.eventstore?.up).toBe(true);

        const during = await reserve(s, product.id, 3);
        await waitForPayment(s, during.id, { status: "pending" });
        expect(expectStatus(await pay(s, during.id, "tok_ok"), 200).status).toBe("paid");
        await waitForReservation(s, during.id, { status: "confirmed", paymentStatus: "paid" });

        redis.thaw();
        await eventually(async () => expect(expectStatus(await s.get<Ready>("/health/ready"), 200).status).toBe("ok"));
        await eventually(
          async () => {
            const entries = (await myPage(s)).reservations;
            expect(entries.map((entry) => entry.reservationId)).toEqual([during.id, before.id]);
            expect(entries[0]).toMatchObject({ reservationStatus: "confirmed", paymentStatus: "paid" });
          },
          { timeoutMs: 45_000, intervalMs: 250 },
        );
        await waitForNotifications(s, during.id, ["reservation.placed", "payment.paid", "reservation.confirmed"]);
      } finally {
        redis.thaw();
      }
    }, 90_000);

    it(
      "stopping the service while Redis hangs finishes (it does not wait for Redis forever)",
      async () => {
        // Give the consumers work that needs Redis, then hang Redis under them.
        redis.freeze();
        await reserve(s, product.id, 1, { as: "bob" });
        await sleep(500);
        const service = s.service;
        stopping = service.stop();
        const outcome = await Promise.race([
          stopping.then(() => "stopped" as const),
          sleep(STOP_BOUND_MS).then(() => "still stopping" as const),
        ]);
        redis.thaw();
        expect(outcome, `service.stop() was still waiting after ${STOP_BOUND_MS / 1000} s with Redis hung`).toBe("stopped");
      },
      STOP_BOUND_MS + 30_000,
    );
  },
);
