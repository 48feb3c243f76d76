/**
 * Stream metadata: setStreamMetadata / getStreamMetadata and its effect on reads.
 *
 * The client writes a JSON `$metadata` event to `$$<stream>` with the system keys `$maxCount`, `$maxAge`,
 * `$tb`, `$cacheControl`, `$acl` (`$r`, `$w`, `$d`, `$mr`, `$mw`) and custom keys as given, and reads
 * the last event of `$$<stream>` back (dist/streams/utils/streamMetadata.js). Metastreams keep only their
 * latest event visible (implicit `$maxCount` 1, ESConsts.MetaStreamMaxCount). The server enforces
 * `$maxCount` and `$tb` on reads (IndexReader: `minEventNumber = lastEventNumber - MaxCount + 1`,
 * `TruncateBefore`), without touching $all until a scavenge.
 */
import { describe, expect, it } from "vitest";
import { BACKWARDS, END, NO_STREAM, STREAM_EXISTS, WrongExpectedVersionError } from "@eventstore/db-client";
import { oneEvent, readAllEvents, readStreamEvents, rejectionOf, streamWith, uniqueStream, useEventStore } from "./support.js";

const es = useEventStore();

describe("stream metadata", () => {
  it("getStreamMetadata of a stream without metadata returns no metadata", async () => {
    const { client } = es();
    const stream = uniqueStream("meta-none");
    await client.appendToStream(stream, oneEvent());
    const result = await client.getStreamMetadata(stream);
    expect(result.streamName).toBe(stream);
    expect(result.metadata).toBeUndefined();
  });

  it("set/get round-trips system and custom keys; each set is a new revision of $$<stream>", async () => {
    const { client } = es();
    const stream = uniqueStream("meta-roundtrip");
    const metadata = {
      maxCount: 50,
      maxAge: 3600,
      cacheControl: 60,
      acl: { readRoles: ["$admins", "reader"], writeRoles: ["$admins"] },
      tenant: "acme",
      nested: { a: [1, 2] },
    };
    const first = await client.setStreamMetadata(stream, metadata);
    expect(first.nextExpectedRevision).toBe(0n);
    const read = await client.getStreamMetadata(stream);
    expect(read.streamName).toBe(stream);
    expect(read.metadata).toEqual(metadata);

    const second = await client.setStreamMetadata(stream, { maxCount: 7 });
    expect(second.nextExpectedRevision).toBe(1n);
    expect((await client.getStreamMetadata(stream)).metadata).toEqual({ maxCount: 7 });

    // a metastream has an implicit $maxCount of 1 (ESConsts.MetaStreamMaxCount): a read shows only the latest
    const raw = await readStreamEvents(client, `$$${stream}`);
    expect(raw.map((e) => e.event?.type)).toEqual(["$metadata"]);
    expect(raw[0]!.event!.revision).toBe(1n);
    expect(raw[0]!.event!.data).toEqual({ $maxCount: 7 });
    // the first one is still in $all, with the raw keys the client wrote
    const [firstRaw] = await readAllEvents(client, { fromPosition: first.position!, maxCount: 1 });
    expect(firstRaw?.event?.streamId).toBe(`$$${stream}`);
    expect(firstRaw?.event?.data).toEqual({
      $maxCount: 50,
      $maxAge: 3600,
      $cacheControl: 60,
      $acl: { $r: ["$admins", "reader"], $w: ["$admins"] },
      tenant: "acme",
      nested: { a: [1, 2] },
    });
  });

  it("setStreamMetadata honours its expected revision (on $$<stream>)", async () => {
    const { client } = es();
    const stream = uniqueStream("meta-expected");
    await client.setStreamMetadata(stream, { maxCount: 1 }, { expectedRevision: NO_STREAM });
    const error = await rejectionOf(client.setStreamMetadata(stream, { maxCount: 2 }, { expectedRevision: NO_STREAM }));
    expect(error).toBeInstanceOf(WrongExpectedVersionError);
    expect((error as WrongExpectedVersionError).streamName).toBe(`$$${stream}`);
    expect((error as WrongExpectedVersionError).actualVersion).toBe(0n);
    await client.setStreamMetadata(stream, { maxCount: 2 }, { expectedRevision: 0n });
    expect((await client.getStreamMetadata(stream)).metadata).toEqual({ maxCount: 2 });
  });

  it("maxCount is enforced on reads: only the newest maxCount events are returned", async () => {
    const { client } = es();
    const stream = await streamWith(client, "meta-maxcount", 5);
    await client.setStreamMetadata(stream, { maxCount: 2 });
    const forwards = await readStreamEvents(client, stream);
    expect(forwards.map((e) => e.event?.revision)).toEqual([3n, 4n]);
    const backwards = await readStreamEvents(client, stream, { direction: BACKWARDS, fromRevision: END });
    expect(backwards.map((e) => e.event?.revision)).toEqual([4n, 3n]);
    await client.appendToStream(stream, oneEvent());
    const after = await readStreamEvents(client, stream);
    expect(after.map((e) => e.event?.revision)).toEqual([4n, 5n]);
  });

  it("truncateBefore hides earlier events from reads", async () => {
    const { client } = es();
    const stream = await streamWith(client, "meta-tb", 5);
    await client.setStreamMetadata(stream, { truncateBefore: 3 });
    const events = await readStreamEvents(client, stream);
    expect(events.map((e) => e.event?.revision)).toEqual([3n, 4n]);
  });

  it("metadata can be set before the stream exists; STREAM_EXISTS then accepts the first append", async () => {
    // IndexWriter.CheckCommit: StreamExists with no events is OK when the metastream has events
    const { client } = es();
    const stream = uniqueStream("meta-first");
    await client.setStreamMetadata(stream, { custom: true });
    const result = await client.appendToStream(stream, oneEvent(), { expectedRevision: STREAM_EXISTS });
    expect(result.nextExpectedRevision).toBe(0n);
    expect((await client.getStreamMetadata(stream)).metadata).toEqual({ custom: true });
  });
});
