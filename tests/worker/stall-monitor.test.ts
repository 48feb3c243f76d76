/**
 * A consumer group that stops moving must not look healthy (found under a burst: the saga group sat
 * "Behind" while readiness said 200). The stall monitor reports, by name, a group with events waiting
 * and nothing handed out for longer than its bound; readiness then says the group is not running.
 * Time is the monitor's injected clock: the test advances it, nothing waits on a timer.
 */
import { TEST_REDIS_URL } from "../support/redis-url.js";
import { randomUUID } from "node:crypto";
import { jsonEvent } from "@eventstore/db-client";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createReadinessProbe } from "../../src/infrastructure/readiness.js";
import { ConsumerGroup } from "../../src/infrastructure/eventstore/consumer-group.js";
import { type ProgressSample, StallMonitor, assessProgress, eventsWaiting } from "../../src/worker/stall-monitor.js";
import { type Store, deferred, sleep, startStore, testLogger, uniqueName, waitFor } from "./support.js";

const sample = (overrides: Partial<ProgressSample> = {}): ProgressSample => ({
  handedOut: 10n,
  pending: 0,
  lastKnown: 100n,
  head: 100n,
  ...overrides,
});

describe("assessProgress", () => {
  it("events wait when messages are pending, or the log holds matching events past what the group read", () => {
    expect(eventsWaiting(sample())).toBe(false);
    expect(eventsWaiting(sample({ pending: 1 }))).toBe(true);
    expect(eventsWaiting(sample({ head: 200n }))).toBe(true);
    expect(eventsWaiting(sample({ lastKnown: undefined }))).toBe(true);
    expect(eventsWaiting(sample({ lastKnown: undefined, head: undefined }))).toBe(false);
  });

  it("counts the time since the last progress while events wait, and nothing while the group is idle", () => {
    const first = assessProgress(undefined, sample({ pending: 3 }), 1000);
    expect(first.stalledForMs).toBe(0);
    const stuck = assessProgress(first.record, sample({ pending: 3 }), 5000);
    expect(stuck.stalledForMs).toBe(4000);
    const moved = assessProgress(stuck.record, sample({ pending: 3, handedOut: 11n }), 6000);
    expect(moved.stalledForMs).toBe(0);
    const idle = assessProgress(moved.record, sample({ handedOut: 11n }), 60_000);
    expect(idle.stalledForMs).toBe(0);
  });
});

describe("StallMonitor against the embedded store", () => {
  let store: Store;
  let redis: Redis;

  beforeAll(async () => {
    store = await startStore();
    redis = new Redis(TEST_REDIS_URL, { lazyConnect: true });
  });

  afterAll(async () => {
    redis.disconnect();
    await store.close();
  });

  it("reports a group whose handler never returns once events wait past the bound; readiness names it; it recovers when the group moves", async () => {
    const prefix = uniqueName("stall");
    const group = uniqueName("stall-group-");
    const release = deferred();
    let entered = 0;
    const consumer = new ConsumerGroup(
      store.client,
      {
        group,
        streamPrefixes: [`${prefix}-`],
        handle: async () => {
          entered += 1;
          await release.promise;
        },
      },
      testLogger(),
    );
    let now = 0;
    const monitor = new StallMonitor(store.client, [{ group, streamPrefixes: [`${prefix}-`] }], testLogger(), {
      stallAfterMs: 10_000,
      clock: () => now,
    });
    const readiness = createReadinessProbe(store.client, redis, () => {
      const stalled = monitor.stalledGroups();
      return { [group]: stalled[group] === undefined ? consumer.state : "stalled" };
    });
    consumer.start();
    try {
      await waitFor("the group to run", () => consumer.state === "running");
      for (let i = 0; i < 5; i += 1) {
        await store.client.appendToStream(`${prefix}-${randomUUID()}`, jsonEvent({ type: "Happened", data: { i } }));
      }
      await waitFor("the handler to hang on the first event", () => entered > 0);

      // The clock moves 6 s per look; the group hands nothing out any more, so within a few looks it is stalled.
      const stalledAfter = await waitFor(
        "the group to be reported stalled",
        async () => {
          now += 6000;
          await monitor.check();
          return monitor.stalledGroups()[group];
        },
        { timeoutMs: 10_000, intervalMs: 50 },
      );
      expect(stalledAfter).toBeGreaterThan(10_000);
      const report = await readiness.check();
      expect(report.subscriptions).toEqual({ up: false, detail: `${group}: stalled` });

      // Let it go: events are handed out again, the group is no longer reported.
      release.resolve();
      await waitFor(
        "the group to move again",
        async () => {
          now += 1000;
          await monitor.check();
          return monitor.stalledGroups()[group] === undefined;
        },
        { timeoutMs: 10_000, intervalMs: 50 },
      );
      expect((await readiness.check()).subscriptions).toEqual({ up: true });
    } finally {
      release.resolve();
      await monitor.stop();
      await consumer.stop();
      await sleep(0);
    }
  });
});
