import type { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createProjectionConsumers, projectionConsumer } from "../../projections/consumers.js";
import { PROJECTIONS } from "../../projections/definitions/index.js";
import { ProjectionWriter, type SourceEvent } from "../../projections/engine.js";
import { PROJECTION_NAMES, ProjectionKeys, type ProjectionName } from "../../projections/keys.js";
import { TransientError } from "../../src/infrastructure/eventstore/consumer-group.js";
import { isTransientFailure } from "../../src/core/transient.js";
import {
  connectRedis,
  consumed,
  deadRedis,
  dumpAllLive,
  dumpLive,
  dumpVersion,
  shuffled,
  silentLogger,
  SyntheticLog,
  uniqueRoot,
  useKeyRoots,
} from "./support.js";

let redis: Redis;
let other: Redis;
const root = useKeyRoots((connected) => (redis = connected));

beforeAll(async () => {
  other = await connectRedis();
});
afterAll(async () => {
  other.disconnect();
});

/** Feeds events one by one through the live consumers of every projection. */
const project = async (events: readonly SourceEvent[], keyRoot: string, log: SyntheticLog, client: Redis = redis): Promise<void> => {
  const consumers = createProjectionConsumers({ redis: client, logger: silentLogger(), reader: log.reader(), keyRoot });
  for (const event of events) {
    for (const consumer of consumers) {
      if (consumer.streamPrefixes.some((prefix) => event.streamId.startsWith(prefix))) await consumer.handle(consumed(event));
    }
  }
};

const dumpAll = (keyRoot: string): Promise<Record<ProjectionName, Record<string, unknown>>> => dumpAllLive(redis, keyRoot);

