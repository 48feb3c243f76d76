/**
 * Soft delete (deleteStream) and hard delete (tombstoneStream).
 *
 * Server semantics (EventStore 24.10):
 * - Soft delete writes `$tb` = long.MaxValue into the stream's metadata: reads give StreamNotFound;
 *   the events stay in $all until scavenged.
 * - The next append "undeletes" the stream (`StorageWriterService.SoftUndeleteStream`): revisions continue
 *   from the old last revision + 1 and reads show only the new events. `IndexWriter.CheckCommit` accepts
 *   ANY, NO_STREAM ("expectedVersion == NoStream && IsSoftDeleted -> Ok") and the exact last revision,
 *   but rejects STREAM_EXISTS on a soft-deleted stream with StreamDeleted.
 * - Tombstone: reads, appends, deletes and tombstones give StreamDeleted; a `$streamDeleted` record
 *   for the stream appears in $all.
 */
import { describe, expect, it } from "vitest";
import {
  ANY,
  BACKWARDS,
  END,
  NO_STREAM,
  STREAM_EXISTS,
  StreamDeletedError,
  StreamNotFoundError,
  WrongExpectedVersionError,
} from "@eventstore/db-client";
import {
  APPEND_PATHS,
  collect,
  expectWrongVersion,
  oneEvent,
  readAllEvents,
  readStreamEvents,
  rejectionOf,
  streamWith,
  testEvents,
  uniqueStream,
  useEventStore,
} from "./support.js";

const es = useEventStore();

describe("deleteStream (soft delete)", () => {
  it("makes reads fail with StreamNotFoundError, in both directions", async () => {
    const { client } = es();
    const stream = await streamWith(client, "del-soft", 3);
    const result = await client.deleteStream(stream);
    expect(result.position).toBeDefined();
    await expect(readStreamEvents(client, stream)).rejects.toBeInstanceOf(StreamNotFoundError);
    await expect(collect(client.readStream(stream, { direction: BACKWARDS, fromRevision: END }))).rejects.toBeInstanceOf(
      StreamNotFoundError,
    );
  });

  it("keeps the events in $all", async () => {
    const { client } = es();
    const stream = uniqueStream("del-soft-all");
    const events = testEvents(3);
    await client.appendToStream(stream, events);
    const [first] = await readStreamEvents(client, stream, { maxCount: 1 });
    await client.deleteStream(stream);
    const inAll = await readAllEvents(client, { fromPosition: first!.event!.position!, maxCount: 3 });
    expect(inAll.map((e) => e.event?.id)).toEqual(events.map((e) => e.id));
  });

  it("with the right expected revision succeeds; with a wrong one -> WrongExpectedVersionError", async () => {
    const { client } = es();
    const stream = await streamWith(client, "del-soft-expected", 3);
    const error = await rejectionOf(client.deleteStream(stream, { expectedRevision: 0n }));
    expectWrongVersion(error, stream, 0n, 2n);
    await client.deleteStream(stream, { expectedRevision: 2n });
    await expect(readStreamEvents(client, stream)).rejects.toBeInstanceOf(StreamNotFoundError);
  });

  it("of a stream that does not exist -> WrongExpectedVersionError, even with ANY", async () => {
    // StorageWriterService.WriteDelete (soft): no events and no metadata -> CommitDecision.WrongExpectedVersion
    const { client } = es();
    const stream = uniqueStream("del-soft-missing");
    const error = await rejectionOf(client.deleteStream(stream, { expectedRevision: ANY }));
    expect(error).toBeInstanceOf(WrongExpectedVersionError);
    expect((error as WrongExpectedVersionError).streamName).toBe(stream);
  });

  describe.each(APPEND_PATHS)("appending afterwards via $path", ({ options }) => {
    it("with ANY continues the revision numbering; reads show only the new events", async () => {
      const { client } = es();
      const stream = uniqueStream("del-soft-reuse");
      await client.appendToStream(stream, testEvents(3), options);
      await client.deleteStream(stream);
      const fresh = testEvents(2, "AfterDelete");
      const result = await client.appendToStream(stream, fresh, { ...options, expectedRevision: ANY });
      expect(result.nextExpectedRevision).toBe(4n);
      const events = await readStreamEvents(client, stream);
      expect(events.map((e) => e.event?.id)).toEqual(fresh.map((e) => e.id));
      expect(events.map((e) => e.event?.revision)).toEqual([3n, 4n]);
      const backwards = await readStreamEvents(client, stream, { direction: BACKWARDS, fromRevision: END });
      expect(backwards.map((e) => e.event?.revision)).toEqual([4n, 3n]);
    });

    it("with NO_STREAM is accepted and continues the numbering", async () => {
      const { client } = es();
      const stream = uniqueStream("del-soft-nostream");
      await client.appendToStream(stream, testEvents(3), options);
      await client.deleteStream(stream);
      const result = await client.appendToStream(stream, oneEvent("Again"), { ...options, expectedRevision: NO_STREAM });
      expect(result.nextExpectedRevision).toBe(3n);
      const events = await readStreamEvents(client, stream);
      expect(events.map((e) => e.event?.revision)).toEqual([3n]);
    });

    it("with the last revision before the delete is accepted", async () => {
      const { client } = es();
      const stream = uniqueStream("del-soft-exact");
      await client.appendToStream(stream, testEvents(3), options);
      await client.deleteStream(stream);
      const result = await client.appendToStream(stream, oneEvent("Again"), { ...options, expectedRevision: 2n });
      expect(result.nextExpectedRevision).toBe(3n);
    });

    it("with STREAM_EXISTS -> StreamDeletedError", async () => {
      const { client } = es();
      const stream = uniqueStream("del-soft-exists");
      await client.appendToStream(stream, testEvents(3), options);
      await client.deleteStream(stream);
      const error = await rejectionOf(client.appendToStream(stream, oneEvent(), { ...options, expectedRevision: STREAM_EXISTS }));
      expect(error).toBeInstanceOf(StreamDeletedError);
      expect((error as StreamDeletedError).streamName).toBe(stream);
    });
  });
});

