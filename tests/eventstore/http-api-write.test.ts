/**
 * EventStoreDB's HTTP API, writing: `POST /streams/{stream}` with the events media type, or one event
 * as application/json with ES-EventType / ES-EventId, and ES-ExpectedVersion. The appends share the
 * gRPC path's rules: what one wrote, the other reads; a retry of the same ids is idempotent across both.
 */
import { randomUUID } from "node:crypto";
import { describe, expect, test } from "vitest";
import { NO_STREAM, jsonEvent, type ResolvedEvent } from "@eventstore/db-client";
import { EVENTS_JSON, useHttpEventStore } from "./http-support.js";

const store = useHttpEventStore();

const unique = (prefix: string): string => `${prefix}-${randomUUID()}`;

const readAll = async (stream: string): Promise<ResolvedEvent[]> => {
  const events: ResolvedEvent[] = [];
  try {
    for await (const event of store().client.readStream(stream)) events.push(event);
  } catch (error) {
    if ((error as { type?: string }).type === "stream-not-found") return [];
    throw error;
  }
  return events;
};

const postEvents = (stream: string, events: unknown, headers: Record<string, string> = {}): Promise<Response> =>
  store().post(`/streams/${stream}`, JSON.stringify(events), { "Content-Type": EVENTS_JSON, ...headers });

describe("POST /streams/{stream} with application/vnd.eventstore.events+json", () => {
  test("appends the events: 201 with the first event's Location, readable by the gRPC client", async () => {
    const stream = unique("post");
    const ids = [randomUUID(), randomUUID()];
    const response = await postEvents(stream, [
      { eventId: ids[0], eventType: "Posted", data: { a: 1 }, metadata: { $correlationId: "c" } },
      { eventId: ids[1], eventType: "PostedToo", data: { b: [true] } },
    ]);
    expect(response.status).toBe(201);
    expect(response.headers.get("location")).toBe(`${store().url}/streams/${stream}/0`);
    const events = await readAll(stream);
    expect(events.map((event) => [event.event?.id, event.event?.type, event.event?.isJson, event.event?.data])).toEqual([
      [ids[0], "Posted", true, { a: 1 }],
      [ids[1], "PostedToo", true, { b: [true] }],
    ]);
    expect(events[0]?.event?.metadata).toEqual({ $correlationId: "c" });

    const more = await postEvents(stream, [{ eventId: randomUUID(), eventType: "Third", data: {} }]);
    expect(more.headers.get("location")).toBe(`${store().url}/streams/${stream}/2`);
  });

  test("a malformed body is 400 and writes nothing", async () => {
    const stream = unique("malformed");
    expect((await store().post(`/streams/${stream}`, "[{not json", { "Content-Type": EVENTS_JSON })).status).toBe(400);
    expect((await postEvents(stream, [{ eventType: "NoId", data: {} }])).status).toBe(400);
    expect((await postEvents(stream, [{ eventId: "not-a-uuid", eventType: "BadId", data: {} }])).status).toBe(400);
    expect((await postEvents(stream, [{ eventId: randomUUID(), data: {} }])).status).toBe(400);
    expect(await readAll(stream)).toEqual([]);
  });
});

describe("POST /streams/{stream} with application/json", () => {
  test("one event whose type and id come from ES-EventType and ES-EventId", async () => {
    const stream = unique("single");
    const id = randomUUID();
    const response = await store().post(`/streams/${stream}`, JSON.stringify({ hello: "world" }), {
      "Content-Type": "application/json",
      "ES-EventType": "Greeted",
      "ES-EventId": id,
    });
    expect(response.status).toBe(201);
    const [event] = await readAll(stream);
    expect(event?.event).toMatchObject({ id, type: "Greeted", isJson: true, data: { hello: "world" } });
  });

  test("without ES-EventId the server redirects to an idempotent URI of its choosing", async () => {
    const stream = unique("redirect");
    const body = JSON.stringify({ n: 1 });
    const headers = { "Content-Type": "application/json", "ES-EventType": "Redirected" };
    const first = await store().post(`/streams/${stream}`, body, headers);
    expect(first.status).toBe(307);
    const location = first.headers.get("location") ?? "";
    expect(location).toMatch(new RegExp(`/streams/${stream}/incoming/[0-9a-f-]{36}$`));
    const path = new URL(location).pathname;
    expect((await store().post(path, body, headers)).status).toBe(201);
    // The URI names the event: posting again is a retry, not a second event.
    expect((await store().post(path, body, headers)).status).toBe(201);
    const events = await readAll(stream);
    expect(events).toHaveLength(1);
    expect(events[0]?.event?.id).toBe(path.split("/").at(-1));
  });

  test("no event type is 400; a body that is not JSON is 400; nothing is written", async () => {
    const stream = unique("invalid");
    expect(
      (await store().post(`/streams/${stream}`, "{}", { "Content-Type": "application/json", "ES-EventId": randomUUID() })).status,
    ).toBe(400);
    const notJson = await store().post(`/streams/${stream}`, "{oops", {
      "Content-Type": "application/json",
      "ES-EventType": "Broken",
      "ES-EventId": randomUUID(),
    });
    expect(notJson.status).toBe(400);
    expect(await readAll(stream)).toEqual([]);
  });
});

