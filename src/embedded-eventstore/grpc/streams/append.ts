import { status, type sendUnaryData, type ServerDuplexStream, type ServerReadableStream } from "@grpc/grpc-js";
import type { GroupCommit } from "../../log/group-commit.js";
import type { AppendOutcome, ExpectedRevision, ProposedEvent } from "../../log/types.js";
import { readStreamName, readUuid, streamIdentifier } from "../convert.js";
import {
  invalidArgument,
  maximumAppendSizeExceededError,
  projectionStreamWriteError,
  rpcError,
  storageError,
  streamDeletedError,
} from "../errors.js";
import { isProjectionStream } from "../../log/standard-projections.js";
import {
  anyPb,
  codePb,
  emptyPb,
  sharedPb,
  statusPb,
  streamsPb,
  type AppendReq,
  type AppendResp,
  type BatchAppendReq,
  type BatchAppendResp,
  type UUID,
} from "../proto.js";
import { readExpectedRevision } from "./expected-revision.js";

export interface AppendLimits {
  readonly maxAppendSize: number;
}

interface ProposedMessage {
  hasId(): boolean;
  getId(): UUID | undefined;
  getMetadataMap(): { get(key: string): string | undefined };
  getData_asU8(): Uint8Array;
  getCustomMetadata_asU8(): Uint8Array;
}

type Invalid = { readonly invalid: "missing-type" | "bad-id" | "empty-type"; readonly message: string };

/** Validates one proposed message as EventStoreDB does, or says what is wrong with it. */
const toProposedEvent = (message: ProposedMessage): ProposedEvent | Invalid => {
  const id = readUuid(message.getId());
  if (!id) return { invalid: "bad-id", message: "Proposed message has no valid event id" };
  const metadata = message.getMetadataMap();
  const type = metadata.get("type");
  const contentType = metadata.get("content-type");
  if (type === undefined || contentType === undefined) {
    return { invalid: "missing-type", message: `Required Metadata Property '${type === undefined ? "type" : "content-type"}' is missing` };
  }
  // EventStoreDB's event constructor throws on an empty type: a handler exception, not a validation error.
  if (type === "") return { invalid: "empty-type", message: "Event type must not be empty" };
  return { id, type, contentType, data: message.getData_asU8(), metadata: message.getCustomMetadata_asU8() };
};

const isInvalid = (event: ProposedEvent | Invalid): event is Invalid => "invalid" in event;

/** EventStoreDB counts data, metadata and the type (as UTF-16) against its append size limit. */
const eventSize = (event: ProposedEvent): number => event.data.length + event.metadata.length + 2 * event.type.length;

/** What EventStoreDB's gRPC layer answers when a handler throws, e.g. on an empty stream name. */
const handlerException = (): Error => rpcError(status.UNKNOWN, "Exception was thrown by handler.");

const invalidEventError = (problem: Invalid): Error => {
  switch (problem.invalid) {
    case "missing-type":
      return rpcError(status.INVALID_ARGUMENT, problem.message, {
        exception: "missing-required-metadata-property",
        "required-metadata-properties": "type,content-type",
      });
    case "empty-type":
      return handlerException();
    case "bad-id":
      return invalidArgument(problem.message);
  }
};

