/**
 * EventStoreDB's standard projections: `$by_category` (`$ce-<category>`), `$by_event_type`
 * (`$et-<type>`), `$by_correlation_id` (`$bc-<correlationId>`), `$streams` and `$stream_by_category`
 * (`$category-<category>`, `$@` stream references), as a node started with
 * `--run-projections=All --start-standard-projections=true` keeps them (the embedded server here runs
 * with `runProjections: "All"`; a real server must run them too).
 *
 * Server semantics (EventStore 24.10, Projections.Core/Standard and the reader that feeds them):
 * - links are `$>` events whose data is "<revision>@<stream>", written in log order, numbered from 0;
 *   metadata is the checkpoint tag (`$v`, `$c`, `$p`) plus `$o` (`$by_category`), `$eventTimestamp`
 *   (`$by_correlation_id`), `$deleted` (deletions), `$causedBy` and `$correlationId` of the event;
 * - the category is the text before the first '-' (none without one, none for `$` streams);
 * - records of `$` streams are skipped, except metadata of user streams (TransactionFileEventFilter);
 * - JSON events whose data is not JSON are skipped (content-type validation);
 * - `$streams` links the first event (revision 0) of every stream;
 * - deleting a stream adds a link with `$deleted` to its category and `$et-$deleted`; links to events
 *   that are gone stay, and resolve to nothing (the client gets the link without an event).
 * Projections are asynchronous on a real node, so reads wait for the links to appear.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { randomUUID } from "node:crypto";
import { describe, expect, it } from "vitest";
import {
  BACKWARDS,
  END,
  EventStoreDBClient,
  START,
  StreamNotFoundError,
  jsonEvent,
  persistentSubscriptionToStreamSettingsFromDefaults,
  type EventStoreDBClient as Client,
  type PersistentSubscriptionToStreamResolvedEvent,
  type ResolvedEvent,
} from "@eventstore/db-client";
import {
  collect,
  isRealServer,
  readAllEvents,
  readStreamEvents,
  record,
  rejectionOf,
  spawnEventStoreCli,
  uniqueGroup,
  useEventStore,
  waitFor,
} from "./support.js";

const es = useEventStore({ runProjections: "All" });

/** A category no other test run uses: letters only, so that it has no '-' of its own. */
const uniqueCategory = (prefix = "proj"): string => `${prefix}${randomUUID().replace(/-/g, "")}`;
const uniqueTypeName = (): string => `Projected${randomUUID().replace(/-/g, "")}`;

/** Reads a projection stream once it holds `count` links (projections lag behind on a real node). */
const linksOf = async (client: Client, stream: string, count: number, resolveLinkTos = false): Promise<ResolvedEvent[]> =>
  waitFor(
    async () => {
      const events = await readStreamEvents(client, stream, { resolveLinkTos }).catch((error: unknown) => {
        if (error instanceof StreamNotFoundError) return [];
        throw error;
      });
      return events.length >= count ? events : undefined;
    },
    { what: `${count} link(s) in ${stream}` },
  );

const dataOf = (event: ResolvedEvent): string => {
  const data = event.event?.data;
  return data instanceof Uint8Array ? Buffer.from(data).toString("utf8") : JSON.stringify(data);
};

const metadataOf = (recorded: { metadata: unknown } | undefined): Record<string, unknown> => {
  const metadata = recorded?.metadata;
  if (metadata instanceof Uint8Array) return JSON.parse(Buffer.from(metadata).toString("utf8")) as Record<string, unknown>;
  return (metadata ?? {}) as Record<string, unknown>;
};

