/**
 * Catch-up subscriptions to $all, with and without server-side filters.
 *
 * - fromPosition P starts AFTER P (exclusive); END gets only new events.
 * - Filters: stream-name prefixes / regex, event-type prefixes / regex, `excludeSystemEvents()`
 *   (an event-type regex `^[^$].*`). The client's readAll has no filter, so filtered $all reads are
 *   covered here.
 * - Filtered subscriptions report checkpoints. In 24.10 (`Enumerator.AllSubscriptionFiltered.CatchUp`)
 *   a checkpoint is always sent when catch-up reaches the end of $all, BEFORE `CaughtUp` is sent
 *   (`GoLive` -> `NotifyCaughtUp`); its position is the position of the last event sent (or later).
 *   Live checkpoints only come every `checkpointInterval * maxSearchWindow` considered events, so
 *   nothing is asserted about them.
 */
import { beforeAll, describe, expect, it } from "vitest";
import {
  END,
  START,
  eventTypeFilter,
  excludeSystemEvents,
  jsonEvent,
  streamNameFilter,
  type AllStreamResolvedEvent,
  type EventData,
  type Position,
} from "@eventstore/db-client";
import {
  comparePositions,
  lastPositionInAll,
  readStreamEvents,
  record,
  testEvents,
  uniqueStream,
  uniqueType,
  useEventStore,
  waitFor,
} from "./support.js";

const es = useEventStore();

/** The position to subscribe from so that everything appended after this call is delivered. */
async function here(): Promise<Position | typeof START> {
  return (await lastPositionInAll(es().client)) ?? START;
}

describe("subscribeToAll", () => {
  const base = uniqueStream("suball");
  const streamA = `${base}-a`;
  const streamB = `${base}-b`;
  const other = uniqueStream("suball-other");
  const typeA = uniqueType("SubAllTypeA");
  const typeB = uniqueType("SubAllTypeB");
  let from: Position | typeof START;
  let eventsA: EventData[];
  let eventsB: EventData[];
  let eventsOther: EventData[];

  beforeAll(async () => {
    const { client } = es();
    from = await here();
    eventsA = [jsonEvent({ type: typeA, data: { n: 1 } }), jsonEvent({ type: typeB, data: { n: 2 } })];
    eventsOther = [jsonEvent({ type: typeA, data: { n: 3 } })];
    eventsB = [jsonEvent({ type: typeB, data: { n: 4 } }), jsonEvent({ type: typeA, data: { n: 5 } })];
    await client.appendToStream(streamA, eventsA);
    await client.appendToStream(other, eventsOther);
    await client.appendToStream(streamB, eventsB);
  });

  /** subscribes with `options`, waits for caughtUp, returns the events of ours seen and unsubscribes */
  async function seen(options: Parameters<ReturnType<typeof es>["client"]["subscribeToAll"]>[0]) {
    const subscription = es().client.subscribeToAll(options);
    const log = record<AllStreamResolvedEvent>(subscription);
    try {
      await waitFor(() => log.caughtUp || log.errors.length > 0, { what: "caughtUp", timeoutMs: 20_000 });
      expect(log.errors).toEqual([]);
      const ours = new Set([...eventsA, ...eventsB, ...eventsOther].map((e) => e.id));
      return { log, ids: log.events.filter((e) => e.event && ours.has(e.event.id)).map((e) => e.event!.id) };
    } finally {
      await subscription.unsubscribe();
    }
  }

  it("unfiltered, from a position: every event after it, in $all order", async () => {
    const { ids, log } = await seen({ fromPosition: from });
    expect(ids).toEqual([...eventsA, ...eventsOther, ...eventsB].map((e) => e.id));
    for (let i = 1; i < log.events.length; i++) {
      expect(comparePositions(log.events[i]!.event!.position, log.events[i - 1]!.event!.position)).toBeGreaterThan(0);
    }
  });

  it("fromPosition is exclusive: subscribing from our first event starts with the next one", async () => {
    const [first] = await readStreamEvents(es().client, streamA, { maxCount: 1 });
    const { ids } = await seen({ fromPosition: first!.event!.position!, filter: streamNameFilter({ prefixes: [base] }) });
    expect(ids).toEqual([eventsA[1]!, ...eventsB].map((e) => e.id));
  });

  it("streamNameFilter with a prefix", async () => {
    const { ids, log } = await seen({ fromPosition: from, filter: streamNameFilter({ prefixes: [base] }) });
    expect(ids).toEqual([...eventsA, ...eventsB].map((e) => e.id));
    expect(log.events.every((e) => e.event?.streamId.startsWith(base))).toBe(true);
  });

  it("streamNameFilter with several prefixes", async () => {
    const { ids } = await seen({ fromPosition: from, filter: streamNameFilter({ prefixes: [streamB, other] }) });
    expect(ids).toEqual([...eventsOther, ...eventsB].map((e) => e.id));
  });

  it("streamNameFilter with a regex", async () => {
    const regex = `^${base}-b$`; // uuid names hold only [0-9a-f-]: no escaping needed
    const { ids, log } = await seen({ fromPosition: from, filter: streamNameFilter({ regex }) });
    expect(ids).toEqual(eventsB.map((e) => e.id));
    expect(log.events.every((e) => e.event?.streamId === streamB)).toBe(true);
  });

  it("eventTypeFilter with a prefix", async () => {
    const { ids, log } = await seen({ fromPosition: from, filter: eventTypeFilter({ prefixes: [typeA] }) });
    expect(ids).toEqual([eventsA[0]!, eventsOther[0]!, eventsB[1]!].map((e) => e.id));
    expect(log.events.every((e) => e.event?.type === typeA)).toBe(true);
  });

  it("eventTypeFilter with a regex", async () => {
    const { ids, log } = await seen({ fromPosition: from, filter: eventTypeFilter({ regex: `^${typeB}$` }) });
    expect(ids).toEqual([eventsA[1]!, eventsB[0]!].map((e) => e.id));
    expect(log.events.every((e) => e.event?.type === typeB)).toBe(true);
  });

  it("a filtered subscription reports a checkpoint at or after its last historical event before caughtUp", async () => {
    const checkpoints: Position[] = [];
    const subscription = es().client.subscribeToAll({
      fromPosition: from,
      filter: streamNameFilter({
        prefixes: [base],
        checkpointInterval: 1,
        checkpointReached: (_subscription, position) => {
          checkpoints.push(position);
        },
      }),
    });
    const log = record<AllStreamResolvedEvent>(subscription);
    let checkpointsAtCaughtUp = -1;
    subscription.on("caughtUp", () => {
      checkpointsAtCaughtUp = checkpoints.length;
    });
    try {
      await waitFor(() => log.caughtUp || log.errors.length > 0, { what: "caughtUp", timeoutMs: 20_000 });
      expect(log.errors).toEqual([]);
      const lastOfOurs = log.events.filter((e) => e.event?.streamId === streamB).at(-1)!.event!.position;
      expect(checkpointsAtCaughtUp).toBeGreaterThan(0);
      const lastCheckpoint = checkpoints[checkpointsAtCaughtUp - 1]!;
      expect(comparePositions(lastCheckpoint, lastOfOurs)).toBeGreaterThanOrEqual(0);
    } finally {
      await subscription.unsubscribe();
    }
  });

  it("from END gets only events appended after subscribing, filtered live", async () => {
    const { client } = es();
    const subscription = client.subscribeToAll({ fromPosition: END, filter: streamNameFilter({ prefixes: [base] }) });
    const log = record<AllStreamResolvedEvent>(subscription);
    try {
      await waitFor(() => log.caughtUp, { what: "caughtUp" });
      const live = testEvents(2, "LiveAll");
      await client.appendToStream(uniqueStream("suball-noise"), testEvents(2, "Noise"));
      await client.appendToStream(streamA, live);
      await waitFor(() => log.events.length >= 2, { what: "live events" });
      expect(log.events.map((e) => e.event?.id)).toEqual(live.map((e) => e.id));
      expect(log.events.map((e) => e.event?.revision)).toEqual([2n, 3n]);
      expect(log.errors).toEqual([]);
    } finally {
      await subscription.unsubscribe();
    }
  });
});

