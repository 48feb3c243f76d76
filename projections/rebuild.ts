import { type AllStreamRecordedEvent, BACKWARDS, END, type EventStoreDBClient, FORWARDS, START } from "@eventstore/db-client";
import type { Redis } from "ioredis";
import { PROJECTIONS } from "./definitions/index.js";
import { type ProjectionDefinition, ProjectionWriter, type SourceEvent } from "./engine.js";
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

/** One projection being rebuilt: its keys, the version being built and the events not yet written to it. */
interface RebuildTarget {
  readonly projection: ProjectionName;
  readonly keys: ProjectionKeys;
  readonly definition: ProjectionDefinition<unknown>;
  readonly writer: ProjectionWriter<unknown>;
  batch: SourceEvent[];
  version: string;
}

const abandoned = (leaseLost: string): Error => new Error(`${leaseLost}; the rebuild is abandoned (the live version is untouched)`);

/** `SourceEvent` of a replayed event, or undefined for the store's own (`$`) streams and events. */
const sourceEventOf = (recorded: AllStreamRecordedEvent): SourceEvent | undefined => {
  if (recorded.streamId.startsWith("$") || recorded.type.startsWith("$")) return undefined;
  return {
    eventId: recorded.id,
    streamId: recorded.streamId,
    revision: Number(recorded.revision),
    type: recorded.type,
    data: recorded.data,
  };
};

/**
 * One run of `rebuildProjections`: its targets, the claims it holds and the lease it keeps, and what
 * the replay has read so far. Each method is one step of the rebuild.
 */
class ProjectionRebuild {
  private readonly claimed: RebuildTarget[] = [];
  /** Why the rebuild must be abandoned, once a lease was lost. */
  private leaseLost: string | undefined;
  private renewal: NodeJS.Timeout | undefined;
  private read = 0;
  private applied = 0;
  private position = 0n;

  constructor(
    private readonly options: RebuildOptions,
    private readonly names: readonly ProjectionName[],
    private readonly targets: readonly RebuildTarget[],
    private readonly started: number,
  ) {}

  private get redis(): Redis {
    return this.options.redis;
  }

  /** Step 1: sets each `building` pointer to a fresh version (NX, with a lease), or releases what it claimed. */
  async claim(): Promise<void> {
    const leaseSeconds = this.options.leaseSeconds ?? 60;
    try {
      for (const target of this.targets) {
        const live = (await this.redis.get(target.keys.live)) ?? undefined;
        let stamp = Date.now();
        if (live === `v${stamp}`) stamp += 1;
        target.version = `v${stamp}`;
        const ok = await this.redis.set(target.keys.building, target.version, "EX", leaseSeconds, "NX");
        if (ok !== "OK") {
          const other = await this.redis.get(target.keys.building);
          throw new RebuildInProgressError(`a rebuild of ${target.projection} is already running (building ${other ?? "?"})`);
        }
        this.claimed.push(target);
        // Versions neither live nor ours were left by a rebuild that died: they can go.
        const orphans = await versionsPresent(this.redis, target.keys);
        orphans.delete(target.version);
        if (live !== undefined) orphans.delete(live);
        await deleteVersions(this.redis, target.keys, orphans);
      }
    } catch (error) {
      await this.release();
      throw error;
    }
  }

  /** Gives up every claim still held, with the keys of its version. */
  async release(): Promise<void> {
    for (const target of this.claimed) {
      await this.redis.eval(RELEASE_SCRIPT, 1, target.keys.building, target.version).catch(() => undefined);
      await deleteVersions(this.redis, target.keys, new Set([target.version])).catch(() => undefined);
    }
  }

  /** Renews every lease while the rebuild runs; a lease found lost abandons the rebuild at its next batch. */
  renewLeases(): void {
    const leaseSeconds = this.options.leaseSeconds ?? 60;
    this.renewal = setInterval(
      () => {
        for (const target of this.targets) {
          this.redis
            .eval(RENEW_SCRIPT, 1, target.keys.building, target.version, String(leaseSeconds))
            .then((renewed) => {
              if (renewed !== 1) this.leaseLost ??= `the building lease of ${target.projection} was lost`;
            })
            .catch(() => undefined);
        }
      },
      Math.max(250, (leaseSeconds * 1000) / 4),
    );
  }

  stopRenewing(): void {
    clearInterval(this.renewal);
  }

