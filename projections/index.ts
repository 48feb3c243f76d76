/**
 * The read side (projections/README.md): projection consumers for the worker, the Redis read
 * models for the API, and the rebuild.
 */
export {
  createProjectionConsumers,
  projectionConsumer,
  projectionGroup,
  type ProjectionConcurrency,
  type ProjectionConsumerDependencies,
} from "./consumers.js";
export { createRedisReadModels, createRedisReadModelStore, type RedisReadModelOptions } from "./read-store.js";
export { rebuildProjections, RebuildInProgressError, type RebuildOptions, type RebuildProgress, type RebuildResult } from "./rebuild.js";
export { PROJECTIONS } from "./definitions/index.js";
export { DEFAULT_KEY_ROOT, INITIAL_VERSION, PROJECTION_NAMES, ProjectionKeys, type ProjectionName } from "./keys.js";
export { ProjectionPointers, ProjectionWriter, type ProjectionDefinition, type SourceEvent, type StreamReader } from "./engine.js";
export { eventStoreStreamReader } from "./stream-reader.js";
