/**
 * The cap on one customer's unpaid holds (src/infrastructure/redis-unpaid-holds.ts): admission is
 * atomic across callers, a hold stops counting at its end or when released, a repeat of the same
 * reservation is not a second hold, and an unreachable Redis admits rather than blocks.
 */
import { randomUUID } from "node:crypto";
import { Redis } from "ioredis";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { RedisUnpaidHolds } from "../../src/infrastructure/redis-unpaid-holds.js";
import { TEST_REDIS_URL } from "../support/redis-url.js";

const REDIS_URL = TEST_REDIS_URL;
const logger = pino({ level: "silent" });

describe("RedisUnpaidHolds", () => {
  let redis: Redis;
  const root = `test-unpaid-${randomUUID()}`;
  const inAnHour = () => new Date(Date.now() + 3_600_000);

  beforeAll(() => {
    redis = new Redis(REDIS_URL, { maxRetriesPerRequest: 1 });
  });

  afterAll(async () => {
    const keys = await redis.keys(`${root}:*`);
    if (keys.length > 0) await redis.del(...keys);
    redis.disconnect();
  });

  it("admits exactly `limit` of many claims made at once", async () => {
    const holds = new RedisUnpaidHolds(redis, root, 3, logger);
    const admitted = await Promise.all(Array.from({ length: 20 }, () => holds.claim("alice", randomUUID(), inAnHour())));
    expect(admitted.filter(Boolean)).toHaveLength(3);
  });

  it("counts one reservation once, however often it is claimed", async () => {
    const holds = new RedisUnpaidHolds(redis, root, 1, logger);
    const reservationId = randomUUID();
    expect(await holds.claim("bob", reservationId, inAnHour())).toBe(true);
    expect(await holds.claim("bob", reservationId, inAnHour())).toBe(true);
    expect(await holds.claim("bob", randomUUID(), inAnHour())).toBe(false);
  });

  it("stops counting a hold when it is released or when it ends", async () => {
    const holds = new RedisUnpaidHolds(redis, root, 1, logger);
    const first = randomUUID();
    expect(await holds.claim("carol", first, inAnHour())).toBe(true);
    await holds.release("carol", first);
    const second = randomUUID();
    expect(await holds.claim("carol", second, inAnHour())).toBe(true);
    await holds.holdUntil("carol", second, new Date(Date.now() - 1));
    expect(await holds.claim("carol", randomUUID(), inAnHour())).toBe(true);
  });

  it("keeps customers apart, whatever their ids hold", async () => {
    const holds = new RedisUnpaidHolds(redis, root, 1, logger);
    expect(await holds.claim("dave:x", randomUUID(), inAnHour())).toBe(true);
    expect(await holds.claim("dave", randomUUID(), inAnHour())).toBe(true);
    expect(await holds.claim("dave:x", randomUUID(), inAnHour())).toBe(false);
  });

  it("admits when Redis cannot answer", async () => {
    const unreachable = new Redis("redis://127.0.0.1:1", {
      lazyConnect: true,
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      retryStrategy: () => null,
    });
    unreachable.on("error", () => undefined);
    const holds = new RedisUnpaidHolds(unreachable, root, 1, logger);
    expect(await holds.claim("erin", randomUUID(), inAnHour())).toBe(true);
    expect(await holds.claim("erin", randomUUID(), inAnHour())).toBe(true);
    await holds.release("erin", randomUUID()); // does not throw
    unreachable.disconnect();
  });
});
