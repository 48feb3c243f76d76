/**
 * Fault: Redis goes away and comes back empty (DESIGN §6 "fault isolation": reservations and
 * payments keep being accepted while the read side is down; everything catches up with nothing
 * lost).
 *
 * The service runs against a PRIVATE redis-server (its own port, nothing on disk) so that it can
 * be killed without touching the shared Redis other tests use. While it is down:
 *  - the write side keeps working: POST /reservations, POST /payments/{id}/pay, and the saga
 *    (it does not use Redis) confirms what gets paid;
 *  - /health/ready answers 503 naming redis as down;
 *  - the read endpoints answer 503 `read-model-unavailable` with Retry-After.
 * When it comes back EMPTY:
 *  - the projection consumers retry the events that arrived during the outage (they were never
 *    acknowledged) and apply them; a document they touch is rebuilt from its streams by the gap
 *    read (its stored revisions are gone, so the whole stream is "missing"), so those reservations
 *    reappear complete;
 *  - but they cannot recreate what Redis held and no new event touches: the consumer groups'
 *    checkpoints live in EventStoreDB and are past those events. Reservations untouched since
 *    before the outage are missing from My Page until `npm run projections:rebuild -- all` replays
 *    the log (projections/README.md: "After losing Redis's data, run projections:rebuild").
 *    That is the documented recovery, and it is what this test runs (the CLI, as an operator would).
 *  - Redis also held the hold-deadline schedule (`<root>:schedule:hold-deadlines`); the last test
 *    checks that a hold placed before the loss still expires.
 */
import { execFile } from "node:child_process";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  command,
  createProduct,
  eventually,
  expectProblem,
  expectStatus,
  getProduct,
  myPage,
  notifications,
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

const ROOT = join(fileURLToPath(new URL(".", import.meta.url)), "..", "..");

const execFileAsync = promisify(execFile);

/** `npm run projections:rebuild -- all`, run the way the npm script does (tsx), against this service. */
const rebuildAll = async (s: Scenario): Promise<{ stdout: string; stderr: string }> =>
  execFileAsync(join(ROOT, "node_modules", ".bin", "tsx"), ["scripts/projections-rebuild.ts", "all"], {
    cwd: ROOT,
    timeout: 90_000,
    env: {
      ...process.env,
      EVENTSTORE_URL: s.service.eventStore.connectionString,
      REDIS_URL: s.redisUrl,
      READ_MODEL_KEY_ROOT: s.keyRoot,
    },
  });

interface Ready {
  status: string;
  dependencies: Record<string, { up: boolean; detail?: string }>;
}

