import type { Redis } from "ioredis";
import { LONGEST_HOLD_MS, type UnpaidHolds } from "../application/unpaid-holds.js";
import type { Logger } from "../logger.js";

/**
 * Drops the customer's ended holds, then admits the reservation if it is already counted or the
 * customer is under the limit. One script, so that two processes can never both admit the last one.
 */
const CLAIM = `
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
if redis.call('ZSCORE', KEYS[1], ARGV[3]) then return 1 end
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[2]) then return 0 end
redis.call('ZADD', KEYS[1], ARGV[4], ARGV[3])
redis.call('PEXPIRE', KEYS[1], ARGV[5])
return 1`;

/**
 * Each customer's unpaid holds as a Redis sorted set (score = the hold's end, in ms), so that holds
 * nobody released still stop counting when they end. When Redis cannot answer, a claim is admitted
 * and logged: the cap protects stock from hoarding; it must not make reservations depend on Redis.
 */
export class RedisUnpaidHolds implements UnpaidHolds {
  private lastWarningAt = 0;

  constructor(
    private readonly redis: Redis,
    private readonly keyRoot: string,
    readonly limit: number,
    private readonly logger: Logger,
  ) {}

  private keyOf(customerId: string): string {
    return `${this.keyRoot}:unpaid-holds:${encodeURIComponent(customerId)}`;
  }

  async claim(customerId: string, reservationId: string, until: Date): Promise<boolean> {
    const now = Date.now();
    try {
      const admitted = await this.redis.eval(
        CLAIM,
        1,
        this.keyOf(customerId),
        String(now),
        String(this.limit),
        reservationId,
        String(Math.max(until.getTime(), now)),
        String(LONGEST_HOLD_MS),
      );
      return admitted === 1;
    } catch (error) {
      if (now - this.lastWarningAt > 10_000) {
        this.lastWarningAt = now;
        this.logger.warn(
          { err: String(error) },
          "the unpaid-holds limit cannot be checked (Redis unreachable); reservations are admitted without it",
        );
      }
      return true;
    }
  }

  // Both best effort: an entry left behind stops counting at the hold's end (its score).
  async holdUntil(customerId: string, reservationId: string, until: Date): Promise<void> {
    await this.redis.zadd(this.keyOf(customerId), "XX", until.getTime(), reservationId).catch(() => undefined);
  }

  async release(customerId: string, reservationId: string): Promise<void> {
    await this.redis.zrem(this.keyOf(customerId), reservationId).catch(() => undefined);
  }
}