describe("system events and subscribeToAll", () => {
  it("an unfiltered subscription delivers the $metadata event; excludeSystemEvents() drops it", async () => {
    const { client } = es();
    const stream = uniqueStream("suball-sys");
    const from = await here();
    const user = jsonEvent({ type: "UserEvent", data: {} });
    await client.setStreamMetadata(stream, { maxCount: 5 });
    await client.appendToStream(stream, user);
    const sentinel = jsonEvent({ type: "Sentinel", data: {} });
    await client.appendToStream(stream, sentinel);

    for (const [filter, expectMetadata] of [
      [undefined, true],
      [excludeSystemEvents(), false],
    ] as const) {
      const subscription = client.subscribeToAll(filter ? { fromPosition: from, filter } : { fromPosition: from });
      const log = record<AllStreamResolvedEvent>(subscription);
      try {
        await waitFor(() => log.events.some((e) => e.event?.id === sentinel.id) || log.errors.length > 0, {
          what: "the sentinel event",
          timeoutMs: 20_000,
        });
        expect(log.errors).toEqual([]);
        const metadataEvents = log.events.filter((e) => e.event?.streamId === `$$${stream}`);
        if (expectMetadata) {
          expect(metadataEvents.map((e) => e.event?.type)).toEqual(["$metadata"]);
        } else {
          expect(metadataEvents).toEqual([]);
          expect(log.events.every((e) => !e.event?.type.startsWith("$"))).toBe(true);
        }
        expect(log.events.some((e) => e.event?.id === user.id)).toBe(true);
      } finally {
        await subscription.unsubscribe();
      }
    }
  });
});
