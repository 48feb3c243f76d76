/**
 * readStream: direction, fromRevision (inclusive), maxCount, missing streams, the fields of a
 * recorded event (JSON and binary), link resolution.
 *
 * Server semantics: EventStore 24.10 `Streams.Read.cs` (`ConvertToRecordedEvent`: metadata map
 * `type`, `created` = 100 ns ticks since the Unix epoch, `content-type`; commit/prepare positions)
 * and `ResolvedEvent.CalculatePosition` (a self-committed event's position is its log position,
 * commit == prepare, also on stream reads).
 */
import { beforeAll, describe, expect, it } from "vitest";
import {
  BACKWARDS,
  END,
  FORWARDS,
  START,
  StreamNotFoundError,
  binaryEvent,
  jsonEvent,
  type AppendResult,
  type EventData,
} from "@eventstore/db-client";
import { collect, readAllEvents, readStreamEvents, rejectionOf, streamWith, testEvents, uniqueStream, useEventStore } from "./support.js";

const es = useEventStore();

describe("readStream over a 5-event stream", () => {
  const stream = uniqueStream("read");
  let written: EventData[];

  beforeAll(async () => {
    written = testEvents(5, "Numbered");
    await es().client.appendToStream(stream, written);
  });

  it("reads forwards from the start by default", async () => {
    const events = await readStreamEvents(es().client, stream);
    expect(events.map((e) => e.event?.revision)).toEqual([0n, 1n, 2n, 3n, 4n]);
    expect(events.map((e) => e.event?.id)).toEqual(written.map((e) => e.id));
  });

  it("reads backwards from END", async () => {
    const events = await readStreamEvents(es().client, stream, { direction: BACKWARDS, fromRevision: END });
    expect(events.map((e) => e.event?.revision)).toEqual([4n, 3n, 2n, 1n, 0n]);
  });

  it("fromRevision is inclusive in both directions", async () => {
    const forwards = await readStreamEvents(es().client, stream, { direction: FORWARDS, fromRevision: 2n });
    expect(forwards.map((e) => e.event?.revision)).toEqual([2n, 3n, 4n]);
    const backwards = await readStreamEvents(es().client, stream, { direction: BACKWARDS, fromRevision: 2n });
    expect(backwards.map((e) => e.event?.revision)).toEqual([2n, 1n, 0n]);
  });

  it("maxCount limits the page in both directions", async () => {
    const forwards = await readStreamEvents(es().client, stream, { fromRevision: START, maxCount: 2 });
    expect(forwards.map((e) => e.event?.revision)).toEqual([0n, 1n]);
    const fromMiddle = await readStreamEvents(es().client, stream, { fromRevision: 1n, maxCount: 3 });
    expect(fromMiddle.map((e) => e.event?.revision)).toEqual([1n, 2n, 3n]);
    const backwards = await readStreamEvents(es().client, stream, { direction: BACKWARDS, fromRevision: END, maxCount: 2 });
    expect(backwards.map((e) => e.event?.revision)).toEqual([4n, 3n]);
  });

  it("reading forwards past the end gives no events (and no error)", async () => {
    expect(await readStreamEvents(es().client, stream, { fromRevision: 5n })).toEqual([]);
    expect(await readStreamEvents(es().client, stream, { fromRevision: 1000n })).toEqual([]);
  });
});

describe("readStream of a missing stream", () => {
  it("fails with StreamNotFoundError naming the stream when iterated (forwards and backwards)", async () => {
    const { client } = es();
    const stream = uniqueStream("read-missing");
    const forwards = await rejectionOf(collect(client.readStream(stream)));
    expect(forwards).toBeInstanceOf(StreamNotFoundError);
    expect((forwards as StreamNotFoundError).streamName).toBe(stream);
    const backwards = await rejectionOf(collect(client.readStream(stream, { direction: BACKWARDS, fromRevision: END })));
    expect(backwards).toBeInstanceOf(StreamNotFoundError);
  });
});

