/**
 * Persistent subscriptions to a stream: delivery, ack, nack (retry / park / skip), maxRetryCount,
 * message timeout, parked messages and their replay.
 *
 * Server semantics (EventStore 24.10 `PersistentSubscription.cs`):
 * - nack Retry: redelivered with retryCount + 1 (`OutstandingMessage.ForRetriedEvent`), unless
 *   retryCount >= maxRetryCount, then parked (`ActionTakenForRetriedMessage`). So with maxRetryCount N
 *   a message is delivered N + 1 times (retryCount 0..N) before it is parked.
 * - nack Park: a `$>` link (data `<revision>@<stream>`, JSON metadata with `reason`) is appended to
 *   `$persistentsubscription-<stream>::<group>-parked` (`PersistentSubscriptionMessageParker`).
 * - nack Skip: forgotten.
 * - Message timeout: checked on the 1 s timer tick; an expired message is retried like a nack Retry.
 * - replayParkedMessages: parked events are delivered again (as new messages, retryCount 0).
 */
import { describe, expect, it } from "vitest";
import {
  END,
  PARK,
  RETRY,
  SKIP,
  START,
  StreamNotFoundError,
  binaryEvent,
  persistentSubscriptionToStreamSettingsFromDefaults,
  type EventStoreDBClient,
  type PersistentSubscriptionToStream,
  type PersistentSubscriptionToStreamResolvedEvent,
  type PersistentSubscriptionToStreamSettings,
} from "@eventstore/db-client";
import {
  readStreamEvents,
  record,
  rejectionOf,
  testEvents,
  uniqueGroup,
  uniqueStream,
  useEventStore,
  waitFor,
  type SubscriptionLog,
} from "./support.js";

const es = useEventStore();

type Delivery = PersistentSubscriptionToStreamResolvedEvent;

const parkedStreamOf = (stream: string, group: string) => `$persistentsubscription-${stream}::${group}-parked`;

/** Creates the group (from START unless overridden) and connects one consumer running `handle`. */
async function consume(
  client: EventStoreDBClient,
  stream: string,
  group: string,
  settings: Partial<PersistentSubscriptionToStreamSettings>,
  handle: (subscription: PersistentSubscriptionToStream, event: Delivery) => Promise<void>,
): Promise<{ subscription: PersistentSubscriptionToStream; log: SubscriptionLog<Delivery> }> {
  await client.createPersistentSubscriptionToStream(
    stream,
    group,
    persistentSubscriptionToStreamSettingsFromDefaults({ startFrom: START, ...settings }),
  );
  const subscription = client.subscribeToPersistentSubscriptionToStream(stream, group);
  const log = record<Delivery>(subscription, (event) => handle(subscription, event));
  return { subscription, log };
}

/** the events of a stream, once it has some (StreamNotFoundError / empty -> keep polling) */
const nonEmpty = (client: EventStoreDBClient, stream: string) => async () => {
  const events = await readStreamEvents(client, stream, { resolveLinkTos: true });
  return events.length > 0 ? events : undefined;
};

const retryCountsOf = (log: SubscriptionLog<Delivery>, id: string) => log.events.filter((e) => e.event?.id === id).map((e) => e.retryCount);

