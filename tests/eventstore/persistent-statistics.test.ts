/**
 * Statistics of a persistent subscription's connections, as an insecure EventStoreDB 24.10 node
 * reports them (`PersistentSubscriptionStats.GetStatistics`, `RequestStatistics`,
 * `PersistentSubscriptionClient`):
 * - the user name is the one the connection authenticated as: "system" on an insecure node
 *   (`PassthroughAuthenticationProvider` authenticates everyone as the system account);
 * - with `extraStatistics`, each connection reports the time from handing a message out to its
 *   ack/nack over its last 1,000 messages, in whole milliseconds: Mean, Median, Fastest, Quintile 1-5,
 *   90%, 95%, 99%, 99.5%, 99.9%, Highest (the client lower-cases the keys); without it, none;
 * - counts "since last measurement" cover the time since statistics were last asked for.
 */
import { describe, expect, it } from "vitest";
import {
  START,
  persistentSubscriptionToStreamSettingsFromDefaults,
  type ExtraStatisticsKey,
  type PersistentSubscriptionToStreamResolvedEvent,
} from "@eventstore/db-client";
import { record, sleep, testEvents, uniqueGroup, uniqueStream, useEventStore, waitFor } from "./support.js";

const es = useEventStore();

const LATENCY_KEYS: ExtraStatisticsKey[] = [
  "mean",
  "median",
  "fastest",
  "quintile 1",
  "quintile 2",
  "quintile 3",
  "quintile 4",
  "quintile 5",
  "90%",
  "95%",
  "99%",
  "99.5%",
  "99.9%",
  "highest",
];

/** Creates a group on a fresh stream of `count` events and connects one consumer that acks each after `ackAfterMs`. */
async function consumeAll(extraStatistics: boolean, count: number, ackAfterMs: number) {
  const { client } = es();
  const stream = uniqueStream("ps-stats");
  const group = uniqueGroup();
  await client.appendToStream(stream, testEvents(count));
  await client.createPersistentSubscriptionToStream(
    stream,
    group,
    persistentSubscriptionToStreamSettingsFromDefaults({ startFrom: START, extraStatistics }),
  );
  const subscription = client.subscribeToPersistentSubscriptionToStream(stream, group);
  const log = record<PersistentSubscriptionToStreamResolvedEvent>(subscription, async (event) => {
    await sleep(ackAfterMs);
    await subscription.ack(event);
  });
  const info = await waitFor(
    async () => {
      const current = await client.getPersistentSubscriptionToStreamInfo(stream, group);
      return log.events.length >= count && current.connections[0]?.inFlightMessages === 0 ? current : undefined;
    },
    { what: `${count} messages acked` },
  );
  return { client, stream, group, subscription, info };
}

describe("persistent subscription connection statistics", () => {
  it("names the connection's user as an insecure node does, and counts since the last measurement", async () => {
    const { client, stream, group, subscription, info } = await consumeAll(false, 3, 0);
    try {
      const [connection] = info.connections;
      expect(connection?.username).toBe("system");
      expect(connection?.totalItems).toBe(3n);
      // Asking again measures from the last ask: nothing was handed out since.
      const again = await client.getPersistentSubscriptionToStreamInfo(stream, group);
      expect(again.connections[0]?.countSinceLastMeasurement).toBe(0n);
      expect(again.stats.countSinceLastMeasurement).toBe(0n);
      expect(again.connections[0]?.totalItems).toBe(3n);
      // No extra statistics were asked for.
      expect(connection?.extraStatistics === undefined || connection.extraStatistics.size === 0).toBe(true);
    } finally {
      await subscription.unsubscribe();
      await client.deletePersistentSubscriptionToStream(stream, group);
    }
  });

  it("with extraStatistics, reports each connection's ack latencies: mean, median, fastest, quintiles and high percentiles", async () => {
    const { client, stream, group, subscription, info } = await consumeAll(true, 5, 30);
    try {
      const statistics = info.connections[0]?.extraStatistics;
      expect(statistics).toBeDefined();
      expect([...statistics!.keys()].sort()).toEqual([...LATENCY_KEYS].sort());
      const value = (key: ExtraStatisticsKey): bigint => statistics!.get(key) ?? -1n;
      // Each message was held ~30 ms before its ack.
      expect(value("fastest")).toBeGreaterThanOrEqual(20n);
      expect(value("fastest")).toBeLessThanOrEqual(value("median"));
      expect(value("median")).toBeLessThanOrEqual(value("highest"));
      expect(value("quintile 1")).toBe(value("fastest"));
      expect(value("99.9%")).toBe(value("highest"));
    } finally {
      await subscription.unsubscribe();
      await client.deletePersistentSubscriptionToStream(stream, group);
    }
  });
});
