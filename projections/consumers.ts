import { describeRedisFailure } from "../src/infrastructure/redis-failure.js";
import type { EventStoreDBClient } from "@eventstore/db-client";
import type { Redis } from "ioredis";
import type { Logger } from "../src/logger.js";
import { TransientError } from "../src/core/errors.js";
import type { ConsumedEvent, Consumer } from "../src/infrastructure/eventstore/consumer-group.js";
import { isTransientFailure } from "../src/core/transient.js";
import { PROJECTIONS } from "./definitions/index.js";
import { type ProjectionDefinition, ProjectionPointers, ProjectionWriter, type StreamReader } from "./engine.js";
import { DEFAULT_KEY_ROOT, PROJECTION_NAMES, ProjectionKeys, type ProjectionName } from "./keys.js";
import { eventStoreStreamReader } from "./stream-reader.js";

export interface ProjectionConsumerDependencies {
  readonly redis: Redis;
  readonly logger: Logger;
  /** Fills gaps (an event delivered before its predecessors) from the log. Without it, a gap is retried later. */
  readonly client?: EventStoreDBClient;
  /** Overrides `client` as the gap reader (tests). */
  readonly reader?: StreamReader;
  /** Key root, `rm` unless told (tests use their own). */
  readonly keyRoot?: string;
}

/** The consumer group of a projection; one per projection, shared by every worker process. */
export const projectionGroup = (name: ProjectionName): string => `projection-${name}`;

/** Documents worked on at once per process, and events per Redis round trip. */
export interface ProjectionConcurrency {
  readonly concurrency?: number;
  readonly maxBatch?: number;
}

/**
 * A persistent-subscription consumer that keeps one projection: each event is applied to the live
 * version and, while a rebuild runs, to the version being built too (so nothing that happens during
 * a rebuild is missed). Redis or EventStoreDB being away is a `TransientError`: the event is retried,
 * never dropped. A malformed event fails permanently and is parked.
 *
 * Events are keyed by document, so one document's events are applied in delivery order while
 * different documents go side by side; events ready together are applied as one batch (one read of
 * the pointers, one MGET of their documents and one pipeline of check-and-set scripts per version),
 * which the engine folds per document exactly as it would one at a time.
 */
export const projectionConsumer = <D>(
  definition: ProjectionDefinition<D>,
  deps: ProjectionConsumerDependencies,
  tuning: ProjectionConcurrency = {},
): Consumer => {
  const keys = new ProjectionKeys(definition.name, deps.keyRoot ?? DEFAULT_KEY_ROOT);
  const reader = deps.reader ?? (deps.client ? eventStoreStreamReader(deps.client) : undefined);
  const writer = new ProjectionWriter(deps.redis, definition, keys, reader ? { reader } : {});
  const pointers = new ProjectionPointers(deps.redis, keys);

  const apply = async (events: readonly ConsumedEvent[]): Promise<void> => {
    const relevant = events.filter((event) => definition.documentOf(event.streamId) !== undefined);
    if (relevant.length === 0) return;
    try {
      // Read after the events were delivered, so after they were committed: an event committed
      // once a rebuild set `building` is written to the building version too (README, "Rebuilding").
      for (const version of await pointers.active()) {
        const result = await writer.apply(version, relevant);
        if (result.retired) deps.logger.debug({ projection: definition.name, version }, "version retired by a rebuild while applying");
      }
    } catch (error) {
      if (error instanceof TransientError) throw error;
      if (isTransientFailure(error)) {
        throw new TransientError(`${definition.name} projection: ${describeRedisFailure(error, deps.redis)}`, { cause: error });
      }
      throw error;
    }
  };

  return {
    group: projectionGroup(definition.name),
    streamPrefixes: definition.streamPrefixes,
    handle: (event: ConsumedEvent) => apply([event]),
    ordering: {
      // Streams this projection ignores share one key: they are acked without touching Redis.
      keyOf: (event) => definition.documentOf(event.streamId) ?? "",
      concurrency: tuning.concurrency ?? 4,
    },
    batch: { maxSize: tuning.maxBatch ?? 64, handle: apply },
  };
};

/** Every read-side projection consumer: `projection-mypage`, `projection-lists`, `projection-notifications`. */
export const createProjectionConsumers = (
  deps: ProjectionConsumerDependencies,
  names: readonly ProjectionName[] = PROJECTION_NAMES,
  tuning: ProjectionConcurrency = {},
): Consumer[] => names.map((name) => projectionConsumer(PROJECTIONS[name], deps, tuning));
