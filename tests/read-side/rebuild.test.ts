import { spawn } from "node:child_process";
import type { EventStoreDBClient } from "@eventstore/db-client";
import type { Redis } from "ioredis";
import { describe, expect, it } from "vitest";
import { createProjectionConsumers } from "../../projections/consumers.js";
import { PROJECTION_NAMES, ProjectionKeys, type ProjectionName } from "../../projections/keys.js";
import { RebuildInProgressError, rebuildProjections } from "../../projections/rebuild.js";
import { eventStoreStreamReader } from "../../projections/stream-reader.js";
import type { EmbeddedEventStore } from "../../src/embedded-eventstore/index.js";
import { useEmbeddedStore } from "../support/embedded-store.js";
import type { ConsumedEvent } from "../../src/infrastructure/eventstore/consumer-group.js";
import {
  appendToEventStore,
  dumpLive,
  dumpVersion,
  liveVersion,
  readAllEvents,
  REDIS_URL,
  silentLogger,
  SyntheticLog,
  useKeyRoots,
} from "./support.js";

let server: EmbeddedEventStore;
let client: EventStoreDBClient;
let redis: Redis;
const root = useKeyRoots((connected) => (redis = connected));

useEmbeddedStore((started) => ({ server, client } = started));

/** What the live consumer groups would do: every event through every projection consumer. */
const projectLive = async (events: readonly ConsumedEvent[], keyRoot: string): Promise<void> => {
  const consumers = createProjectionConsumers({ redis, logger: silentLogger(), reader: eventStoreStreamReader(client), keyRoot });
  for (const event of events) {
    for (const consumer of consumers) {
      if (consumer.streamPrefixes.some((prefix) => event.streamId.startsWith(prefix))) await consumer.handle(event);
    }
  }
};

const dumpAll = async (keyRoot: string): Promise<Record<string, Record<string, unknown>>> =>
  Object.fromEntries(await Promise.all(PROJECTION_NAMES.map(async (name) => [name, await dumpLive(redis, keyRoot, name)] as const)));

/** A sample history plus a notification stream, appended to the store; returns what was appended. */
const appendSample = async (): Promise<SyntheticLog> => {
  const log = SyntheticLog.sample();
  const placed = log.events.find((event) => event.type === "ReservationPlaced");
  const reservationId = placed?.streamId.slice("reservation-".length) ?? "";
  const notificationId = crypto.randomUUID();
  log.append(`notification-${reservationId}`, "NotificationRecorded", {
    notificationId,
    customerId: "alice",
    reservationId,
    kind: "payment.paid",
    message: "paid",
    createdAt: log.tick(),
    channels: ["log"],
    cause: { streamId: `payment-${reservationId}`, revision: 1, eventId: crypto.randomUUID(), type: "PaymentSucceeded" },
  });
  log.append(`notification-${reservationId}`, "NotificationDelivered", {
    notificationId,
    channel: "log",
    deliveredAt: log.tick(),
    attempts: 1,
  });
  await appendToEventStore(client, log.events);
  return log;
};

