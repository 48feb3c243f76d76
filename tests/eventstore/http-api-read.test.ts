/**
 * EventStoreDB's HTTP API, reading: atom feeds of streams and of `$all`, paging links, embed levels,
 * single events in each media type, links resolved or not, 404 / 410, long polls. Runs against the
 * embedded server, or a real one with EVENTSTORE_HTTP_URL.
 */
import { randomUUID } from "node:crypto";
import { connect } from "node:net";
import { describe, expect, test } from "vitest";
import { jsonEvent } from "@eventstore/db-client";
import { protocolOf } from "../../src/embedded-eventstore/http/protocol-sniffer.js";
import { ATOM_JSON, EVENT_JSON, type AtomFeed, linkPath, relations, useHttpEventStore } from "./http-support.js";

const store = useHttpEventStore();

const unique = (prefix: string): string => `${prefix}-${randomUUID()}`;

const seed = async (stream: string, count: number, type = "HttpRead"): Promise<void> => {
  await store().client.appendToStream(
    stream,
    Array.from({ length: count }, (_, index) => jsonEvent({ type, data: { index }, metadata: { $correlationId: `c-${index}` } })),
  );
};

const titles = (feed: AtomFeed): string[] => feed.entries.map((entry) => entry.title);

const range = (from: number, to: number, stream: string): string[] =>
  Array.from({ length: Math.abs(from - to) + 1 }, (_, index) => `${from > to ? from - index : from + index}@${stream}`);

