/**
 * EventStoreDB's HTTP API around the streams: persistent-subscription statistics and replaying
 * parked messages, `/info`, `/health/live`, `/stats`, and the stream browser's entry points.
 */
import { randomUUID } from "node:crypto";
import { describe, expect, test } from "vitest";
import {
  PARK,
  START,
  jsonEvent,
  persistentSubscriptionToStreamSettingsFromDefaults,
  type PersistentSubscriptionToStream,
  type PersistentSubscriptionToStreamResolvedEvent,
} from "@eventstore/db-client";
import { REAL_HTTP_URL, useHttpEventStore } from "./http-support.js";

const store = useHttpEventStore();

interface Summary {
  readonly eventStreamId: string;
  readonly groupName: string;
  readonly status: string;
  readonly parkedMessageUri: string;
  readonly getMessagesUri: string;
  readonly connectionCount: number;
  readonly links: { href: string; rel: string }[];
}

interface Details extends Omit<Summary, "connectionCount"> {
  readonly config: { maxRetryCount: number; namedConsumerStrategy: string; resolveLinktos: boolean };
  readonly parkedMessageCount: number;
  readonly totalItemsProcessed: number;
  readonly connections: { connectionName: string; from: string; availableSlots: number }[];
}

const json = async <T>(path: string): Promise<T> => {
  const response = await store().get(path, { Accept: "application/json" });
  expect(response.status, path).toBe(200);
  return (await response.json()) as T;
};

/** Waits for the next message of a persistent subscription. */
const next = async (subscription: PersistentSubscriptionToStream): Promise<PersistentSubscriptionToStreamResolvedEvent> => {
  const iterator = subscription[Symbol.asyncIterator]();
  const result = await Promise.race([
    iterator.next(),
    new Promise<never>((_, reject) => setTimeout(() => reject(new Error("no message within 10 s")), 10_000)),
  ]);
  if (result.done) throw new Error("the subscription ended");
  return result.value;
};

describe("GET /subscriptions", () => {
  test("lists every group, per stream, and one group's details with its connections", async () => {
    const stream = `http-subs-${randomUUID()}`;
    const group = `group-${randomUUID().slice(0, 8)}`;
    await store().client.appendToStream(stream, jsonEvent({ type: "ForGroup", data: {} }));
    await store().client.createPersistentSubscriptionToStream(
      stream,
      group,
      persistentSubscriptionToStreamSettingsFromDefaults({ startFrom: START, maxRetryCount: 7 }),
    );
    const subscription = store().client.subscribeToPersistentSubscriptionToStream(stream, group);
    try {
      const first = await next(subscription);
      await subscription.ack(first);

      const all = await json<Summary[]>("/subscriptions");
      const listed = all.find((each) => each.eventStreamId === stream && each.groupName === group);
      expect(listed).toBeDefined();
      const escapedGroup = encodeURIComponent(group);
      expect(listed?.links).toEqual([{ href: `${store().url}/subscriptions/${stream}/${escapedGroup}/info`, rel: "detail" }]);
      expect(decodeURIComponent(new URL(listed?.parkedMessageUri ?? "").pathname)).toBe(
        `/streams/$persistentsubscription-${stream}::${group}-parked`,
      );
      expect(listed?.getMessagesUri).toBe(`${store().url}/subscriptions/${stream}/${escapedGroup}/1`);

      const forStream = await json<Summary[]>(`/subscriptions/${stream}`);
      expect(forStream.map((each) => each.groupName)).toEqual([group]);
      expect(forStream[0]?.connectionCount).toBe(1);

      const details = await json<Details>(`/subscriptions/${stream}/${escapedGroup}/info`);
      expect(details.config.maxRetryCount).toBe(7);
      expect(details.config.namedConsumerStrategy).toBe("RoundRobin");
      expect(details.connections).toHaveLength(1);
      expect(details.links.map((link) => link.rel)).toEqual(["detail", "replayParked"]);
      expect(["Live", "Behind"]).toContain(details.status);
    } finally {
      await subscription.unsubscribe();
    }
    expect((await store().get(`/subscriptions/${stream}/no-such-group/info`, { Accept: "application/json" })).status).toBe(404);
    expect((await store().get(`/subscriptions/never-subscribed-${randomUUID()}`, { Accept: "application/json" })).status).toBe(404);
  });

  test("POST replayParked hands parked messages out again", async () => {
    const stream = `http-parked-${randomUUID()}`;
    const group = `parked-${randomUUID().slice(0, 8)}`;
    await store().client.appendToStream(stream, jsonEvent({ type: "ToPark", data: { n: 1 } }));
    await store().client.createPersistentSubscriptionToStream(
      stream,
      group,
      persistentSubscriptionToStreamSettingsFromDefaults({ startFrom: START }),
    );
    const subscription = store().client.subscribeToPersistentSubscriptionToStream(stream, group);
    try {
      const parked = await next(subscription);
      await subscription.nack(PARK, "parked over HTTP test", parked);
      await expect
        .poll(async () => (await json<Details>(`/subscriptions/${stream}/${group}/info`)).parkedMessageCount, { timeout: 10_000 })
        .toBe(1);

      const replay = await store().post(`/subscriptions/${stream}/${group}/replayParked`, "", { Accept: "application/json" });
      expect(replay.status).toBe(200);
      const again = await next(subscription);
      expect(again.event?.type).toBe("ToPark");
      expect(again.event?.streamId).toBe(stream);
      await subscription.ack(again);
    } finally {
      await subscription.unsubscribe();
    }
    expect((await store().post(`/subscriptions/${stream}/no-such-group/replayParked`, "", {})).status).toBe(404);
  });
});

