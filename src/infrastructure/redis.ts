import { Redis } from "ioredis";

/**
 * A Redis client that fails fast instead of queueing commands while Redis is away: the write side
 * must keep working without Redis, and callers decide what a missing read model means.
 */
export const createRedis = (url: string): Redis =>
  new Redis(url, {
    lazyConnect: true,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    // A Redis that hangs must fail commands, not stall every caller (and every shutdown) forever.
    commandTimeout: 2000,
    // Keep trying to come back, at most every 2 s, for as long as the process runs.
    retryStrategy: (attempt) => Math.min(2000, 50 * 2 ** Math.min(attempt, 6)),
  });