describe("$by_category: $ce-<category>", () => {
  it("links every event of the category's streams in log order, as $> events numbered from 0", async () => {
    const { client } = es();
    const category = uniqueCategory();
    const first = `${category}-${randomUUID()}`;
    const second = `${category}-${randomUUID()}`;
    await client.appendToStream(first, [jsonEvent({ type: "Opened", data: { n: 1 } }), jsonEvent({ type: "Changed", data: { n: 2 } })]);
    await client.appendToStream(second, jsonEvent({ type: "Opened", data: { n: 3 } }));
    await client.appendToStream(first, jsonEvent({ type: "Closed", data: { n: 4 } }));

    const links = await linksOf(client, `$ce-${category}`, 4);
    expect(links.map((link) => link.event?.type)).toEqual(["$>", "$>", "$>", "$>"]);
    expect(links.map((link) => link.event?.revision)).toEqual([0n, 1n, 2n, 3n]);
    expect(links.map(dataOf)).toEqual([`0@${first}`, `1@${first}`, `0@${second}`, `2@${first}`]);
    expect(links.every((link) => link.event?.streamId === `$ce-${category}`)).toBe(true);
  });

  it("resolves to the events with resolveLinkTos, the link alongside; the link's metadata names the original stream and event", async () => {
    const { client } = es();
    const category = uniqueCategory();
    const stream = `${category}-${randomUUID()}`;
    const correlationId = randomUUID();
    const appended = jsonEvent({ type: "Placed", data: { ok: true }, metadata: { $correlationId: correlationId } });
    await client.appendToStream(stream, appended);

    const [resolved] = await linksOf(client, `$ce-${category}`, 1, true);
    expect(resolved?.event?.streamId).toBe(stream);
    expect(resolved?.event?.id).toBe(appended.id);
    expect(resolved?.event?.type).toBe("Placed");
    expect(resolved?.event?.data).toEqual({ ok: true });
    expect(resolved?.link?.streamId).toBe(`$ce-${category}`);
    expect(resolved?.link?.revision).toBe(0n);
    const metadata = metadataOf(resolved?.link);
    expect(metadata.$o).toBe(stream);
    expect(metadata.$causedBy).toBe(appended.id);
    expect(metadata.$correlationId).toBe(correlationId);
    expect(typeof metadata.$v).toBe("string");
    expect(typeof metadata.$c).toBe("number");
    expect(metadata.$p).toBe(metadata.$c);
  });

  it("takes the category from the first '-' only, and skips streams without one", async () => {
    const { client } = es();
    const category = uniqueCategory();
    const nested = `${category}-a-b`;
    await client.appendToStream(category, jsonEvent({ type: "NoDash", data: {} })); // no category at all
    await client.appendToStream(nested, jsonEvent({ type: "Nested", data: {} }));
    const links = await linksOf(client, `$ce-${category}`, 1);
    expect(links.map(dataOf)).toEqual([`0@${nested}`]);
  });
});

describe("$by_event_type: $et-<type>", () => {
  it("links every event of the type across streams, but none from $ streams", async () => {
    const { client } = es();
    const type = uniqueTypeName();
    const a = `etcat-${randomUUID()}`;
    const b = `etcat-${randomUUID()}`;
    await client.appendToStream(a, jsonEvent({ type, data: {} }));
    await client.appendToStream(`$system-${randomUUID()}`, jsonEvent({ type, data: {} }));
    await client.appendToStream(b, [jsonEvent({ type: "Other", data: {} }), jsonEvent({ type, data: {} })]);
    const links = await linksOf(client, `$et-${type}`, 2, true);
    expect(links.map((link) => link.link && dataOf({ event: link.link }))).toEqual([`0@${a}`, `1@${b}`]);
    expect(links.map((link) => link.event?.streamId)).toEqual([a, b]);
    expect(links.map((link) => link.link?.revision)).toEqual([0n, 1n]);
  });
});

describe("metadata of user streams", () => {
  it("is indexed too: $et-$metadata links the metadata event, $streams the metadata stream's first event", async () => {
    const { client } = es();
    const stream = `metacat-${randomUUID()}`;
    await client.appendToStream(stream, jsonEvent({ type: "A", data: {} }));
    await client.setStreamMetadata(stream, { maxCount: 10 });
    const recentIn = async (projectionStream: string): Promise<string[]> => {
      const recent = await collect(client.readStream(projectionStream, { direction: BACKWARDS, fromRevision: END, maxCount: 200 }));
      return recent.map(dataOf).filter((data) => data.endsWith(`@$$${stream}`));
    };
    await waitFor(async () => (await recentIn("$et-$metadata")).length > 0, { what: "$et-$metadata link" });
    expect(await recentIn("$et-$metadata")).toEqual([`0@$$${stream}`]);
    await waitFor(async () => (await recentIn("$streams")).length > 0, { what: "$streams link to the metadata stream" });
    expect(await recentIn("$streams")).toEqual([`0@$$${stream}`]);
  });
});

