import type { Redis } from "ioredis";

/**
 * What ioredis says when it cannot reach Redis is about its own internals ("Stream isn't writeable
 * and enableOfflineQueue options is false", "Connection is closed."); an operator needs to know which
 * Redis is down.
 */
const UNREACHABLE =
  /Stream isn't writeable|Connection is closed|ECONNREFUSED|ECONNRESET|ENOTFOUND|EHOSTUNREACH|ETIMEDOUT|Command timed out|MaxRetriesPerRequest|Reached the max retries/i;

/** "Redis at host:port unreachable" for a connection failure; the error's own message otherwise. */
export const describeRedisFailure = (error: unknown, redis: Pick<Redis, "options">): string => {
  const message = error instanceof Error ? error.message : String(error);
  if (!UNREACHABLE.test(message)) return message;
  const { host, port, path } = redis.options;
  return `Redis at ${path ?? `${host ?? "127.0.0.1"}:${port ?? 6379}`} unreachable`;
};
