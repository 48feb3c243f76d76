/**
 * Persistent subscriptions: create / update / delete / list / get-info, to a stream and to $all, and
 * the errors for existing / missing groups.
 *
 * The client uses gRPC for list, get-info and replay-parked only when ServerFeatures advertises them
 * (`persistentsubscriptions/list|getinfo|replayparked` with feature "stream"/"all"); otherwise it falls
 * back to the HTTP API, which the embedded server does not offer, so these tests also prove the features
 * are advertised. `createPersistentSubscriptionToAll` throws UnsupportedError unless
 * `persistentsubscriptions/create` advertises "all".
 *
 * Server semantics: EventStore 24.10 `PersistentSubscriptions.*.cs` (RpcExceptions
 * PersistentSubscriptionExists / PersistentSubscriptionDoesNotExist carry `stream-name` and
 * `group-name`), `PersistentSubscriptionStats.GetStatistics` (what get-info reports).
 */
import { describe, expect, it } from "vitest";
import {
  DISPATCH_TO_SINGLE,
  END,
  PersistentSubscriptionDoesNotExistError,
  PersistentSubscriptionDroppedError,
  PersistentSubscriptionExistsError,
  ROUND_ROBIN,
  START,
  persistentSubscriptionToAllSettingsFromDefaults,
  persistentSubscriptionToStreamSettingsFromDefaults,
  streamNameFilter,
  type PersistentSubscriptionToStreamResolvedEvent,
} from "@eventstore/db-client";
import { record, rejectionOf, testEvents, uniqueGroup, uniqueStream, useEventStore, waitFor } from "./support.js";

const es = useEventStore();