describe("$by_correlation_id: $bc-<correlationId>", () => {
  it("gathers the events that carry $correlationId in their metadata, whatever their stream, with $eventTimestamp", async () => {
    const { client } = es();
    const correlationId = randomUUID();
    const product = `product-${randomUUID()}`;
    const reservation = `reservation-${randomUUID()}`;
    const withId = (type: string) => jsonEvent({ type, data: {}, metadata: { $correlationId: correlationId, $causationId: randomUUID() } });
    await client.appendToStream(product, withId("UnitsHeld"));
    await client.appendToStream(reservation, [withId("ReservationPlaced"), jsonEvent({ type: "Unrelated", data: {} })]);
    await client.appendToStream(product, withId("UnitsCommitted"));

    const links = await linksOf(client, `$bc-${correlationId}`, 3, true);
    expect(links.map((link) => `${link.event?.type}@${link.event?.streamId}`)).toEqual([
      `UnitsHeld@${product}`,
      `ReservationPlaced@${reservation}`,
      `UnitsCommitted@${product}`,
    ]);
    const metadata = metadataOf(links[0]?.link);
    expect(metadata.$eventTimestamp).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/);
    expect(metadata.$correlationId).toBe(correlationId);
  });
});

describe("$streams", () => {
  it("links the first event of each new stream, once", async () => {
    const { client } = es();
    const stream = `streams-${randomUUID()}`;
    await client.appendToStream(stream, [jsonEvent({ type: "One", data: {} }), jsonEvent({ type: "Two", data: {} })]);
    await client.appendToStream(stream, jsonEvent({ type: "Three", data: {} }));
    const mine = await waitFor(
      async () => {
        const recent = await collect(client.readStream("$streams", { direction: BACKWARDS, fromRevision: END, maxCount: 200 }));
        const found = recent.filter((link) => dataOf(link).endsWith(`@${stream}`));
        return found.length > 0 ? found : undefined;
      },
      { what: `${stream} in $streams` },
    );
    expect(mine.map(dataOf)).toEqual([`0@${stream}`]);
  });
});

describe("$stream_by_category: $category-<category>", () => {
  it("references each new stream of the category once, as a $@ event whose data is the stream's name", async () => {
    const { client } = es();
    const category = uniqueCategory();
    const first = `${category}-${randomUUID()}`;
    const second = `${category}-${randomUUID()}`;
    await client.appendToStream(first, [jsonEvent({ type: "A", data: {} }), jsonEvent({ type: "B", data: {} })]);
    await client.appendToStream(second, jsonEvent({ type: "C", data: {} }));
    await client.appendToStream(first, jsonEvent({ type: "D", data: {} }));
    const references = await linksOf(client, `$category-${category}`, 2, true);
    expect(references.map((reference) => reference.event?.type)).toEqual(["$@", "$@"]);
    expect(references.map(dataOf)).toEqual([first, second]);
    expect(references.map((reference) => reference.link)).toEqual([undefined, undefined]);
  });
});