describe("persistent subscription to a stream: consuming", () => {
  it("delivers history from START in order with retryCount 0, then live events; acked events leave no outstanding messages", async () => {
    const { client } = es();
    const stream = uniqueStream("ps-ack");
    const group = uniqueGroup();
    const history = testEvents(5);
    await client.appendToStream(stream, history);
    const { subscription, log } = await consume(client, stream, group, {}, (s, e) => s.ack(e));
    try {
      await waitFor(() => log.events.length >= 5, { what: "5 events" });
      const live = testEvents(2, "Live");
      await client.appendToStream(stream, live);
      await waitFor(() => log.events.length >= 7, { what: "7 events" });
      expect(log.errors).toEqual([]);
      expect(log.events.map((e) => e.event?.id)).toEqual([...history, ...live].map((e) => e.id));
      expect(log.events.map((e) => e.event?.revision)).toEqual([0n, 1n, 2n, 3n, 4n, 5n, 6n]);
      expect(log.events.every((e) => e.retryCount === 0)).toBe(true);
      expect(log.events.every((e) => e.event?.streamId === stream)).toBe(true);

      const info = await waitFor(
        async () => {
          const i = await client.getPersistentSubscriptionToStreamInfo(stream, group);
          return i.stats.outstandingMessagesCount === 0 && i.stats.totalInFlightMessages === 0 ? i : undefined;
        },
        { what: "no outstanding messages" },
      );
      expect(info.stats.totalItems).toBe(7n);
      expect(info.stats.lastKnownEventRevision).toBe(6n);
      expect(info.connections).toHaveLength(1);
      expect(info.connections[0]!.connectionName).toBe(client.connectionName);
      expect(info.connections[0]!.totalItems).toBe(7n);
    } finally {
      await subscription.unsubscribe();
      await client.deletePersistentSubscriptionToStream(stream, group);
    }
  });

  it("from END delivers only events appended after the group was created", async () => {
    const { client } = es();
    const stream = uniqueStream("ps-end");
    const group = uniqueGroup();
    await client.appendToStream(stream, testEvents(3, "Old"));
    const { subscription, log } = await consume(client, stream, group, { startFrom: END }, (s, e) => s.ack(e));
    try {
      await waitFor(() => log.confirmed, { what: "confirmation" });
      const fresh = testEvents(2, "New");
      await client.appendToStream(stream, fresh);
      await waitFor(() => log.events.length >= 2, { what: "2 new events" });
      expect(log.events.map((e) => e.event?.id)).toEqual(fresh.map((e) => e.id));
      expect(log.events.map((e) => e.event?.revision)).toEqual([3n, 4n]);
    } finally {
      await subscription.unsubscribe();
      await client.deletePersistentSubscriptionToStream(stream, group);
    }
  });

  it("from a revision starts AT that revision", async () => {
    const { client } = es();
    const stream = uniqueStream("ps-rev");
    const group = uniqueGroup();
    await client.appendToStream(stream, testEvents(5));
    const { subscription, log } = await consume(client, stream, group, { startFrom: 2n }, (s, e) => s.ack(e));
    try {
      await waitFor(() => log.events.length >= 3, { what: "3 events" });
      expect(log.events.map((e) => e.event?.revision)).toEqual([2n, 3n, 4n]);
    } finally {
      await subscription.unsubscribe();
      await client.deletePersistentSubscriptionToStream(stream, group);
    }
  });

  it("nack RETRY redelivers the event with retryCount 1", async () => {
    const { client } = es();
    const stream = uniqueStream("ps-retry");
    const group = uniqueGroup();
    const [target, ...rest] = testEvents(3);
    await client.appendToStream(stream, [target!, ...rest]);
    const { subscription, log } = await consume(client, stream, group, {}, async (s, e) => {
      if (e.event?.id === target!.id && e.retryCount === 0) await s.nack(RETRY, "try again", e);
      else await s.ack(e);
    });
    try {
      await waitFor(() => retryCountsOf(log, target!.id).length >= 2, { what: "the redelivery" });
      expect(retryCountsOf(log, target!.id)).toEqual([0, 1]);
      expect(log.errors).toEqual([]);
    } finally {
      await subscription.unsubscribe();
      await client.deletePersistentSubscriptionToStream(stream, group);
    }
  });

  it("nack PARK writes a link to the parked stream; replayParkedMessages delivers the event again", async () => {
    const { client } = es();
    const stream = uniqueStream("ps-park");
    const group = uniqueGroup();
    const events = testEvents(3);
    const target = events[1]!;
    await client.appendToStream(stream, events);
    let parkedOnce = false;
    const { subscription, log } = await consume(client, stream, group, {}, async (s, e) => {
      if (e.event?.id === target.id && !parkedOnce) {
        parkedOnce = true;
        await s.nack(PARK, "cannot handle this", e);
      } else {
        await s.ack(e);
      }
    });
    try {
      await waitFor(() => log.events.length >= 3, { what: "3 deliveries" });
      const parkedStream = parkedStreamOf(stream, group);
      const [parked] = await waitFor(nonEmpty(client, parkedStream), {
        what: `an event in ${parkedStream}`,
      });
      expect(parked!.event?.id).toBe(target.id);
      expect(parked!.event?.streamId).toBe(stream);
      expect(parked!.event?.revision).toBe(1n);
      expect(parked!.link?.type).toBe("$>");
      expect(parked!.link?.streamId).toBe(parkedStream);
      expect(Buffer.from(parked!.link!.data).toString("utf8")).toBe(`1@${stream}`);
      expect(JSON.stringify(parked!.link?.metadata)).toContain("cannot handle this");

      const [unresolved] = await readStreamEvents(client, parkedStream);
      expect(unresolved!.event?.type).toBe("$>");
      expect(unresolved!.link).toBeUndefined();

      await waitFor(async () => (await client.getPersistentSubscriptionToStreamInfo(stream, group)).stats.parkedMessageCount === 1n, {
        what: "parkedMessageCount 1",
      });

      await client.replayParkedMessagesToStream(stream, group);
      await waitFor(() => log.events.filter((e) => e.event?.id === target.id).length >= 2, { what: "the replayed event" });
      const replayed = log.events.filter((e) => e.event?.id === target.id)[1]!;
      expect(replayed.event?.revision).toBe(1n);
      expect(replayed.event?.streamId).toBe(stream);
      expect(log.errors).toEqual([]);
    } finally {
      await subscription.unsubscribe();
      await client.deletePersistentSubscriptionToStream(stream, group);
    }
  });

  it("after maxRetryCount retries the event is parked (maxRetryCount 2 -> delivered with retryCount 0, 1, 2)", async () => {
    const { client } = es();
    const stream = uniqueStream("ps-maxretry");
    const group = uniqueGroup();
    const [poison] = testEvents(1, "Poison");
    await client.appendToStream(stream, poison!);
    const { subscription, log } = await consume(client, stream, group, { maxRetryCount: 2 }, (s, e) => s.nack(RETRY, "always failing", e));
    try {
      const parkedStream = parkedStreamOf(stream, group);
      const [parked] = await waitFor(nonEmpty(client, parkedStream), {
        what: `the poison event in ${parkedStream}`,
      });
      expect(parked!.event?.id).toBe(poison!.id);
      expect(retryCountsOf(log, poison!.id)).toEqual([0, 1, 2]);
    } finally {
      await subscription.unsubscribe();
      await client.deletePersistentSubscriptionToStream(stream, group);
    }
  });

  it("nack SKIP drops the event: it is not redelivered and not parked", async () => {
    const { client } = es();
    const stream = uniqueStream("ps-skip");
    const group = uniqueGroup();
    const [skipped, ...rest] = testEvents(3);
    await client.appendToStream(stream, [skipped!, ...rest]);
    const { subscription, log } = await consume(client, stream, group, {}, async (s, e) => {
      if (e.event?.id === skipped!.id) await s.nack(SKIP, "not interested", e);
      else await s.ack(e);
    });
    try {
      await waitFor(() => log.events.length >= 3, { what: "3 deliveries" });
      // a later event is delivered after the skip was processed; the skipped one was still seen once only
      await client.appendToStream(stream, testEvents(1, "Later"));
      await waitFor(() => log.events.some((e) => e.event?.type === "Later"), { what: "the later event" });
      expect(retryCountsOf(log, skipped!.id)).toEqual([0]);
      const error = await rejectionOf(readStreamEvents(client, parkedStreamOf(stream, group)));
      expect(error).toBeInstanceOf(StreamNotFoundError);
      const info = await client.getPersistentSubscriptionToStreamInfo(stream, group);
      expect(info.stats.parkedMessageCount).toBe(0n);
    } finally {
      await subscription.unsubscribe();
      await client.deletePersistentSubscriptionToStream(stream, group);
    }
  });

  it("an event that is not acked within messageTimeout is redelivered with retryCount 1", async () => {
    const { client } = es();
    const stream = uniqueStream("ps-timeout");
    const group = uniqueGroup();
    const [slow] = testEvents(1, "Slow");
    await client.appendToStream(stream, slow!);
    const { subscription, log } = await consume(client, stream, group, { messageTimeout: 1_000 }, async (s, e) => {
      if (e.retryCount > 0) await s.ack(e); // ignore the first delivery
    });
    try {
      await waitFor(() => retryCountsOf(log, slow!.id).length >= 2, { what: "the redelivery after the timeout", timeoutMs: 20_000 });
      expect(retryCountsOf(log, slow!.id).slice(0, 2)).toEqual([0, 1]);
    } finally {
      await subscription.unsubscribe();
      await client.deletePersistentSubscriptionToStream(stream, group);
    }
  });

  it("resolveLinkTos: a group on a stream of links delivers the linked events with the link attached", async () => {
    const { client } = es();
    const target = uniqueStream("ps-link-target");
    const links = uniqueStream("ps-link-source");
    const group = uniqueGroup();
    const [original] = testEvents(1, "Original");
    await client.appendToStream(target, original!);
    await client.appendToStream(links, binaryEvent({ type: "$>", data: Buffer.from(`0@${target}`) }));
    const { subscription, log } = await consume(client, links, group, { resolveLinkTos: true }, (s, e) => s.ack(e));
    try {
      await waitFor(() => log.events.length >= 1, { what: "the link" });
      const delivered = log.events[0]!;
      expect(delivered.event?.id).toBe(original!.id);
      expect(delivered.event?.streamId).toBe(target);
      expect(delivered.link?.streamId).toBe(links);
      expect(delivered.link?.type).toBe("$>");
      expect(log.errors).toEqual([]);
    } finally {
      await subscription.unsubscribe();
      await client.deletePersistentSubscriptionToStream(links, group);
    }
  });
});
