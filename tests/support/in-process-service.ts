/**
 * The real service started inside the test process (`startService` with the embedded event store
 * and the test run's Redis), as the api, scenario and security suites use it, and what they need
 * around it: a bounded stop, the removal of its Redis keys, bounded polling. No test-runner
 * dependency: `bench/` uses it through the scenario harness.
 */
import { TEST_REDIS_URL } from "./redis-url.js";
import { Redis } from "ioredis";
import { loadConfig } from "../../src/config.js";
import { createLogger, type Logger } from "../../src/logger.js";
import { startService, type RunningService, type ServiceOptions } from "../../src/service.js";

export interface ServiceUnderTest {
  readonly url: string;
  readonly service: RunningService;
}

/**
 * Starts the service on free ports with `env` over the test defaults (the test run's Redis) and a
 * logger at the configured level unless one is given.
 */
export async function startServiceUnderTest(
  env: Readonly<Record<string, string>>,
  options: { readonly logger?: Logger; readonly service?: ServiceOptions } = {},
): Promise<ServiceUnderTest> {
  const config = loadConfig({ PORT: "0", EMBEDDED_EVENTSTORE_PORT: "0", REDIS_URL: TEST_REDIS_URL, ...env });
  const logger = options.logger ?? createLogger({ level: config.logLevel });
  const service = await startService(config, logger, options.service ?? { inMemoryEventStore: true });
  const url = service.url;
  if (url === undefined) throw new Error("the service started without an HTTP listener");
  return { url, service };
}

/** Resolves true when `work` settles within `ms`, false when it is still pending then. */
export const settlesWithin = async (work: Promise<unknown>, ms: number): Promise<boolean> => {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), ms);
  });
  try {
    return await Promise.race([work.then(() => true), timeout]);
  } finally {
    clearTimeout(timer);
  }
};

/** Deletes every key under `<root>:` (SCAN + UNLINK); returns how many. */
export async function deleteKeysUnder(redisUrl: string, root: string): Promise<number> {
  const redis = new Redis(redisUrl, { lazyConnect: true, maxRetriesPerRequest: 1, retryStrategy: () => null });
  redis.on("error", () => undefined);
  let deleted = 0;
  try {
    await redis.connect();
    let cursor = "0";
    do {
      const [next, keys] = await redis.scan(cursor, "MATCH", `${root}:*`, "COUNT", 1000);
      cursor = next;
      if (keys.length > 0) deleted += await redis.unlink(...keys);
    } while (cursor !== "0");
  } finally {
    redis.disconnect();
  }
  return deleted;
}

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

export interface PollOptions {
  /** Give up after this long (the last failure is rethrown). */
  readonly timeoutMs?: number;
  readonly intervalMs?: number;
}

/**
 * Bounded polling for eventually consistent results: runs `check` until it returns without
 * throwing, or rethrows its last failure once `timeoutMs` (5 s unless told) has passed.
 */
export async function eventually<T>(check: () => Promise<T>, { timeoutMs = 5000, intervalMs = 100 }: PollOptions = {}): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await check();
    } catch (error) {
      if (Date.now() >= deadline) throw error;
      await sleep(intervalMs);
    }
  }
}