describe("persistent subscriptions to a stream: management", () => {
  it("create, get-info (settings round-trip), list, update, delete", async () => {
    const { client } = es();
    const stream = uniqueStream("ps-admin");
    const group = uniqueGroup();
    const settings = persistentSubscriptionToStreamSettingsFromDefaults({
      startFrom: START,
      resolveLinkTos: true,
      extraStatistics: true,
      messageTimeout: 12_345,
      maxRetryCount: 7,
      checkPointAfter: 3_000,
      checkPointLowerBound: 5,
      checkPointUpperBound: 500,
      maxSubscriberCount: 3,
      liveBufferSize: 400,
      readBatchSize: 30,
      historyBufferSize: 450,
      consumerStrategyName: DISPATCH_TO_SINGLE,
    });
    await client.createPersistentSubscriptionToStream(stream, group, settings);

    const info = await client.getPersistentSubscriptionToStreamInfo(stream, group);
    expect(info.eventSource).toBe(stream);
    expect(info.groupName).toBe(group);
    expect(info.settings).toEqual(settings);
    expect(info.connections).toEqual([]);

    const listed = await client.listPersistentSubscriptionsToStream(stream);
    expect(listed.map((s) => s.groupName)).toEqual([group]);
    expect(listed[0]!.settings).toEqual(settings);

    const everything = await client.listAllPersistentSubscriptions();
    expect(everything.some((s) => s.eventSource === stream && s.groupName === group)).toBe(true);

    const updated = persistentSubscriptionToStreamSettingsFromDefaults({
      ...settings,
      startFrom: END,
      messageTimeout: 5_000,
      maxRetryCount: 2,
      consumerStrategyName: ROUND_ROBIN,
    });
    await client.updatePersistentSubscriptionToStream(stream, group, updated);
    expect((await client.getPersistentSubscriptionToStreamInfo(stream, group)).settings).toEqual(updated);

    await client.deletePersistentSubscriptionToStream(stream, group);
    const gone = await rejectionOf(client.getPersistentSubscriptionToStreamInfo(stream, group));
    expect(gone).toBeInstanceOf(PersistentSubscriptionDoesNotExistError);
    expect(await client.listPersistentSubscriptionsToStream(stream)).toEqual([]);
  });

  it("a start revision round-trips through get-info", async () => {
    const { client } = es();
    const stream = uniqueStream("ps-admin-rev");
    const group = uniqueGroup();
    await client.appendToStream(stream, testEvents(5));
    await client.createPersistentSubscriptionToStream(stream, group, persistentSubscriptionToStreamSettingsFromDefaults({ startFrom: 3n }));
    const info = await client.getPersistentSubscriptionToStreamInfo(stream, group);
    expect(info.settings.startFrom).toBe(3n);
    await client.deletePersistentSubscriptionToStream(stream, group);
  });

  it("creating the same group twice -> PersistentSubscriptionExistsError(stream, group)", async () => {
    const { client } = es();
    const stream = uniqueStream("ps-admin-twice");
    const group = uniqueGroup();
    const settings = persistentSubscriptionToStreamSettingsFromDefaults({ startFrom: START });
    await client.createPersistentSubscriptionToStream(stream, group, settings);
    const error = await rejectionOf(client.createPersistentSubscriptionToStream(stream, group, settings));
    expect(error).toBeInstanceOf(PersistentSubscriptionExistsError);
    expect((error as PersistentSubscriptionExistsError).streamName).toBe(stream);
    expect((error as PersistentSubscriptionExistsError).groupName).toBe(group);
    await client.deletePersistentSubscriptionToStream(stream, group);
  });

  it("the same group name on another stream is a different subscription", async () => {
    const { client } = es();
    const group = uniqueGroup();
    const [s1, s2] = [uniqueStream("ps-admin-s1"), uniqueStream("ps-admin-s2")];
    const settings = persistentSubscriptionToStreamSettingsFromDefaults({ startFrom: START });
    await client.createPersistentSubscriptionToStream(s1, group, settings);
    await client.createPersistentSubscriptionToStream(s2, group, settings);
    expect((await client.getPersistentSubscriptionToStreamInfo(s2, group)).eventSource).toBe(s2);
    await client.deletePersistentSubscriptionToStream(s1, group);
    await client.deletePersistentSubscriptionToStream(s2, group);
  });

  it("get-info / update / delete of a missing group -> PersistentSubscriptionDoesNotExistError", async () => {
    const { client } = es();
    const stream = uniqueStream("ps-admin-missing");
    const group = uniqueGroup();
    const info = await rejectionOf(client.getPersistentSubscriptionToStreamInfo(stream, group));
    expect(info).toBeInstanceOf(PersistentSubscriptionDoesNotExistError);
    expect((info as PersistentSubscriptionDoesNotExistError).streamName).toBe(stream);
    expect((info as PersistentSubscriptionDoesNotExistError).groupName).toBe(group);
    await expect(
      client.updatePersistentSubscriptionToStream(stream, group, persistentSubscriptionToStreamSettingsFromDefaults()),
    ).rejects.toBeInstanceOf(PersistentSubscriptionDoesNotExistError);
    await expect(client.deletePersistentSubscriptionToStream(stream, group)).rejects.toBeInstanceOf(
      PersistentSubscriptionDoesNotExistError,
    );
  });

  it("listing the subscriptions of a stream that never had any -> PersistentSubscriptionDoesNotExistError", async () => {
    const { client } = es();
    await expect(client.listPersistentSubscriptionsToStream(uniqueStream("ps-admin-none"))).rejects.toBeInstanceOf(
      PersistentSubscriptionDoesNotExistError,
    );
  });

  it("subscribing to a missing group -> PersistentSubscriptionDoesNotExistError(stream, group)", async () => {
    const { client } = es();
    const stream = uniqueStream("ps-admin-nogroup");
    const group = uniqueGroup();
    const subscription = client.subscribeToPersistentSubscriptionToStream(stream, group);
    const log = record<PersistentSubscriptionToStreamResolvedEvent>(subscription);
    try {
      await waitFor(() => log.errors.length > 0, { what: "an error" });
      const error = log.errors[0]!;
      expect(error).toBeInstanceOf(PersistentSubscriptionDoesNotExistError);
      expect((error as PersistentSubscriptionDoesNotExistError).streamName).toBe(stream);
      expect((error as PersistentSubscriptionDoesNotExistError).groupName).toBe(group);
    } finally {
      await subscription.unsubscribe();
    }
  });

  it("deleting a group drops its connected consumers with PersistentSubscriptionDroppedError", async () => {
    // PersistentSubscription.Shutdown -> SubscriptionDropped(Unsubscribed) -> RpcExceptions.PersistentSubscriptionDropped
    const { client } = es();
    const stream = uniqueStream("ps-admin-drop");
    const group = uniqueGroup();
    await client.createPersistentSubscriptionToStream(
      stream,
      group,
      persistentSubscriptionToStreamSettingsFromDefaults({ startFrom: START }),
    );
    const subscription = client.subscribeToPersistentSubscriptionToStream(stream, group);
    const log = record<PersistentSubscriptionToStreamResolvedEvent>(subscription);
    try {
      await waitFor(async () => (await client.getPersistentSubscriptionToStreamInfo(stream, group)).connections.length === 1, {
        what: "the consumer to be connected",
      });
      await client.deletePersistentSubscriptionToStream(stream, group);
      await waitFor(() => log.errors.length > 0, { what: "the consumer to be dropped" });
      expect(log.errors[0]).toBeInstanceOf(PersistentSubscriptionDroppedError);
    } finally {
      await subscription.unsubscribe();
    }
  });
});