describe("reading and subscribing through the links", () => {
  it("the links are in $all, in their own streams", async () => {
    const { client } = es();
    const category = uniqueCategory();
    const stream = `${category}-${randomUUID()}`;
    await client.appendToStream(stream, [jsonEvent({ type: "A", data: {} }), jsonEvent({ type: "B", data: {} })]);
    const links = await waitFor(
      async () => {
        const recent = await readAllEvents(client, { direction: BACKWARDS, fromPosition: END, maxCount: 200 });
        const found = recent.filter((event) => event.event?.streamId === `$ce-${category}`).reverse();
        return found.length >= 2 ? found : undefined;
      },
      { what: "links in $all" },
    );
    expect(links.map((link) => link.event?.type)).toEqual(["$>", "$>"]);
    expect(links.map(dataOf)).toEqual([`0@${stream}`, `1@${stream}`]);
    const [first, second] = links;
    expect(first?.event?.position && second?.event?.position && first.event.position.commit < second.event.position.commit).toBe(true);
  });

  it("a catch-up subscription to $ce-<category> with resolveLinkTos gets history, then live events, resolved", async () => {
    const { client } = es();
    const category = uniqueCategory();
    const stream = `${category}-${randomUUID()}`;
    await client.appendToStream(stream, jsonEvent({ type: "Before", data: {} }));
    await linksOf(client, `$ce-${category}`, 1);
    const subscription = client.subscribeToStream(`$ce-${category}`, { fromRevision: START, resolveLinkTos: true });
    const log = record<ResolvedEvent>(subscription);
    try {
      await waitFor(() => log.events.length >= 1, { what: "history" });
      await client.appendToStream(stream, jsonEvent({ type: "After", data: {} }));
      await waitFor(() => log.events.length >= 2, { what: "live event" });
      expect(log.events.map((event) => event.event?.type)).toEqual(["Before", "After"]);
      expect(log.events.map((event) => event.link?.revision)).toEqual([0n, 1n]);
      expect(log.errors).toEqual([]);
    } finally {
      await subscription.unsubscribe();
    }
  });

  it("a persistent subscription to $ce-<category> with resolveLinkTos delivers the events, acknowledged through their links", async () => {
    const { client } = es();
    const category = uniqueCategory();
    const stream = `${category}-${randomUUID()}`;
    const group = uniqueGroup();
    await client.appendToStream(stream, [jsonEvent({ type: "One", data: { n: 1 } }), jsonEvent({ type: "Two", data: { n: 2 } })]);
    await linksOf(client, `$ce-${category}`, 2);
    await client.createPersistentSubscriptionToStream(
      `$ce-${category}`,
      group,
      persistentSubscriptionToStreamSettingsFromDefaults({
        startFrom: START,
        resolveLinkTos: true,
        checkPointLowerBound: 1,
        checkPointAfter: 100,
      }),
    );
    const subscription = client.subscribeToPersistentSubscriptionToStream(`$ce-${category}`, group);
    const log = record<PersistentSubscriptionToStreamResolvedEvent>(subscription, (event) => subscription.ack(event));
    try {
      await client.appendToStream(stream, jsonEvent({ type: "Three", data: { n: 3 } }));
      await waitFor(() => log.events.length >= 3, { what: "three deliveries" });
      expect(log.events.map((event) => event.event?.type)).toEqual(["One", "Two", "Three"]);
      expect(log.events.map((event) => event.event?.streamId)).toEqual([stream, stream, stream]);
      expect(log.events.map((event) => event.link?.streamId)).toEqual(Array(3).fill(`$ce-${category}`));
      const info = await waitFor(
        async () => {
          const current = await client.getPersistentSubscriptionToStreamInfo(`$ce-${category}`, group);
          return current.stats.lastCheckpointedEventRevision === 2n && current.connections[0]?.inFlightMessages === 0 ? current : undefined;
        },
        { what: "checkpoint at 2 with nothing in flight" },
      );
      expect(info.settings.resolveLinkTos).toBe(true);
    } finally {
      await subscription.unsubscribe();
      await client.deletePersistentSubscriptionToStream(`$ce-${category}`, group).catch(() => undefined);
    }
  });
});