/** `Streams.Append`: options first, then the events; the answer comes after the client half-closes. */
export const appendHandler =
  (commits: GroupCommit, limits: AppendLimits) =>
  (call: ServerReadableStream<AppendReq, AppendResp>, callback: sendUnaryData<AppendResp>): void => {
    let streamName: string | undefined;
    let expected: ExpectedRevision = { kind: "any" };
    const events: ProposedEvent[] = [];
    let size = 0;
    let failure: Error | undefined;

    call.on("data", (request: AppendReq) => {
      if (failure) return;
      if (request.hasOptions()) {
        const options = request.getOptions();
        streamName = readStreamName(options?.getStreamIdentifier());
        if (options) expected = readExpectedRevision(options, () => (options.hasRevision() ? options.getRevision() : undefined));
        return;
      }
      const message = request.getProposedMessage();
      if (!message || streamName === undefined) {
        failure = invalidArgument("Append requests must start with options");
        return;
      }
      const event = toProposedEvent(message);
      if (isInvalid(event)) {
        failure = invalidEventError(event);
        return;
      }
      size += eventSize(event);
      if (size > limits.maxAppendSize) {
        failure = maximumAppendSizeExceededError(limits.maxAppendSize);
        return;
      }
      events.push(event);
    });
    call.on("error", () => undefined);
    call.on("end", () => {
      if (failure) return callback(failure);
      if (streamName === undefined) return callback(invalidArgument("Append requests must start with options"));
      if (streamName === "") return callback(handlerException());
      if (isProjectionStream(streamName)) return callback(projectionStreamWriteError(streamName));
      const name = streamName;
      commits.append({ streamId: name, expected, events }).then(
        (outcome) => {
          if (outcome.kind === "stream_deleted") callback(streamDeletedError(name));
          else callback(null, toAppendResp(outcome, expected));
        },
        (error: unknown) => callback(storageError(error)),
      );
    });
  };

const toAppendResp = (outcome: Exclude<AppendOutcome, { kind: "stream_deleted" }>, expected: ExpectedRevision): AppendResp => {
  const response = new streamsPb.AppendResp();
  const empty = (): InstanceType<typeof sharedPb.Empty> => new sharedPb.Empty();
  if (outcome.kind === "success") {
    const success = new streamsPb.AppendResp.Success();
    if (outcome.revision < 0) success.setNoStream(empty());
    else success.setCurrentRevision(String(outcome.revision));
    if (outcome.position < 0) success.setNoPosition(empty());
    else {
      const position = new streamsPb.AppendResp.Position();
      position.setCommitPosition(String(outcome.position));
      position.setPreparePosition(String(outcome.position));
      success.setPosition(position);
    }
    response.setSuccess(success);
    return response;
  }
  const wrong = new streamsPb.AppendResp.WrongExpectedVersion();
  // Both the current fields and the 20.6 ones are filled, as EventStoreDB does for older clients.
  if (outcome.current === "no_stream") {
    wrong.setCurrentNoStream(empty());
    wrong.setNoStream2060(empty());
  } else {
    wrong.setCurrentRevision(String(outcome.current));
    wrong.setCurrentRevision2060(outcome.current);
  }
  switch (expected.kind) {
    case "any":
      wrong.setExpectedAny(empty());
      wrong.setAny2060(empty());
      break;
    case "no_stream":
      // The 20.6 field would hold ulong.MaxValue, which this binding cannot encode; the client reads only the current fields.
      wrong.setExpectedNoStream(empty());
      break;
    case "stream_exists":
      wrong.setExpectedStreamExists(empty());
      wrong.setStreamExists2060(empty());
      break;
    case "revision":
      wrong.setExpectedRevision(String(expected.revision));
      wrong.setExpectedRevision2060(expected.revision);
      break;
  }
  response.setWrongExpectedVersion(wrong);
  return response;
};

interface BatchFailure {
  readonly code: number;
  readonly message: string;
  readonly typeName: string;
  readonly details: Uint8Array;
}

interface PendingBatch {
  readonly streamName: string;
  readonly expected: ExpectedRevision;
  readonly deadlineMs: number | undefined;
  readonly events: ProposedEvent[];
  size: number;
  /** Fires the append's timeout while its chunks are still coming. */
  timer: NodeJS.Timeout | undefined;
}

/** Deadlines beyond what a timer can wait (about 24.8 days) never fire in practice. */
const MAX_TIMER_MS = 2 ** 31 - 1;

const timeoutFailure = (): BatchFailure => ({
  code: codePb.Code.DEADLINE_EXCEEDED,
  message: "Timeout",
  typeName: "event_store.client.Timeout",
  details: new sharedPb.Timeout().serializeBinary(),
});

