/**
 * readAll ($all): direction, positions (forwards reads include the event AT the position, backwards
 * reads return events strictly BEFORE it), maxCount, and system events.
 *
 * `$all` is never assumed empty: the tests anchor on positions of their own events. The 3 events of one
 * append are written contiguously (one WritePrepares), so nothing else can sit between them.
 *
 * The client's readAll has no filter option (it always sends `no_filter`); server-side filters are
 * exercised through subscribeToAll in subscribe-all.test.ts.
 *
 * Server semantics: EventStore 24.10 `AllReader.ReadAllEventsForward/Backward` (TF pre-/post-positions),
 * `SystemEventTypes.StreamMetadata` = "$metadata" written to the metastream `$$<stream>`.
 */
import { beforeAll, describe, expect, it } from "vitest";
import { BACKWARDS, END, FORWARDS, START, jsonEvent, type EventData, type Position } from "@eventstore/db-client";
import { comparePositions, readAllEvents, readStreamEvents, testEvents, uniqueStream, useEventStore } from "./support.js";

const es = useEventStore();

describe("readAll", () => {
  const stream = uniqueStream("readall");
  let written: EventData[];
  let positions: Position[];

  beforeAll(async () => {
    written = testEvents(3, "AllReadEvent");
    await es().client.appendToStream(stream, written);
    positions = (await readStreamEvents(es().client, stream)).map((e) => e.event!.position!);
  });

  it("forwards from the position of an event includes that event; maxCount bounds the page", async () => {
    const events = await readAllEvents(es().client, { fromPosition: positions[0]!, maxCount: 3 });
    expect(events.map((e) => e.event?.id)).toEqual(written.map((e) => e.id));
    expect(events.map((e) => e.event?.streamId)).toEqual([stream, stream, stream]);
    expect(events.map((e) => e.event?.revision)).toEqual([0n, 1n, 2n]);
    expect(events.map((e) => e.event?.position)).toEqual(positions);

    const one = await readAllEvents(es().client, { fromPosition: positions[1]!, maxCount: 1 });
    expect(one.map((e) => e.event?.id)).toEqual([written[1]!.id]);
  });

  it("backwards from the position of an event returns the events before it (exclusive)", async () => {
    const events = await readAllEvents(es().client, { direction: BACKWARDS, fromPosition: positions[2]!, maxCount: 2 });
    expect(events.map((e) => e.event?.id)).toEqual([written[1]!.id, written[0]!.id]);
  });

  it("forwards from START yields strictly increasing positions", async () => {
    const events = await readAllEvents(es().client, { direction: FORWARDS, fromPosition: START, maxCount: 20 });
    expect(events.length).toBeGreaterThan(0);
    expect(events.length).toBeLessThanOrEqual(20);
    for (let i = 1; i < events.length; i++) {
      expect(comparePositions(events[i]!.event!.position, events[i - 1]!.event!.position)).toBeGreaterThan(0);
    }
  });

  it("backwards from END yields strictly decreasing positions, newest first", async () => {
    const events = await readAllEvents(es().client, { direction: BACKWARDS, fromPosition: END, maxCount: 3 });
    expect(events).toHaveLength(3);
    for (let i = 1; i < events.length; i++) {
      expect(comparePositions(events[i]!.event!.position, events[i - 1]!.event!.position)).toBeLessThan(0);
    }
    // our events were appended before this read, so the newest event is at or after our last one
    expect(comparePositions(events[0]!.event!.position, positions[2]!)).toBeGreaterThanOrEqual(0);
  });

  it("events in $all carry every field a stream read gives", async () => {
    const [fromAll] = await readAllEvents(es().client, { fromPosition: positions[0]!, maxCount: 1 });
    const [fromStream] = await readStreamEvents(es().client, stream, { maxCount: 1 });
    expect(fromAll!.event).toEqual(fromStream!.event);
  });
});

describe("system events in $all", () => {
  it("setting stream metadata writes a $metadata event into $$<stream>, visible in an unfiltered $all read", async () => {
    const { client } = es();
    const stream = uniqueStream("readall-meta");
    await client.appendToStream(stream, jsonEvent({ type: "Something", data: {} }));
    const result = await client.setStreamMetadata(stream, { maxCount: 10, custom: "x" });
    expect(result.position).toBeDefined();

    const [event] = await readAllEvents(client, { fromPosition: result.position!, maxCount: 1 });
    expect(event?.event?.streamId).toBe(`$$${stream}`);
    expect(event?.event?.type).toBe("$metadata");
    expect(event?.event?.isJson).toBe(true);
    expect(event?.event?.data).toEqual({ $maxCount: 10, custom: "x" });
    expect(event?.event?.revision).toBe(0n);
  });

  it("a $all read from START contains events of `$`-prefixed types", async () => {
    const { client } = es();
    // A real server starts its log with its own bookkeeping ($epoch-information, $UserCreated, $settings,
    // ...); here we only rely on the $metadata event this file writes early in a fresh embedded log.
    await client.setStreamMetadata(uniqueStream("readall-sys"), { maxCount: 1 });
    const events = await readAllEvents(client, { fromPosition: START, maxCount: 50 });
    expect(events.some((e) => e.event?.type.startsWith("$"))).toBe(true);
  });
});
