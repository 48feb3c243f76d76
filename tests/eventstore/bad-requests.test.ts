/**
 * Odd and bad requests. (Oversized events are in append-size.test.ts; a persistent-subscription consumer
 * that disconnects is in persistent-strategies.test.ts.)
 *
 * What EventStoreDB 24.10 answers:
 * - An empty stream name: `StreamIdentifier` converts an empty name to null and `ClientMessage.WriteEvents`
 *   throws (`Ensure.NotNullOrEmpty(eventStreamId)`). On `Append` that escapes the handler -> gRPC status
 *   UNKNOWN ("Exception was thrown by handler."); on `BatchAppend` it is caught and answered with a
 *   `BadRequest` Status detail, which this client does not recognise. Either way: UnknownError.
 * - An empty event type: `new Event(...)` throws "Empty eventType provided." -> the same two answers.
 * - Stream names are opaque UTF-8 bytes: spaces, slashes, percent signs, emoji, Hangul all round-trip.
 */
import { randomUUID } from "node:crypto";
import { describe, expect, it } from "vitest";
import { START, UnknownError, jsonEvent, type ResolvedEvent } from "@eventstore/db-client";
import {
  APPEND_PATHS,
  readAllEvents,
  readStreamEvents,
  record,
  rejectionOf,
  streamWith,
  testEvents,
  uniqueStream,
  useEventStore,
  waitFor,
} from "./support.js";

const es = useEventStore();

describe.each(APPEND_PATHS)("bad appends via $path", ({ options }) => {
  it("an empty stream name -> UnknownError, and the client keeps working", async () => {
    const { client } = es();
    const error = await rejectionOf(client.appendToStream("", testEvents(1), options));
    expect(error).toBeInstanceOf(UnknownError);
    const stream = uniqueStream("bad-after-empty-name");
    expect((await client.appendToStream(stream, testEvents(1), options)).nextExpectedRevision).toBe(0n);
  });

  it("an empty event type -> UnknownError; nothing is written", async () => {
    const { client } = es();
    const stream = uniqueStream("bad-empty-type");
    await client.appendToStream(stream, testEvents(1), options);
    const error = await rejectionOf(client.appendToStream(stream, jsonEvent({ type: "", data: {} }), options));
    expect(error).toBeInstanceOf(UnknownError);
    expect(await readStreamEvents(client, stream)).toHaveLength(1);
  });
});

describe("unusual stream names", () => {
  const names = [
    `예약 스트림 ${randomUUID()}`,
    `with spaces/and/slashes ${randomUUID()}`,
    `percent%20and?query=1&x#frag-${randomUUID()}`,
    `emoji-🎟️-✓-${randomUUID()}`,
    `"quotes" and 'apostrophes' ${randomUUID()}`,
  ];

  it.each(names)("%s: append, read, $all and subscription all see the exact name", async (stream) => {
    const { client } = es();
    const events = testEvents(2);
    const result = await client.appendToStream(stream, events);
    const read = await readStreamEvents(client, stream);
    expect(read.map((e) => e.event?.streamId)).toEqual([stream, stream]);
    expect(read.map((e) => e.event?.id)).toEqual(events.map((e) => e.id));

    const [inAll] = await readAllEvents(client, { fromPosition: result.position!, maxCount: 1 });
    expect(inAll?.event?.streamId).toBe(stream);

    const subscription = client.subscribeToStream(stream, { fromRevision: START });
    const log = record<ResolvedEvent>(subscription);
    try {
      await waitFor(() => log.events.length >= 2, { what: "2 events" });
      expect(log.events.map((e) => e.event?.streamId)).toEqual([stream, stream]);
    } finally {
      await subscription.unsubscribe();
    }
  });
});

describe("a client that disconnects mid-subscription", () => {
  it("does not disturb the server: other clients keep appending, reading and subscribing", async () => {
    const { client, newClient } = es();
    const stream = await streamWith(client, "bad-disconnect", 3);

    const leaving = newClient();
    const subscriptions = [leaving.subscribeToStream(stream, { fromRevision: START }), leaving.subscribeToAll({ fromPosition: START })];
    const logs = subscriptions.map((s) => record(s));
    await waitFor(() => logs[0]!.events.length >= 3 && logs[1]!.events.length > 0, { what: "both subscriptions running" });
    await leaving.dispose();

    const stayingSubscription = client.subscribeToStream(stream, { fromRevision: START });
    const stayingLog = record<ResolvedEvent>(stayingSubscription);
    try {
      const after = await client.appendToStream(stream, testEvents(2));
      expect(after.nextExpectedRevision).toBe(4n);
      expect(await readStreamEvents(client, stream)).toHaveLength(5);
      await waitFor(() => stayingLog.events.length >= 5, { what: "5 events on a new subscription" });
      expect(stayingLog.errors).toEqual([]);
    } finally {
      await stayingSubscription.unsubscribe();
    }
  });
});
