/**
 * Persistent subscriptions to $all: what the application's consumer groups rely on.
 *
 * - Without a filter a $all group delivers system events too (e.g. the `$metadata` event that
 *   setStreamMetadata writes to `$$<stream>`), so consumers that forget to filter see them.
 * - nack retry / park and replay work as for streams; the parked stream of a $all group is
 *   `$persistentsubscription-$all::<group>-parked`.
 * - $all reads never show the checkpoint and parked streams of $all groups, nor `$epoch-information`
 *   (EventStore 24.10 `EventFilter.DefaultAllFilterStrategy`, applied to every $all read and subscription),
 *   whereas the parked stream of a group on an ordinary stream is visible like any other `$` stream.
 */
import { describe, expect, it } from "vitest";
import {
  PARK,
  RETRY,
  START,
  jsonEvent,
  persistentSubscriptionToAllSettingsFromDefaults,
  persistentSubscriptionToStreamSettingsFromDefaults,
  streamNameFilter,
  type AllStreamResolvedEvent,
  type EventStoreDBClient,
  type PersistentSubscriptionToAllResolvedEvent,
  type PersistentSubscriptionToStreamResolvedEvent,
  type Position,
} from "@eventstore/db-client";
import {
  lastPositionInAll,
  readStreamEvents,
  record,
  stopEarly,
  testEvents,
  uniqueGroup,
  uniqueStream,
  useEventStore,
  waitFor,
} from "./support.js";

const es = useEventStore();

/** Reads $all forwards from `from` until an event with id `untilId` shows up (bounded), then stops the read. */
async function readAllUntil(client: EventStoreDBClient, from: Position | typeof START, untilId: string): Promise<AllStreamResolvedEvent[]> {
  const seen: AllStreamResolvedEvent[] = [];
  const deadline = Date.now() + 20_000;
  const read = client.readAll({ fromPosition: from });
  const iterator = read[Symbol.asyncIterator]();
  try {
    for (;;) {
      const next = await iterator.next();
      if (next.done) break;
      seen.push(next.value);
      if (next.value.event?.id === untilId) return seen;
      if (Date.now() > deadline) break;
    }
  } finally {
    stopEarly(read, iterator);
  }
  throw new Error(`readAllUntil(): event ${untilId} not found after ${seen.length} events`);
}