describe("deleted and truncated originals", () => {
  it("a persistent subscription with resolveLinkTos delivers a link whose event is gone as the link alone, and takes its ack", async () => {
    const { client } = es();
    const category = uniqueCategory();
    const gone = `${category}-${randomUUID()}`;
    const kept = `${category}-${randomUUID()}`;
    const group = uniqueGroup();
    await client.appendToStream(gone, jsonEvent({ type: "Gone", data: {} }));
    await client.appendToStream(kept, jsonEvent({ type: "Kept", data: {} }));
    await linksOf(client, `$ce-${category}`, 2);
    await client.tombstoneStream(gone);
    await linksOf(client, `$ce-${category}`, 3);
    await client.createPersistentSubscriptionToStream(
      `$ce-${category}`,
      group,
      persistentSubscriptionToStreamSettingsFromDefaults({ startFrom: START, resolveLinkTos: true }),
    );
    const subscription = client.subscribeToPersistentSubscriptionToStream(`$ce-${category}`, group);
    const log = record<PersistentSubscriptionToStreamResolvedEvent>(subscription, (event) => subscription.ack(event));
    try {
      await waitFor(() => log.events.length >= 3, { what: "three deliveries" });
      expect(log.events.map((event) => event.event?.type)).toEqual([undefined, "Kept", undefined]);
      expect(log.events.map((event) => event.link?.revision)).toEqual([0n, 1n, 2n]);
      await waitFor(
        async () => (await client.getPersistentSubscriptionToStreamInfo(`$ce-${category}`, group)).connections[0]?.inFlightMessages === 0,
        { what: "every delivery acknowledged" },
      );
    } finally {
      await subscription.unsubscribe();
      await client.deletePersistentSubscriptionToStream(`$ce-${category}`, group).catch(() => undefined);
    }
  });

  it("a soft delete adds a $deleted link to the category and $et-$deleted; links to the deleted events no longer resolve", async () => {
    const { client } = es();
    const category = uniqueCategory();
    const stream = `${category}-${randomUUID()}`;
    await client.appendToStream(stream, [jsonEvent({ type: "A", data: {} }), jsonEvent({ type: "B", data: {} })]);
    await linksOf(client, `$ce-${category}`, 2);
    await client.deleteStream(stream);

    const links = await linksOf(client, `$ce-${category}`, 3);
    const deletion = links[2];
    expect(deletion?.event?.type).toBe("$>");
    expect(dataOf(deletion!)).toMatch(new RegExp(`^\\d+@\\$\\$${stream}$`));
    expect(metadataOf(deletion?.event)).toMatchObject({ $o: stream, $deleted: -1 });

    const resolved = await linksOf(client, `$ce-${category}`, 3, true);
    expect(resolved.slice(0, 2).map((link) => link.event)).toEqual([undefined, undefined]);
    expect(resolved.slice(0, 2).map((link) => link.link && dataOf({ event: link.link }))).toEqual([`0@${stream}`, `1@${stream}`]);

    const deletedLinks = await waitFor(
      async () => {
        const recent = await collect(client.readStream("$et-$deleted", { direction: BACKWARDS, fromRevision: END, maxCount: 200 }));
        const found = recent.filter((link) => dataOf(link).endsWith(`@${stream}`));
        return found.length > 0 ? found : undefined;
      },
      { what: `${stream} in $et-$deleted` },
    );
    expect(metadataOf(deletedLinks[0]?.event)).toMatchObject({ $deleted: -1 });
  });

  it("a tombstone adds a link to long.MaxValue@<stream>; nothing of the stream resolves any more", async () => {
    const { client } = es();
    const category = uniqueCategory();
    const stream = `${category}-${randomUUID()}`;
    await client.appendToStream(stream, jsonEvent({ type: "A", data: {} }));
    await linksOf(client, `$ce-${category}`, 1);
    await client.tombstoneStream(stream);
    const links = await linksOf(client, `$ce-${category}`, 2, true);
    expect(links.map((link) => link.event)).toEqual([undefined, undefined]);
    expect(links.map((link) => link.link && dataOf({ event: link.link }))).toEqual([`0@${stream}`, `9223372036854775807@${stream}`]);
  });

  it("events truncated by $maxCount are still linked, but resolve to nothing", async () => {
    const { client } = es();
    const category = uniqueCategory();
    const stream = `${category}-${randomUUID()}`;
    await client.appendToStream(stream, [jsonEvent({ type: "Old", data: {} }), jsonEvent({ type: "New", data: {} })]);
    await client.setStreamMetadata(stream, { maxCount: 1 });
    const links = await linksOf(client, `$ce-${category}`, 2, true);
    expect(links.map((link) => link.event?.type)).toEqual([undefined, "New"]);
    expect(links[0]?.link && dataOf({ event: links[0].link })).toBe(`0@${stream}`);
  });
});