describe("rebuilding projections from the log", () => {
  it("gives exactly the state the live consumers built incrementally, and retires the old version", async () => {
    await appendSample();
    const keyRoot = root("rebuild");
    await projectLive(await readAllEvents(client), keyRoot);
    const incremental = await dumpAll(keyRoot);
    expect(Object.keys(incremental.lists ?? {}).length).toBeGreaterThan(10);
    expect(Object.keys(incremental.notifications ?? {}).length).toBeGreaterThan(0);
    const before = Object.fromEntries(
      await Promise.all(PROJECTION_NAMES.map(async (name) => [name, await liveVersion(redis, keyRoot, name)])),
    );

    const progress: bigint[] = [];
    const result = await rebuildProjections({
      client,
      redis,
      projections: PROJECTION_NAMES,
      keyRoot,
      batchSize: 7,
      progressIntervalMs: 0,
      onProgress: (report) => progress.push(report.position),
    });

    expect(result.projections.map((rebuilt) => rebuilt.projection)).toEqual([...PROJECTION_NAMES]);
    for (const rebuilt of result.projections) {
      expect(rebuilt.previous).toBe(before[rebuilt.projection]);
      expect(rebuilt.version).not.toBe(rebuilt.previous);
      expect(await liveVersion(redis, keyRoot, rebuilt.projection)).toBe(rebuilt.version);
      expect(await dumpVersion(redis, keyRoot, rebuilt.projection, rebuilt.previous ?? "")).toEqual({});
      expect(await redis.exists(new ProjectionKeys(rebuilt.projection, keyRoot).building)).toBe(0);
    }
    expect(await dumpAll(keyRoot)).toEqual(incremental);
    expect(result.read).toBeGreaterThan(result.applied);
    expect(progress.length).toBeGreaterThan(1);
    expect(progress.at(-1)).toBeGreaterThan(0n);
  });

  it("loses nothing that happens while it runs: live consumers feed the version being built", async () => {
    await appendSample();
    const keyRoot = root("during");
    await projectLive(await readAllEvents(client), keyRoot);

    const seen = new Set((await readAllEvents(client)).map((event) => event.eventId));
    /** Appends a fresh history and lets the live consumers handle it, as they would while the rebuild runs. */
    const happenMeanwhile = async (): Promise<void> => {
      await appendSample();
      const fresh = (await readAllEvents(client)).filter((event) => !seen.has(event.eventId));
      for (const event of fresh) seen.add(event.eventId);
      await projectLive(fresh, keyRoot);
    };
    let batches = 0;
    await rebuildProjections({
      client,
      redis,
      projections: ["mypage", "lists", "notifications"],
      keyRoot,
      batchSize: 5,
      // While the replay is reading, and after it has read up to the head (before the switch).
      onBatch: async () => {
        batches += 1;
        if (batches === 2) await happenMeanwhile();
      },
      onReplayed: happenMeanwhile,
    });
    // And after the switch.
    await happenMeanwhile();

    const reference = root("reference");
    await projectLive(await readAllEvents(client), reference);
    expect(await dumpAll(keyRoot)).toEqual(await dumpAll(reference));
  });

  it("refuses a second rebuild of a projection while one runs, and leaves no trace when abandoned", async () => {
    await appendSample();
    const keyRoot = root("exclusive");
    await projectLive(await readAllEvents(client), keyRoot);
    const before = await dumpAll(keyRoot);
    const liveBefore = await liveVersion(redis, keyRoot, "lists");

    let second: unknown;
    await rebuildProjections({
      client,
      redis,
      projections: ["lists"],
      keyRoot,
      onBuildingSet: async () => {
        second = await rebuildProjections({ client, redis, projections: ["mypage", "lists"], keyRoot }).catch((error: unknown) => error);
      },
    });
    expect(second).toBeInstanceOf(RebuildInProgressError);
    // The refused rebuild released what it had claimed (mypage) and did not touch lists.
    expect(await redis.exists(new ProjectionKeys("mypage", keyRoot).building)).toBe(0);
    expect(await dumpAll(keyRoot)).toEqual(before);

    // A rebuild that loses its lease is abandoned: the live version stays, the half-built one goes.
    const lost = await rebuildProjections({
      client,
      redis,
      projections: ["lists"],
      keyRoot,
      batchSize: 3,
      onBatch: async () => {
        await redis.del(new ProjectionKeys("lists", keyRoot).building);
      },
    }).catch((error: unknown) => error);
    expect(String(lost)).toMatch(/lease/);
    const live = await liveVersion(redis, keyRoot, "lists");
    expect(live).not.toBe(liveBefore);
    expect(await dumpAll(keyRoot)).toEqual(before);
    const keys = new ProjectionKeys("lists", keyRoot);
    const [, all] = await redis.scan("0", "MATCH", keys.pattern, "COUNT", 100_000);
    expect(new Set(all.map((key) => keys.versionOf(key)).filter((version) => version !== undefined))).toEqual(new Set([live]));
  });

  it("runs as `npm run projections:rebuild -- <projection>` with progress on stderr", async () => {
    await appendSample();
    const keyRoot = root("script");
    await projectLive(await readAllEvents(client), keyRoot);
    const before = await dumpLive(redis, keyRoot, "mypage");
    const run = (args: string[]) =>
      new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
        const child = spawn(process.execPath, ["--import", "tsx", "scripts/projections-rebuild.ts", ...args], {
          env: { ...process.env, EVENTSTORE_URL: server.connectionString, REDIS_URL, LOG_LEVEL: "silent" },
        });
        let stdout = "";
        let stderr = "";
        child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
        child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
        child.on("close", (code) => resolve({ code, stdout, stderr }));
      });
    const done = await run(["mypage", "--key-root", keyRoot]);
    expect(done.code, done.stderr).toBe(0);
    expect(done.stderr).toMatch(/events\/s, position \d+\/\d+/);
    const result = JSON.parse(done.stdout) as { projections: Array<{ projection: ProjectionName; version: string }> };
    expect(result.projections[0]?.projection).toBe("mypage");
    expect(await liveVersion(redis, keyRoot, "mypage")).toBe(result.projections[0]?.version);
    expect(await dumpLive(redis, keyRoot, "mypage")).toEqual(before);

    const wrong = await run(["everything"]);
    expect(wrong.code).toBe(2);
    expect(wrong.stderr).toMatch(/usage: npm run projections:rebuild/);
  });
});
