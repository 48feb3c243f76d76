/**
 * Persistent subscriptions with several consumers: RoundRobin shares events, DispatchToSingle sends to
 * one consumer while it has capacity (`DispatchToSinglePersistentSubscriptionConsumerStrategy` keeps
 * pushing to the head of its client queue), and the in-flight messages of a consumer that goes away are
 * retried (retryCount + 1) and handed to the remaining consumers
 * (`PersistentSubscription.RemoveClientByCorrelationId` -> `RetryMessage`).
 */
import { describe, expect, it } from "vitest";
import {
  DISPATCH_TO_SINGLE,
  PersistentSubscriptionMaximumSubscribersReachedError,
  ROUND_ROBIN,
  START,
  persistentSubscriptionToStreamSettingsFromDefaults,
  type EventStoreDBClient,
  type PersistentSubscriptionToStream,
  type PersistentSubscriptionToStreamResolvedEvent,
} from "@eventstore/db-client";
import {
  readStreamEvents,
  record,
  testEvents,
  uniqueGroup,
  uniqueStream,
  useEventStore,
  waitFor,
  type SubscriptionLog,
} from "./support.js";

const es = useEventStore();

type Delivery = PersistentSubscriptionToStreamResolvedEvent;

function connect(
  client: EventStoreDBClient,
  stream: string,
  group: string,
  ack = true,
): { subscription: PersistentSubscriptionToStream; log: SubscriptionLog<Delivery> } {
  const subscription = client.subscribeToPersistentSubscriptionToStream(stream, group);
  const log = record<Delivery>(subscription, ack ? (e) => subscription.ack(e) : undefined);
  return { subscription, log };
}

async function connectionsOf(client: EventStoreDBClient, stream: string, group: string): Promise<number> {
  return (await client.getPersistentSubscriptionToStreamInfo(stream, group)).connections.length;
}

type Consumer = ReturnType<typeof connect>;

/**
 * A fresh stream whose group uses `strategy`, with two consumers on separate clients (so that the
 * server sees two connections) both connected before `body` runs; always disconnects and deletes the group.
 */
async function withTwoConsumers(
  prefix: string,
  strategy: typeof ROUND_ROBIN | typeof DISPATCH_TO_SINGLE,
  body: (setup: { client: EventStoreDBClient; stream: string; a: Consumer; b: Consumer }) => Promise<void>,
): Promise<void> {
  const { client, newClient } = es();
  const stream = uniqueStream(prefix);
  const group = uniqueGroup();
  await client.createPersistentSubscriptionToStream(
    stream,
    group,
    persistentSubscriptionToStreamSettingsFromDefaults({ startFrom: START, consumerStrategyName: strategy }),
  );
  const a = connect(client, stream, group);
  const b = connect(newClient(), stream, group);
  try {
    await waitFor(async () => (await connectionsOf(client, stream, group)) === 2, { what: "2 connections" });
    await body({ client, stream, a, b });
  } finally {
    await a.subscription.unsubscribe();
    await b.subscription.unsubscribe();
    await client.deletePersistentSubscriptionToStream(stream, group);
  }
}

describe("persistent subscription consumer strategies", () => {
  it("RoundRobin: two consumers share the events; each event goes to exactly one of them", async () => {
    await withTwoConsumers("ps-rr", ROUND_ROBIN, async ({ client, stream, a, b }) => {
      const events = testEvents(10);
      await client.appendToStream(stream, events);
      await waitFor(() => a.log.events.length + b.log.events.length >= 10, { what: "10 deliveries" });
      expect(a.log.events.length).toBeGreaterThan(0);
      expect(b.log.events.length).toBeGreaterThan(0);
      const ids = [...a.log.events, ...b.log.events].map((e) => e.event!.id);
      expect(new Set(ids).size).toBe(10);
      expect([...ids].sort()).toEqual(events.map((e) => e.id).sort());
      expect([...a.log.events, ...b.log.events].every((e) => e.retryCount === 0)).toBe(true);
    });
  });

  it("DispatchToSingle: with capacity to spare, one consumer gets every event", async () => {
    await withTwoConsumers("ps-single", DISPATCH_TO_SINGLE, async ({ client, stream, a, b }) => {
      const events = testEvents(5); // fewer than the default consumer buffer (bufferSize 10)
      await client.appendToStream(stream, events);
      await waitFor(() => a.log.events.length + b.log.events.length >= 5, { what: "5 deliveries" });
      const counts = [a.log.events.length, b.log.events.length].sort();
      expect(counts).toEqual([0, 5]);
      const receiver = a.log.events.length === 5 ? a : b;
      expect(receiver.log.events.map((e) => e.event?.id)).toEqual(events.map((e) => e.id));
    });
  });

  it("maxSubscriberCount: a consumer over the limit is refused", async () => {
    const { client } = es();
    const stream = uniqueStream("ps-max");
    const group = uniqueGroup();
    await client.createPersistentSubscriptionToStream(
      stream,
      group,
      persistentSubscriptionToStreamSettingsFromDefaults({ startFrom: START, maxSubscriberCount: 1 }),
    );
    const a = connect(client, stream, group);
    const b = connect(client, stream, group);
    try {
      await waitFor(() => b.log.errors.length > 0 || a.log.errors.length > 0, { what: "one consumer refused" });
      const refused = [...a.log.errors, ...b.log.errors];
      expect(refused).toHaveLength(1);
      expect(refused[0]).toBeInstanceOf(PersistentSubscriptionMaximumSubscribersReachedError);
      expect(await connectionsOf(client, stream, group)).toBe(1);
    } finally {
      await a.subscription.unsubscribe();
      await b.subscription.unsubscribe();
      await client.deletePersistentSubscriptionToStream(stream, group);
    }
  });
});

