import { randomUUID } from "node:crypto";
import type { ServerWritableStream } from "@grpc/grpc-js";
import type { EventLog } from "../../log/event-log.js";
import { type EventFilter, createFilter, selectsFromAll } from "../../log/event-filter.js";
import { type Direction, type StoredEvent, LINK_EVENT_TYPE } from "../../log/types.js";
import { CallLifetime } from "../call-lifetime.js";
import { fillRecordedEvent, readStreamName, streamIdentifier, wireToNumber } from "../convert.js";
import { invalidArgument, storageError, streamDeletedError } from "../errors.js";
import { reportStorageFault } from "../../storage-faults.js";
import { streamsPb, type ReadReq, type ReadResp } from "../proto.js";

type Options = InstanceType<typeof streamsPb.ReadReq.Options>;
type Call = ServerWritableStream<ReadReq, ReadResp>;

const PAGE_SIZE = 256;
/** The client's default search window when a filter gives none. */
const DEFAULT_MAX_SEARCH_WINDOW = 32;

interface ReadContext {
  readonly log: EventLog;
  readonly call: Call;
  readonly lifetime: CallLifetime;
  readonly structuredIds: boolean;
  readonly resolveLinks: boolean;
}

/** `Streams.Read`: a bounded read (with a count) or a catch-up subscription, of one stream or of `$all`. */
export const readHandler =
  (log: EventLog) =>
  (call: Call): void => {
    const options = call.request.getOptions();
    if (!options) {
      call.emit("error", invalidArgument("Read requests need options"));
      return;
    }
    const context: ReadContext = {
      log,
      call,
      lifetime: new CallLifetime(call),
      structuredIds: options.getUuidOption()?.hasStructured() ?? false,
      resolveLinks: options.getResolveLinks(),
    };
    const run = options.hasSubscription() ? subscribe(context, options) : read(context, options);
    run.then(
      () => {
        if (context.lifetime.active) call.end();
      },
      (error: unknown) => {
        // Our own refusals carry a gRPC code; anything else came from storage.
        const refusal = error instanceof Error && "code" in error && typeof error.code === "number";
        if (!refusal) reportStorageFault(options.hasSubscription() ? "subscription" : "read", error);
        if (context.lifetime.active) call.emit("error", refusal ? error : storageError(error));
      },
    );
  };

const read = async (context: ReadContext, options: Options): Promise<void> => {
  const direction: Direction = options.getReadDirection() === streamsPb.ReadReq.Options.ReadDirection.BACKWARDS ? "backwards" : "forwards";
  let remaining = wireToNumber(options.getCount());
  if (options.hasStream()) {
    const stream = options.getStream();
    const name = readStreamName(stream?.getStreamIdentifier());
    if (!stream || name === undefined) throw invalidArgument("Read requests need a stream");
    let from: number | "start" | "end" = stream.hasRevision() ? wireToNumber(stream.getRevision()) : stream.hasEnd() ? "end" : "start";
    while (remaining > 0 && context.lifetime.active) {
      const page = context.log.readStream(name, from, direction, Math.min(PAGE_SIZE, remaining));
      if (page === "deleted") throw streamDeletedError(name);
      if (page === "not_found") {
        const response = new streamsPb.ReadResp();
        const notFound = new streamsPb.ReadResp.StreamNotFound();
        notFound.setStreamIdentifier(streamIdentifier(name));
        response.setStreamNotFound(notFound);
        await context.lifetime.write(response);
        return;
      }
      for (const event of page) await sendEvent(context, event);
      remaining -= page.length;
      const last = page.at(-1);
      if (!last || page.length < Math.min(PAGE_SIZE, remaining + page.length)) return;
      from = direction === "forwards" ? last.revision + 1 : last.revision - 1;
      if (from < 0) return;
    }
    return;
  }
  const filter = readFilter(options);
  const all = options.getAll();
  // Forwards from a position includes the event at it; backwards starts strictly below it.
  let from = all?.hasPosition()
    ? wireToNumber(all.getPosition()?.getCommitPosition() ?? "0")
    : direction === "forwards" && !all?.hasEnd()
      ? 0
      : context.log.endPosition();
  while (remaining > 0 && context.lifetime.active) {
    const page = context.log.readAll(from, direction, PAGE_SIZE);
    if (page.length === 0) return;
    for (const event of page) {
      if (remaining <= 0) return;
      if (!selectsFromAll(filter, event)) continue;
      await sendEvent(context, event);
      remaining -= 1;
    }
    const last = page.at(-1);
    if (!last) return;
    from = direction === "forwards" ? last.position + 1 : last.position;
  }
};

