import { BACKWARDS, END, type EventStoreDBClient, FORWARDS, START } from "@eventstore/db-client";
import type { Redis } from "ioredis";
import { PROJECTIONS } from "./definitions/index.js";
import { ProjectionWriter, type SourceEvent } from "./engine.js";
import { DEFAULT_KEY_ROOT, ProjectionKeys, type ProjectionName } from "./keys.js";
import { eventStoreStreamReader } from "./stream-reader.js";

export interface RebuildProgress {
  readonly projections: readonly ProjectionName[];
  /** Events read from `$all` so far (all of them, before filtering). */
  readonly read: number;
  /** Events that fed at least one of the projections. */
  readonly applied: number;
  /** Commit position of the last event read, and of the head when the rebuild started. */
  readonly position: bigint;
  readonly head: bigint;
  readonly eventsPerSecond: number;
  readonly elapsedMs: number;
}

export interface RebuildOptions {
  readonly client: EventStoreDBClient;
  readonly redis: Redis;
  readonly projections: readonly ProjectionName[];
  readonly keyRoot?: string;
  /** Events per write batch (grouped per document: one read and one write per document). */
  readonly batchSize?: number;
  /** How long the `building` pointer lives unless renewed; a crashed rebuild stops being fed after it. */
  readonly leaseSeconds?: number;
  readonly progressIntervalMs?: number;
  readonly onProgress?: (progress: RebuildProgress) => void;
  /** Called once every `building` pointer is set, before `$all` is read (tests use it to interleave). */
  readonly onBuildingSet?: (versions: Readonly<Record<string, string>>) => Promise<void> | void;
  /** Called after every flushed batch (tests use it to interleave live events). */
  readonly onBatch?: () => Promise<void> | void;
  /** Called once the replay reached the head, just before the switch (tests use it to interleave). */
  readonly onReplayed?: () => Promise<void> | void;
}

export interface RebuiltProjection {
  readonly projection: ProjectionName;
  readonly previous: string | undefined;
  readonly version: string;
  /** Keys of the previous (and any orphaned) version that were deleted. */
  readonly deletedKeys: number;
}

export interface RebuildResult {
  readonly projections: readonly RebuiltProjection[];
  readonly read: number;
  readonly applied: number;
  readonly durationMs: number;
}

/** Another rebuild holds the `building` pointer of a projection. */
export class RebuildInProgressError extends Error {
  override readonly name = "RebuildInProgressError";
}

/** Renews the lease only while it is still ours. */
const RENEW_SCRIPT = `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('EXPIRE', KEYS[1], ARGV[2]) end
return 0
`;

/** Makes the built version live, atomically, only while the lease is still ours; returns the previous live version. */
const SWITCH_SCRIPT = `
if redis.call('GET', KEYS[2]) ~= ARGV[1] then return {0, false} end
local previous = redis.call('GET', KEYS[1])
redis.call('SET', KEYS[1], ARGV[1])
redis.call('DEL', KEYS[2])
return {1, previous}
`;

const RELEASE_SCRIPT = `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
`;

/** Deletes every key of the given versions of a projection (SCAN + UNLINK, in batches). */
export const deleteVersions = async (redis: Redis, keys: ProjectionKeys, versions: ReadonlySet<string>): Promise<number> => {
  if (versions.size === 0) return 0;
  let deleted = 0;
  let cursor = "0";
  do {
    const [next, found] = await redis.scan(cursor, "MATCH", keys.pattern, "COUNT", 1000);
    cursor = next;
    const doomed = found.filter((key) => {
      const version = keys.versionOf(key);
      return version !== undefined && versions.has(version);
    });
    if (doomed.length > 0) deleted += await redis.unlink(...doomed);
  } while (cursor !== "0");
  return deleted;
};

/** Versions that have keys but are neither live nor being built: left behind by a crashed rebuild. */
const versionsPresent = async (redis: Redis, keys: ProjectionKeys): Promise<Set<string>> => {
  const versions = new Set<string>();
  let cursor = "0";
  do {
    const [next, found] = await redis.scan(cursor, "MATCH", keys.pattern, "COUNT", 1000);
    cursor = next;
    for (const key of found) {
      const version = keys.versionOf(key);
      if (version !== undefined) versions.add(version);
    }
  } while (cursor !== "0");
  return versions;
};

/** Read to its end (an abandoned read keeps its gRPC call open until cancelled). */
const headPosition = async (client: EventStoreDBClient): Promise<bigint> => {
  let head = 0n;
  for await (const resolved of client.readAll({ direction: BACKWARDS, fromPosition: END, maxCount: 1 })) {
    head = resolved.event?.position?.commit ?? head;
  }
  return head;
};

/**
 * Rebuilds projections from the log while the service runs, in one pass over `$all`:
 *
 * 1. claim: set `building` to a fresh version (NX, with a lease renewed while running). From then
 *    on every live consumer applies each event to the live version *and* to the new one;
 * 2. replay `$all` from the start into the new version (client-side filter by stream prefix,
 *    batches grouped per document), up to the head as it is when the read ends. Whatever the live
 *    consumers wrote into the new version meanwhile is merged by the same per-stream revision
 *    check: an event already applied is skipped, a missing predecessor is read from the stream;
 * 3. switch atomically (`live` := new version, `building` deleted) — refused if the lease was lost;
 * 4. delete the previous version's keys (the apply script refuses writes to a retired version, so
 *    no straggler can recreate them).
 *
 * Every event is either before the end of the replay (the replay has it) or committed after
 * `building` was set (a live consumer writes it into the new version): none is lost.
 */