describe("one port for gRPC and HTTP", () => {
  test("the HTTP/2 preface goes to gRPC, anything else to HTTP, even when it arrives in pieces", () => {
    expect(protocolOf(Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"))).toBe("http2");
    expect(protocolOf(Buffer.from("PRI * HT"))).toBeUndefined();
    expect(protocolOf(Buffer.from("P"))).toBeUndefined();
    expect(protocolOf(Buffer.from("POST /streams/x HTTP/1.1"))).toBe("http1");
    expect(protocolOf(Buffer.from("GET / HTTP/1.1"))).toBe("http1");
  });

  test("a request written byte by byte is answered over HTTP/1.1 while the gRPC client works on the same port", async () => {
    const stream = unique("port");
    await seed(stream, 1);
    const { hostname, port } = new URL(store().url);
    const request = `GET /streams/${stream}/0 HTTP/1.1\r\nHost: ${hostname}:${port}\r\nAccept: application/json\r\nConnection: close\r\n\r\n`;
    const answer = await new Promise<string>((resolve, reject) => {
      const socket = connect(Number(port), hostname);
      let text = "";
      socket.setEncoding("utf8");
      socket.on("data", (chunk: string) => (text += chunk));
      socket.on("end", () => resolve(text));
      socket.on("error", reject);
      socket.on("connect", () => {
        // "P" could still be the HTTP/2 preface: the server must wait for more before deciding.
        const writeSlowly = async (): Promise<void> => {
          for (const char of request) {
            socket.write(char);
            if (char === "P" || char === "O") await new Promise((wait) => setTimeout(wait, 30));
          }
        };
        writeSlowly().catch(reject);
      });
    });
    expect(answer).toMatch(/^HTTP\/1\.1 200/);
    expect(answer).toContain('"index"');
  });
});

describe("GET /streams/{stream}", () => {
  test("the head of a stream as an atom feed, newest first, with EventStoreDB's links and headers", async () => {
    const stream = unique("feed");
    await seed(stream, 3);
    const response = await store().get(`/streams/${stream}`, { Accept: ATOM_JSON });
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toMatch(/^application\/vnd\.eventstore\.atom\+json/);
    expect(response.headers.get("cache-control")).toBe("max-age=0, no-cache, must-revalidate");
    expect(response.headers.get("vary")).toBe("Accept");
    expect(response.headers.get("etag")).toMatch(/^"2;-?\d+"$/);
    const feed = (await response.json()) as AtomFeed;
    const self = `${store().url}/streams/${stream}`;
    expect(feed.title).toBe(`Event stream '${stream}'`);
    expect(feed.id).toBe(self);
    expect(feed.streamId).toBe(stream);
    expect(feed.headOfStream).toBe(true);
    expect(feed.selfUrl).toBe(self);
    expect(feed.links).toEqual([
      { uri: self, relation: "self" },
      { uri: `${self}/head/backward/20`, relation: "first" },
      { uri: `${self}/3/forward/20`, relation: "previous" },
      { uri: `${self}/metadata`, relation: "metadata" },
    ]);
    expect(titles(feed)).toEqual(range(2, 0, stream));
    const [newest] = feed.entries;
    expect(newest).toMatchObject({ id: `${self}/2`, summary: "HttpRead", author: { name: "EventStore" } });
    expect(newest?.updated).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/);
    expect(newest?.links).toEqual([
      { uri: `${self}/2`, relation: "edit" },
      { uri: `${self}/2`, relation: "alternate" },
    ]);
    // Without embed, an entry carries no event data.
    expect(newest?.data).toBeUndefined();
    expect(newest?.eventType).toBeUndefined();
  });

  test("application/json gets the same feed", async () => {
    const stream = unique("feed-json");
    await seed(stream, 2);
    const response = await store().get(`/streams/${stream}`, { Accept: "application/json" });
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toMatch(/^application\/json/);
    expect(titles((await response.json()) as AtomFeed)).toEqual(range(1, 0, stream));
    // With a trailing slash it is the same stream (EventStoreDB answers through a redirect).
    const slashed = await fetch(`${store().url}/streams/${stream}/`, { headers: { Accept: "application/json" } });
    expect(titles((await slashed.json()) as AtomFeed)).toEqual(range(1, 0, stream));
  });

  test("embed=rich and embed=body add the event's fields, its data and metadata as JSON text", async () => {
    const stream = unique("embed");
    await store().client.appendToStream(
      stream,
      jsonEvent({ id: randomUUID(), type: "Embedded", data: { a: 1, b: "two" }, metadata: { $correlationId: "corr" } }),
    );
    const rich = await store().feed(`/streams/${stream}?embed=rich`);
    expect(rich.entries[0]).toMatchObject({
      eventType: "Embedded",
      eventNumber: 0,
      streamId: stream,
      isJson: true,
      positionEventNumber: 0,
      positionStreamId: stream,
    });
    expect(rich.entries[0]?.data).toBeUndefined();
    const body = await store().feed(`/streams/${stream}?embed=body`);
    const [entry] = body.entries;
    expect(JSON.parse(entry?.data ?? "")).toEqual({ a: 1, b: "two" });
    expect(JSON.parse(entry?.metaData ?? "")).toEqual({ $correlationId: "corr" });
    expect(entry?.isMetaData).toBe(true);
    expect(entry?.eventId).toMatch(/^[0-9a-f-]{36}$/);
  });

  test("pages: head backward, next (older), last (oldest), previous (newer), forward", async () => {
    const stream = unique("pages");
    await seed(stream, 25);
    const head = await store().feed(`/streams/${stream}`);
    expect(titles(head)).toEqual(range(24, 5, stream));
    expect(relations(head)).toEqual(["self", "first", "last", "next", "previous", "metadata"]);
    expect(linkPath(head, "next")).toBe(`/streams/${stream}/4/backward/20`);
    expect(linkPath(head, "last")).toBe(`/streams/${stream}/0/forward/20`);

    const older = await store().feed(linkPath(head, "next") ?? "");
    expect(titles(older)).toEqual(range(4, 0, stream));
    expect(older.headOfStream).toBe(false);
    expect(relations(older)).not.toContain("next");
    expect(linkPath(older, "previous")).toBe(`/streams/${stream}/5/forward/20`);

    const oldest = await store().feed(linkPath(head, "last") ?? "");
    expect(titles(oldest)).toEqual(range(19, 0, stream));
    expect(linkPath(oldest, "previous")).toBe(`/streams/${stream}/20/forward/20`);
    const newer = await store().feed(linkPath(oldest, "previous") ?? "");
    expect(titles(newer)).toEqual(range(24, 20, stream));
    expect(newer.headOfStream).toBe(true);

    const counted = await store().feed(`/streams/${stream}/10/backward/3`);
    expect(titles(counted)).toEqual(range(10, 8, stream));
    // A complete page never changes: it may be cached for good.
    const response = await store().get(`/streams/${stream}/0/forward/5`, { Accept: ATOM_JSON });
    expect(response.headers.get("cache-control")).toBe("max-age=31536000, public");
  });

  test("a missing stream is 404, a tombstoned one 410, a soft-deleted one 404", async () => {
    expect((await store().get(`/streams/${unique("missing")}`, { Accept: ATOM_JSON })).status).toBe(404);
    const tombstoned = unique("tombstoned");
    await seed(tombstoned, 1);
    await store().client.tombstoneStream(tombstoned);
    expect((await store().get(`/streams/${tombstoned}`, { Accept: ATOM_JSON })).status).toBe(410);
    expect((await store().get(`/streams/${tombstoned}/0`, { Accept: ATOM_JSON })).status).toBe(410);
    const deleted = unique("deleted");
    await seed(deleted, 1);
    await store().client.deleteStream(deleted);
    expect((await store().get(`/streams/${deleted}`, { Accept: ATOM_JSON })).status).toBe(404);
  });

  test("bad event numbers and counts are 400", async () => {
    const stream = unique("bad");
    await seed(stream, 1);
    expect((await store().get(`/streams/${stream}/abc`, { Accept: ATOM_JSON })).status).toBe(400);
    expect((await store().get(`/streams/${stream}/0/forward/0`, { Accept: ATOM_JSON })).status).toBe(400);
  });
});

describe("GET /streams/{stream}/{event}", () => {
  test("one event as an atom entry, as the event document, as its data alone; 404 past the end", async () => {
    const stream = unique("event");
    const id = randomUUID();
    await store().client.appendToStream(stream, jsonEvent({ id, type: "Single", data: { x: [1, 2] }, metadata: { m: true } }));
    const atom = await store().get(`/streams/${stream}/0`, { Accept: ATOM_JSON });
    expect(atom.status).toBe(200);
    expect(atom.headers.get("cache-control")).toBe("max-age=31536000, public");
    const entry = (await atom.json()) as { title: string; summary: string; content: unknown };
    expect(entry.title).toBe(`0@${stream}`);
    expect(entry.summary).toBe("Single");
    expect(entry.content).toEqual({
      eventStreamId: stream,
      eventNumber: 0,
      eventType: "Single",
      eventId: id,
      data: { x: [1, 2] },
      metadata: { m: true },
    });

    const document = await store().get(`/streams/${stream}/0`, { Accept: EVENT_JSON });
    expect(document.headers.get("content-type")).toMatch(/^application\/vnd\.eventstore\.event\+json/);
    expect(await document.json()).toMatchObject({ eventType: "Single", eventNumber: 0, eventId: id, data: { x: [1, 2] } });

    const data = await store().get(`/streams/${stream}/0`, { Accept: "application/json" });
    expect(await data.json()).toEqual({ x: [1, 2] });

    const head = await store().get(`/streams/${stream}/head`, { Accept: "application/json" });
    expect(await head.json()).toEqual({ x: [1, 2] });
    expect((await store().get(`/streams/${stream}/1`, { Accept: ATOM_JSON })).status).toBe(404);
  });
});

describe("ES-ResolveLinkTos", () => {
  test("links are resolved by default and shown as links when asked; a malformed header is 400", async () => {
    const target = unique("target");
    const links = unique("links");
    await store().client.appendToStream(target, jsonEvent({ type: "Target", data: { t: 1 } }));
    await store().client.appendToStream(links, {
      id: randomUUID(),
      type: "$>",
      contentType: "application/octet-stream",
      data: Buffer.from(`0@${target}`),
      metadata: undefined,
    });
    const resolved = await store().feed(`/streams/${links}?embed=rich`);
    expect(resolved.entries[0]).toMatchObject({
      title: `0@${target}`,
      summary: "$>",
      eventType: "Target",
      streamId: target,
      positionStreamId: links,
      positionEventNumber: 0,
    });
    const raw = await store().feed(`/streams/${links}?embed=rich`, { "ES-ResolveLinkTos": "false" });
    expect(raw.entries[0]).toMatchObject({ title: `0@${links}`, summary: "$>", eventType: "$>" });
    const single = await store().get(`/streams/${links}/0`, { Accept: "application/json" });
    expect(await single.json()).toEqual({ t: 1 });
    expect((await store().get(`/streams/${links}`, { Accept: ATOM_JSON, "ES-ResolveLinkTos": "maybe" })).status).toBe(400);
  });
});

describe("ES-LongPoll", () => {
  test("a forward read at the head waits for the next event instead of answering empty", async () => {
    const stream = unique("longpoll");
    await seed(stream, 1);
    const started = Date.now();
    const pending = store().feed(`/streams/${stream}/1/forward/20`, { "ES-LongPoll": "10" });
    setTimeout(() => void seed(stream, 1, "Arrived"), 300);
    const feed = await pending;
    expect(titles(feed)).toEqual([`1@${stream}`]);
    expect(Date.now() - started).toBeLessThan(9_000);
  });
});

describe("GET /streams/$all", () => {
  test("the log newest first, with positions in the paging links, and a filtered form", async () => {
    const prefix = `allhttp${randomUUID().replace(/-/g, "")}`;
    const first = `${prefix}-a`;
    const second = `${prefix}-b`;
    await seed(first, 2);
    await seed(second, 1);
    const head = await store().feed("/streams/%24all?embed=rich", { "ES-ResolveLinkTos": "false" });
    expect(head.title).toBe("All events");
    expect(relations(head)).toEqual(expect.arrayContaining(["self", "first", "previous"]));
    const mine = head.entries.filter((entry) => entry.streamId?.startsWith(prefix)).map((entry) => entry.title);
    expect(mine).toEqual([`0@${second}`, `1@${first}`, `0@${first}`]);
    const next = linkPath(head, "next");
    if (next) expect(next).toMatch(/^\/streams\/%24all\/[0-9A-F]{32}\/backward\/20$/);

    const filtered = await store().feed(`/streams/%24all/filtered?embed=rich&context=streamid&type=prefix&data=${prefix}`);
    expect(titles(filtered)).toEqual([`0@${second}`, `1@${first}`, `0@${first}`]);
    const byType = await store().feed(`/streams/%24all/filtered/head/backward/2?context=eventtype&type=prefix&data=HttpRead&embed=rich`);
    expect(byType.entries).toHaveLength(2);
    expect(byType.entries.every((entry) => entry.eventType === "HttpRead")).toBe(true);
  });

  test("paging $all backwards and then forwards again returns the same events", async () => {
    const page = await store().feed("/streams/%24all/head/backward/3?embed=rich", { "ES-ResolveLinkTos": "false" });
    const older = linkPath(page, "next");
    if (!older) return; // a log of three events or fewer has no older page
    const before = await store().feed(`${older}?embed=rich`, { "ES-ResolveLinkTos": "false" });
    const forward = linkPath(before, "previous");
    expect(forward).toMatch(/\/forward\/3$/);
    const again = await store().feed(`${forward ?? ""}?embed=rich`, { "ES-ResolveLinkTos": "false" });
    expect(titles(again)).toEqual(titles(page));
  });
});