describe("recorded event fields", () => {
  it("round-trips id, type, JSON data and metadata; revision is a bigint, created is a Date near now, position is set", async () => {
    const { client } = es();
    const stream = uniqueStream("read-fields");
    const data = { name: "Ünïcödé ✓ 예약", amount: 1234, nested: { list: [1, "two", null, true], empty: {} } };
    const metadata = { $correlationId: "c-1", $causationId: "k-1", user: "alice", schemaVersion: 2 };
    const event = jsonEvent({ type: "ReservationPlaced", data, metadata });
    const before = Date.now();
    const result: AppendResult = await client.appendToStream(stream, event);
    const after = Date.now();

    const [read] = await readStreamEvents(client, stream);
    const recorded = read!.event!;
    expect(recorded.streamId).toBe(stream);
    expect(recorded.id).toBe(event.id);
    expect(recorded.type).toBe("ReservationPlaced");
    expect(recorded.isJson).toBe(true);
    expect(recorded.data).toEqual(data);
    expect(recorded.metadata).toEqual(metadata);
    expect(typeof recorded.revision).toBe("bigint");
    expect(recorded.revision).toBe(0n);
    expect(recorded.created).toBeInstanceOf(Date);
    // generous bound: the server's clock may differ a little from ours (real server in a container)
    expect(recorded.created.getTime()).toBeGreaterThan(before - 120_000);
    expect(recorded.created.getTime()).toBeLessThan(after + 120_000);
    expect(recorded.position).toBeDefined();
    expect(recorded.position!.commit).toBe(recorded.position!.prepare);
    expect(recorded.position).toEqual(result.position);
    expect(read!.link).toBeUndefined();
  });

  it("an event without metadata reads back with metadata undefined", async () => {
    const { client } = es();
    const stream = uniqueStream("read-nometa");
    await client.appendToStream(stream, jsonEvent({ type: "Plain", data: { a: 1 } }));
    const [read] = await readStreamEvents(client, stream);
    expect(read!.event!.metadata).toBeUndefined();
  });

  it("JSON arrays and strings round-trip as data", async () => {
    const { client } = es();
    const stream = uniqueStream("read-jsonkinds");
    await client.appendToStream(stream, [
      jsonEvent({ type: "ArrayData", data: [1, { two: 2 }, "three"] }),
      jsonEvent({ type: "StringData", data: "just a string" }),
    ]);
    const events = await readStreamEvents(client, stream);
    expect(events[0]!.event!.data).toEqual([1, { two: 2 }, "three"]);
    expect(events[1]!.event!.data).toBe("just a string");
  });

  it("binary events keep their bytes (data and metadata) and are not JSON", async () => {
    const { client } = es();
    const stream = uniqueStream("read-binary");
    const data = new Uint8Array([0, 1, 2, 253, 254, 255, 0x7b, 0x22]);
    const metadata = new Uint8Array([0xff, 0x00, 0x01, 0x02]);
    const event = binaryEvent({ type: "Blob", data, metadata });
    await client.appendToStream(stream, event);
    const [read] = await readStreamEvents(client, stream);
    const recorded = read!.event!;
    expect(recorded.id).toBe(event.id);
    expect(recorded.isJson).toBe(false);
    expect(recorded.type).toBe("Blob");
    expect(Buffer.from(recorded.data as Uint8Array).equals(Buffer.from(data))).toBe(true);
    expect(recorded.metadata).toBeInstanceOf(Uint8Array);
    expect(Buffer.from(recorded.metadata as Uint8Array).equals(Buffer.from(metadata))).toBe(true);
  });

  it("positions grow with revisions and match the positions $all reports", async () => {
    const { client } = es();
    const stream = await streamWith(client, "read-positions", 3);
    await client.appendToStream(stream, testEvents(2));
    const events = await readStreamEvents(client, stream);
    const positions = events.map((e) => e.event!.position!);
    for (let i = 1; i < positions.length; i++) {
      expect(positions[i]!.commit).toBeGreaterThan(positions[i - 1]!.commit);
    }
    const [inAll] = await readAllEvents(client, { fromPosition: positions[3]!, maxCount: 1 });
    expect(inAll?.event?.id).toBe(events[3]!.event!.id);
    expect(inAll?.event?.position).toEqual(positions[3]);
  });
});

describe("link events ($>)", () => {
  it("are returned as-is without resolveLinkTos and resolved to the target event with it", async () => {
    const { client } = es();
    const target = uniqueStream("read-link-target");
    const links = uniqueStream("read-link-source");
    const original = jsonEvent({ type: "Original", data: { v: 42 } });
    await client.appendToStream(target, [jsonEvent({ type: "First", data: {} }), original]);
    await client.appendToStream(links, binaryEvent({ type: "$>", data: Buffer.from(`1@${target}`, "utf8") }));

    const [raw] = await readStreamEvents(client, links);
    expect(raw!.event!.type).toBe("$>");
    expect(raw!.link).toBeUndefined();
    expect(Buffer.from(raw!.event!.data as Uint8Array).toString("utf8")).toBe(`1@${target}`);

    const [resolved] = await readStreamEvents(client, links, { resolveLinkTos: true });
    expect(resolved!.event!.id).toBe(original.id);
    expect(resolved!.event!.streamId).toBe(target);
    expect(resolved!.event!.revision).toBe(1n);
    expect(resolved!.event!.data).toEqual({ v: 42 });
    expect(resolved!.link?.type).toBe("$>");
    expect(resolved!.link?.streamId).toBe(links);
    expect(resolved!.link?.revision).toBe(0n);
  });
});