  /** Step 2: replays `$all` into the new versions; on failure stops renewing and releases every claim. */
  async replay(): Promise<void> {
    try {
      await this.options.onBuildingSet?.(Object.fromEntries(this.targets.map((target) => [target.projection, target.version])));
      const head = await headPosition(this.options.client);
      await this.replayUpTo(head);
      for (const target of this.targets) await this.flush(target);
      this.report(head);
      await this.options.onReplayed?.();
      if (this.leaseLost) throw abandoned(this.leaseLost);
    } catch (error) {
      this.stopRenewing();
      await this.release();
      throw error;
    }
    this.stopRenewing();
  }

  private async replayUpTo(head: bigint): Promise<void> {
    const progressIntervalMs = this.options.progressIntervalMs ?? 2000;
    let lastReport = Date.now();
    const replay = this.options.client.readAll({ direction: FORWARDS, fromPosition: START });
    let replayed = false;
    try {
      for await (const resolved of replay) {
        const recorded = resolved.event;
        if (!recorded) continue;
        this.read += 1;
        this.position = recorded.position?.commit ?? this.position;
        const event = sourceEventOf(recorded);
        if (event !== undefined && (await this.feed(event))) this.applied += 1;
        if (Date.now() - lastReport >= progressIntervalMs) {
          lastReport = Date.now();
          this.report(head);
        }
      }
      replayed = true;
    } finally {
      // Stopped half-way (a failure): cancel the read, or its gRPC call stays open.
      if (!replayed) await replay.cancel().catch(() => undefined);
    }
  }

  /** Adds the event to the batch of every projection it feeds; true when it fed one. */
  private async feed(event: SourceEvent): Promise<boolean> {
    const batchSize = this.options.batchSize ?? 500;
    let fed = false;
    for (const target of this.targets) {
      if (!target.definition.streamPrefixes.some((prefix) => event.streamId.startsWith(prefix))) continue;
      if (target.definition.documentOf(event.streamId) === undefined) continue;
      target.batch.push(event);
      fed = true;
      if (target.batch.length >= batchSize) await this.flush(target);
    }
    return fed;
  }

  private async flush(target: RebuildTarget): Promise<void> {
    if (target.batch.length === 0) return;
    const batch = target.batch;
    target.batch = [];
    const result = await target.writer.apply(target.version, batch);
    if (result.retired) this.leaseLost ??= `the building lease of ${target.projection} was lost`;
    if (this.leaseLost) throw abandoned(this.leaseLost);
    await this.options.onBatch?.();
  }

  private report(head: bigint): void {
    const elapsedMs = Date.now() - this.started;
    const { read, applied, position } = this;
    this.options.onProgress?.({
      projections: this.names,
      read,
      applied,
      position,
      head,
      elapsedMs,
      eventsPerSecond: elapsedMs > 0 ? Math.round((read * 1000) / elapsedMs) : 0,
    });
  }

  /** Steps 3 and 4: makes each new version live (refused if its lease was lost), then deletes the previous one. */
  async switchOver(): Promise<RebuildResult> {
    const rebuilt: RebuiltProjection[] = [];
    for (const target of this.targets) {
      const [switched, previous] = (await this.redis.eval(SWITCH_SCRIPT, 2, target.keys.live, target.keys.building, target.version)) as [
        number,
        string | null,
      ];
      if (switched !== 1) {
        await this.release();
        throw new Error(`the building lease of ${target.projection} was lost before the switch; the live version is untouched`);
      }
      this.claimed.splice(this.claimed.indexOf(target), 1);
      const deletedKeys = previous ? await deleteVersions(this.redis, target.keys, new Set([previous])) : 0;
      rebuilt.push({ projection: target.projection, previous: previous ?? undefined, version: target.version, deletedKeys });
    }
    return { projections: rebuilt, read: this.read, applied: this.applied, durationMs: Date.now() - this.started };
  }
}

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
  const root = options.keyRoot ?? DEFAULT_KEY_ROOT;
  const names = [...new Set(options.projections)];
  const started = Date.now();
  const reader = eventStoreStreamReader(options.client);
  const targets = names.map((projection): RebuildTarget => {
    const keys = new ProjectionKeys(projection, root);
    const definition = PROJECTIONS[projection];
    return {
      projection,
      keys,
      definition,
      writer: new ProjectionWriter(options.redis, definition, keys, { reader }),
      batch: [],
      version: "",
    };
  });
  const rebuild = new ProjectionRebuild(options, names, targets, started);
  await rebuild.claim();
  rebuild.renewLeases();
  await rebuild.replay();
  return rebuild.switchOver();
};