describe("persistent subscriptions to $all: management", () => {
  it("create with a filter, get-info, list, update, delete", async () => {
    const { client } = es();
    const group = uniqueGroup("ps-all-admin");
    const settings = persistentSubscriptionToAllSettingsFromDefaults({ startFrom: START, maxRetryCount: 4, messageTimeout: 9_000 });
    await client.createPersistentSubscriptionToAll(group, settings, {
      filter: streamNameFilter({ prefixes: [uniqueStream("ps-all-admin")] }),
    });

    const info = await client.getPersistentSubscriptionToAllInfo(group);
    expect(info.eventSource).toBe("$all");
    expect(info.groupName).toBe(group);
    expect(info.settings).toEqual(settings);

    const listed = await client.listPersistentSubscriptionsToAll();
    expect(listed.some((s) => s.groupName === group && s.eventSource === "$all")).toBe(true);
    const everything = await client.listAllPersistentSubscriptions();
    expect(everything.some((s) => s.groupName === group && s.eventSource === "$all")).toBe(true);

    const updated = persistentSubscriptionToAllSettingsFromDefaults({ ...settings, startFrom: END, maxRetryCount: 1 });
    await client.updatePersistentSubscriptionToAll(group, updated);
    expect((await client.getPersistentSubscriptionToAllInfo(group)).settings).toEqual(updated);

    await client.deletePersistentSubscriptionToAll(group);
    await expect(client.getPersistentSubscriptionToAllInfo(group)).rejects.toBeInstanceOf(PersistentSubscriptionDoesNotExistError);
    expect((await client.listPersistentSubscriptionsToAll()).some((s) => s.groupName === group)).toBe(false);
  });

  it("a start position round-trips through get-info", async () => {
    const { client } = es();
    const group = uniqueGroup("ps-all-pos");
    const stream = uniqueStream("ps-all-pos");
    const { position } = await client.appendToStream(stream, testEvents(1));
    await client.createPersistentSubscriptionToAll(group, persistentSubscriptionToAllSettingsFromDefaults({ startFrom: position! }), {
      filter: streamNameFilter({ prefixes: [stream] }),
    });
    expect((await client.getPersistentSubscriptionToAllInfo(group)).settings.startFrom).toEqual(position);
    await client.deletePersistentSubscriptionToAll(group);
  });

  it("creating the same $all group twice -> PersistentSubscriptionExistsError", async () => {
    const { client } = es();
    const group = uniqueGroup("ps-all-twice");
    const settings = persistentSubscriptionToAllSettingsFromDefaults({ startFrom: END });
    await client.createPersistentSubscriptionToAll(group, settings);
    const error = await rejectionOf(client.createPersistentSubscriptionToAll(group, settings));
    expect(error).toBeInstanceOf(PersistentSubscriptionExistsError);
    expect((error as PersistentSubscriptionExistsError).streamName).toBe("$all");
    expect((error as PersistentSubscriptionExistsError).groupName).toBe(group);
    await client.deletePersistentSubscriptionToAll(group);
  });

  it("missing $all groups -> PersistentSubscriptionDoesNotExistError on get-info, update, delete and subscribe", async () => {
    const { client } = es();
    const group = uniqueGroup("ps-all-missing");
    await expect(client.getPersistentSubscriptionToAllInfo(group)).rejects.toBeInstanceOf(PersistentSubscriptionDoesNotExistError);
    await expect(client.updatePersistentSubscriptionToAll(group, persistentSubscriptionToAllSettingsFromDefaults())).rejects.toBeInstanceOf(
      PersistentSubscriptionDoesNotExistError,
    );
    await expect(client.deletePersistentSubscriptionToAll(group)).rejects.toBeInstanceOf(PersistentSubscriptionDoesNotExistError);

    const subscription = client.subscribeToPersistentSubscriptionToAll(group);
    const log = record(subscription);
    try {
      await waitFor(() => log.errors.length > 0, { what: "an error" });
      expect(log.errors[0]).toBeInstanceOf(PersistentSubscriptionDoesNotExistError);
      expect((log.errors[0] as PersistentSubscriptionDoesNotExistError).groupName).toBe(group);
    } finally {
      await subscription.unsubscribe();
    }
  });
});