describe.skipIf(isRealServer)("embedded server: ownership, start-up and migration", () => {
  it("refuses writes to projection streams, which only the projections write", async () => {
    const { client } = es();
    const error = await rejectionOf(client.appendToStream(`$ce-${uniqueCategory()}`, jsonEvent({ type: "Forged", data: {} })));
    expect(error.constructor.name).toBe("AccessDeniedError");
  });

  it("skips JSON events whose data is not JSON, as the server's content-type validation does", async () => {
    // The official client always serialises JSON events itself, so this is written to the log directly.
    const { EventLog } = await import("../../src/embedded-eventstore/log/event-log.js");
    const log = new EventLog({ standardProjections: true });
    try {
      const category = uniqueCategory();
      const event = (data: string) => ({
        id: randomUUID(),
        type: "Typed",
        contentType: "application/json",
        data: Buffer.from(data, "utf8"),
        metadata: new Uint8Array(0),
      });
      log.append(`${category}-1`, { kind: "any" }, [event("{not json"), event(""), event('{"fine":true}')]);
      const links = log.readStream(`$ce-${category}`, "start", "forwards", 10);
      expect(Array.isArray(links) && links.map((link) => Buffer.from(link.data).toString("utf8"))).toEqual([`2@${category}-1`]);
    } finally {
      log.close();
    }
  });

  it("indexes a data directory written without projections when it is opened with them", async () => {
    const { startEmbeddedEventStore } = await import("../../src/embedded-eventstore/index.js");
    const dataDir = mkdtempSync(join(tmpdir(), "es-projections-"));
    const category = uniqueCategory();
    const stream = `${category}-${randomUUID()}`;
    try {
      const plain = await startEmbeddedEventStore({ port: 0, dataDir });
      let client = EventStoreDBClient.connectionString(plain.connectionString);
      await client.appendToStream(stream, [jsonEvent({ type: "Early", data: {} }), jsonEvent({ type: "Later", data: {} })]);
      expect(await rejectionOf(readStreamEvents(client, `$ce-${category}`))).toBeInstanceOf(StreamNotFoundError);
      await client.dispose();
      await plain.stop();

      const projecting = await startEmbeddedEventStore({ port: 0, dataDir, runProjections: "All" });
      client = EventStoreDBClient.connectionString(projecting.connectionString);
      try {
        const links = await readStreamEvents(client, `$ce-${category}`, { resolveLinkTos: true });
        expect(links.map((link) => link.event?.type)).toEqual(["Early", "Later"]);
        // Caught up as a real node's projections would: the links come after everything already in the log.
        const [last] = await collect(client.readAll({ direction: BACKWARDS, fromPosition: END, maxCount: 1 }));
        expect(last?.event?.streamId.startsWith("$")).toBe(true);
        const positions = links.map((link) => link.link?.position?.commit ?? -1n);
        const eventPositions = links.map((link) => link.event?.position?.commit ?? -1n);
        expect(positions[0]! > eventPositions[1]!).toBe(true);
        await client.appendToStream(stream, jsonEvent({ type: "New", data: {} }));
        expect((await readStreamEvents(client, `$ce-${category}`)).map(dataOf)).toEqual([`0@${stream}`, `1@${stream}`, `2@${stream}`]);
      } finally {
        await client.dispose();
        await projecting.stop();
      }

      // Reopened again, nothing is indexed twice.
      const reopened = await startEmbeddedEventStore({ port: 0, dataDir, runProjections: "All" });
      client = EventStoreDBClient.connectionString(reopened.connectionString);
      try {
        expect((await readStreamEvents(client, `$ce-${category}`)).map(dataOf)).toEqual([`0@${stream}`, `1@${stream}`, `2@${stream}`]);
      } finally {
        await client.dispose();
        await reopened.stop();
      }
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  });

  it("npm run eventstore runs them with --run-projections=All, not without", async () => {
    const category = uniqueCategory();
    for (const [args, expected] of [
      [["--memory", "--port", "0", "--run-projections=All"], 1],
      [["--memory", "--port", "0"], 0],
    ] as const) {
      const server = await spawnEventStoreCli([...args]);
      const client = EventStoreDBClient.connectionString(server.connectionString);
      try {
        await client.appendToStream(`${category}-1`, jsonEvent({ type: "A", data: {} }));
        const links = await readStreamEvents(client, `$ce-${category}`).catch((error: unknown) => {
          if (error instanceof StreamNotFoundError) return [];
          throw error;
        });
        expect(links.length).toBe(expected);
      } finally {
        await client.dispose();
        await server.stop();
      }
    }
  }, 120_000);
});
