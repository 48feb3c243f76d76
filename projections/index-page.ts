import type { Redis } from "ioredis";
import type { ListPosition } from "../src/application/list-cursor.js";

/**
 * Keyset reads of an index (a sorted set read newest first: score desc, then member desc, which is
 * Redis's own order for ZREVRANGE). Members are ASCII ids, so JavaScript's string order is Redis's
 * byte order.
 */

const pairs = (flat: readonly string[]): ListPosition[] => {
  const out: ListPosition[] = [];
  for (let i = 0; i + 1 < flat.length; i += 2) out.push({ member: flat[i] ?? "", score: Number(flat[i + 1]) });
  return out;
};

/**
 * Up to `count` entries strictly after `after` (from the newest without it). Members that share
 * `after`'s score are read whole and filtered here, because Redis cannot range by score and member
 * at once on a set whose scores differ; scores are times in ms, so such ties are few.
 */
export const readIndexPage = async (redis: Redis, key: string, count: number, after?: ListPosition): Promise<ListPosition[]> => {
  if (after === undefined) return pairs(await redis.zrevrange(key, 0, count - 1, "WITHSCORES"));
  const score = String(after.score);
  const results = await redis
    .multi()
    .zrevrangebyscore(key, score, score)
    .zrevrangebyscore(key, `(${score}`, "-inf", "WITHSCORES", "LIMIT", 0, count)
    .exec();
  if (results === null) throw new Error(`the page read of ${key} was discarded`);
  const [ties, older] = results;
  if (ties?.[0]) throw ties[0];
  if (older?.[0]) throw older[0];
  const sameScore = (ties?.[1] as string[]).filter((member) => member < after.member).map((member) => ({ member, score: after.score }));
  return [...sameScore, ...pairs(older?.[1] as string[])].slice(0, count);
};