describe("the node", () => {
  test("/info, /health/live and /stats answer in EventStoreDB's shapes", async () => {
    const info = await json<{ esVersion: string; state: string; features: Record<string, boolean>; authentication: { type: string } }>(
      "/info",
    );
    expect(info.esVersion).toMatch(/^\d+\.\d+/);
    expect(info.state).toBe("leader");
    expect(typeof info.features.atomPub).toBe("boolean");
    expect(info.authentication.type).toBe("insecure");

    expect((await store().get("/health/live")).status).toBe(204);
    expect((await store().get("/health/live?liveCode=200")).status).toBe(200);

    const stats = await json<{ proc: { startTime: string; id: number; mem: number }; sys: { freeMem: number } }>("/stats");
    expect(typeof stats.proc.startTime).toBe("string");
    expect(stats.proc.mem).toBeGreaterThan(0);
    expect(stats.sys.freeMem).toBeGreaterThan(0);
  });

  test.skipIf(REAL_HTTP_URL !== undefined)(
    "/ redirects to the stream browser at /web/, which is served with its script and no outside resources",
    async () => {
      const root = await store().get("/");
      expect(root.status).toBe(302);
      expect(root.headers.get("location")).toBe("/web/");
      const page = await store().get("/web/");
      expect(page.status).toBe(200);
      expect(page.headers.get("content-type")).toMatch(/^text\/html/);
      const html = await page.text();
      expect(html).toContain('src="app.js"');
      expect(html).not.toMatch(/https?:\/\//);
      const script = await store().get("/web/app.js");
      expect(script.headers.get("content-type")).toMatch(/javascript/);
      expect(await script.text()).not.toContain("innerHTML");
      const browser = await store().get("/streams/some%24stream/3", { Accept: "text/html,application/xhtml+xml,*/*;q=0.8" });
      expect(browser.status).toBe(302);
      expect(browser.headers.get("location")).toBe("/web/#/streams/some%24stream/3");
      expect((await store().get("/web/../../package.json")).status).toBe(404);
      expect((await store().get("/web/%2e%2e%2fpackage.json")).status).toBe(404);
    },
  );
});
