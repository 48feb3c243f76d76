/**
 * Maximum append size.
 *
 * EventStoreDB 24.10 sums `Event.SizeOnDisk(type, data, metadata)` over the events of one append and
 * rejects the append when the sum exceeds `MaxAppendSize` (default 1 MiB = 1,048,576). Note that, due
 * to operator precedence in `Event.SizeOnDisk` (`data?.Length ?? 0 + metadata?.Length ?? 0 + ...`),
 * the size that counts is just the data length (the research notes read it as data + metadata + 2 x type
 * length; the tests below hold under either reading). The error is `MaximumAppendSizeExceeded` (a Status
 * detail on BatchAppend, the `maximum-append-size-exceeded` exception trailer with
 * `maximum-append-size` on Append); the client turns both into MaxAppendSizeExceededError.
 *
 * The gRPC endpoint itself accepts messages far larger than 4 MiB (Kestrel's MaxReceiveMessageSize is
 * set to TFConsts.EffectiveMaxLogRecordSize), so a 5 MiB event must still get the
 * MaxAppendSizeExceeded answer, not a transport error.
 */
import { describe, expect, it } from "vitest";
import { MaxAppendSizeExceededError, StreamNotFoundError, binaryEvent } from "@eventstore/db-client";
import {
  APPEND_PATHS,
  DEFAULT_MAX_APPEND_SIZE,
  jsonEvent,
  oneEvent,
  readStreamEvents,
  rejectionOf,
  uniqueStream,
  useEventStore,
} from "./support.js";

const es = useEventStore();

const bytes = (n: number, fill = 7) => new Uint8Array(n).fill(fill);

describe.each(APPEND_PATHS)("maximum append size via $path", ({ options }) => {
  it("an event just under MaxAppendSize is accepted and reads back intact", async () => {
    const { client } = es();
    const stream = uniqueStream("size-limit");
    const data = bytes(DEFAULT_MAX_APPEND_SIZE - 64, 3);
    const result = await client.appendToStream(stream, binaryEvent({ type: "Big", data }), options);
    expect(result.nextExpectedRevision).toBe(0n);
    const [read] = await readStreamEvents(client, stream);
    expect(read?.event?.isJson).toBe(false);
    const readData = read!.event!.data as Uint8Array;
    expect(readData.byteLength).toBe(data.byteLength);
    expect(Buffer.from(readData).equals(Buffer.from(data))).toBe(true);
  });

  it("an event one byte over MaxAppendSize -> MaxAppendSizeExceededError; nothing is written", async () => {
    const { client } = es();
    const stream = uniqueStream("size-over");
    const error = await rejectionOf(
      client.appendToStream(stream, binaryEvent({ type: "TooBig", data: bytes(DEFAULT_MAX_APPEND_SIZE + 1) }), options),
    );
    expect(error).toBeInstanceOf(MaxAppendSizeExceededError);
    expect((error as MaxAppendSizeExceededError).maxAppendSize).toBe(DEFAULT_MAX_APPEND_SIZE);
    await expect(readStreamEvents(client, stream)).rejects.toBeInstanceOf(StreamNotFoundError);
  });

  it("several events that together exceed MaxAppendSize -> MaxAppendSizeExceededError; none is written", async () => {
    const { client } = es();
    const stream = uniqueStream("size-cumulative");
    await client.appendToStream(stream, oneEvent("Before"), options);
    const big = "x".repeat(400_000);
    const error = await rejectionOf(
      client.appendToStream(
        stream,
        [
          jsonEvent({ type: "Part", data: { big } }),
          jsonEvent({ type: "Part", data: { big } }),
          jsonEvent({ type: "Part", data: { big } }),
        ],
        options,
      ),
    );
    expect(error).toBeInstanceOf(MaxAppendSizeExceededError);
    const events = await readStreamEvents(client, stream);
    expect(events.map((e) => e.event?.type)).toEqual(["Before"]);
  });

  it("a 5 MiB event (over gRPC's default 4 MiB message limit) -> MaxAppendSizeExceededError, and the client keeps working", async () => {
    const { client } = es();
    const stream = uniqueStream("size-huge");
    const error = await rejectionOf(
      client.appendToStream(stream, binaryEvent({ type: "Huge", data: bytes(5 * 1024 * 1024) }), { ...options, deadline: 30_000 }),
    );
    expect(error).toBeInstanceOf(MaxAppendSizeExceededError);
    const after = await client.appendToStream(stream, oneEvent("Small"), options);
    expect(after.nextExpectedRevision).toBe(0n);
  });
});
