/**
 * Durability of the embedded server: stop() and start again on the same dataDir.
 *
 * Embedded only (describe.skipIf(EVENTSTORE_URL)): this is about the embedded server's own storage;
 * a real EventStoreDB cannot be restarted from a test, and its durability is not ours to prove.
 * The same checks against a crash (SIGKILL) are in cli.test.ts.
 */
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  EventStoreDBClient,
  START,
  StreamDeletedError,
  StreamNotFoundError,
  binaryEvent,
  jsonEvent,
  persistentSubscriptionToAllSettingsFromDefaults,
  persistentSubscriptionToStreamSettingsFromDefaults,
  streamNameFilter,
  type AllStreamResolvedEvent,
  type PersistentSubscriptionToAllResolvedEvent,
  type PersistentSubscriptionToStreamResolvedEvent,
} from "@eventstore/db-client";
import type { EmbeddedEventStore } from "../../src/embedded-eventstore/index.js";
import { collect, isRealServer, readStreamEvents, record, testEvents, uniqueGroup, uniqueStream, waitFor } from "./support.js";

describe.skipIf(isRealServer)(
  "embedded server: restart on the same dataDir (embedded only; a real server is not restarted by tests)",
  () => {
    let dataDir: string;
    const servers: EmbeddedEventStore[] = [];
    const clients: EventStoreDBClient[] = [];

    async function start(): Promise<{ server: EmbeddedEventStore; client: EventStoreDBClient }> {
      const { startEmbeddedEventStore } = await import("../../src/embedded-eventstore/index.js");
      const server = await startEmbeddedEventStore({ port: 0, dataDir });
      servers.push(server);
      const client = EventStoreDBClient.connectionString(server.connectionString);
      clients.push(client);
      return { server, client };
    }

    async function stop(server: EmbeddedEventStore, client: EventStoreDBClient) {
      await client.dispose();
      await server.stop();
      servers.splice(servers.indexOf(server), 1);
    }

    beforeAll(async () => {
      dataDir = await mkdtemp(path.join(os.tmpdir(), "esdb-durability-"));
    });

    afterAll(async () => {
      await Promise.allSettled(clients.map((c) => c.dispose()));
      await Promise.allSettled(servers.map((s) => s.stop()));
      await rm(dataDir, { recursive: true, force: true });
    });

    it("events, positions, metadata, deletions and persistent-subscription checkpoints survive a restart", async () => {
      // ---- first life -------------------------------------------------------------------------
      let { server, client } = await start();
      const streamA = uniqueStream("dur-a");
      const streamB = uniqueStream("dur-b");
      const softDeleted = uniqueStream("dur-soft");
      const tombstoned = uniqueStream("dur-hard");
      const group = uniqueGroup();
      const allGroup = uniqueGroup("dur-all");

      await client.appendToStream(streamA, testEvents(6, "A"));
      await client.appendToStream(streamB, [
        jsonEvent({ type: "B", data: { text: "한국어 ✓" }, metadata: { $correlationId: "x" } }),
        binaryEvent({ type: "Bin", data: new Uint8Array([0, 255, 1, 254]) }),
      ]);
      const a2 = testEvents(4, "A2");
      const a2Result = await client.appendToStream(streamA, a2, { expectedRevision: 5n });
      await client.setStreamMetadata(streamB, { maxAge: 86_400, custom: "kept" });
      await client.appendToStream(softDeleted, testEvents(3));
      await client.deleteStream(softDeleted);
      await client.appendToStream(tombstoned, testEvents(1));
      await client.tombstoneStream(tombstoned);

      const settings = persistentSubscriptionToStreamSettingsFromDefaults({
        startFrom: START,
        checkPointAfter: 100,
        checkPointLowerBound: 1,
        messageTimeout: 60_000,
      });
      await client.createPersistentSubscriptionToStream(streamA, group, settings);
      const allSettings = persistentSubscriptionToAllSettingsFromDefaults({ startFrom: START });
      await client.createPersistentSubscriptionToAll(allGroup, allSettings, { filter: streamNameFilter({ prefixes: [streamB] }) });

      // ack revisions 0..4 of streamA, leave the rest in flight
      const consumer = client.subscribeToPersistentSubscriptionToStream(streamA, group);
      const consumed = record<PersistentSubscriptionToStreamResolvedEvent>(consumer, async (e) => {
        if (e.event!.revision <= 4n) await consumer.ack(e);
      });
      await waitFor(() => consumed.events.length >= 10, { what: "10 deliveries" });
      await waitFor(
        async () => (await client.getPersistentSubscriptionToStreamInfo(streamA, group)).stats.lastCheckpointedEventRevision === 4n,
        { what: "checkpoint at revision 4", timeoutMs: 20_000 },
      );
      await consumer.unsubscribe();

      const allBefore: AllStreamResolvedEvent[] = await collect(client.readAll({ fromPosition: START }));
      const aBefore = await readStreamEvents(client, streamA);
      const bBefore = await readStreamEvents(client, streamB);
      const metaBefore = await client.getStreamMetadata(streamB);
      expect(aBefore).toHaveLength(10);
      await stop(server, client);

      // ---- second life ------------------------------------------------------------------------
      ({ server, client } = await start());

      const allAfter = await collect(client.readAll({ fromPosition: START }));
      expect(allAfter.length).toBeGreaterThanOrEqual(allBefore.length);
      expect(allAfter.slice(0, allBefore.length)).toEqual(allBefore); // ids, revisions, positions, created, data, metadata
      expect(await readStreamEvents(client, streamA)).toEqual(aBefore);
      expect(await readStreamEvents(client, streamB)).toEqual(bBefore);
      expect(await client.getStreamMetadata(streamB)).toEqual(metaBefore);
      await expect(readStreamEvents(client, softDeleted)).rejects.toBeInstanceOf(StreamNotFoundError);
      await expect(readStreamEvents(client, tombstoned)).rejects.toBeInstanceOf(StreamDeletedError);
      await expect(client.appendToStream(tombstoned, testEvents(1))).rejects.toBeInstanceOf(StreamDeletedError);

      // idempotency by expected revision still holds for events written before the restart
      const again = await client.appendToStream(streamA, a2, { expectedRevision: 5n });
      expect(again.nextExpectedRevision).toBe(9n);
      expect(again.position).toEqual(a2Result.position);
      expect(await readStreamEvents(client, streamA)).toHaveLength(10);

      // appends continue the numbering, at later positions
      const next = await client.appendToStream(streamA, testEvents(1, "AfterRestart"), { expectedRevision: 9n });
      expect(next.nextExpectedRevision).toBe(10n);
      expect(next.position!.commit).toBeGreaterThan(aBefore[9]!.event!.position!.commit);
      const revived = await client.appendToStream(softDeleted, testEvents(1), { expectedRevision: 2n });
      expect(revived.nextExpectedRevision).toBe(3n);
      expect((await readStreamEvents(client, softDeleted)).map((e) => e.event?.revision)).toEqual([3n]);

      // persistent subscriptions are still there, with their settings, and resume after the checkpoint
      const info = await client.getPersistentSubscriptionToStreamInfo(streamA, group);
      expect(info.settings).toEqual(settings);
      expect(info.stats.lastCheckpointedEventRevision).toBe(4n);
      expect((await client.getPersistentSubscriptionToAllInfo(allGroup)).settings).toEqual(allSettings);

      const resumed = client.subscribeToPersistentSubscriptionToStream(streamA, group);
      const resumedLog = record<PersistentSubscriptionToStreamResolvedEvent>(resumed, (e) => resumed.ack(e));
      try {
        await waitFor(() => resumedLog.events.length >= 6, { what: "6 deliveries after the restart" });
        expect(resumedLog.events.map((e) => e.event?.revision)).toEqual([5n, 6n, 7n, 8n, 9n, 10n]);
      } finally {
        await resumed.unsubscribe();
      }

      const allConsumer = client.subscribeToPersistentSubscriptionToAll(allGroup);
      const allLog = record<PersistentSubscriptionToAllResolvedEvent>(allConsumer, (e) => allConsumer.ack(e));
      try {
        await waitFor(() => allLog.events.length >= 2, { what: "the $all group's events" });
        expect(allLog.events.map((e) => e.event?.id)).toEqual(bBefore.map((e) => e.event?.id));
      } finally {
        await allConsumer.unsubscribe();
      }
      await stop(server, client);
    }, 120_000);
  },
);