export const rebuildProjections = async (options: RebuildOptions): Promise<RebuildResult> => {
  const { client, redis } = options;
  const root = options.keyRoot ?? DEFAULT_KEY_ROOT;
  const batchSize = options.batchSize ?? 500;
  const leaseSeconds = options.leaseSeconds ?? 60;
  const progressIntervalMs = options.progressIntervalMs ?? 2000;
  const names = [...new Set(options.projections)];
  const started = Date.now();
  const reader = eventStoreStreamReader(client);

  const targets = names.map((projection) => {
    const keys = new ProjectionKeys(projection, root);
    const definition = PROJECTIONS[projection];
    return { projection, keys, definition, writer: new ProjectionWriter(redis, definition, keys, { reader }), batch: [] as SourceEvent[], version: "" };
  });

  // 1. claim
  const claimed: typeof targets = [];
  const release = async (): Promise<void> => {
    for (const target of claimed) {
      await redis.eval(RELEASE_SCRIPT, 1, target.keys.building, target.version).catch(() => undefined);
      await deleteVersions(redis, target.keys, new Set([target.version])).catch(() => undefined);
    }
  };
  try {
    for (const target of targets) {
      const live = (await redis.get(target.keys.live)) ?? undefined;
      let stamp = Date.now();
      if (live === `v${stamp}`) stamp += 1;
      target.version = `v${stamp}`;
      const ok = await redis.set(target.keys.building, target.version, "EX", leaseSeconds, "NX");
      if (ok !== "OK") {
        const other = await redis.get(target.keys.building);
        throw new RebuildInProgressError(`a rebuild of ${target.projection} is already running (building ${other ?? "?"})`);
      }
      claimed.push(target);
      // Versions neither live nor ours were left by a rebuild that died: they can go.
      const orphans = await versionsPresent(redis, target.keys);
      orphans.delete(target.version);
      if (live !== undefined) orphans.delete(live);
      await deleteVersions(redis, target.keys, orphans);
    }
  } catch (error) {
    await release();
    throw error;
  }

  let leaseLost: string | undefined;
  const renew = setInterval(() => {
    for (const target of targets) {
      redis
        .eval(RENEW_SCRIPT, 1, target.keys.building, target.version, String(leaseSeconds))
        .then((renewed) => {
          if (renewed !== 1) leaseLost ??= `the building lease of ${target.projection} was lost`;
        })
        .catch(() => undefined);
    }
  }, Math.max(250, (leaseSeconds * 1000) / 4));

  let read = 0;
  let applied = 0;
  let position = 0n;
  try {
    await options.onBuildingSet?.(Object.fromEntries(targets.map((target) => [target.projection, target.version])));
    const head = await headPosition(client);
    let lastReport = Date.now();
    const report = (): void => {
      const elapsedMs = Date.now() - started;
      options.onProgress?.({ projections: names, read, applied, position, head, elapsedMs, eventsPerSecond: elapsedMs > 0 ? Math.round((read * 1000) / elapsedMs) : 0 });
    };
    const flush = async (target: (typeof targets)[number]): Promise<void> => {
      if (target.batch.length === 0) return;
      const batch = target.batch;
      target.batch = [];
      const result = await target.writer.apply(target.version, batch);
      if (result.retired) leaseLost ??= `the building lease of ${target.projection} was lost`;
      if (leaseLost) throw new Error(`${leaseLost}; the rebuild is abandoned (the live version is untouched)`);
      await options.onBatch?.();
    };

    // 2. replay
    const replay = client.readAll({ direction: FORWARDS, fromPosition: START });
    let replayed = false;
    try {
      for await (const resolved of replay) {
        const recorded = resolved.event;
        if (!recorded) continue;
        read += 1;
        position = recorded.position?.commit ?? position;
        if (!recorded.streamId.startsWith("$") && !recorded.type.startsWith("$")) {
          const event: SourceEvent = {
            eventId: recorded.id,
            streamId: recorded.streamId,
            revision: Number(recorded.revision),
            type: recorded.type,
            data: recorded.data,
          };
          let fed = false;
          for (const target of targets) {
            if (!target.definition.streamPrefixes.some((prefix) => event.streamId.startsWith(prefix))) continue;
            if (target.definition.documentOf(event.streamId) === undefined) continue;
            target.batch.push(event);
            fed = true;
            if (target.batch.length >= batchSize) await flush(target);
          }
          if (fed) applied += 1;
        }
        if (Date.now() - lastReport >= progressIntervalMs) {
          lastReport = Date.now();
          report();
        }
      }
      replayed = true;
    } finally {
      // Stopped half-way (a failure): cancel the read, or its gRPC call stays open.
      if (!replayed) await replay.cancel().catch(() => undefined);
    }
    for (const target of targets) await flush(target);
    report();
    await options.onReplayed?.();
    if (leaseLost) throw new Error(`${leaseLost}; the rebuild is abandoned (the live version is untouched)`);
  } catch (error) {
    clearInterval(renew);
    await release();
    throw error;
  }
  clearInterval(renew);

  // 3. switch, 4. clean up
  const rebuilt: RebuiltProjection[] = [];
  for (const target of targets) {
    const [switched, previous] = (await redis.eval(SWITCH_SCRIPT, 2, target.keys.live, target.keys.building, target.version)) as [number, string | null];
    if (switched !== 1) {
      await release();
      throw new Error(`the building lease of ${target.projection} was lost before the switch; the live version is untouched`);
    }
    claimed.splice(claimed.indexOf(target), 1);
    const deletedKeys = previous ? await deleteVersions(redis, target.keys, new Set([previous])) : 0;
    rebuilt.push({ projection: target.projection, previous: previous ?? undefined, version: target.version, deletedKeys });
  }
  return { projections: rebuilt, read, applied, durationMs: Date.now() - started };
};
