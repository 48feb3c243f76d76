import type { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readIndexPage } from "../../projections/index-page.js";
import { comesBefore, decodeCursor, encodeCursor, type ListPosition } from "../../src/application/list-cursor.js";
import { connectRedis, deleteKeys, uniqueRoot } from "./support.js";

let redis: Redis;
const root = uniqueRoot("index-page");
const key = `${root}:lists:v0:idx:sample`;

beforeAll(async () => {
  redis = await connectRedis();
});
afterAll(async () => {
  await deleteKeys(redis, `${root}:*`);
  redis.disconnect();
});

/** Every page of `size` until the end, each read after `between` ran. */
const readAll = async (
  size: number,
  between: (page: number, last: ListPosition) => Promise<void> = async () => undefined,
): Promise<ListPosition[]> => {
  const seen: ListPosition[] = [];
  let after: ListPosition | undefined;
  for (let page = 0; page < 1000; page += 1) {
    const entries = await readIndexPage(redis, key, size + 1, after);
    const shown = entries.slice(0, size);
    seen.push(...shown);
    if (entries.length <= size) return seen;
    // Through the cursor's text, as a client would hand it back.
    const last = shown.at(-1) as ListPosition;
    after = decodeCursor(encodeCursor(last));
    await between(page, last);
  }
  throw new Error("the pages never end");
};

describe("keyset pages of an index", () => {
  it("read every member once, newest first, when many share a score (ties broken by member, as Redis orders them)", async () => {
    await redis.del(key);
    // 3 scores × 5 members: pages of 4 cut through the ties.
    for (const score of [1000, 2000, 3000]) {
      for (const letter of ["a", "b", "c", "d", "e"]) await redis.zadd(key, score, `${letter}-${score}`);
    }
    const expected = await redis.zrevrange(key, 0, -1);
    const seen = await readAll(4);
    expect(seen.map((entry) => entry.member)).toEqual(expected);
    for (let i = 1; i < seen.length; i += 1) expect(comesBefore(seen[i - 1] as ListPosition, seen[i] as ListPosition)).toBe(true);
  });

  it("neither repeats nor skips members when others are added before the cursor (newer, or the same time with a greater id)", async () => {
    await redis.del(key);
    for (const score of [1000, 2000, 3000]) {
      for (const letter of ["b", "d", "f"]) await redis.zadd(key, score, `${letter}-${score}`);
    }
    const expected = await redis.zrevrange(key, 0, -1);
    const added: string[] = [];
    const seen = await readAll(2, async (page, last) => {
      // Newer than everything, and a tie with the page's last entry that sorts before it.
      added.push(`new-${page}`, `${last.member}~`);
      await redis.zadd(key, 9000 + page, `new-${page}`, last.score, `${last.member}~`);
    });
    expect(added.length).toBeGreaterThan(2);
    expect(seen.map((entry) => entry.member)).toEqual(expected);
  });

  it("starts after a cursor whose member is gone (it moved to another index)", async () => {
    await redis.del(key);
    for (const [score, member] of [
      [3000, "c"],
      [2000, "b"],
      [1000, "a"],
    ] as const) {
      await redis.zadd(key, score, member);
    }
    const first = await readIndexPage(redis, key, 1);
    expect(first).toEqual([{ member: "c", score: 3000 }]);
    await redis.zrem(key, "c");
    expect((await readIndexPage(redis, key, 5, first[0])).map((entry) => entry.member)).toEqual(["b", "a"]);
  });
});
