import type { Redis } from "ioredis";
import type { IdempotencyRecords } from "../application/idempotency-records.js";

/** As long as clients may retry with a key (a day, as the IETF Idempotency-Key draft suggests). */
const KEEP_SECONDS = 86_400;

const REMEMBER = `
local previous = redis.call('GET', KEYS[1])
if not previous then redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2]) end
return previous`;

/**
 * Idempotency records in Redis, each kept a day. When Redis cannot answer, nothing is remembered and
 * the request goes on as a repeat would (its answer is still the first attempt's): the check is a
 * courtesy to clients that reuse keys by mistake, not a guarantee the write side leans on.
 */
export class RedisIdempotencyRecords implements IdempotencyRecords {
  constructor(
    private readonly redis: Redis,
    private readonly keyRoot: string,
  ) {}

  async remember(scope: string, fingerprint: string): Promise<string | undefined> {
    try {
      const previous = await this.redis.eval(REMEMBER, 1, `${this.keyRoot}:idempotency:${scope}`, fingerprint, String(KEEP_SECONDS));
      return typeof previous === "string" ? previous : undefined;
    } catch {
      return undefined;
    }
  }
}