describe("flow control", () => {
  it("a consumer never holds more unacked messages than its bufferSize; acking frees the slots", async () => {
    const { client } = es();
    const stream = uniqueStream("ps-buffer");
    const group = uniqueGroup();
    await client.appendToStream(stream, testEvents(5));
    await client.createPersistentSubscriptionToStream(
      stream,
      group,
      persistentSubscriptionToStreamSettingsFromDefaults({ startFrom: START }),
    );
    const subscription = client.subscribeToPersistentSubscriptionToStream(stream, group, { bufferSize: 2 });
    const log = record<Delivery>(subscription);
    try {
      await waitFor(() => log.events.length >= 2, { what: "2 deliveries" });
      const info = await waitFor(
        async () => {
          const i = await client.getPersistentSubscriptionToStreamInfo(stream, group);
          return i.connections[0]?.inFlightMessages === 2 ? i : undefined;
        },
        { what: "2 messages in flight" },
      );
      expect(info.connections[0]!.availableSlots).toBe(0);
      expect(log.events.map((e) => e.event?.revision)).toEqual([0n, 1n]);

      await subscription.ack(...log.events);
      await waitFor(() => log.events.length >= 4, { what: "2 more deliveries" });
      expect(log.events.map((e) => e.event?.revision)).toEqual([0n, 1n, 2n, 3n]);
      await subscription.ack(...log.events.slice(2));
      await waitFor(() => log.events.length >= 5, { what: "the last delivery" });
      expect(log.events.map((e) => e.event?.revision)).toEqual([0n, 1n, 2n, 3n, 4n]);
    } finally {
      await subscription.unsubscribe();
      await client.deletePersistentSubscriptionToStream(stream, group);
    }
  });
});

describe("a consumer that disconnects mid-subscription", () => {
  it("its unacked events are redelivered (retryCount >= 1) to another consumer, and the server keeps serving", async () => {
    const { client, newClient } = es();
    const stream = uniqueStream("ps-disconnect");
    const group = uniqueGroup();
    const events = testEvents(3);
    await client.appendToStream(stream, events);
    await client.createPersistentSubscriptionToStream(
      stream,
      group,
      persistentSubscriptionToStreamSettingsFromDefaults({ startFrom: START }),
    );

    const leaving = newClient();
    const quitter = connect(leaving, stream, group, false);
    // the leaving client also has a catch-up subscription open
    const catchUp = leaving.subscribeToStream(stream, { fromRevision: START });
    const catchUpLog = record(catchUp);
    await waitFor(() => quitter.log.events.length >= 3 && catchUpLog.caughtUp, { what: "deliveries to the leaving consumer" });
    await leaving.dispose();

    const stayer = connect(client, stream, group);
    try {
      await waitFor(() => stayer.log.events.length >= 3, { what: "the redeliveries" });
      expect(stayer.log.events.map((e) => e.event?.id)).toEqual(events.map((e) => e.id));
      expect(stayer.log.events.every((e) => e.retryCount >= 1)).toBe(true);

      // and the server still serves everyone else
      const more = await client.appendToStream(stream, testEvents(1));
      expect(more.nextExpectedRevision).toBe(3n);
      expect(await readStreamEvents(client, stream)).toHaveLength(4);
      await waitFor(() => stayer.log.events.length >= 4, { what: "the live event" });
      await waitFor(async () => (await connectionsOf(client, stream, group)) === 1, { what: "only the remaining consumer" });
    } finally {
      await stayer.subscription.unsubscribe();
      await client.deletePersistentSubscriptionToStream(stream, group);
    }
  });
});
