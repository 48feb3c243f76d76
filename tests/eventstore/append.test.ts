/**
 * appendToStream: expected-revision kinds, results, WrongExpectedVersion details, on both RPCs.
 *
 * The client picks the RPC from ServerFeatures: `Streams/BatchAppend` when the server advertises it,
 * `Streams/Append` otherwise. There is no public switch to disable BatchAppend, but passing per-call
 * `credentials` makes the client use `Append` (dist/streams/appendToStream/index.js), and with
 * `tls=false` the credentials themselves are dropped by the client. So every case below runs on both
 * paths. (On BatchAppend a wrong expected version arrives as a google.rpc.Status packing
 * `WrongExpectedVersion`; on Append as the `wrong_expected_version` field of AppendResp.)
 *
 * Server semantics: EventStore 24.10 `IndexWriter.CheckCommit` and `Streams.Append.cs` /
 * `Streams.BatchAppend.cs`.
 */
import { describe, expect, it } from "vitest";
import { ANY, NO_STREAM, STREAM_EXISTS, StreamNotFoundError, WrongExpectedVersionError } from "@eventstore/db-client";
import {
  APPEND_PATHS,
  FORCE_APPEND_RPC,
  comparePositions,
  expectWrongVersion,
  oneEvent,
  readStreamEvents,
  rejectionOf,
  streamWith,
  testEvents,
  uniqueStream,
  useEventStore,
} from "./support.js";

const es = useEventStore();

