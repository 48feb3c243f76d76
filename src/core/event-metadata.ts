import { z } from "zod";
import { type Actor, actor } from "../domain/events.js";

/** Bumped when an event's data changes shape, so that old events can be upcast when read. */
export const SCHEMA_VERSION = 1;

/**
 * Metadata on every event. `$correlationId` and `$causationId` are EventStoreDB's own keys, so its
 * `$by_correlation_id` projection groups a whole reservation saga into one `$bc-<id>` stream.
 */
export interface EventMetadata {
  readonly $correlationId: string;
  readonly $causationId: string;
  readonly actor: Actor;
  readonly schemaVersion: number;
}

const metadataSchema = z.object({
  $correlationId: z.string(),
  $causationId: z.string(),
  actor,
  schemaVersion: z.number().int().positive(),
});

export const parseEventMetadata = (value: unknown): EventMetadata | undefined => {
  const parsed = metadataSchema.safeParse(value);
  return parsed.success ? parsed.data : undefined;
};
