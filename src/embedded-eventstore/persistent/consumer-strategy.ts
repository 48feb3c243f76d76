import type { StoredEvent } from "../log/types.js";
import type { ConsumerStrategy } from "./definition.js";

interface Candidate {
  readonly capacity: number;
  readonly inFlight: number;
}

const hasRoom = (consumer: Candidate): boolean => consumer.inFlight < consumer.capacity;

/** A stable 32-bit hash, so that pinned strategies keep a key on the same consumer. */
const hash = (text: string): number => {
  let value = 2166136261;
  for (let index = 0; index < text.length; index += 1) {
    value ^= text.charCodeAt(index);
    value = Math.imul(value, 16777619);
  }
  return value >>> 0;
};

const correlationIdOf = (event: StoredEvent): string => {
  try {
    const metadata: unknown = JSON.parse(Buffer.from(event.metadata).toString("utf8"));
    if (metadata && typeof metadata === "object" && "$correlationId" in metadata) {
      const value = (metadata as Record<string, unknown>)["$correlationId"];
      if (typeof value === "string") return value;
    }
  } catch {
    // Events without JSON metadata are pinned by stream instead.
  }
  return event.streamId;
};

/**
 * Picks who gets the next message, or nobody when the chosen consumer has no room:
 * RoundRobin rotates over consumers with room; DispatchToSingle fills the first one before the next;
 * Pinned and PinnedByCorrelation keep a stream (or correlation id) on one consumer, preserving its order.
 */
export const chooseConsumer = <C extends Candidate>(
  strategy: ConsumerStrategy,
  consumers: readonly C[],
  event: StoredEvent,
  rotation: number,
): C | undefined => {
  if (consumers.length === 0) return undefined;
  switch (strategy) {
    case "RoundRobin":
      for (let offset = 0; offset < consumers.length; offset += 1) {
        const candidate = consumers[(rotation + offset) % consumers.length];
        if (candidate && hasRoom(candidate)) return candidate;
      }
      return undefined;
    case "DispatchToSingle":
      return consumers.find(hasRoom);
    case "Pinned":
    case "PinnedByCorrelation": {
      const key = strategy === "Pinned" ? event.streamId : correlationIdOf(event);
      const pinned = consumers[hash(key) % consumers.length];
      return pinned && hasRoom(pinned) ? pinned : undefined;
    }
  }
};
