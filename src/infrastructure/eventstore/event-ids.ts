import { v5 as uuidv5 } from "uuid";

/** Namespace of every name-based id this service derives. */
const NAMESPACE = "5b0f6a53-3c1e-4cf4-9d55-3f2c7a2b9c41";

/**
 * Event ids derived from what caused them: a handler that runs twice for the same cause writes
 * the same ids, which EventStoreDB recognises as an idempotent retry instead of new events.
 */
export const deterministicEventId = (causationId: string, streamId: string, index: number): string =>
  uuidv5(`event\n${causationId}\n${streamId}\n${index}`, NAMESPACE);

/** A resource id derived from a client's idempotency key, scoped to the user who sent it. */
export const idFromIdempotencyKey = (userId: string, key: string): string => uuidv5(`idempotency\n${userId}\n${key}`, NAMESPACE);
