/**
 * BatchAppend deadlines.
 *
 * EventStoreDB 24.10 (`Streams.BatchAppend.cs`) takes the deadline from an append's options the moment
 * they arrive: when it has already passed, the append is answered `Timeout` (a Status detail the
 * client turns into DeadlineExceededError) before its events are looked at, so an oversized append
 * that is also late is a timeout, not MaxAppendSizeExceeded. Nothing of a late append is written, and
 * the batch-append call goes on serving the appends after it.
 */
import { describe, expect, it } from "vitest";
import { DeadlineExceededError, StreamNotFoundError, binaryEvent } from "@eventstore/db-client";
import { DEFAULT_MAX_APPEND_SIZE, oneEvent, readStreamEvents, rejectionOf, uniqueStream, useEventStore } from "./support.js";

const es = useEventStore();

describe("BatchAppend: an append whose deadline passed before its options arrived", () => {
  it("is answered DeadlineExceeded and writes nothing; the next append on the same call succeeds", async () => {
    const { client } = es();
    const stream = uniqueStream("deadline-late");
    const error = await rejectionOf(client.appendToStream(stream, oneEvent("Late"), { deadline: 0 }));
    expect(error).toBeInstanceOf(DeadlineExceededError);
    expect(await rejectionOf(readStreamEvents(client, stream))).toBeInstanceOf(StreamNotFoundError);
    const after = await client.appendToStream(stream, oneEvent("OnTime"));
    expect(after.nextExpectedRevision).toBe(0n);
  });

  it("is a timeout even when it is also too large: the deadline is checked before the size", async () => {
    const { client } = es();
    const stream = uniqueStream("deadline-oversized");
    const oversized = binaryEvent({ type: "Huge", data: new Uint8Array(DEFAULT_MAX_APPEND_SIZE + 1024) });
    const error = await rejectionOf(client.appendToStream(stream, oversized, { deadline: 0 }));
    expect(error).toBeInstanceOf(DeadlineExceededError);
    expect(await rejectionOf(readStreamEvents(client, stream))).toBeInstanceOf(StreamNotFoundError);
  });
});