const badRequest = (message: string): BatchFailure => {
  const details = new sharedPb.BadRequest();
  details.setMessage(message);
  return {
    code: codePb.Code.INVALID_ARGUMENT,
    message: "BadRequest",
    typeName: "event_store.client.BadRequest",
    details: details.serializeBinary(),
  };
};

/**
 * `Streams.BatchAppend`: many appends multiplexed on one bidirectional call, each identified by
 * a correlation id, its events possibly split over several requests until `is_final`.
 */
export const batchAppendHandler =
  (commits: GroupCommit, limits: AppendLimits) =>
  (call: ServerDuplexStream<BatchAppendReq, BatchAppendResp>): void => {
    const pending = new Map<string, PendingBatch>();
    /** Correlation ids whose append already failed: their remaining chunks are ignored. */
    const failed = new Set<string>();
    /** Appends still committing: the call ends only after their answers are written. */
    let committing = 0;
    let ended = false;
    const endWhenAnswered = (): void => {
      if (ended && committing === 0) call.end();
    };
    call.on("error", () => undefined);
    call.on("end", () => {
      ended = true;
      endWhenAnswered();
    });
    call.on("data", (request: BatchAppendReq) => {
      const correlation = request.getCorrelationId();
      const correlationId = readUuid(correlation);
      if (!correlation || !correlationId || failed.has(correlationId)) return;
      let batch = pending.get(correlationId);
      if (!batch) {
        const options = request.getOptions();
        // Chunks for a correlation id that was never opened with options are ignored, as by EventStoreDB.
        if (!options) return;
        const deadline = options.getDeadline();
        const opened: PendingBatch = {
          streamName: readStreamName(options.getStreamIdentifier()) ?? "",
          expected: readExpectedRevision(options, () => (options.hasStreamPosition() ? options.getStreamPosition() : undefined)),
          deadlineMs: deadline ? deadline.getSeconds() * 1000 + Math.floor(deadline.getNanos() / 1e6) : undefined,
          events: [],
          size: 0,
          timer: undefined,
        };
        const remainingMs = opened.deadlineMs === undefined ? undefined : opened.deadlineMs - Date.now();
        const timedOut = (): void => {
          pending.delete(correlationId);
          failed.add(correlationId);
          if (!call.cancelled && call.writable) call.write(errorResponse(correlation, opened.streamName, timeoutFailure()));
        };
        // As EventStoreDB: options already past their deadline are answered at once, before anything
        // else is looked at; otherwise the append times out if its last chunk is not in by then.
        if (remainingMs !== undefined && remainingMs <= 0) {
          timedOut();
          return;
        }
        if (remainingMs !== undefined && remainingMs < MAX_TIMER_MS) {
          opened.timer = setTimeout(timedOut, remainingMs);
          opened.timer.unref();
        }
        batch = opened;
        pending.set(correlationId, batch);
      }
      const failure = collect(batch, request.getProposedMessagesList(), limits);
      if (failure) {
        clearTimeout(batch.timer);
        pending.delete(correlationId);
        failed.add(correlationId);
        call.write(errorResponse(correlation, batch.streamName, failure));
        return;
      }
      if (request.getIsFinal()) {
        clearTimeout(batch.timer);
        pending.delete(correlationId);
        committing += 1;
        void complete(commits, batch, correlation).then((response) => {
          committing -= 1;
          // The client may have gone while the group was committing; there is no one left to tell.
          if (!call.cancelled && call.writable) call.write(response);
          endWhenAnswered();
        });
      }
    });
  };

const collect = (batch: PendingBatch, messages: readonly ProposedMessage[], limits: AppendLimits): BatchFailure | undefined => {
  for (const message of messages) {
    const event = toProposedEvent(message);
    if (isInvalid(event)) return badRequest(event.message);
    batch.size += eventSize(event);
    if (batch.size > limits.maxAppendSize) {
      const details = new sharedPb.MaximumAppendSizeExceeded();
      details.setMaxappendsize(limits.maxAppendSize);
      return {
        code: codePb.Code.INVALID_ARGUMENT,
        message: "MaximumAppendSizeExceeded",
        typeName: "event_store.client.MaximumAppendSizeExceeded",
        details: details.serializeBinary(),
      };
    }
    batch.events.push(event);
  }
  return undefined;
};

