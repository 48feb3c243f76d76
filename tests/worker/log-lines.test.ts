/**
 * What the log says: pretty lines for a terminal and JSON otherwise; consumer-group lines name their
 * group once; a Redis outage is "Redis at host:port unreachable", once, then a count — not an
 * ioredis internal every second.
 */
import { Writable } from "node:stream";
import { randomUUID } from "node:crypto";
import { afterEach, describe, expect, it, vi } from "vitest";
import { EventStoreDBClient } from "@eventstore/db-client";
import { createLogger } from "../../src/logger.js";
import { RepeatedWarnings } from "../../src/repeated-warnings.js";
import { createRedis } from "../../src/infrastructure/redis.js";
import { describeRedisFailure } from "../../src/infrastructure/redis-failure.js";
import { DeadlineSchedule } from "../../src/infrastructure/deadline-schedule.js";
import { AggregateRepository } from "../../src/infrastructure/eventstore/aggregate-repository.js";
import { productAggregate, reservationAggregate } from "../../src/application/aggregates.js";
import { HoldExpiryPoller } from "../../src/worker/hold-expiry.js";
import { loadConfig } from "../../src/config.js";
import { startService } from "../../src/service.js";
import { ConsumerGroup, TransientError } from "../../src/infrastructure/eventstore/consumer-group.js";
import { startEmbeddedEventStore } from "../../src/embedded-eventstore/index.js";
import { jsonEvent } from "@eventstore/db-client";

const capture = () => {
  const lines: string[] = [];
  let partial = "";
  const destination = new Writable({
    write(chunk: Buffer, _encoding, done) {
      partial += chunk.toString();
      let newline: number;
      while ((newline = partial.indexOf("\n")) >= 0) {
        lines.push(partial.slice(0, newline));
        partial = partial.slice(newline + 1);
      }
      done();
    },
  });
  return { destination, lines };
};

afterEach(() => {
  vi.useRealTimers();
});

describe("log format", () => {
  it("pretty: human-readable lines (level, message, fields on their own lines), secrets still redacted", () => {
    const { destination, lines } = capture();
    const logger = createLogger({ level: "info", destination, pretty: true });
    logger.info({ group: "reservation-saga", token: "tok_secret" }, "created persistent subscription group");
    const text = lines.join("\n");
    expect(lines[0]).toMatch(/^\[\d\d:\d\d:\d\d\.\d{3}\] INFO: created persistent subscription group$/);
    expect(text).toContain('group: "reservation-saga"');
    expect(text).not.toContain("tok_secret");
    expect(() => JSON.parse(lines[0] ?? "")).toThrow();
  });

  it("not pretty (stdout not a terminal, or a destination given): one JSON object per line", () => {
    const { destination, lines } = capture();
    createLogger({ level: "info", destination }).info({ n: 1 }, "hello");
    expect(JSON.parse(lines[0] ?? "")).toMatchObject({ level: 30, msg: "hello", n: 1 });
  });
});

describe("repeated warnings", () => {
  it("a warning repeated within the window is one line, then one summary with the count", () => {
    vi.useFakeTimers();
    const { destination, lines } = capture();
    const warnings = new RepeatedWarnings(createLogger({ level: "info", destination }), 60_000);
    for (let i = 0; i < 10; i += 1) {
      warnings.warn({ cause: "x" }, "poll failed: Redis at 127.0.0.1:6379 unreachable");
      vi.advanceTimersByTime(1000);
    }
    warnings.warn({}, "something else");
    expect(lines.map((line) => (JSON.parse(line) as { msg: string }).msg)).toEqual([
      "poll failed: Redis at 127.0.0.1:6379 unreachable",
      "something else",
    ]);
    vi.advanceTimersByTime(50_000);
    const summary = JSON.parse(lines[2] ?? "{}") as { msg: string; repeated: number };
    expect(summary.msg).toBe("poll failed: Redis at 127.0.0.1:6379 unreachable (repeated 9 times in the last 60 s)");
    expect(summary.repeated).toBe(9);
    // "something else" never repeated: no summary for it; and after a quiet window the next one is logged in full.
    vi.advanceTimersByTime(120_000);
    expect(lines).toHaveLength(3);
    warnings.warn({}, "something else");
    expect(lines).toHaveLength(4);
  });
});