describe("persistent subscriptions to $all", () => {
  it("without a filter, a group delivers system events such as $metadata", async () => {
    const { client } = es();
    const stream = uniqueStream("ps-all-sys");
    const group = uniqueGroup("ps-all-sys");
    const from = (await lastPositionInAll(client)) ?? START;
    await client.createPersistentSubscriptionToAll(group, persistentSubscriptionToAllSettingsFromDefaults({ startFrom: from }));
    await client.setStreamMetadata(stream, { maxCount: 3 });
    const sentinel = jsonEvent({ type: "Sentinel", data: {} });
    await client.appendToStream(stream, sentinel);

    const subscription = client.subscribeToPersistentSubscriptionToAll(group);
    const log = record<PersistentSubscriptionToAllResolvedEvent>(subscription, (e) => subscription.ack(e));
    try {
      await waitFor(() => log.events.some((e) => e.event?.id === sentinel.id) || log.errors.length > 0, {
        what: "the sentinel",
        timeoutMs: 20_000,
      });
      expect(log.errors).toEqual([]);
      const metadata = log.events.filter((e) => e.event?.streamId === `$$${stream}`);
      expect(metadata.map((e) => e.event?.type)).toEqual(["$metadata"]);
    } finally {
      await subscription.unsubscribe();
      await client.deletePersistentSubscriptionToAll(group);
    }
  });

  it("nack retry and park work; parked events go to $persistentsubscription-$all::<group>-parked and are replayed", async () => {
    const { client } = es();
    const base = uniqueStream("ps-all-nack");
    const group = uniqueGroup("ps-all-nack");
    const from = (await lastPositionInAll(client)) ?? START;
    await client.createPersistentSubscriptionToAll(group, persistentSubscriptionToAllSettingsFromDefaults({ startFrom: from }), {
      filter: streamNameFilter({ prefixes: [base] }),
    });
    const [toPark, toRetry, plain] = testEvents(3);
    await client.appendToStream(`${base}-1`, [toPark!, toRetry!]);
    await client.appendToStream(`${base}-2`, plain!);

    let parked = false;
    const subscription = client.subscribeToPersistentSubscriptionToAll(group);
    const log = record<PersistentSubscriptionToAllResolvedEvent>(subscription, async (e) => {
      if (e.event?.id === toPark!.id && !parked) {
        parked = true;
        await subscription.nack(PARK, "park me", e);
      } else if (e.event?.id === toRetry!.id && e.retryCount === 0) {
        await subscription.nack(RETRY, "again", e);
      } else {
        await subscription.ack(e);
      }
    });
    try {
      await waitFor(() => log.events.filter((e) => e.event?.id === toRetry!.id).length >= 2, { what: "the retried event" });
      expect(log.events.filter((e) => e.event?.id === toRetry!.id).map((e) => e.retryCount)).toEqual([0, 1]);
      expect(log.events.some((e) => e.event?.id === plain!.id)).toBe(true);

      const parkedStream = `$persistentsubscription-$all::${group}-parked`;
      const links = await waitFor(
        async () => {
          const events = await readStreamEvents(client, parkedStream, { resolveLinkTos: true });
          return events.length > 0 ? events : undefined;
        },
        { what: `an event in ${parkedStream}` },
      );
      expect(links.map((e) => e.event?.id)).toEqual([toPark!.id]);
      expect(links[0]!.link?.type).toBe("$>");
      expect(Buffer.from(links[0]!.link!.data).toString("utf8")).toBe(`0@${base}-1`);

      await client.replayParkedMessagesToAll(group);
      await waitFor(() => log.events.filter((e) => e.event?.id === toPark!.id).length >= 2, { what: "the replayed event" });
      expect(log.errors).toEqual([]);

      // $all reads hide the parked (and checkpoint) streams of $all groups
      const sentinel = jsonEvent({ type: "Sentinel", data: {} });
      await client.appendToStream(`${base}-3`, sentinel);
      const all = await readAllUntil(client, from, sentinel.id);
      expect(all.some((e) => e.event?.streamId === `${base}-1`)).toBe(true);
      expect(all.filter((e) => e.event?.streamId.startsWith("$persistentsubscription-$all::"))).toEqual([]);
    } finally {
      await subscription.unsubscribe();
      await client.deletePersistentSubscriptionToAll(group);
    }
  });

  it("by contrast, the parked stream of a group on an ordinary stream is visible in $all", async () => {
    const { client } = es();
    const stream = uniqueStream("ps-stream-parked-visible");
    const group = uniqueGroup();
    const from = (await lastPositionInAll(client)) ?? START;
    const [event] = testEvents(1);
    await client.appendToStream(stream, event!);
    await client.createPersistentSubscriptionToStream(
      stream,
      group,
      persistentSubscriptionToStreamSettingsFromDefaults({ startFrom: START }),
    );
    const subscription = client.subscribeToPersistentSubscriptionToStream(stream, group);
    record<PersistentSubscriptionToStreamResolvedEvent>(subscription, (e) => subscription.nack(PARK, "park", e));
    const parkedStream = `$persistentsubscription-${stream}::${group}-parked`;
    try {
      await waitFor(async () => (await readStreamEvents(client, parkedStream)).length > 0, { what: `an event in ${parkedStream}` });
      const sentinel = jsonEvent({ type: "Sentinel", data: {} });
      await client.appendToStream(stream, sentinel);
      const all = await readAllUntil(client, from, sentinel.id);
      const parkedInAll = all.filter((e) => e.event?.streamId === parkedStream);
      expect(parkedInAll.map((e) => e.event?.type)).toEqual(["$>"]);
    } finally {
      await subscription.unsubscribe();
      await client.deletePersistentSubscriptionToStream(stream, group);
    }
  });
});
