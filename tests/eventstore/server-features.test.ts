/**
 * ServerFeatures/GetSupportedMethods and what depends on it.
 *
 * Every new channel of the client first calls GetSupportedMethods (dist/Client/ServerFeatures.js).
 * A server that answers it wrongly still "works" in places, because the client silently falls back:
 * appends go through `Append` instead of `BatchAppend`, persistent-subscription list / get-info /
 * replay-parked go through the HTTP API instead of gRPC, and creating or reading a $all
 * persistent subscription throws UnsupportedError. The embedded server has no HTTP API, so the calls
 * below only succeed against it if it advertises the same methods and features as EventStoreDB 24.10
 * (`ServerFeatures.cs`: e.g. `persistentsubscriptions/create` with "stream", "all").
 */
import { describe, expect, it } from "vitest";
import {
  EventStoreDBClient,
  START,
  persistentSubscriptionToAllSettingsFromDefaults,
  persistentSubscriptionToStreamSettingsFromDefaults,
  streamNameFilter,
  type PersistentSubscriptionToAllResolvedEvent,
} from "@eventstore/db-client";
import { readStreamEvents, record, testEvents, uniqueGroup, uniqueStream, useEventStore, waitFor } from "./support.js";

const es = useEventStore();

describe("server features", () => {
  it("a fresh client (new channel, new GetSupportedMethods) can append and read", async () => {
    const { connectionString } = es();
    const fresh = EventStoreDBClient.connectionString(connectionString);
    try {
      const stream = uniqueStream("features");
      const result = await fresh.appendToStream(stream, testEvents(2));
      expect(result.nextExpectedRevision).toBe(1n);
      expect(await readStreamEvents(fresh, stream)).toHaveLength(2);
    } finally {
      await fresh.dispose();
    }
  });

  it("many clients at once each negotiate and work", async () => {
    const { newClient } = es();
    const stream = uniqueStream("features-many");
    const clients = Array.from({ length: 5 }, () => newClient());
    await Promise.all(clients.map((c, i) => c.appendToStream(`${stream}-${i}`, testEvents(1))));
    for (let i = 0; i < clients.length; i++) {
      expect(await readStreamEvents(clients[(i + 1) % clients.length]!, `${stream}-${i}`)).toHaveLength(1);
    }
  });

  it("persistent-subscription list, get-info and replay-parked work over gRPC", async () => {
    const { client } = es();
    const stream = uniqueStream("features-ps");
    const group = uniqueGroup();
    await client.createPersistentSubscriptionToStream(
      stream,
      group,
      persistentSubscriptionToStreamSettingsFromDefaults({ startFrom: START }),
    );
    try {
      expect((await client.getPersistentSubscriptionToStreamInfo(stream, group)).groupName).toBe(group);
      expect((await client.listPersistentSubscriptionsToStream(stream)).map((s) => s.groupName)).toEqual([group]);
      expect((await client.listAllPersistentSubscriptions()).some((s) => s.groupName === group)).toBe(true);
      await client.replayParkedMessagesToStream(stream, group);
    } finally {
      await client.deletePersistentSubscriptionToStream(stream, group);
    }
  });

  it("persistent subscriptions to $all are supported (create with filter and subscribe)", async () => {
    const { client } = es();
    const base = uniqueStream("features-all");
    const group = uniqueGroup("features-all");
    await client.createPersistentSubscriptionToAll(group, persistentSubscriptionToAllSettingsFromDefaults(), {
      filter: streamNameFilter({ prefixes: [base] }),
    });
    const subscription = client.subscribeToPersistentSubscriptionToAll(group);
    const log = record<PersistentSubscriptionToAllResolvedEvent>(subscription, (e) => subscription.ack(e));
    try {
      await waitFor(() => log.confirmed || log.errors.length > 0, { what: "confirmation" });
      expect(log.errors).toEqual([]);
      expect(typeof subscription.id).toBe("string");
      await client.appendToStream(`${base}-x`, testEvents(1));
      await waitFor(() => log.events.length >= 1, { what: "the event" });
      await client.replayParkedMessagesToAll(group);
    } finally {
      await subscription.unsubscribe();
      await client.deletePersistentSubscriptionToAll(group);
    }
  });

  it("a catch-up subscription is confirmed with a subscription id", async () => {
    const { client } = es();
    const subscription = client.subscribeToStream(uniqueStream("features-sub"));
    const log = record(subscription);
    try {
      await waitFor(() => log.confirmed, { what: "confirmation" });
      expect(typeof subscription.id).toBe("string");
      expect(subscription.id!.length).toBeGreaterThan(0);
    } finally {
      await subscription.unsubscribe();
    }
  });
});
