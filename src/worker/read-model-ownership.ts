import type { EventStoreDBClient } from "@eventstore/db-client";
import type { Redis } from "ioredis";
import { PROJECTION_NAMES } from "../../projections/keys.js";
import { rebuildProjections } from "../../projections/rebuild.js";
import { readOrCreateStoreId } from "../infrastructure/eventstore/store-identity.js";
import type { Logger } from "../logger.js";

/** The Redis key under a key root that names the event store the keys below it reflect. */
export const storeIdKey = (keyRoot: string): string => `${keyRoot}:store-id`;

export type Ownership =
  /** Redis already reflects this store. */
  | "ours"
  /** Nothing was under the key root: claimed. */
  | "claimed"
  /** The keys reflected another store (or an unknown one): dropped and claimed; they must be rebuilt. */
  | "replaced";

const SCAN_COUNT = 500;
/** After a failed check (the event store or Redis away), how soon it is tried again. */
const RETRY_CHECK_MS = 5000;

const deleteKeyRoot = async (redis: Redis, keyRoot: string): Promise<number> => {
  let cursor = "0";
  let deleted = 0;
  do {
    const [next, keys] = await redis.scan(cursor, "MATCH", `${keyRoot}:*`, "COUNT", SCAN_COUNT);
    cursor = next;
    if (keys.length > 0) deleted += await redis.unlink(...keys);
  } while (cursor !== "0");
  return deleted;
};

const hasAnyKey = async (redis: Redis, keyRoot: string): Promise<boolean> => {
  let cursor = "0";
  do {
    const [next, keys] = await redis.scan(cursor, "MATCH", `${keyRoot}:*`, "COUNT", SCAN_COUNT);
    if (keys.length > 0) return true;
    cursor = next;
  } while (cursor !== "0");
  return false;
};

/**
 * The API's part: it never drops keys, but it marks an empty key space as this store's before it
 * writes there (payment tokens, unpaid holds, idempotency records), so that a worker started later
 * does not take those keys for another store's and drop them. Keys already there are left to the
 * workers' check.
 */
export const markEmptyKeyRoot = async (redis: Redis, keyRoot: string, storeId: string): Promise<void> => {
  if ((await redis.exists(storeIdKey(keyRoot))) === 1 || (await hasAnyKey(redis, keyRoot))) return;
  await redis.set(storeIdKey(keyRoot), storeId, "NX");
};

/**
 * Makes sure the keys under `keyRoot` reflect the event store `storeId`: read models, hold
 * deadlines and the "deadlines restored" marker of another store would be served as ours, or stop
 * ours from being restored. Keys of another store, or keys without a store id (written before there
 * was one), are dropped; the caller rebuilds.
 */
export const claimKeyRoot = async (redis: Redis, keyRoot: string, storeId: string, logger: Logger): Promise<Ownership> => {
  const key = storeIdKey(keyRoot);
  const current = await redis.get(key);
  if (current === storeId) return "ours";
  if (current === null && !(await hasAnyKey(redis, keyRoot))) {
    // NX: of two processes of one deployment claiming at once, both write the same id anyway.
    await redis.set(key, storeId, "NX");
    return "claimed";
  }
  logger.warn(
    { keyRoot, redisStoreId: current, eventStoreId: storeId },
    `Redis keys under '${keyRoot}:' reflect ${current === null ? "an unknown event store (no store id)" : `another event store (${current})`}, ` +
      `not this one (${storeId}): dropping them and rebuilding the read models and hold deadlines from this store. ` +
      `Deployments that share a Redis need different READ_MODEL_KEY_ROOT values.`,
  );
  const deleted = await deleteKeyRoot(redis, keyRoot);
  await redis.set(key, storeId);
  logger.info({ keyRoot, deletedKeys: deleted }, "dropped the Redis keys of the other event store");
  return "replaced";
};

export interface KeyRootGuardDependencies {
  readonly client: EventStoreDBClient;
  readonly redis: Redis;
  readonly keyRoot: string;
  readonly logger: Logger;
}

/**
 * Claims the key root for this store (at start and whenever Redis comes back, since a Redis that was
 * away may come back as another one) and, when it held another store's keys, rebuilds every read
 * model from the log. Hold deadlines need nothing more: the watchdog restores them from the log
 * once the dropped "restored" marker is missing.
 */
export interface KeyRootGuard {
  /** Settles once the first check is done (the claim, not the rebuild it may start). */
  readonly checked: Promise<Ownership | undefined>;
  /** True once the keys are known to reflect this store, until Redis disconnects (it may come back as another). */
  verified(): boolean;
  /** The rebuild the last "replaced" check started, if any. */
  rebuilt(): Promise<void> | undefined;
  stop(): void;
}

export const guardKeyRoot = (deps: KeyRootGuardDependencies): KeyRootGuard => {
  let storeId: Promise<string> | undefined;
  let rebuilt: Promise<void> | undefined;
  let verified = false;
  let stopped = false;
  // Runs beside the consumers, as `npm run projections:rebuild` does: live events reach the new version too.
  const rebuild = async (): Promise<void> => {
    try {
      const result = await rebuildProjections({
        client: deps.client,
        redis: deps.redis,
        projections: PROJECTION_NAMES,
        keyRoot: deps.keyRoot,
      });
      deps.logger.info({ events: result.read, durationMs: result.durationMs }, "read models rebuilt from this event store");
    } catch (error) {
      deps.logger.warn(
        { err: error instanceof Error ? error.message : String(error) },
        "rebuilding the read models failed; run npm run projections:rebuild -- all",
      );
    }
  };
  let running: Promise<Ownership | undefined> | undefined;
  const check = (): Promise<Ownership | undefined> => {
    running ??= (async () => {
      try {
        storeId ??= readOrCreateStoreId(deps.client);
        const ownership = await claimKeyRoot(deps.redis, deps.keyRoot, await storeId, deps.logger);
        if (ownership === "replaced") rebuilt = rebuild();
        verified = true;
        return ownership;
      } catch (error) {
        storeId = undefined;
        deps.logger.warn(
          { err: error instanceof Error ? error.message : String(error) },
          `could not check which event store the Redis keys reflect; trying again in ${RETRY_CHECK_MS / 1000} s (hold expiry waits until then)`,
        );
        if (!stopped) setTimeout(() => void (stopped ? undefined : check()), RETRY_CHECK_MS).unref();
        return undefined;
      } finally {
        running = undefined;
      }
    })();
    return running;
  };
  const onReady = (): void => void check();
  const onClose = (): void => {
    verified = false;
  };
  deps.redis.on("ready", onReady);
  deps.redis.on("close", onClose);
  const checked =
    deps.redis.status === "ready"
      ? check()
      : new Promise<Ownership | undefined>((resolve) => deps.redis.once("ready", () => resolve(running ?? check())));
  return {
    checked,
    verified: () => verified,
    rebuilt: () => rebuilt,
    stop: () => {
      stopped = true;
      deps.redis.off("ready", onReady);
      deps.redis.off("close", onClose);
    },
  };
};