const subscribe = async (context: ReadContext, options: Options): Promise<void> => {
  const { log, lifetime } = context;
  const confirmation = new streamsPb.ReadResp();
  const confirm = new streamsPb.ReadResp.SubscriptionConfirmation();
  confirm.setSubscriptionId(randomUUID());
  confirmation.setConfirmation(confirm);
  await lifetime.write(confirmation);

  if (options.hasStream()) {
    const stream = options.getStream();
    const name = readStreamName(stream?.getStreamIdentifier());
    if (!stream || name === undefined) throw invalidArgument("Subscriptions need a stream");
    // A subscription starts after the revision it is given.
    let next = stream.hasRevision() ? wireToNumber(stream.getRevision()) + 1 : stream.hasEnd() ? log.streamInfo(name).last + 1 : 0;
    let caughtUp = false;
    while (lifetime.active) {
      const head = log.headPosition();
      const page = log.readStream(name, next, "forwards", PAGE_SIZE);
      if (page === "deleted") throw streamDeletedError(name);
      const events = page === "not_found" ? [] : page;
      for (const event of events) await sendEvent(context, event);
      const last = events.at(-1);
      if (last) next = last.revision + 1;
      if (events.length === PAGE_SIZE) continue;
      if (!caughtUp) {
        caughtUp = true;
        await sendCaughtUp(context);
      }
      await lifetime.waitForAppend(log, head);
    }
    return;
  }

  const filter = readFilter(options);
  const filterOptions = options.getFilter();
  const window = filterOptions?.hasMax() ? filterOptions.getMax() : DEFAULT_MAX_SEARCH_WINDOW;
  const checkpointInterval = filter ? Math.max(1, window * Math.max(1, filterOptions?.getCheckpointintervalmultiplier() ?? 1)) : 0;
  const all = options.getAll();
  let next = all?.hasPosition() ? wireToNumber(all.getPosition()?.getCommitPosition() ?? "0") + 1 : all?.hasEnd() ? log.endPosition() : 0;
  let scannedSinceCheckpoint = 0;
  let caughtUp = false;
  while (lifetime.active) {
    const head = log.headPosition();
    const page = log.readAll(next, "forwards", PAGE_SIZE);
    for (const event of page) {
      if (selectsFromAll(filter, event)) await sendEvent(context, event);
      scannedSinceCheckpoint += 1;
      if (checkpointInterval > 0 && scannedSinceCheckpoint >= checkpointInterval) {
        scannedSinceCheckpoint = 0;
        await sendCheckpoint(context, event.position);
      }
    }
    const last = page.at(-1);
    if (last) next = last.position + 1;
    if (page.length === PAGE_SIZE) continue;
    if (!caughtUp) {
      caughtUp = true;
      // A filtered subscription always reports where its catch-up ended.
      if (filter) await sendCheckpoint(context, Math.max(0, last?.position ?? log.headPosition()));
      await sendCaughtUp(context);
    }
    await lifetime.waitForAppend(log, head);
  }
};

const readFilter = (options: Options): EventFilter | undefined => {
  if (!options.hasFilter()) return undefined;
  const filter = options.getFilter();
  const expression = filter?.hasStreamIdentifier() ? filter.getStreamIdentifier() : filter?.getEventType();
  if (!filter || !expression) return undefined;
  const created = createFilter(filter.hasStreamIdentifier() ? "stream" : "eventType", {
    regex: expression.getRegex(),
    prefixes: expression.getPrefixList(),
  });
  if (typeof created === "string") throw invalidArgument(created);
  return created;
};

const sendEvent = async (context: ReadContext, event: StoredEvent): Promise<void> => {
  const response = new streamsPb.ReadResp();
  const readEvent = new streamsPb.ReadResp.ReadEvent();
  const resolved = context.resolveLinks ? context.log.resolveLink(event) : undefined;
  if (resolved) {
    readEvent.setEvent(fillRecordedEvent(new streamsPb.ReadResp.ReadEvent.RecordedEvent(), resolved, context.structuredIds));
    readEvent.setLink(fillRecordedEvent(new streamsPb.ReadResp.ReadEvent.RecordedEvent(), event, context.structuredIds));
  } else if (context.resolveLinks && event.type === LINK_EVENT_TYPE) {
    // A link whose event is gone (deleted, truncated) comes as the link alone, with no event.
    readEvent.setLink(fillRecordedEvent(new streamsPb.ReadResp.ReadEvent.RecordedEvent(), event, context.structuredIds));
  } else {
    readEvent.setEvent(fillRecordedEvent(new streamsPb.ReadResp.ReadEvent.RecordedEvent(), event, context.structuredIds));
  }
  readEvent.setCommitPosition(String(event.position));
  response.setEvent(readEvent);
  await context.lifetime.write(response);
};

const sendCheckpoint = async (context: ReadContext, position: number): Promise<void> => {
  const response = new streamsPb.ReadResp();
  const checkpoint = new streamsPb.ReadResp.Checkpoint();
  checkpoint.setCommitPosition(String(position));
  checkpoint.setPreparePosition(String(position));
  response.setCheckpoint(checkpoint);
  await context.lifetime.write(response);
};

const sendCaughtUp = async (context: ReadContext): Promise<void> => {
  const response = new streamsPb.ReadResp();
  response.setCaughtUp(new streamsPb.ReadResp.CaughtUp());
  await context.lifetime.write(response);
};
