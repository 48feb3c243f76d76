import { Redis, type RedisOptions } from "ioredis";

/** Redis behind Sentinel: the client asks the sentinels which server is the primary, and asks again after a failover. */
export interface RedisSentinelSettings {
  readonly sentinels: readonly { readonly host: string; readonly port: number }[];
  /** The name the sentinels monitor the primary under (`sentinel monitor <name> …`). */
  readonly masterName: string;
}

/**
 * A Redis client that fails fast instead of queueing commands while Redis is away: the write side
 * must keep working without Redis, and callers decide what a missing read model means.
 *
 * With `sentinel`, the host and port of `url` are not used (the sentinels name the primary); its
 * user name, password and database number still are.
 */
export const createRedis = (url: string, sentinel?: RedisSentinelSettings): Redis => {
  const options: RedisOptions = {
    lazyConnect: true,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    // A Redis that hangs must fail commands, not stall every caller (and every shutdown) forever.
    commandTimeout: 2000,
    // Commands issued in the same tick go out in one write: under load that is one syscall for many
    // (the projections, the notifier and the schedules each send several per event).
    enableAutoPipelining: true,
    // Keep trying to come back, at most every 2 s, for as long as the process runs.
    retryStrategy: (attempt) => Math.min(2000, 50 * 2 ** Math.min(attempt, 6)),
  };
  if (!sentinel) return new Redis(url, options);
  const parsed = new URL(url);
  const db = Number(parsed.pathname.slice(1) || "0");
  return new Redis({
    ...options,
    sentinels: sentinel.sentinels.map(({ host, port }) => ({ host, port })),
    name: sentinel.masterName,
    ...(parsed.username ? { username: decodeURIComponent(parsed.username) } : {}),
    ...(parsed.password ? { password: decodeURIComponent(parsed.password) } : {}),
    db: Number.isInteger(db) ? db : 0,
    // A failover is announced by the sentinels; without listening, the client would find out only
    // when its connection to the old primary breaks.
    failoverDetector: true,
    // The same, for a primary demoted under an open connection: writes answer READONLY until the client reconnects.
    reconnectOnError: (error) => error.message.startsWith("READONLY"),
    sentinelRetryStrategy: (attempt) => Math.min(2000, 50 * 2 ** Math.min(attempt, 6)),
  });
};