describe("a Redis outage in the log", () => {
  it("names the Redis that is unreachable instead of ioredis's internals", async () => {
    const redis = createRedis("redis://127.0.0.1:1");
    redis.on("error", () => undefined);
    try {
      const error = await redis.get("anything").then(
        () => undefined,
        (failure: unknown) => failure,
      );
      expect(String(error)).toMatch(/Stream isn't writeable/); // what ioredis says
      expect(describeRedisFailure(error, redis)).toBe("Redis at 127.0.0.1:1 unreachable");
      expect(describeRedisFailure(new Error("WRONGTYPE Operation against a key"), redis)).toBe("WRONGTYPE Operation against a key");
    } finally {
      redis.disconnect();
    }
  });

  it("the hold watchdog, polling every 20 ms against a dead Redis, logs one line and then counts", async () => {
    const redis = createRedis("redis://127.0.0.1:1");
    redis.on("error", () => undefined);
    const client = EventStoreDBClient.connectionString("esdb://127.0.0.1:1?tls=false");
    const { destination, lines } = capture();
    const poller = new HoldExpiryPoller({
      schedule: new DeadlineSchedule(redis, `test:log-lines:${randomUUID()}`),
      products: new AggregateRepository(client, productAggregate),
      reservations: new AggregateRepository(client, reservationAggregate),
      logger: createLogger({ level: "info", destination }),
      intervalMs: 20,
      describeFailure: (error) => describeRedisFailure(error, redis),
      repeatedWarningWindowMs: 300,
    });
    try {
      poller.start();
      await new Promise((resolve) => setTimeout(resolve, 500));
      await poller.stop();
    } finally {
      redis.disconnect();
      await client.dispose();
    }
    const messages = lines.map((line) => (JSON.parse(line) as { msg: string }).msg);
    expect(messages[0]).toBe("hold expiry poll failed: Redis at 127.0.0.1:1 unreachable; will retry");
    expect(messages.filter((msg) => msg === messages[0])).toHaveLength(1);
    expect(messages.slice(1).length).toBeGreaterThanOrEqual(1);
    expect(messages.slice(1).every((msg) => msg.startsWith(messages[0]!) && /\(repeated \d+ times in the last 0\.3 s\)$/.test(msg))).toBe(
      true,
    );
    expect(messages.length).toBeLessThan(5);
    expect(lines.join("\n")).not.toMatch(/Stream isn't writeable/);
  });
});

describe("consumer-group lines", () => {
  it("name their group once (no duplicated `group` key in the JSON)", async () => {
    const { destination, lines } = capture();
    const config = loadConfig({
      PORT: "0",
      EMBEDDED_EVENTSTORE_PORT: "0",
      READ_MODEL_KEY_ROOT: `test:log-lines:${randomUUID()}`,
      AUTH_SECRET: "log-lines-test-secret",
    });
    const service = await startService(config, createLogger({ level: "info", destination }), { inMemoryEventStore: true });
    try {
      const deadline = Date.now() + 20_000;
      while (lines.filter((line) => line.includes("created persistent subscription group")).length < 3 && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    } finally {
      await service.stop();
    }
    const groupLines = lines.filter((line) => line.includes('"group":'));
    expect(groupLines.length).toBeGreaterThanOrEqual(3);
    for (const line of groupLines) expect(line.match(/"group":/g), line).toHaveLength(1);
  }, 60_000);
});

describe("a consumer group during an outage", () => {
  it("logs one line per cause for the events it hands back, not one per event and retry", async () => {
    const store = await startEmbeddedEventStore({ port: 0, inMemory: true });
    const client = EventStoreDBClient.connectionString(store.connectionString);
    const { destination, lines } = capture();
    const prefix = `outage${randomUUID().slice(0, 8)}-`;
    let attempts = 0;
    const group = new ConsumerGroup(
      client,
      {
        group: `log-lines-${prefix}`,
        streamPrefixes: [prefix],
        handle: async () => {
          attempts += 1;
          throw new TransientError("mypage projection: Redis at 127.0.0.1:6379 unreachable");
        },
        ordering: { keyOf: (event) => event.streamId, concurrency: 8 },
      },
      createLogger({ level: "info", destination }),
      { inProcessRetryMs: 50 },
    );
    try {
      for (let i = 0; i < 6; i += 1) await client.appendToStream(`${prefix}${i}`, jsonEvent({ type: "Happened", data: {} }));
      group.start();
      const deadline = Date.now() + 20_000;
      while (attempts < 40 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
    } finally {
      await group.stop();
      await client.dispose();
      await store.stop();
    }
    const failing = lines.filter((line) => line.includes("handler failing"));
    expect(attempts).toBeGreaterThanOrEqual(40);
    // The first in full, then (at stop) one summary with the count.
    expect(failing.length, failing.join("\n")).toBeLessThanOrEqual(2);
    expect(failing[0]).toContain(
      "handler failing (mypage projection: Redis at 127.0.0.1:6379 unreachable); handing events back for redelivery",
    );
    expect(failing.at(-1)).toMatch(/repeated \d+ times/);
  }, 60_000);
});