const complete = async (commits: GroupCommit, batch: PendingBatch, correlation: UUID): Promise<BatchAppendResp> => {
  if (batch.streamName === "") return errorResponse(correlation, batch.streamName, badRequest("Stream name must not be empty"));
  if (isProjectionStream(batch.streamName)) {
    return errorResponse(correlation, batch.streamName, {
      code: codePb.Code.PERMISSION_DENIED,
      message: "AccessDenied",
      typeName: "event_store.client.AccessDenied",
      details: new sharedPb.AccessDenied().serializeBinary(),
    });
  }
  let outcome: AppendOutcome;
  try {
    outcome = await commits.append({ streamId: batch.streamName, expected: batch.expected, events: batch.events });
  } catch (error) {
    const details = new sharedPb.Unknown();
    return errorResponse(correlation, batch.streamName, {
      code: codePb.Code.INTERNAL,
      message: storageError(error).details,
      typeName: "event_store.client.Unknown",
      details: details.serializeBinary(),
    });
  }
  switch (outcome.kind) {
    case "success": {
      const response = baseResponse(correlation, batch.streamName);
      const success = new streamsPb.BatchAppendResp.Success();
      if (outcome.revision < 0) success.setNoStream(new emptyPb.Empty());
      else success.setCurrentRevision(String(outcome.revision));
      if (outcome.position < 0) success.setNoPosition(new emptyPb.Empty());
      else {
        const position = new sharedPb.AllStreamPosition();
        position.setCommitPosition(String(outcome.position));
        position.setPreparePosition(String(outcome.position));
        success.setPosition(position);
      }
      response.setSuccess(success);
      return response;
    }
    case "stream_deleted": {
      const details = new sharedPb.StreamDeleted();
      details.setStreamIdentifier(streamIdentifier(batch.streamName));
      return errorResponse(correlation, batch.streamName, {
        code: codePb.Code.NOT_FOUND,
        message: "StreamDeleted",
        typeName: "event_store.client.StreamDeleted",
        details: details.serializeBinary(),
      });
    }
    case "wrong_expected_version": {
      const details = new sharedPb.WrongExpectedVersion();
      if (outcome.current === "no_stream") details.setCurrentNoStream(new emptyPb.Empty());
      else details.setCurrentStreamRevision(String(outcome.current));
      switch (outcome.expected.kind) {
        case "any":
          details.setExpectedAny(new emptyPb.Empty());
          break;
        case "no_stream":
          details.setExpectedNoStream(new emptyPb.Empty());
          break;
        case "stream_exists":
          details.setExpectedStreamExists(new emptyPb.Empty());
          break;
        case "revision":
          details.setExpectedStreamPosition(String(outcome.expected.revision));
          break;
      }
      return errorResponse(correlation, batch.streamName, {
        code: codePb.Code.ALREADY_EXISTS,
        message: "WrongExpectedVersion",
        typeName: "event_store.client.WrongExpectedVersion",
        details: details.serializeBinary(),
      });
    }
  }
};

const baseResponse = (correlation: UUID, streamName: string): BatchAppendResp => {
  const response = new streamsPb.BatchAppendResp();
  response.setCorrelationId(correlation);
  response.setStreamIdentifier(streamIdentifier(streamName));
  return response;
};

const errorResponse = (correlation: UUID, streamName: string, failure: BatchFailure): BatchAppendResp => {
  const response = baseResponse(correlation, streamName);
  const rpcStatus = new statusPb.Status();
  rpcStatus.setCode(failure.code);
  rpcStatus.setMessage(failure.message);
  const any = new anyPb.Any();
  any.pack(failure.details, failure.typeName);
  rpcStatus.setDetails(any);
  response.setError(rpcStatus);
  return response;
};
