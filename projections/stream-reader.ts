import { type EventStoreDBClient, FORWARDS, StreamNotFoundError } from "@eventstore/db-client";
import type { SourceEvent, StreamReader } from "./engine.js";

/** Reads a gap's events straight from the stream in EventStoreDB. */
export const eventStoreStreamReader = (client: EventStoreDBClient): StreamReader => ({
  async *read(streamId: string, fromRevision: number, count: number): AsyncIterable<SourceEvent> {
    if (count <= 0) return;
    const read = client.readStream(streamId, { direction: FORWARDS, fromRevision: BigInt(fromRevision), maxCount: count });
    let done = false;
    try {
      for await (const resolved of read) {
        const recorded = resolved.event;
        if (!recorded) continue;
        yield {
          eventId: recorded.id,
          streamId: recorded.streamId,
          revision: Number(recorded.revision),
          type: recorded.type,
          data: recorded.data,
        };
      }
      done = true;
    } catch (error) {
      done = true;
      if (!(error instanceof StreamNotFoundError)) throw error;
    } finally {
      // The caller stopped early (it threw): cancel the read, or its gRPC call stays open.
      if (!done) await read.cancel().catch(() => undefined);
    }
  },
});
