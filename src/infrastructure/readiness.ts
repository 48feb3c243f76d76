import { BACKWARDS, END, type EventStoreDBClient } from "@eventstore/db-client";
import type { Redis } from "ioredis";
import type { ReadinessProbe } from "../application/ports.js";

const withTimeout = <T>(work: Promise<T>, ms: number, what: string): Promise<T> =>
  Promise.race([
    work,
    new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`${what} did not answer within ${ms} ms`)), ms).unref()),
  ]);

const describe = (error: unknown): string => (error instanceof Error ? error.message : String(error));

/**
 * Answers `/health/ready`: each dependency is asked for the cheapest real answer it can give, and
 * in the worker role every consumer group must be subscribed.
 */
export const createReadinessProbe = (
  eventStore: EventStoreDBClient,
  redis: Redis,
  subscriptions?: () => Record<string, string>,
  timeoutMs = 1000,
): ReadinessProbe => ({
  check: async () => {
    const [eventstore, redisState] = await Promise.allSettled([
      withTimeout(
        (async () => {
          // Read to the end (one event): a client read left early never completes and blocks dispose().
          for await (const _ of eventStore.readAll({ direction: BACKWARDS, fromPosition: END, maxCount: 1 })) continue;
        })(),
        timeoutMs,
        "EventStoreDB",
      ),
      withTimeout(redis.ping(), timeoutMs, "Redis"),
    ]);
    const groups = subscriptions?.() ?? {};
    const notRunning = Object.entries(groups).filter(([, state]) => state !== "running");
    return {
      eventstore: eventstore.status === "fulfilled" ? { up: true } : { up: false, detail: describe(eventstore.reason) },
      redis: redisState.status === "fulfilled" ? { up: true } : { up: false, detail: describe(redisState.reason) },
      ...(subscriptions
        ? {
            subscriptions:
              notRunning.length === 0
                ? { up: true }
                : { up: false, detail: notRunning.map(([group, state]) => `${group}: ${state}`).join(", ") },
          }
        : {}),
    };
  },
});
