/**
 * The hold watchdog (src/worker/hold-expiry.ts) and its Redis schedule
 * (src/infrastructure/deadline-schedule.ts): orphaned holds are abandoned and released, placed
 * reservations expire at their deadline, early ticks reschedule, and leases keep two pollers from
 * working one entry at once while giving a dead poller's entry back.
 *
 * Time is injected (the pollers' clock, `takeDue(now)`); every test has its own Redis key.
 */
import { randomUUID } from "node:crypto";
import type { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { InvalidTransitionError } from "../../src/domain/index.js";
import { DeadlineSchedule } from "../../src/infrastructure/deadline-schedule.js";
import { HoldExpiryPoller, holdDeadlineConsumer } from "../../src/worker/hold-expiry.js";
import {
  IDEMPOTENCY_IDS,
  type Store,
  type World,
  consumedOf,
  contextOf,
  customer,
  redisClient,
  testLogger,
  uniqueName,
  useStoreAndRedis,
  world,
} from "./support.js";

const member = (reservationId: string, productId: string) => `${reservationId}|${productId}`;

describe("the hold watchdog", () => {
  let store: Store;
  let w: World;
  let redis: Redis;
  const keys: string[] = [];

  const newSchedule = (leaseMs?: number): DeadlineSchedule => {
    const key = uniqueName("test:worker:deadlines:");
    keys.push(key);
    return leaseMs === undefined ? new DeadlineSchedule(redis, key) : new DeadlineSchedule(redis, key, leaseMs);
  };

  const poller = (schedule: DeadlineSchedule, at: Date): HoldExpiryPoller =>
    new HoldExpiryPoller({ schedule, products: w.products, reservations: w.reservations, logger: testLogger(), clock: () => at });

  /** Feeds the product's events to the deadline consumer, as its consumer group would. */
  const scheduleHolds = async (schedule: DeadlineSchedule, productId: string): Promise<void> => {
    const deadlines = holdDeadlineConsumer(schedule);
    for (const event of await w.streamEvents("product", productId)) await deadlines.handle(consumedOf(event));
  };

  /** The first write of placing, and nothing else: the process "died" before recording the reservation. */
  const holdOnly = async (productId: string, reservationId: string, quantity = 2): Promise<void> => {
    await w.products.handle(productId, () => ({ type: "HoldUnits", data: { reservationId, quantity, now: new Date().toISOString() } }), {
      correlationId: reservationId,
      causationId: randomUUID(),
      actor: { id: "someone", role: "customer" },
    });
  };

  const heldExpiry = async (productId: string, reservationId: string): Promise<Date> => {
    const held = (await w.streamEvents("product", productId)).find(
      (event) => event.type === "UnitsHeld" && (event.data as { reservationId: string }).reservationId === reservationId,
    );
    return new Date((held?.data as { expiresAt: string }).expiresAt);
  };

  useStoreAndRedis(keys, (started) => {
    ({ store, redis } = started);
    w = world(store.client);
  });

  it("schedules every hold at its expiry, under `<reservationId>|<productId>`", async () => {
    const schedule = newSchedule();
    const productId = await w.registerProduct({ holdTtlSeconds: 10 });
    const reservationId = randomUUID();
    await holdOnly(productId, reservationId);
    await scheduleHolds(schedule, productId);
    const expiresAt = await heldExpiry(productId, reservationId);
    expect(Number(await redis.zscore(keys.at(-1) ?? "", member(reservationId, productId)))).toBe(expiresAt.getTime());
  });

  it("abandons an orphaned hold once due: ReservationAbandoned first, then the units are released (abandoned)", async () => {
    const schedule = newSchedule();
    const productId = await w.registerProduct({ holdTtlSeconds: 10, capacity: 3 });
    const reservationId = randomUUID();
    await holdOnly(productId, reservationId, 2);
    await scheduleHolds(schedule, productId);
    const expiresAt = await heldExpiry(productId, reservationId);

    // Before the deadline nothing is due and nothing changes.
    expect(await poller(schedule, new Date(expiresAt.getTime() - 1)).tick()).toBe(0);
    expect(await w.streamEvents("reservation", reservationId)).toEqual([]);
    expect((await w.product(productId)).held).toBe(2);

    expect(await poller(schedule, new Date(expiresAt.getTime() + 1)).tick()).toBe(1);
    const reservationEvents = await w.streamEvents("reservation", reservationId);
    expect(reservationEvents.map((event) => event.type)).toEqual(["ReservationAbandoned"]);
    expect(reservationEvents[0]?.data).toMatchObject({ reservationId, productId });
    expect(reservationEvents[0]?.metadata).toMatchObject({ $correlationId: reservationId });
    const released = (await w.streamEvents("product", productId)).filter((event) => event.type === "HeldUnitsReleased");
    expect(released.map((event) => event.data)).toMatchObject([{ reservationId, quantity: 2, reason: "abandoned" }]);
    const product = await w.product(productId);
    expect({ held: product.held, available: product.available }).toEqual({ held: 0, available: 3 });
    expect(await schedule.size()).toBe(0);
    // The abandoned reservation was abandoned before the release: it reads as not found.
    expect(reservationEvents[0]?.position ?? 0n).toBeLessThan(released[0]?.position ?? 0n);

    // The placing process wakes up and tries its second write: refused.
    await expect(
      w.reservations.handle(
        reservationId,
        () => ({
          type: "PlaceReservation",
          data: {
            reservationId,
            productId,
            productName: product.name,
            customerId: "someone",
            sellerId: product.sellerId,
            quantity: 2,
            unitPrice: product.unitPrice,
            currency: product.currency,
            kind: product.kind,
            sellerAcceptance: product.sellerAcceptance,
            fulfilmentSteps: product.fulfilmentSteps,
            holdTtlSeconds: product.holdTtlSeconds,
            now: new Date().toISOString(),
          },
        }),
        { correlationId: reservationId, causationId: randomUUID(), actor: { id: "someone", role: "customer" } },
      ),
    ).rejects.toBeInstanceOf(InvalidTransitionError);
    expect((await w.streamEvents("reservation", reservationId)).map((event) => event.type)).toEqual(["ReservationAbandoned"]);

    // A second tick (say, a redelivered UnitsHeld scheduled it again) changes nothing.
    await scheduleHolds(schedule, productId);
    expect(await poller(schedule, new Date(expiresAt.getTime() + 2)).tick()).toBe(1);
    expect((await w.streamEvents("reservation", reservationId)).length).toBe(1);
    expect((await w.streamEvents("product", productId)).filter((event) => event.type === "HeldUnitsReleased")).toHaveLength(1);
  });

  it("refuses the retry of a placement whose first attempt was abandoned (same Idempotency-Key)", async () => {
    const schedule = newSchedule();
    const productId = await w.registerProduct({ holdTtlSeconds: 10 });
    const actor = customer();
    const key = randomUUID();
    const reservationId = IDEMPOTENCY_IDS(actor.id, key);
    await holdOnly(productId, reservationId, 1); // the first attempt died after its hold
    await scheduleHolds(schedule, productId);
    expect(await poller(schedule, new Date((await heldExpiry(productId, reservationId)).getTime() + 1)).tick()).toBe(1);

    await expect(w.reservationService.place(contextOf(actor), { productId, quantity: 1 }, key)).rejects.toBeInstanceOf(
      InvalidTransitionError,
    );
    expect((await w.product(productId)).held).toBe(0);
  });

  it("expires a placed reservation at its deadline, and completes the entry", async () => {
    const schedule = newSchedule();
    const productId = await w.registerProduct({ holdTtlSeconds: 10 });
    const { reservationId } = await w.place(productId);
    await scheduleHolds(schedule, productId);
    const expiresAt = new Date((await w.reservation(reservationId)).expiresAt);
    expect(await heldExpiry(productId, reservationId)).toEqual(expiresAt);

    expect(await poller(schedule, expiresAt).tick()).toBe(1);
    expect((await w.reservation(reservationId)).status).toBe("expired");
    const expired = (await w.streamEvents("reservation", reservationId)).find((event) => event.type === "ReservationExpired");
    expect(expired?.data).toEqual({ expiredAt: expiresAt.toISOString() });
    expect(await schedule.size()).toBe(0);
  });

  it("leaves a reservation that moved on alone, but ends its hold if the saga has not, and completes its entry", async () => {
    const schedule = newSchedule();
    const productId = await w.registerProduct({ holdTtlSeconds: 10 });
    const { reservationId, customer: owner } = await w.place(productId);
    await w.reservationService.cancel(contextOf(owner), reservationId);
    await scheduleHolds(schedule, productId);
    const revision = (await w.reservations.load(reservationId)).revision;
    expect((await w.product(productId)).held).toBeGreaterThan(0); // no saga runs here
    expect(await poller(schedule, new Date(Date.now() + 3_600_000)).tick()).toBe(1);
    expect((await w.reservations.load(reservationId)).revision).toBe(revision);
    expect((await w.reservation(reservationId)).status).toBe("cancelled");
    expect((await w.product(productId)).held).toBe(0);
    const released = (await w.streamEvents("product", productId)).filter((event) => event.type === "HeldUnitsReleased");
    expect(released.map((event) => event.data)).toMatchObject([{ reservationId, reason: "cancelled" }]);
    expect(await schedule.size()).toBe(0);
  });

  it("releases a hold on another product under a reservation id placed elsewhere (one Idempotency-Key raced)", async () => {
    const schedule = newSchedule();
    const placedOn = await w.registerProduct({ holdTtlSeconds: 10, capacity: 10 });
    const other = await w.registerProduct({ holdTtlSeconds: 10, capacity: 10 });
    const { reservationId } = await w.place(placedOn);
    await holdOnly(other, reservationId, 10); // the losing request died before giving its hold back
    await scheduleHolds(schedule, other);
    const expiresAt = await heldExpiry(other, reservationId);
    expect(await poller(schedule, new Date(expiresAt.getTime() - 1)).tick()).toBe(0);
    expect((await w.product(other)).held).toBe(10);

    expect(await poller(schedule, new Date(expiresAt.getTime() + 1)).tick()).toBe(1);
    expect(await w.product(other)).toMatchObject({ held: 0, available: 10 });
    const released = (await w.streamEvents("product", other)).filter((event) => event.type === "HeldUnitsReleased");
    expect(released.map((event) => event.data)).toMatchObject([{ reservationId, quantity: 10, reason: "abandoned" }]);
    // The reservation and its own product are untouched.
    expect((await w.reservation(reservationId)).status).toBe("placed");
    expect((await w.product(placedOn)).held).toBeGreaterThan(0);
    expect(await schedule.size()).toBe(0);
  });

  it("reschedules, without changing anything, an entry taken before its reservation's deadline", async () => {
    const schedule = newSchedule();
    const productId = await w.registerProduct({ holdTtlSeconds: 600 });
    const { reservationId } = await w.place(productId);
    const expiresAt = new Date((await w.reservation(reservationId)).expiresAt);
    const now = new Date(expiresAt.getTime() - 60_000);
    // Due early (clock skew between the placing and the polling node, a hand-made entry ...).
    await schedule.add(member(reservationId, productId), new Date(now.getTime() - 1));
    const revision = (await w.reservations.load(reservationId)).revision;

    expect(await poller(schedule, now).tick()).toBe(1);
    expect((await w.reservations.load(reservationId)).revision).toBe(revision);
    expect((await w.reservation(reservationId)).status).toBe("placed");
    expect(Number(await redis.zscore(keys.at(-1) ?? "", member(reservationId, productId)))).toBe(expiresAt.getTime());
    // ... and at the deadline it expires.
    expect(await poller(schedule, expiresAt).tick()).toBe(1);
    expect((await w.reservation(reservationId)).status).toBe("expired");
  });

  it("drops a malformed entry", async () => {
    const schedule = newSchedule();
    await schedule.add("not-a-member", new Date(0));
    await poller(schedule, new Date()).tick();
    expect(await schedule.size()).toBe(0);
  });

  it("two pollers ticking at once settle a due hold once", async () => {
    const schedule = newSchedule();
    const productId = await w.registerProduct({ holdTtlSeconds: 10 });
    const placed = await Promise.all([w.place(productId), w.place(productId), w.place(productId)]);
    await scheduleHolds(schedule, productId);
    const at = new Date(Date.now() + 60_000);
    const [a, b] = await Promise.all([poller(schedule, at).tick(), poller(schedule, at).tick()]);
    expect(a + b).toBe(3);
    for (const { reservationId } of placed) {
      const events = await w.streamEvents("reservation", reservationId);
      expect(events.filter((event) => event.type === "ReservationExpired")).toHaveLength(1);
    }
  });

  it("drops an entry whose hold this event store does not know, without writing anything (foreign or stale entries)", async () => {
    // How such entries arise: the schedule lives in Redis, the holds in the event store. A dev server
    // restarted with a fresh (or in-memory) store keeps its Redis and key root (default `rm`); every
    // process left on the default root shares one schedule. Their entries name holds this store never had.
    const schedule = newSchedule();
    const reservationId = randomUUID();
    const unknownProduct = randomUUID();
    await schedule.add(member(reservationId, unknownProduct), new Date(0));
    const watchdog = poller(schedule, new Date());
    await watchdog.tick();
    expect(await w.streamEvents("reservation", reservationId)).toEqual([]); // nothing written for a hold we never had
    expect(await schedule.size()).toBe(0); // and not retried every lease forever
  });
});

describe("DeadlineSchedule leases", () => {
  let redis: Redis;
  const keys: string[] = [];
  const key = (): string => {
    const name = uniqueName("test:worker:lease:");
    keys.push(name);
    return name;
  };

  beforeAll(() => {
    redis = redisClient();
  });

  afterAll(async () => {
    if (keys.length > 0) await redis.del(...keys);
    redis.disconnect();
  });

  /** Two pollers of one schedule (a lease of a second) and an entry due at `t0`. */
  const twoPollersOfOneEntry = async () => {
    const name = key();
    const a = new DeadlineSchedule(redis, name, 1000);
    const b = new DeadlineSchedule(redis, name, 1000);
    const t0 = new Date("2030-01-01T00:00:00.000Z");
    await a.add("entry", t0);
    return { a, b, t0 };
  };

  it("lets only one of two pollers take a due entry within the lease", async () => {
    const { a, b, t0 } = await twoPollersOfOneEntry();
    const [takenByA, takenByB] = await Promise.all([a.takeDue(t0), b.takeDue(t0)]);
    expect([...takenByA, ...takenByB]).toEqual(["entry"]);
    expect(await a.takeDue(new Date(t0.getTime() + 999))).toEqual([]);
    expect(await b.takeDue(new Date(t0.getTime() + 999))).toEqual([]);
    expect(await a.size()).toBe(1); // leased, not removed
  });

  it("gives back an entry whose taker died, once the lease runs out; completing removes it", async () => {
    const { a, b, t0 } = await twoPollersOfOneEntry();
    expect(await a.takeDue(t0)).toEqual(["entry"]); // ... and a dies here
    expect(await b.takeDue(new Date(t0.getTime() + 1000))).toEqual(["entry"]);
    await b.complete("entry");
    expect(await b.takeDue(new Date(t0.getTime() + 10_000))).toEqual([]);
    expect(await b.size()).toBe(0);
  });

  it("splits many due entries between concurrent takers without overlap, and leaves future ones", async () => {
    const name = key();
    const schedules = [0, 1, 2, 3].map(() => new DeadlineSchedule(redis, name, 60_000));
    const t0 = new Date("2030-01-01T00:00:00.000Z");
    const due = Array.from({ length: 200 }, (_, i) => `due-${i}`);
    for (const [i, entry] of due.entries()) await schedules[0]?.add(entry, new Date(t0.getTime() - i));
    await schedules[0]?.add("future", new Date(t0.getTime() + 1));
    const taken = (await Promise.all(schedules.map((schedule) => schedule.takeDue(t0, 30)))).flat();
    expect(new Set(taken).size).toBe(taken.length);
    expect(taken.length).toBe(120);
    const rest = (await Promise.all(schedules.map((schedule) => schedule.takeDue(t0, 100)))).flat();
    expect(new Set([...taken, ...rest])).toEqual(new Set(due));
    expect(rest).not.toContain("future");
  });
});