describe("ES-ExpectedVersion", () => {
  const one = () => [{ eventId: randomUUID(), eventType: "Versioned", data: {} }];

  test("an exact version, no stream (-1), stream exists (-4) and any (-2)", async () => {
    const stream = unique("versions");
    expect((await postEvents(stream, one(), { "ES-ExpectedVersion": "-4" })).status).toBe(400);
    expect((await postEvents(stream, one(), { "ES-ExpectedVersion": "-1" })).status).toBe(201);
    expect((await postEvents(stream, one(), { "ES-ExpectedVersion": "0" })).status).toBe(201);
    expect((await postEvents(stream, one(), { "ES-ExpectedVersion": "-4" })).status).toBe(201);
    expect((await postEvents(stream, one(), { "ES-ExpectedVersion": "-2" })).status).toBe(201);
    expect(await readAll(stream)).toHaveLength(4);
  });

  test("a wrong version is 400 Wrong expected EventNumber with the current version", async () => {
    const stream = unique("wrong");
    expect((await postEvents(stream, [...one(), ...one()])).status).toBe(201);
    const wrong = await postEvents(stream, one(), { "ES-ExpectedVersion": "0" });
    expect(wrong.status).toBe(400);
    expect(wrong.statusText).toBe("Wrong expected EventNumber");
    expect(wrong.headers.get("es-currentversion")).toBe("1");
    const missing = await postEvents(unique("absent"), one(), { "ES-ExpectedVersion": "3" });
    expect(missing.status).toBe(400);
    expect(missing.headers.get("es-currentversion")).toBe("-1");
    expect((await postEvents(stream, one(), { "ES-ExpectedVersion": "abc" })).status).toBe(400);
    expect(await readAll(stream)).toHaveLength(2);
  });

  test("a retry of the same event ids is idempotent, whether it comes over HTTP or gRPC", async () => {
    const stream = unique("idempotent");
    const id = randomUUID();
    const event = [{ eventId: id, eventType: "Once", data: { once: true } }];
    expect((await postEvents(stream, event, { "ES-ExpectedVersion": "-1" })).status).toBe(201);
    const retried = await postEvents(stream, event, { "ES-ExpectedVersion": "-1" });
    expect(retried.status).toBe(201);
    expect(retried.headers.get("location")).toBe(`${store().url}/streams/${stream}/0`);
    await store().client.appendToStream(stream, jsonEvent({ id, type: "Once", data: { once: true } }), { expectedRevision: NO_STREAM });
    expect(await readAll(stream)).toHaveLength(1);
  });

  test("writing to a tombstoned stream is 410", async () => {
    const stream = unique("gone");
    expect((await postEvents(stream, one())).status).toBe(201);
    await store().client.tombstoneStream(stream);
    expect((await postEvents(stream, one())).status).toBe(410);
  });
});

describe("DELETE /streams/{stream}", () => {
  const one = () => [{ eventId: randomUUID(), eventType: "ToDelete", data: {} }];
  const del = (stream: string, headers: Record<string, string> = {}): Promise<Response> =>
    fetch(`${store().url}/streams/${stream}`, { method: "DELETE", headers, signal: AbortSignal.timeout(20_000) });

  test("a soft delete (204), after which reads are 404 and a write brings the stream back", async () => {
    const stream = unique("soft");
    expect((await postEvents(stream, one())).status).toBe(201);
    expect((await del(stream, { "ES-ExpectedVersion": "5" })).status).toBe(400);
    expect((await del(stream, { "ES-ExpectedVersion": "0" })).status).toBe(204);
    expect((await store().get(`/streams/${stream}`, { Accept: "application/json" })).status).toBe(404);
    expect((await postEvents(stream, one())).status).toBe(201);
    expect((await readAll(stream)).map((event) => event.event?.revision)).toEqual([1n]);
  });

  test("ES-HardDelete tombstones the stream: reads and writes are 410 from then on", async () => {
    const stream = unique("hard");
    expect((await postEvents(stream, one())).status).toBe(201);
    expect((await del(stream, { "ES-HardDelete": "true" })).status).toBe(204);
    expect((await store().get(`/streams/${stream}`, { Accept: "application/json" })).status).toBe(410);
    expect((await postEvents(stream, one())).status).toBe(410);
    expect((await del(stream, { "ES-HardDelete": "true" })).status).toBe(410);
  });
});