describe.skipIf(!hasRedisServer)(
  `Redis outage and data loss (private redis-server${hasRedisServer ? "" : ": SKIPPED, no redis-server binary on PATH"})`,
  () => {
    let redis: PrivateRedis;
    let s: Scenario;
    let product: ProductResponse;
    let shortHold: ProductResponse;
    /** Before the outage: A placed unpaid, B charged with a token, C paid explicitly. */
    let a: ReservationResponse;
    let b: ReservationResponse;
    let c: ReservationResponse;
    /** During the outage: D placed unpaid, E charged with a token. */
    let d: ReservationResponse;
    let e: ReservationResponse;
    /** Placed on a product whose hold lasts 10 s, just before Redis is lost. */
    let x: ReservationResponse;

    const keyExists = async (key: string): Promise<boolean> => {
      const probe = new Redis(redis.url, { maxRetriesPerRequest: 1 });
      probe.on("error", () => undefined);
      try {
        return (await probe.exists(key)) === 1;
      } finally {
        probe.disconnect();
      }
    };

    beforeAll(async () => {
      redis = await PrivateRedis.create();
      s = await startScenario({ label: "redis-outage", redisUrl: redis.url, service: { holdExpiryIntervalMs: 250 } });
    }, 60_000);

    afterAll(async () => {
      // Keys go with the private Redis; stop the service while Redis is up so that it stops cleanly.
      await s?.stop();
      await redis?.kill();
    }, 60_000);

    it("before the outage: reservations and payments reach My Page", async () => {
      product = await createProduct(s, { name: "Concert", capacity: 100, unitPrice: 10_000 });
      shortHold = await createProduct(s, { name: "Flash sale", capacity: 5, unitPrice: 5_000, holdTtlSeconds: 10 });
      a = await reserve(s, product.id, 1);
      b = await reserve(s, product.id, 2, { paymentToken: "tok_ok" });
      c = await reserve(s, product.id, 3);
      await waitForPayment(s, c.id, { status: "pending" });
      expect(expectStatus(await pay(s, c.id, "tok_ok"), 200).status).toBe("paid");

      await waitForMyPage(s, a.id, { reservationStatus: "placed", paymentStatus: "pending" });
      await waitForMyPage(s, b.id, { reservationStatus: "confirmed", paymentStatus: "paid" });
      await waitForMyPage(s, c.id, { reservationStatus: "confirmed", paymentStatus: "paid" });
      await waitForNotifications(s, b.id, ["payment.paid", "reservation.confirmed"]);
      await waitForNotifications(s, c.id, ["reservation.placed", "payment.paid", "reservation.confirmed"]);
      await waitForNotifications(s, a.id, ["reservation.placed"]);
      await eventually(async () => {
        const list = expectStatus(await s.get<{ items: ReservationResponse[] }>("/reservations", { as: "alice" }), 200);
        expect(list.items.map((item) => item.id).sort()).toEqual([a.id, b.id, c.id].sort());
      });
      expect(expectStatus(await s.get<Ready>("/health/ready"), 200).status).toBe("ok");
      expect(await keyExists(`${s.keyRoot}:mypage:v0:doc:reservation:${b.id}`)).toBe(true);
    });

    it("Redis dies: writes keep working, readiness and the read endpoints answer 503", async () => {
      // The last write before the loss: its 10 s hold deadline lives in Redis's schedule.
      x = await reserve(s, shortHold.id, 1, { as: "bob" });
      await waitForPayment(s, x.id, { status: "pending" }, "bob");
      await waitForMyPage(s, x.id, { reservationStatus: "placed" }, "bob");

      await redis.kill();

      const ready = await eventually(async () => {
        const response = await s.get<Ready>("/health/ready");
        expect(response.status).toBe(503);
        return response;
      });
      expect(ready.headers.get("retry-after")).toBeTruthy();
      expect(ready.body.status).toBe("unavailable");
      expect(ready.body.dependencies.redis?.up).toBe(false);
      expect(ready.body.dependencies.eventstore?.up).toBe(true);

      for (const [path, as] of [
        ["/my-page", "alice"],
        ["/reservations", "alice"],
        ["/payments", "alice"],
        ["/products", undefined],
        ["/notifications", "alice"],
      ] as const) {
        const response = await s.get(path, as === undefined ? {} : { as });
        expectProblem(response, 503, "read-model-unavailable");
        expect(Number(response.headers.get("retry-after")), path).toBeGreaterThanOrEqual(1);
      }

      // The write side does not need Redis...
      d = await reserve(s, product.id, 4);
      e = await reserve(s, product.id, 5);
      expect(expectStatus(await pay(s, a.id, "tok_ok"), 200).status).toBe("paid");
      expect(expectStatus(await pay(s, e.id, "tok_ok"), 200).status).toBe("paid");
      // ... except to keep a payment token, which must not go into the event log: such a placement is
      // refused before anything is held, with a Retry-After (placing without the token works).
      const withToken = await s.post("/reservations", {
        as: "alice",
        json: { productId: product.id, quantity: 1, paymentToken: "tok_ok" },
      });
      expectProblem(withToken, 503, "service-unavailable");
      expect(Number(withToken.headers.get("retry-after"))).toBeGreaterThanOrEqual(1);
      // Nor does the saga: consistent reads show it confirming and requesting payments meanwhile.
      await waitForReservation(s, a.id, { status: "confirmed", paymentStatus: "paid" });
      await waitForReservation(s, e.id, { status: "confirmed", paymentStatus: "paid" });
      await waitForPayment(s, d.id, { status: "pending" });
      await eventually(async () => expect(await getProduct(s, product.id)).toMatchObject({ held: 4, committed: 11, available: 85 }));
      // Still down.
      expectProblem(await s.get("/my-page", { as: "alice" }), 503, "read-model-unavailable");
    }, 60_000);

    it("Redis comes back empty: what happened during the outage is applied; what Redis held is not recreated by the live consumers", async () => {
      await redis.start();
      await eventually(async () => expect(expectStatus(await s.get<Ready>("/health/ready"), 200).status).toBe("ok"), { timeoutMs: 20_000 });
      // It really came back empty: B's My Page document (written before the outage) is gone.
      expect(await keyExists(`${s.keyRoot}:mypage:v0:doc:reservation:${b.id}`)).toBe(false);

      // Events that arrived during the outage were retried, never dropped: their reservations come
      // back complete (placed-time events included, read back from the log by the gap read).
      const timeouts = { timeoutMs: 45_000, intervalMs: 250 };
      await eventually(async () => {
        const page = await myPage(s);
        const byId = new Map(page.reservations.map((entry) => [entry.reservationId, entry]));
        expect(byId.get(a.id)).toMatchObject({ reservationStatus: "confirmed", paymentStatus: "paid", quantity: 1 });
        expect(byId.get(d.id)).toMatchObject({ reservationStatus: "placed", paymentStatus: "pending", quantity: 4 });
        expect(byId.get(e.id)).toMatchObject({ reservationStatus: "confirmed", paymentStatus: "paid", quantity: 5 });
      }, timeouts);
      await eventually(async () => {
        expect((await notifications(s, a.id)).map((item) => item.kind).sort()).toEqual([
          "payment.paid",
          "reservation.confirmed",
          "reservation.placed",
        ]);
        expect((await notifications(s, e.id)).map((item) => item.kind).sort()).toEqual([
          "payment.paid",
          "reservation.confirmed",
          "reservation.placed",
        ]);
      }, timeouts);

      // B and C saw no event since before the outage: the live consumers have nothing to retry for
      // them, so the empty Redis does not get them back. This is why the rebuild is needed.
      const page = await myPage(s);
      const ids = page.reservations.map((entry) => entry.reservationId);
      expect(ids).not.toContain(b.id);
      expect(ids).not.toContain(c.id);
    }, 90_000);

    it("`npm run projections:rebuild -- all` restores the rest: My Page, lists and notifications show everything, nothing lost", async () => {
      const { stdout } = await rebuildAll(s);
      const result = JSON.parse(stdout.trim().split("\n").at(-1) ?? "{}") as { projections?: Array<{ projection: string }> };
      expect(result.projections?.map((entry) => entry.projection).sort()).toEqual(["lists", "mypage", "notifications"]);

      const expected: Array<[ReservationResponse, string, string]> = [
        [a, "confirmed", "paid"],
        [b, "confirmed", "paid"],
        [c, "confirmed", "paid"],
        [d, "placed", "pending"],
        [e, "confirmed", "paid"],
      ];
      await eventually(async () => {
        const page = await myPage(s);
        // Newest first, exactly Alice's five reservations.
        expect(page.reservations.map((entry) => entry.reservationId)).toEqual([e.id, d.id, c.id, b.id, a.id]);
        for (const [reservation, reservationStatus, paymentStatus] of expected) {
          expect(page.reservations.find((entry) => entry.reservationId === reservation.id)).toMatchObject({
            reservationStatus,
            paymentStatus,
            quantity: reservation.quantity,
            amount: reservation.amount,
          });
        }
      });
      await eventually(async () => {
        const list = expectStatus(await s.get<{ items: ReservationResponse[] }>("/reservations", { as: "alice" }), 200);
        expect(list.items.map((item) => item.id).sort()).toEqual([a.id, b.id, c.id, d.id, e.id].sort());
        const products = expectStatus(await s.get<{ items: ProductResponse[] }>("/products"), 200);
        expect(products.items.find((item) => item.id === product.id)).toMatchObject({ held: 4, committed: 11, available: 85 });
      });
      await waitForNotifications(s, a.id, ["reservation.placed", "payment.paid", "reservation.confirmed"]);
      await waitForNotifications(s, b.id, ["payment.paid", "reservation.confirmed"]);
      await waitForNotifications(s, c.id, ["reservation.placed", "payment.paid", "reservation.confirmed"]);
      await waitForNotifications(s, d.id, ["reservation.placed"]);
      await waitForNotifications(s, e.id, ["reservation.placed", "payment.paid", "reservation.confirmed"]);

      // And the read side keeps following new changes on the rebuilt version.
      expect(expectStatus(await command(s, d.id, "cancel", "alice"), 200).status).toBe("cancelled");
      await waitForMyPage(s, d.id, { reservationStatus: "cancelled", paymentStatus: "voided" });
      await waitForNotifications(s, d.id, ["reservation.placed", "reservation.cancelled", "payment.voided"]);
    }, 120_000);

    it("a hold placed before Redis lost its data still expires when its time is up (units released)", async () => {
      // x was placed (unpaid, 10 s hold) just before the loss; its deadline was only in Redis.
      const deadline = Date.parse(x.expiresAt);
      await sleep(Math.max(0, deadline - Date.now()));
      await eventually(
        async () => {
          expect((await s.get<ReservationResponse>(`/reservations/${x.id}`, { as: "bob" })).body.status).toBe("expired");
          expect(await getProduct(s, shortHold.id)).toMatchObject({ held: 0, available: 5 });
        },
        { timeoutMs: 15_000, intervalMs: 250 },
      );
    }, 60_000);
  },
);
