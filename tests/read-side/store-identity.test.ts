/**
 * Two event stores sharing one Redis key root must not mix: the keys say which store they reflect,
 * and a process of another store drops them and rebuilds. The case from issue 10: one deployment's
 * `…:hold-deadlines:restored` marker made another skip restoring its holds.
 */
import { Writable } from "node:stream";
import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { EventStoreDBClient } from "@eventstore/db-client";
import type { Redis } from "ioredis";
import { startEmbeddedEventStore, type EmbeddedEventStore } from "../../src/embedded-eventstore/index.js";
import { readOrCreateStoreId } from "../../src/infrastructure/eventstore/store-identity.js";
import { DeadlineSchedule } from "../../src/infrastructure/deadline-schedule.js";
import { createRedis } from "../../src/infrastructure/redis.js";
import { createLogger } from "../../src/logger.js";
import { claimKeyRoot, guardKeyRoot, storeIdKey } from "../../src/worker/read-model-ownership.js";
import { REDIS_URL } from "./support.js";

const stores: EmbeddedEventStore[] = [];
const clients: EventStoreDBClient[] = [];
let redis: Redis;
const roots: string[] = [];

const newStore = async (): Promise<EventStoreDBClient> => {
  const store = await startEmbeddedEventStore({ port: 0, inMemory: true });
  stores.push(store);
  const client = EventStoreDBClient.connectionString(store.connectionString);
  clients.push(client);
  return client;
};

const newRoot = (): string => {
  const root = `test:store-identity:${randomUUID()}`;
  roots.push(root);
  return root;
};

const capturingLogger = () => {
  const lines: string[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _encoding, done) {
      lines.push(chunk.toString());
      done();
    },
  });
  return { logger: createLogger({ level: "info", destination }), lines };
};

beforeAll(async () => {
  redis = createRedis(REDIS_URL);
  await redis.connect();
});

afterAll(async () => {
  for (const root of roots) {
    const keys = await redis.keys(`${root}:*`);
    if (keys.length > 0) await redis.del(...keys);
  }
  redis.disconnect();
  // Bounded: with two in-process stores, dispose() of @eventstore/db-client 6.2.1 has been seen to
  // never settle (not understood yet; unrelated to what this file tests).
  for (const client of clients) await Promise.race([client.dispose(), new Promise((resolve) => setTimeout(resolve, 2000))]);
  await Promise.allSettled(stores.map((store) => store.stop()));
});

describe("the store id", () => {
  it("is written once per event store and read back the same; another store has another", async () => {
    const a = await newStore();
    const b = await newStore();
    const [first, second] = await Promise.all([readOrCreateStoreId(a), readOrCreateStoreId(a)]);
    expect(first).toBe(second);
    expect(await readOrCreateStoreId(a)).toBe(first);
    expect(await readOrCreateStoreId(b)).not.toBe(first);
  });
});

describe("two event stores sharing one Redis key root", () => {
  it("the second drops the first's hold deadlines and 'restored' marker, so that it restores its own, and rebuilds the read models", async () => {
    const root = newRoot();
    const a = await newStore();
    const b = await newStore();
    const { logger, lines } = capturingLogger();

    // Deployment A runs first: it claims the key root, restores its holds and marks them restored.
    const guardA = guardKeyRoot({ client: a, redis, keyRoot: root, logger });
    expect(await guardA.checked).toBe("claimed");
    expect(guardA.verified()).toBe(true);
    guardA.stop();
    const schedule = new DeadlineSchedule(redis, `${root}:schedule:hold-deadlines`);
    await schedule.add(`${randomUUID()}|${randomUUID()}`, new Date(Date.now() + 60_000));
    await schedule.markRestored();
    await redis.set(`${root}:mypage:v0:doc:someone`, JSON.stringify({ c: {}, d: { of: "store A" } }));

    // Deployment B starts on the same key root.
    const guardB = guardKeyRoot({ client: b, redis, keyRoot: root, logger });
    expect(await guardB.checked).toBe("replaced");
    await guardB.rebuilt();
    guardB.stop();

    expect(await schedule.isRestored()).toBe(false); // B's watchdog restores B's holds now
    expect(await schedule.size()).toBe(0); // none of A's deadlines is acted on by B
    expect(await redis.exists(`${root}:mypage:v0:doc:someone`)).toBe(0);
    expect(await redis.get(storeIdKey(root))).toBe(await readOrCreateStoreId(b));
    expect(await redis.get(`${root}:mypage:live`)).toMatch(/^v\d+$/); // rebuilt from B's log

    const warning = lines.map((line) => JSON.parse(line) as { level: number; msg: string }).find((line) => line.level === 40);
    expect(warning?.msg).toContain(await readOrCreateStoreId(a));
    expect(warning?.msg).toContain(await readOrCreateStoreId(b));
    expect(warning?.msg).toContain("READ_MODEL_KEY_ROOT");

    // B again (a restart, or Redis reconnecting): its own keys are kept.
    await schedule.markRestored();
    expect(await claimKeyRoot(redis, root, await readOrCreateStoreId(b), logger)).toBe("ours");
    expect(await schedule.isRestored()).toBe(true);
  });

  it("keys written before there was a store id are treated as another store's", async () => {
    const root = newRoot();
    const store = await newStore();
    const { logger } = capturingLogger();
    await redis.set(`${root}:schedule:hold-deadlines:restored`, new Date().toISOString());
    expect(await claimKeyRoot(redis, root, await readOrCreateStoreId(store), logger)).toBe("replaced");
    expect(await redis.exists(`${root}:schedule:hold-deadlines:restored`)).toBe(0);
  });
});

describe("before the key root is verified", () => {
  it("the hold watchdog does not act on the schedule", async () => {
    const { HoldExpiryPoller } = await import("../../src/worker/hold-expiry.js");
    const { AggregateRepository } = await import("../../src/infrastructure/eventstore/aggregate-repository.js");
    const { productAggregate, reservationAggregate } = await import("../../src/application/aggregates.js");
    const root = newRoot();
    const client = await newStore();
    const { logger } = capturingLogger();
    const schedule = new DeadlineSchedule(redis, `${root}:schedule:hold-deadlines`);
    // A due deadline of another store's reservation: acting on it would write to this store.
    await schedule.add(`${randomUUID()}|${randomUUID()}`, new Date(Date.now() - 1000));
    let verified = false;
    const poller = new HoldExpiryPoller({
      schedule,
      products: new AggregateRepository(client, productAggregate),
      reservations: new AggregateRepository(client, reservationAggregate),
      logger,
      ready: () => verified,
    });
    expect(await poller.tick()).toBe(0);
    expect(await schedule.size()).toBe(1);
    verified = true;
    expect(await poller.tick()).toBe(1);
  });
});