describe.each(APPEND_PATHS)("appendToStream via $path", ({ options }) => {
  it("ANY creates the stream and continues it; results carry nextExpectedRevision and position", async () => {
    const { client } = es();
    const stream = uniqueStream("append-any");

    const first = await client.appendToStream(stream, oneEvent(), { ...options, expectedRevision: ANY });
    expect(first.success).toBe(true);
    expect(first.nextExpectedRevision).toBe(0n);
    expect(first.position).toBeDefined();

    const second = await client.appendToStream(stream, testEvents(3), { ...options, expectedRevision: ANY });
    expect(second.success).toBe(true);
    expect(second.nextExpectedRevision).toBe(3n);
    expect(second.position).toBeDefined();
    expect(comparePositions(second.position!, first.position!)).toBeGreaterThan(0);

    // The position of an append is the position of its LAST event (StorageChaser.CommitAck uses the
    // log position of the TransactionEnd prepare), i.e. what a read reports for that event.
    const events = await readStreamEvents(client, stream);
    expect(events.map((e) => e.event?.revision)).toEqual([0n, 1n, 2n, 3n]);
    expect(events[0]!.event!.position).toEqual(first.position);
    expect(events[3]!.event!.position).toEqual(second.position);
  });

  it("defaults to ANY when no expectedRevision is given", async () => {
    const { client } = es();
    const stream = uniqueStream("append-default");
    await client.appendToStream(stream, oneEvent(), options);
    const result = await client.appendToStream(stream, oneEvent(), options);
    expect(result.nextExpectedRevision).toBe(1n);
  });

  it("NO_STREAM succeeds on a new stream", async () => {
    const { client } = es();
    const stream = uniqueStream("append-nostream");
    const result = await client.appendToStream(stream, testEvents(2), { ...options, expectedRevision: NO_STREAM });
    expect(result.success).toBe(true);
    expect(result.nextExpectedRevision).toBe(1n);
  });

  it("NO_STREAM on an existing stream -> WrongExpectedVersionError(expected no_stream, actual = last revision)", async () => {
    const { client } = es();
    const stream = uniqueStream("append-nostream-wev");
    await client.appendToStream(stream, testEvents(3), options);

    const error = await rejectionOf(client.appendToStream(stream, oneEvent(), { ...options, expectedRevision: NO_STREAM }));
    expectWrongVersion(error, stream, NO_STREAM, 2n);
    expect(await readStreamEvents(client, stream)).toHaveLength(3);
  });

  it("STREAM_EXISTS succeeds on an existing stream", async () => {
    const { client } = es();
    const stream = uniqueStream("append-exists");
    await client.appendToStream(stream, oneEvent(), options);
    const result = await client.appendToStream(stream, oneEvent(), { ...options, expectedRevision: STREAM_EXISTS });
    expect(result.success).toBe(true);
    expect(result.nextExpectedRevision).toBe(1n);
  });

  it("STREAM_EXISTS on a missing stream -> WrongExpectedVersionError(expected stream_exists, actual no_stream)", async () => {
    const { client } = es();
    const stream = uniqueStream("append-exists-wev");
    const error = await rejectionOf(client.appendToStream(stream, oneEvent(), { ...options, expectedRevision: STREAM_EXISTS }));
    expectWrongVersion(error, stream, STREAM_EXISTS, NO_STREAM);
    await expect(readStreamEvents(client, stream)).rejects.toBeInstanceOf(StreamNotFoundError);
  });

  it("an exact revision equal to the last revision succeeds", async () => {
    const { client } = es();
    const stream = uniqueStream("append-exact");
    const created = await client.appendToStream(stream, testEvents(2), options);
    const result = await client.appendToStream(stream, testEvents(2), {
      ...options,
      expectedRevision: created.nextExpectedRevision,
    });
    expect(result.success).toBe(true);
    expect(result.nextExpectedRevision).toBe(3n);
  });

  for (const { name, prefix, expectedRevision } of [
    {
      name: "a stale exact revision -> WrongExpectedVersionError(expected = given, actual = last revision)",
      prefix: "append-exact-stale",
      expectedRevision: 0n,
    },
    { name: "an exact revision ahead of the stream -> WrongExpectedVersionError", prefix: "append-exact-ahead", expectedRevision: 10n },
  ]) {
    it(name, async () => {
      const { client } = es();
      const stream = uniqueStream(prefix);
      await client.appendToStream(stream, testEvents(3), options);

      const error = await rejectionOf(client.appendToStream(stream, oneEvent(), { ...options, expectedRevision }));
      expectWrongVersion(error, stream, expectedRevision, 2n);
    });
  }

  it("an exact revision on a missing stream -> WrongExpectedVersionError(actual no_stream)", async () => {
    const { client } = es();
    const stream = uniqueStream("append-exact-missing");
    const error = await rejectionOf(client.appendToStream(stream, oneEvent(), { ...options, expectedRevision: 0n }));
    expectWrongVersion(error, stream, 0n, NO_STREAM);
  });

  it("optimistic concurrency: of two writers expecting the same revision exactly one wins", async () => {
    const { client } = es();
    const stream = uniqueStream("append-race");
    const created = await client.appendToStream(stream, oneEvent(), options);
    const results = await Promise.allSettled([
      client.appendToStream(stream, oneEvent("A"), { ...options, expectedRevision: created.nextExpectedRevision }),
      client.appendToStream(stream, oneEvent("B"), { ...options, expectedRevision: created.nextExpectedRevision }),
    ]);
    const fulfilled = results.filter((r) => r.status === "fulfilled");
    const rejected = results.filter((r): r is PromiseRejectedResult => r.status === "rejected");
    expect(fulfilled).toHaveLength(1);
    expect(rejected).toHaveLength(1);
    expect(rejected[0]!.reason).toBeInstanceOf(WrongExpectedVersionError);
    expect((rejected[0]!.reason as WrongExpectedVersionError).actualVersion).toBe(1n);
    expect(await readStreamEvents(client, stream)).toHaveLength(2);
  });

  describe("idempotent re-append of the same event ids", () => {
    it("same events, same expected revision (NO_STREAM) -> success with the same revision and position, nothing written", async () => {
      const { client } = es();
      const stream = uniqueStream("append-idem-nostream");
      const events = testEvents(2);
      const first = await client.appendToStream(stream, events, { ...options, expectedRevision: NO_STREAM });
      const again = await client.appendToStream(stream, events, { ...options, expectedRevision: NO_STREAM });
      expect(again.success).toBe(true);
      expect(again.nextExpectedRevision).toBe(first.nextExpectedRevision);
      expect(again.position).toEqual(first.position);
      const read = await readStreamEvents(client, stream);
      expect(read.map((e) => e.event?.id)).toEqual(events.map((e) => e.id));
    });

    it("same events, same exact expected revision -> success with the same revision and position", async () => {
      const { client } = es();
      const stream = uniqueStream("append-idem-exact");
      await client.appendToStream(stream, testEvents(2), options);
      const next = testEvents(2);
      const first = await client.appendToStream(stream, next, { ...options, expectedRevision: 1n });
      expect(first.nextExpectedRevision).toBe(3n);
      const again = await client.appendToStream(stream, next, { ...options, expectedRevision: 1n });
      expect(again.success).toBe(true);
      expect(again.nextExpectedRevision).toBe(3n);
      expect(again.position).toEqual(first.position);
      expect(await readStreamEvents(client, stream)).toHaveLength(4);
    });

    it("same events re-appended with ANY -> success, reported at their original revision, nothing written", async () => {
      const { client } = es();
      const stream = uniqueStream("append-idem-any");
      const events = testEvents(2);
      const first = await client.appendToStream(stream, events, { ...options, expectedRevision: ANY });
      await client.appendToStream(stream, oneEvent("Later"), options); // stream now at revision 2
      const again = await client.appendToStream(stream, events, { ...options, expectedRevision: ANY });
      expect(again.success).toBe(true);
      // IndexWriter.CheckCommit (Any): Idempotent(start, end = revision of the last re-sent event)
      expect(again.nextExpectedRevision).toBe(1n);
      expect(again.position).toEqual(first.position);
      const read = await readStreamEvents(client, stream);
      expect(read).toHaveLength(3);
      expect(read.map((e) => e.event?.type)).toEqual(["TestEvent", "TestEvent", "Later"]);
    });

    it("a batch that only partly matches what was written (corrupted idempotency) -> WrongExpectedVersionError", async () => {
      const { client } = es();
      const stream = uniqueStream("append-idem-partial");
      const written = testEvents(2);
      const e0 = written[0]!;
      await client.appendToStream(stream, written, { ...options, expectedRevision: NO_STREAM });
      const error = await rejectionOf(
        client.appendToStream(stream, [e0, oneEvent("Different")], { ...options, expectedRevision: NO_STREAM }),
      );
      expect(error).toBeInstanceOf(WrongExpectedVersionError);
      expect((error as WrongExpectedVersionError).expectedVersion).toBe(NO_STREAM);
      expect((error as WrongExpectedVersionError).actualVersion).toBe(1n);
      expect(await readStreamEvents(client, stream)).toHaveLength(2);
    });

    it("the same with ANY (the only way ANY can fail on a live stream) -> WrongExpectedVersionError(expected any)", async () => {
      const { client } = es();
      const stream = uniqueStream("append-idem-partial-any");
      const written = testEvents(2);
      await client.appendToStream(stream, written, { ...options, expectedRevision: ANY });
      const error = await rejectionOf(
        client.appendToStream(stream, [written[0]!, oneEvent("Different")], { ...options, expectedRevision: ANY }),
      );
      expectWrongVersion(error, stream, ANY, 1n);
      expect(await readStreamEvents(client, stream)).toHaveLength(2);
    });
  });

  describe("appending an empty array of events", () => {
    it("to an existing stream succeeds, reports the current revision and writes nothing", async () => {
      const { client } = es();
      const stream = uniqueStream("append-empty");
      await client.appendToStream(stream, testEvents(3), options);
      const result = await client.appendToStream(stream, [], { ...options, expectedRevision: ANY });
      expect(result.success).toBe(true);
      expect(result.nextExpectedRevision).toBe(2n);
      const exact = await client.appendToStream(stream, [], { ...options, expectedRevision: 2n });
      expect(exact.nextExpectedRevision).toBe(2n);
      expect(await readStreamEvents(client, stream)).toHaveLength(3);
    });

    it("to a missing stream succeeds with ANY and NO_STREAM and does not create the stream", async () => {
      const { client } = es();
      const stream = uniqueStream("append-empty-new");
      expect((await client.appendToStream(stream, [], { ...options, expectedRevision: ANY })).success).toBe(true);
      expect((await client.appendToStream(stream, [], { ...options, expectedRevision: NO_STREAM })).success).toBe(true);
      await expect(readStreamEvents(client, stream)).rejects.toBeInstanceOf(StreamNotFoundError);
    });

    it("with a wrong exact revision -> WrongExpectedVersionError", async () => {
      const { client } = es();
      const stream = uniqueStream("append-empty-wev");
      await client.appendToStream(stream, testEvents(3), options);
      const error = await rejectionOf(client.appendToStream(stream, [], { ...options, expectedRevision: 7n }));
      expect(error).toBeInstanceOf(WrongExpectedVersionError);
      expect((error as WrongExpectedVersionError).actualVersion).toBe(2n);
    });
  });
});

describe("appendToStream with throwOnAppendFailure=false (plain Append RPC)", () => {
  it("reports a wrong expected version as success=false with the current revision instead of throwing", async () => {
    const { newClient, connectionString } = es();
    const separator = connectionString.includes("?") ? "&" : "?";
    const client = newClient(`${connectionString}${separator}throwOnAppendFailure=false`);
    const stream = await streamWith(client, "append-nothrow", 3);
    // Only the Append path maps the current revision correctly in this client version
    // (batchAppend.js has `BigInt(hasCurrentStreamRevision())`), so force it.
    const result = await client.appendToStream(stream, oneEvent(), { ...FORCE_APPEND_RPC, expectedRevision: 0n });
    expect(result.success).toBe(false);
    expect(result.nextExpectedRevision).toBe(2n);
    expect(result.position).toBeUndefined();

    const missing = await client.appendToStream(uniqueStream("append-nothrow-missing"), oneEvent(), {
      ...FORCE_APPEND_RPC,
      expectedRevision: STREAM_EXISTS,
    });
    expect(missing.success).toBe(false);
    expect(missing.nextExpectedRevision).toBe(-1n);
  });
});
