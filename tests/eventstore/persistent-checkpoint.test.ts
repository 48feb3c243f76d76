/**
 * Persistent-subscription checkpoints and statistics, to a stream and to $all (with a filter).
 *
 * Server semantics (EventStore 24.10 `PersistentSubscription.TryMarkCheckpoint`): on every 1 s timer
 * tick, when at least `checkPointAfter` ms passed and at least `checkPointLowerBound` messages were
 * processed since the last checkpoint (or at once when `checkPointUpperBound` is reached), the position
 * of the last event before the lowest unacked one is written to
 * `$persistentsubscription-<stream>::<group>-checkpoint`. A subscription instance loads that checkpoint
 * when it starts (`OnCheckpointLoaded`: skips the checkpointed event), e.g. after an update
 * (`UpdatePersistentSubscription` replaces the instance and drops its consumers) or a server restart.
 * get-info reports it as `lastCheckpointedEventRevision` (stream) / `lastCheckpointedEventPosition` ($all).
 */
import { describe, expect, it } from "vitest";
import {
  BACKWARDS,
  END,
  START,
  persistentSubscriptionToAllSettingsFromDefaults,
  persistentSubscriptionToStreamSettingsFromDefaults,
  streamNameFilter,
  type PersistentSubscriptionToAllResolvedEvent,
  type PersistentSubscriptionToStreamResolvedEvent,
} from "@eventstore/db-client";
import {
  comparePositions,
  lastPositionInAll,
  readStreamEvents,
  record,
  testEvents,
  uniqueGroup,
  uniqueStream,
  useEventStore,
  waitFor,
} from "./support.js";

const es = useEventStore();

const checkpointSettings = {
  startFrom: START,
  checkPointAfter: 100,
  checkPointLowerBound: 1,
  checkPointUpperBound: 1_000,
} as const;

describe("persistent subscription checkpoints", () => {
  it("stream: acked events are checkpointed, and a restarted subscription resumes after the checkpoint", async () => {
    const { client } = es();
    const stream = uniqueStream("ps-ckpt");
    const group = uniqueGroup();
    await client.appendToStream(stream, testEvents(10));
    const settings = persistentSubscriptionToStreamSettingsFromDefaults(checkpointSettings);
    await client.createPersistentSubscriptionToStream(stream, group, settings);

    // first consumer: acks revisions 0..4, leaves 5..9 unacked
    const first = client.subscribeToPersistentSubscriptionToStream(stream, group);
    const firstLog = record<PersistentSubscriptionToStreamResolvedEvent>(first, async (e) => {
      if (e.event!.revision <= 4n) await first.ack(e);
    });
    try {
      await waitFor(() => firstLog.events.length >= 10, { what: "10 deliveries" });
      const info = await waitFor(
        async () => {
          const i = await client.getPersistentSubscriptionToStreamInfo(stream, group);
          return i.stats.lastCheckpointedEventRevision === 4n ? i : undefined;
        },
        { what: "checkpoint at revision 4", timeoutMs: 20_000 },
      );
      expect(info.stats.lastKnownEventRevision).toBe(9n);
      expect(info.stats.totalInFlightMessages).toBe(5);
      expect(info.connections[0]!.inFlightMessages).toBe(5);

      const checkpointStream = `$persistentsubscription-${stream}::${group}-checkpoint`;
      const [checkpoint] = await readStreamEvents(client, checkpointStream, { direction: BACKWARDS, fromRevision: END, maxCount: 1 });
      expect(checkpoint?.event?.type).toBe("$SubscriptionCheckpoint");
      // PersistentSubscriptionCheckpointWriter: `state.ToString().ToJson()` -> a JSON string
      expect(checkpoint?.event?.data).toBe("4");
    } finally {
      await first.unsubscribe();
    }

    // restart the subscription instance (an update reloads it from its checkpoint)
    await client.updatePersistentSubscriptionToStream(stream, group, settings);
    const second = client.subscribeToPersistentSubscriptionToStream(stream, group);
    const secondLog = record<PersistentSubscriptionToStreamResolvedEvent>(second, (e) => second.ack(e));
    try {
      await waitFor(() => secondLog.events.length >= 5, { what: "5 deliveries after the restart" });
      expect(secondLog.events.map((e) => e.event?.revision)).toEqual([5n, 6n, 7n, 8n, 9n]);
      await waitFor(
        async () => (await client.getPersistentSubscriptionToStreamInfo(stream, group)).stats.lastCheckpointedEventRevision === 9n,
        { what: "checkpoint at revision 9", timeoutMs: 20_000 },
      );
    } finally {
      await second.unsubscribe();
      await client.deletePersistentSubscriptionToStream(stream, group);
    }
  });

  it("$all with a stream-name filter: only matching events, each with a position; the checkpoint covers them", async () => {
    const { client } = es();
    const base = uniqueStream("ps-all-ckpt");
    const group = uniqueGroup("ps-all-ckpt");
    const startFrom = (await lastPositionInAll(client)) ?? START;
    await client.createPersistentSubscriptionToAll(
      group,
      persistentSubscriptionToAllSettingsFromDefaults({ ...checkpointSettings, startFrom }),
      { filter: streamNameFilter({ prefixes: [base] }) },
    );
    const ours = [...testEvents(2, "AllA"), ...testEvents(2, "AllB")];
    await client.appendToStream(`${base}-1`, ours.slice(0, 2));
    await client.appendToStream(uniqueStream("ps-all-ckpt-noise"), testEvents(3, "Noise"));
    await client.appendToStream(`${base}-2`, ours.slice(2));

    const subscription = client.subscribeToPersistentSubscriptionToAll(group);
    const log = record<PersistentSubscriptionToAllResolvedEvent>(subscription, (e) => subscription.ack(e));
    try {
      await waitFor(() => log.events.length >= 4, { what: "4 deliveries" });
      expect(log.errors).toEqual([]);
      expect(log.events.map((e) => e.event?.id)).toEqual(ours.map((e) => e.id));
      expect(log.events.every((e) => e.event!.streamId.startsWith(base))).toBe(true);
      expect(log.events.every((e) => e.event!.position !== undefined && e.retryCount === 0)).toBe(true);
      const lastOurs = log.events[3]!.event!.position;

      const info = await waitFor(
        async () => {
          const i = await client.getPersistentSubscriptionToAllInfo(group);
          const checkpoint = i.stats.lastCheckpointedEventPosition;
          return checkpoint && comparePositions(checkpoint, lastOurs) >= 0 ? i : undefined;
        },
        { what: "a checkpoint at or after the last delivered event", timeoutMs: 20_000 },
      );
      expect(info.stats.lastKnownEventPosition).toBeDefined();
      expect(info.connections).toHaveLength(1);

      // live events after the checkpoint are delivered too
      const live = testEvents(1, "AllLive");
      await client.appendToStream(`${base}-3`, live);
      await waitFor(() => log.events.length >= 5, { what: "the live event" });
      expect(log.events[4]!.event?.id).toBe(live[0]!.id);
    } finally {
      await subscription.unsubscribe();
      await client.deletePersistentSubscriptionToAll(group);
    }
  });
});
