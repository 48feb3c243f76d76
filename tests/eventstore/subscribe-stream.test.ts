/**
 * Catch-up subscriptions to one stream.
 *
 * - fromRevision START: every event, then live ones. A revision: starts AFTER it (exclusive).
 *   END: only events appended after subscribing.
 * - 24.10 sends `CaughtUp` when the subscription switches from history to live
 *   (`Enumerator.StreamSubscription.NotifyCaughtUp`, converted to ReadResp.caught_up in Streams.Read.cs);
 *   this client version emits it as the "caughtUp" event (dist/streams/utils/Subscription.js).
 * - A subscription to a tombstoned stream, or one that sees the stream being tombstoned, ends with
 *   StreamDeleted.
 */
import { describe, expect, it } from "vitest";
import { END, START, StreamDeletedError, type EventStoreDBClient, type ResolvedEvent } from "@eventstore/db-client";
import { record, streamWith, testEvents, uniqueStream, useEventStore, waitFor, type SubscriptionLog } from "./support.js";

const es = useEventStore();

/**
 * Runs `body` on what a catch-up subscription from `fromRevision` records, and always unsubscribes,
 * so that a failed expectation leaves no call open for `client.dispose()` to wait on.
 */
async function whileSubscribed(
  client: EventStoreDBClient,
  stream: string,
  fromRevision: bigint | typeof START | typeof END,
  body: (log: SubscriptionLog<ResolvedEvent>) => Promise<void>,
): Promise<void> {
  const subscription = client.subscribeToStream(stream, { fromRevision });
  const log = record<ResolvedEvent>(subscription);
  try {
    await body(log);
  } finally {
    await subscription.unsubscribe();
  }
}

describe("subscribeToStream", () => {
  it("from START delivers history, then caughtUp, then live events, in order", async () => {
    const { client } = es();
    const stream = uniqueStream("sub-start");
    const history = testEvents(3, "History");
    await client.appendToStream(stream, history);

    await whileSubscribed(client, stream, START, async (log) => {
      await waitFor(() => log.caughtUp && log.events.length >= 3, { what: "history + caughtUp" });
      const live = testEvents(2, "Live");
      await client.appendToStream(stream, live);
      await waitFor(() => log.events.length >= 5, { what: "live events" });

      expect(log.errors).toEqual([]);
      expect(log.events.map((e) => e.event?.id)).toEqual([...history, ...live].map((e) => e.id));
      expect(log.events.map((e) => e.event?.revision)).toEqual([0n, 1n, 2n, 3n, 4n]);
      // caughtUp comes after the 3 historical events and before the live ones
      const caughtUpAt = log.markers.filter((m) => m !== "confirmation").indexOf("caughtUp");
      expect(caughtUpAt).toBe(3);
    });
  });

  it("from a revision starts after that revision", async () => {
    const { client } = es();
    const stream = await streamWith(client, "sub-rev", 5);

    await whileSubscribed(client, stream, 1n, async (log) => {
      await waitFor(() => log.caughtUp, { what: "caughtUp" });
      expect(log.events.map((e) => e.event?.revision)).toEqual([2n, 3n, 4n]);
      await client.appendToStream(stream, testEvents(1));
      await waitFor(() => log.events.length >= 4, { what: "live event" });
      expect(log.events.map((e) => e.event?.revision)).toEqual([2n, 3n, 4n, 5n]);
      expect(log.errors).toEqual([]);
    });
  });

  it("from END gets only events appended after subscribing", async () => {
    const { client } = es();
    const stream = uniqueStream("sub-end");
    await client.appendToStream(stream, testEvents(3, "Old"));

    await whileSubscribed(client, stream, END, async (log) => {
      await waitFor(() => log.caughtUp, { what: "caughtUp" });
      const fresh = testEvents(2, "New");
      await client.appendToStream(stream, fresh);
      await waitFor(() => log.events.length >= 2, { what: "new events" });
      expect(log.events.map((e) => e.event?.id)).toEqual(fresh.map((e) => e.id));
      expect(log.events.map((e) => e.event?.revision)).toEqual([3n, 4n]);
      expect(log.errors).toEqual([]);
    });
  });

  it("to a stream that does not exist yet catches up at once and receives the stream's first event", async () => {
    const { client } = es();
    const stream = uniqueStream("sub-missing");
    await whileSubscribed(client, stream, START, async (log) => {
      await waitFor(() => log.caughtUp, { what: "caughtUp" });
      expect(log.events).toEqual([]);
      const [first] = testEvents(1);
      await client.appendToStream(stream, first!);
      await waitFor(() => log.events.length >= 1, { what: "first event" });
      expect(log.events[0]!.event!.id).toBe(first!.id);
      expect(log.events[0]!.event!.revision).toBe(0n);
      expect(log.errors).toEqual([]);
    });
  });

  it("two subscriptions to the same stream each get every event", async () => {
    const { client } = es();
    const stream = uniqueStream("sub-two");
    const a = client.subscribeToStream(stream, { fromRevision: START });
    const b = client.subscribeToStream(stream, { fromRevision: START });
    const logA = record<ResolvedEvent>(a);
    const logB = record<ResolvedEvent>(b);
    try {
      await waitFor(() => logA.caughtUp && logB.caughtUp, { what: "both caught up" });
      const events = testEvents(4);
      await client.appendToStream(stream, events);
      await waitFor(() => logA.events.length >= 4 && logB.events.length >= 4, { what: "both got 4 events" });
      expect(logA.events.map((e) => e.event?.id)).toEqual(events.map((e) => e.id));
      expect(logB.events.map((e) => e.event?.id)).toEqual(events.map((e) => e.id));
    } finally {
      await a.unsubscribe();
      await b.unsubscribe();
    }
  });

  it("to a tombstoned stream fails with StreamDeletedError", async () => {
    const { client } = es();
    const stream = await streamWith(client, "sub-tombstoned", 1);
    await client.tombstoneStream(stream);
    await whileSubscribed(client, stream, START, async (log) => {
      await waitFor(() => log.errors.length > 0, { what: "an error" });
      expect(log.errors[0]).toBeInstanceOf(StreamDeletedError);
      expect((log.errors[0] as StreamDeletedError).streamName).toBe(stream);
    });
  });

  it("a live subscription ends with StreamDeletedError when the stream is tombstoned", async () => {
    const { client } = es();
    const stream = await streamWith(client, "sub-tombstoned-live", 1);
    await whileSubscribed(client, stream, START, async (log) => {
      await waitFor(() => log.caughtUp && log.events.length === 1, { what: "caughtUp" });
      await client.tombstoneStream(stream);
      await waitFor(() => log.errors.length > 0, { what: "an error" });
      expect(log.errors[0]).toBeInstanceOf(StreamDeletedError);
    });
  });
});
