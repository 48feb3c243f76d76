import type { Redis } from "ioredis";

/**
 * A durable schedule of deadlines in a Redis sorted set (score = due time in ms). Several workers
 * may poll it: taking due entries leases them (pushes their deadline out by `leaseMs`) in one
 * atomic script, so each is worked by one worker at a time, and an entry whose worker died
 * becomes due again instead of being lost. `complete` removes an entry once its work is done.
 */
export class DeadlineSchedule {
  constructor(
    private readonly redis: Redis,
    private readonly key: string,
    private readonly leaseMs = 30_000,
  ) {}

  async add(member: string, due: Date): Promise<void> {
    await this.redis.zadd(this.key, due.getTime(), member);
  }

  async complete(member: string): Promise<void> {
    await this.redis.zrem(this.key, member);
  }

  /** Due entries, at most `limit`, each leased to the caller until `now + leaseMs`. */
  async takeDue(now: Date, limit = 100): Promise<string[]> {
    const taken = await this.redis.eval(
      `local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, ARGV[2])
       for _, member in ipairs(due) do redis.call('ZADD', KEYS[1], ARGV[3], member) end
       return due`,
      1,
      this.key,
      String(now.getTime()),
      String(limit),
      String(now.getTime() + this.leaseMs),
    );
    return Array.isArray(taken) ? taken.filter((member): member is string => typeof member === "string") : [];
  }

  async size(): Promise<number> {
    return this.redis.zcard(this.key);
  }

  /**
   * Whether the schedule was filled from the log since Redis last started empty. The marker goes
   * with Redis's data, so a Redis that lost everything reads as "not restored".
   */
  async isRestored(): Promise<boolean> {
    return (await this.redis.exists(`${this.key}:restored`)) === 1;
  }

  async markRestored(): Promise<void> {
    await this.redis.set(`${this.key}:restored`, new Date().toISOString());
  }
}
