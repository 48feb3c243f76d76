import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import type { Logger } from "../../logger.js";
import { startManagedRedis, type ManagedRedis } from "./managed-redis.js";
import { findRedisServer, redisInstallHint } from "./redis-binary.js";

/** Where the service finds Redis when no managed one can run: what it always used before. */
export const DEFAULT_REDIS_URL = "redis://127.0.0.1:6379";

const RESTART_DELAYS_MS = [500, 1000, 2000, 5000, 10_000];

export interface RedisEndpointSettings {
  /** `REDIS_URL`: a Redis someone else runs; unset: start a managed one. */
  readonly url: string | undefined;
  /** The service's DATA_DIR; the managed Redis keeps its files in `redis/` under it. */
  readonly dataDir: string;
  /** 0: any free port. */
  readonly port: number;
  /** Nothing on disk (the event store is in memory too): a temporary folder, removed on stop. */
  readonly inMemory: boolean;
  /** Where to look for `redis-server` instead of `PATH` (tests). */
  readonly searchPath?: string;
}

export interface RedisEndpoint {
  readonly url: string;
  /** Set while this process runs the server itself. */
  readonly managed: () => ManagedRedis | undefined;
  stop(): Promise<void>;
}

/**
 * The one place that decides which Redis the service talks to: `REDIS_URL`, or a redis-server it
 * starts and supervises (restarted on the same port if it dies, so clients simply reconnect).
 * Without a redis-server binary it says how to install one and goes on with the default address,
 * where the write side works as it always did and the read side waits for Redis.
 */
export const provideRedis = async (settings: RedisEndpointSettings, logger: Logger): Promise<RedisEndpoint> => {
  if (settings.url !== undefined) return { url: settings.url, managed: () => undefined, stop: async () => undefined };
  const binary = findRedisServer(settings.searchPath);
  if (binary === undefined) {
    logger.error(
      { redis: DEFAULT_REDIS_URL },
      `redis-server was not found on PATH, so no managed Redis runs: install it (${redisInstallHint()}) or set REDIS_URL. ` +
        `Until then the read side (My Page, lists, notifications) answers 503; the write side runs.`,
    );
    return { url: DEFAULT_REDIS_URL, managed: () => undefined, stop: async () => undefined };
  }
  const dir = settings.inMemory ? mkdtempSync(path.join(tmpdir(), "managed-redis-")) : path.join(settings.dataDir, "redis");
  let stopped = false;
  let current: ManagedRedis | undefined;
  let restartTimer: NodeJS.Timeout | undefined;
  let restarts = 0;
  // After the first start, always this port: clients reconnect to the address they were given.
  let port = settings.port;

  const start = async (): Promise<ManagedRedis> => {
    const server = await startManagedRedis({
      binary,
      dir,
      port,
      persistent: !settings.inMemory,
      onUnexpectedExit: (how) => {
        current = undefined;
        logger.error({ how }, "the managed Redis stopped unexpectedly; restarting it");
        scheduleRestart();
      },
    });
    port = server.port;
    return server;
  };

  // Until it is back or the service stops: the read side depends on it, the write side does not wait for it.
  const scheduleRestart = (): void => {
    if (stopped) return;
    const delay = RESTART_DELAYS_MS[Math.min(restarts, RESTART_DELAYS_MS.length - 1)] ?? 10_000;
    restarts += 1;
    restartTimer = setTimeout(() => {
      restartTimer = undefined;
      if (stopped) return;
      start().then(
        (server) => {
          if (stopped) return void server.stop();
          current = server;
          restarts = 0;
          logger.info({ redis: server.url, redisPid: server.pid }, "managed Redis restarted");
        },
        (error: unknown) => {
          logger.error(
            { err: String(error), retryInMs: RESTART_DELAYS_MS[Math.min(restarts, RESTART_DELAYS_MS.length - 1)] },
            "the managed Redis could not be restarted; trying again",
          );
          scheduleRestart();
        },
      );
    }, delay);
    restartTimer.unref();
  };

  try {
    current = await start();
  } catch (error) {
    if (settings.inMemory) rmSync(dir, { recursive: true, force: true });
    throw error;
  }
  const first = current;
  if (first.stale.kind === "stopped") {
    logger.warn({ redisPid: first.stale.pid, dir }, "stopped a Redis that an earlier service left running in this data directory");
  }
  logger.info(
    { redis: first.url, redisPid: first.pid, dataDir: settings.inMemory ? "(in memory)" : dir },
    "managed Redis started (set REDIS_URL to use your own)",
  );
  return {
    url: first.url,
    managed: () => current,
    stop: async () => {
      stopped = true;
      clearTimeout(restartTimer);
      await current?.stop();
      current = undefined;
      if (settings.inMemory) rmSync(dir, { recursive: true, force: true });
    },
  };
};
