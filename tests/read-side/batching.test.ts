/**
 * Projection consumers apply the events ready together in one batch: one read of the pointers,
 * one MGET of the documents and one pipeline of check-and-set scripts, whatever the number of
 * events — and the outcome equals applying them one at a time (also when redelivered, or mixed
 * with events already applied). Round trips are counted with a wrapped client, not MONITOR.
 */
import type { Redis } from "ioredis";
import { describe, expect, it } from "vitest";
import { createProjectionConsumers, projectionConsumer } from "../../projections/consumers.js";
import { PROJECTIONS } from "../../projections/definitions/index.js";
import { type ProjectionName, ProjectionKeys } from "../../projections/keys.js";
import type { Consumer } from "../../src/infrastructure/eventstore/consumer-group.js";
import { consumed, dumpAllLive, dumpLive, silentLogger, SyntheticLog, useKeyRoots } from "./support.js";

let redis: Redis;
const root = useKeyRoots((connected) => (redis = connected));

/** Methods of the client that do not talk to Redis. */
const LOCAL = new Set(["defineCommand", "on", "once", "off", "removeListener", "emit", "listeners", "duplicate"]);

interface Counted {
  readonly client: Redis;
  /** One entry per round trip: the command, or `pipeline(n)` for a pipeline of n commands. */
  readonly trips: string[];
}

/** The client with every round trip recorded; a pipeline counts once, at exec. */
const counting = (target: Redis): Counted => {
  const trips: string[] = [];
  const client = new Proxy(target, {
    get(object, property, receiver) {
      const value: unknown = Reflect.get(object, property, receiver);
      if (typeof value !== "function" || typeof property !== "string" || LOCAL.has(property)) return value;
      const method = value as (...args: unknown[]) => unknown;
      if (property === "pipeline" || property === "multi") {
        return (...args: unknown[]) => {
          const pipeline = method.apply(object, args) as { exec: () => Promise<unknown>; length: number };
          const exec = pipeline.exec.bind(pipeline);
          pipeline.exec = () => {
            trips.push(`${property}(${pipeline.length})`);
            return exec();
          };
          return pipeline;
        };
      }
      return (...args: unknown[]) => {
        trips.push(property);
        return method.apply(object, args);
      };
    },
  });
  return { client, trips };
};

const relevant = (consumer: Consumer, log: SyntheticLog) =>
  log.events.filter((event) => consumer.streamPrefixes.some((prefix) => event.streamId.startsWith(prefix)));

const dumpAll = (keyRoot: string): Promise<Record<ProjectionName, Record<string, unknown>>> => dumpAllLive(redis, keyRoot);

describe("batched projection consumers", () => {
  it("write every document a batch touches with one pipeline: three round trips for the whole batch", async () => {
    const log = SyntheticLog.sample();
    const keyRoot = root("trips");
    const { client, trips } = counting(redis);
    await redis.set(new ProjectionKeys("lists", keyRoot).live, "v0");
    const consumer = projectionConsumer(PROJECTIONS.lists, { redis: client, logger: silentLogger(), reader: log.reader(), keyRoot });
    const events = relevant(consumer, log);
    const documents = new Set(events.map((event) => PROJECTIONS.lists.documentOf(event.streamId)));
    expect(events.length).toBeGreaterThan(documents.size); // several events per document

    await consumer.batch?.handle(events.map((event) => consumed(event)));
    // The pointers, the documents, then one script call per document in one pipeline.
    expect(trips).toEqual(["mget", "mget", `pipeline(${documents.size})`]);

    // One at a time, the same events cost at least three round trips each.
    const single = counting(redis);
    const singleRoot = root("trips-single");
    await redis.set(new ProjectionKeys("lists", singleRoot).live, "v0");
    const one = projectionConsumer(PROJECTIONS.lists, {
      redis: single.client,
      logger: silentLogger(),
      reader: log.reader(),
      keyRoot: singleRoot,
    });
    for (const event of events) await one.handle(consumed(event));
    expect(single.trips.length).toBeGreaterThanOrEqual(3 * events.length);
    expect(await dumpLive(redis, keyRoot, "lists")).toEqual(await dumpLive(redis, singleRoot, "lists"));
  });

  it("give the same state in batches of any size as one event at a time, also when redelivered and out of order", async () => {
    const log = SyntheticLog.sample();
    const product = log.product({ capacity: 100 });
    for (let i = 0; i < 8; i += 1) {
      const id = log.place(product, i % 2 === 0 ? "erin" : "frank", 1);
      log.requestPayment(id, i % 2 === 0 ? "erin" : "frank", 10_000);
      log.pay(id, product.productId, 1);
    }
    const single = root("one-by-one");
    for (const consumer of createProjectionConsumers({ redis, logger: silentLogger(), reader: log.reader(), keyRoot: single })) {
      for (const event of relevant(consumer, log)) await consumer.handle(consumed(event));
    }
    const expected = await dumpAll(single);

    for (const size of [2, 5, 64]) {
      const keyRoot = root(`batches-${size}`);
      for (const consumer of createProjectionConsumers({ redis, logger: silentLogger(), reader: log.reader(), keyRoot })) {
        const events = relevant(consumer, log);
        // Every event twice, the second pass newest first: redeliveries and older-after-newer.
        const deliveries = [...events, ...[...events].reverse()];
        for (let i = 0; i < deliveries.length; i += size) {
          await consumer.batch?.handle(deliveries.slice(i, i + size).map((event) => consumed(event)));
        }
      }
      expect(await dumpAll(keyRoot), `batches of ${size}`).toEqual(expected);
    }
  });

  it("a redelivered batch writes nothing", async () => {
    const log = SyntheticLog.sample();
    const keyRoot = root("again");
    await redis.set(new ProjectionKeys("mypage", keyRoot).live, "v0");
    const { client, trips } = counting(redis);
    const consumer = projectionConsumer(PROJECTIONS.mypage, { redis: client, logger: silentLogger(), reader: log.reader(), keyRoot });
    const events = relevant(consumer, log).map((event) => consumed(event));
    await consumer.batch?.handle(events);
    trips.splice(0);
    await consumer.batch?.handle(events);
    expect(trips).toEqual(["mget", "mget"]);
  });

  it("key events by document, so one document's events keep their order across reservation and payment streams", () => {
    const [consumer] = createProjectionConsumers({ redis, logger: silentLogger() }, ["mypage"]);
    const id = "0b0b0b0b-0000-4000-8000-000000000001";
    const key = (streamId: string) => consumer?.ordering?.keyOf(consumed({ eventId: "e", streamId, revision: 0, type: "X", data: {} }));
    expect(key(`reservation-${id}`)).toBe(key(`payment-${id}`));
    expect(key(`reservation-${id}`)).not.toBe(key("reservation-0b0b0b0b-0000-4000-8000-000000000002"));
  });
});
