/**
 * When a persistent subscription hands messages out, as the application's consumer groups depend on:
 *
 * - A filtered `$all` group reads on past batches in which nothing matches: hundreds of other
 *   events before the first match must not stall it until some unrelated append wakes it up.
 * - Messages are handed out right after each ack or nack (EventStoreDB's
 *   `PersistentSubscription.AcknowledgeMessagesProcessed` / `NotAcknowledgeMessagesProcessed` push
 *   to clients at once), so a retry queued by a nack goes out after whatever the ack before it freed room for.
 */
import { describe, expect, it } from "vitest";
import {
  RETRY,
  START,
  persistentSubscriptionToAllSettingsFromDefaults,
  persistentSubscriptionToStreamSettingsFromDefaults,
  streamNameFilter,
  type PersistentSubscriptionToAllResolvedEvent,
  type PersistentSubscriptionToStreamResolvedEvent,
} from "@eventstore/db-client";
import { lastPositionInAll, oneEvent, record, testEvents, uniqueGroup, uniqueStream, useEventStore, waitFor } from "./support.js";

const es = useEventStore();

describe("persistent subscription delivery", () => {
  it("a filtered $all group reaches its first match behind hundreds of non-matching events", async () => {
    const { client } = es();
    const wanted = uniqueStream("ps-filter-wanted");
    const group = uniqueGroup("ps-filter-gap");
    const from = (await lastPositionInAll(client)) ?? START;
    await client.createPersistentSubscriptionToAll(
      group,
      persistentSubscriptionToAllSettingsFromDefaults({ startFrom: from, readBatchSize: 20 }),
      { filter: streamNameFilter({ prefixes: [wanted] }) },
    );
    // Far more non-matching events than one read batch holds, then a single match.
    const noise = uniqueStream("ps-filter-noise");
    for (let chunk = 0; chunk < 4; chunk += 1) await client.appendToStream(noise, testEvents(100, "Noise"));
    const match = oneEvent("Wanted");
    await client.appendToStream(wanted, match);

    const subscription = client.subscribeToPersistentSubscriptionToAll(group);
    const log = record<PersistentSubscriptionToAllResolvedEvent>(subscription, (event) => subscription.ack(event));
    try {
      // Nothing is appended while waiting: only the group's own reading can get it there.
      await waitFor(() => log.events.some((event) => event.event?.id === match.id), { what: "the first matching event" });
      expect(log.events.map((event) => event.event?.streamId)).toEqual([wanted]);
      expect(log.errors).toEqual([]);
    } finally {
      await subscription.unsubscribe();
      await client.deletePersistentSubscriptionToAll(group);
    }
  });

  it("a message freed by an ack goes out before a retry nacked after it", async () => {
    const { client } = es();
    const stream = uniqueStream("ps-order");
    const group = uniqueGroup("ps-order");
    const [a, b, c, d] = testEvents(4);
    await client.appendToStream(stream, [a!, b!, c!, d!]);
    await client.createPersistentSubscriptionToStream(
      stream,
      group,
      persistentSubscriptionToStreamSettingsFromDefaults({ startFrom: START }),
    );

    // Two in flight: A and B. The client acks B, then nacks A for a retry, back to back.
    const subscription = client.subscribeToPersistentSubscriptionToStream(stream, group, { bufferSize: 2 });
    let heldA: PersistentSubscriptionToStreamResolvedEvent | undefined;
    const log = record<PersistentSubscriptionToStreamResolvedEvent>(subscription, async (event) => {
      if (event.event?.id === a!.id && event.retryCount === 0) {
        heldA = event;
        return;
      }
      if (event.event?.id === b!.id && heldA) {
        await subscription.ack(event);
        await subscription.nack(RETRY, "again", heldA);
        return;
      }
      await subscription.ack(event);
    });
    try {
      await waitFor(() => log.events.length >= 5, { what: "five deliveries" });
      const names = new Map([a!.id, b!.id, c!.id, d!.id].map((id, index) => [id, "ABCD"[index]]));
      const sequence = log.events.map((event) => `${names.get(event.event?.id ?? "") ?? "?"}${event.retryCount}`);
      // The ack of B frees room for C at once; the nack of A then queues A's retry behind it.
      expect(sequence).toEqual(["A0", "B0", "C0", "A1", "D0"]);
      expect(log.errors).toEqual([]);
    } finally {
      await subscription.unsubscribe();
      await client.deletePersistentSubscriptionToStream(stream, group);
    }
  });
});