describe("projections", () => {
  it("build the documents and indexes the queries need", async () => {
    const log = SyntheticLog.sample();
    const keyRoot = root("shape");
    await project(log.events, keyRoot, log);
    const lists = await dumpLive(redis, keyRoot, "lists");
    const reservationDocs = Object.keys(lists).filter((key) => key.startsWith("doc:reservation:"));
    const productDocs = Object.keys(lists).filter((key) => key.startsWith("doc:product:"));
    expect(reservationDocs).toHaveLength(5);
    expect(productDocs).toHaveLength(2);
    expect((lists["idx:reservations:customer:alice"] as unknown[]).length).toBe(3);
    expect((lists["idx:reservations:status:cancelled"] as unknown[]).length).toBe(2);
    expect((lists["idx:payments:customer:bob"] as unknown[]).length).toBe(1);
    expect(Object.keys(lists).some((key) => key.includes("paymenttoken"))).toBe(false);
    const mypage = await dumpLive(redis, keyRoot, "mypage");
    expect((mypage["idx:customer:alice"] as unknown[]).length).toBe(3);
  });

  it("are idempotent: every event applied twice gives the same state as once", async () => {
    const log = SyntheticLog.sample();
    const once = root("once");
    const twice = root("twice");
    await project(log.events, once, log);
    await project(
      log.events.flatMap((event) => [event, event]),
      twice,
      log,
    );
    expect(await dumpAll(twice)).toEqual(await dumpAll(once));
  });

  it("are order-safe: an older event after a newer one changes nothing", async () => {
    const log = SyntheticLog.sample();
    const keyRoot = root("older");
    await project(log.events, keyRoot, log);
    const before = await dumpAll(keyRoot);
    // Every event again, newest first: each is now older than what its document has seen.
    await project([...log.events].reverse(), keyRoot, log);
    expect(await dumpAll(keyRoot)).toEqual(before);
  });

  it("give the same state whatever the delivery order, filling gaps from the log", async () => {
    const log = SyntheticLog.sample();
    const ordered = root("ordered");
    await project(log.events, ordered, log);
    const expected = await dumpAll(ordered);
    for (const seed of [1, 7, 42]) {
      const keyRoot = root(`shuffled-${seed}`);
      const reader = log.reader();
      const consumers = createProjectionConsumers({ redis, logger: silentLogger(), reader, keyRoot });
      for (const event of shuffled(log.events, seed)) {
        for (const consumer of consumers) {
          if (consumer.streamPrefixes.some((prefix) => event.streamId.startsWith(prefix))) await consumer.handle(consumed(event));
        }
      }
      expect(reader.reads).toBeGreaterThan(0);
      expect(await dumpAll(keyRoot), `seed ${seed}`).toEqual(expected);
    }
  });

  it("without a log to read, leave a gap for a retry (TransientError) instead of skipping an event", async () => {
    const log = SyntheticLog.sample();
    const keyRoot = root("gap");
    const consumer = projectionConsumer(PROJECTIONS.lists, { redis, logger: silentLogger(), keyRoot });
    const stream = log.stream(log.events.find((event) => event.type === "ReservationCancelled")?.streamId ?? "");
    const [placed, , cancelled] = stream;
    if (!placed || !cancelled) throw new Error("sample has no cancelled reservation");
    await consumer.handle(consumed(placed));
    const error = await consumer.handle(consumed(cancelled)).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(TransientError);
    expect(isTransientFailure(error)).toBe(true);
    for (const event of stream) await consumer.handle(consumed(event));
    const lists = await dumpLive(redis, keyRoot, "lists");
    const doc = lists[`doc:reservation:${placed.streamId.slice("reservation-".length)}`] as { d: { reservation: { status: string } } };
    expect(doc.d.reservation.status).toBe("cancelled");
  });

  it("stay consistent under competing consumers in two processes (two connections, concurrent, any order)", async () => {
    const log = SyntheticLog.sample();
    // More contention: many events on one product and one customer's page.
    const product = log.product({ capacity: 1000 });
    for (let i = 0; i < 20; i += 1) {
      const id = log.place(product, "dana", 1);
      log.requestPayment(id, "dana", 50_000);
      log.pay(id, product.productId, 1);
    }
    const sequential = root("sequential");
    await project(log.events, sequential, log);
    const expected = await dumpAll(sequential);

    const keyRoot = root("competing");
    const a = createProjectionConsumers({ redis, logger: silentLogger(), reader: log.reader(), keyRoot });
    const b = createProjectionConsumers({ redis: other, logger: silentLogger(), reader: log.reader(), keyRoot });
    const run = async (consumers: typeof a, events: readonly SourceEvent[]) => {
      for (const event of events) {
        await Promise.all(
          consumers
            .filter((consumer) => consumer.streamPrefixes.some((prefix) => event.streamId.startsWith(prefix)))
            .map((consumer) => consumer.handle(consumed(event))),
        );
      }
    };
    // Both "processes" get every event (redelivery across consumers), in different orders, at once.
    await Promise.all([run(a, shuffled(log.events, 3)), run(b, shuffled(log.events, 11)), run(a, log.events)]);
    expect(await dumpAll(keyRoot)).toEqual(expected);
  });

  it("write the version a rebuild is building as well as the live one", async () => {
    const log = SyntheticLog.sample();
    const keyRoot = root("dual");
    const keys = new ProjectionKeys("mypage", keyRoot);
    await redis.set(keys.live, "v1");
    await redis.set(keys.building, "v2");
    await project(log.events, keyRoot, log);
    const live = await dumpVersion(redis, keyRoot, "mypage", "v1");
    expect(Object.keys(live).length).toBeGreaterThan(0);
    expect(await dumpVersion(redis, keyRoot, "mypage", "v2")).toEqual(live);
  });

  it("refuse to write a version that is neither live nor being built", async () => {
    const log = SyntheticLog.sample();
    const keyRoot = root("retired");
    const keys = new ProjectionKeys("lists", keyRoot);
    await redis.set(keys.live, "v5");
    const writer = new ProjectionWriter(redis, PROJECTIONS.lists, keys, { reader: log.reader() });
    expect(await writer.apply("v4", log.events)).toEqual({ written: 0, retired: true });
    expect(await dumpVersion(redis, keyRoot, "lists", "v4")).toEqual({});
  });

  it("applies a batch grouped per document, equal to one event at a time", async () => {
    const log = SyntheticLog.sample();
    const single = root("single");
    await project(log.events, single, log);
    const batched = root("batched");
    for (const name of PROJECTION_NAMES) {
      const keys = new ProjectionKeys(name, batched);
      await redis.set(keys.live, "v0");
      const writer = new ProjectionWriter(redis, PROJECTIONS[name], keys);
      for (let i = 0; i < log.events.length; i += 7) await writer.apply("v0", log.events.slice(i, i + 7));
    }
    expect(await dumpAll(batched)).toEqual(await dumpAll(single));
  });
});

describe("projection consumers while Redis is down", () => {
  it("fail transiently, so the event is retried and never lost", async () => {
    const dead = deadRedis();
    try {
      const log = SyntheticLog.sample();
      for (const consumer of createProjectionConsumers({
        redis: dead,
        logger: silentLogger(),
        reader: log.reader(),
        keyRoot: uniqueRoot("down"),
      })) {
        const event = log.events.find((candidate) => consumer.streamPrefixes.some((prefix) => candidate.streamId.startsWith(prefix)));
        if (!event) continue;
        const error = await consumer.handle(consumed(event)).catch((caught: unknown) => caught);
        expect(error, consumer.group).toBeInstanceOf(TransientError);
        expect(isTransientFailure(error)).toBe(true);
      }
    } finally {
      dead.disconnect();
    }
  });

  it("are named one group per projection, with their stream prefixes", () => {
    const consumers = createProjectionConsumers({ redis, logger: silentLogger() });
    expect(consumers.map((consumer) => [consumer.group, consumer.streamPrefixes])).toEqual([
      ["projection-mypage", ["reservation-", "payment-"]],
      ["projection-lists", ["product-", "reservation-", "payment-"]],
      ["projection-notifications", ["notification-"]],
    ]);
  });
});