describe("tombstoneStream (hard delete)", () => {
  it("makes reads fail with StreamDeletedError", async () => {
    const { client } = es();
    const stream = await streamWith(client, "del-hard", 2);
    const result = await client.tombstoneStream(stream);
    expect(result.position).toBeDefined();
    const error = await rejectionOf(readStreamEvents(client, stream));
    expect(error).toBeInstanceOf(StreamDeletedError);
    expect((error as StreamDeletedError).streamName).toBe(stream);
    await expect(collect(client.readStream(stream, { direction: BACKWARDS, fromRevision: END }))).rejects.toBeInstanceOf(
      StreamDeletedError,
    );
  });

  it.each(APPEND_PATHS)("makes appends fail with StreamDeletedError via $path, whatever the expected revision", async ({ options }) => {
    const { client } = es();
    const stream = uniqueStream("del-hard-append");
    await client.appendToStream(stream, testEvents(2), options);
    await client.tombstoneStream(stream);
    for (const expectedRevision of [ANY, NO_STREAM, STREAM_EXISTS, 1n] as const) {
      const error = await rejectionOf(client.appendToStream(stream, oneEvent(), { ...options, expectedRevision }));
      expect(error, `expectedRevision ${String(expectedRevision)}`).toBeInstanceOf(StreamDeletedError);
      expect((error as StreamDeletedError).streamName).toBe(stream);
    }
  });

  it("tombstoning twice -> StreamDeletedError; soft-deleting a tombstoned stream -> StreamDeletedError", async () => {
    const { client } = es();
    const stream = await streamWith(client, "del-hard-twice", 1);
    await client.tombstoneStream(stream);
    const again = await rejectionOf(client.tombstoneStream(stream));
    expect(again).toBeInstanceOf(StreamDeletedError);
    expect((again as StreamDeletedError).streamName).toBe(stream);
    await expect(client.deleteStream(stream)).rejects.toBeInstanceOf(StreamDeletedError);
  });

  it("a soft-deleted stream can still be tombstoned", async () => {
    const { client } = es();
    const stream = await streamWith(client, "del-soft-then-hard", 1);
    await client.deleteStream(stream);
    await client.tombstoneStream(stream);
    await expect(readStreamEvents(client, stream)).rejects.toBeInstanceOf(StreamDeletedError);
  });

  it("a stream that never existed can be tombstoned with NO_STREAM, and then cannot be created", async () => {
    const { client } = es();
    const stream = uniqueStream("del-hard-new");
    await client.tombstoneStream(stream, { expectedRevision: NO_STREAM });
    await expect(readStreamEvents(client, stream)).rejects.toBeInstanceOf(StreamDeletedError);
    await expect(client.appendToStream(stream, oneEvent(), { expectedRevision: NO_STREAM })).rejects.toBeInstanceOf(StreamDeletedError);
  });

  it("with a wrong expected revision -> WrongExpectedVersionError and the stream survives", async () => {
    const { client } = es();
    const stream = await streamWith(client, "del-hard-wev", 2);
    const error = await rejectionOf(client.tombstoneStream(stream, { expectedRevision: 5n }));
    expect(error).toBeInstanceOf(WrongExpectedVersionError);
    expect((error as WrongExpectedVersionError).expectedVersion).toBe(5n);
    expect((error as WrongExpectedVersionError).actualVersion).toBe(1n);
    expect(await readStreamEvents(client, stream)).toHaveLength(2);
  });

  it("writes a $streamDeleted record for the stream into $all", async () => {
    const { client } = es();
    const stream = await streamWith(client, "del-hard-all", 1);
    const { position } = await client.tombstoneStream(stream);
    const [tombstone] = await readAllEvents(client, { fromPosition: position!, maxCount: 1 });
    expect(tombstone?.event?.streamId).toBe(stream);
    expect(tombstone?.event?.type).toBe("$streamDeleted");
  });
});
