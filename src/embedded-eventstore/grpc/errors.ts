import { Metadata, status, type ServiceError } from "@grpc/grpc-js";

/**
 * EventStoreDB reports failures as a gRPC status plus trailers: `exception` names the error and
 * further keys carry its details. The client turns these into its typed errors.
 */
export const rpcError = (code: status, details: string, trailers: Record<string, string> = {}): ServiceError => {
  const metadata = new Metadata();
  for (const [key, value] of Object.entries(trailers)) metadata.set(key, value);
  const error = new Error(details) as ServiceError;
  error.code = code;
  error.details = details;
  error.metadata = metadata;
  return error;
};

export const streamDeletedError = (streamName: string): ServiceError =>
  rpcError(status.FAILED_PRECONDITION, `Event stream '${streamName}' is deleted.`, {
    exception: "stream-deleted",
    "stream-name": streamName,
  });

/** Only deletes report a wrong expected version as an error; appends answer it in their response. */
export const wrongExpectedVersionError = (streamName: string, expected: string, actual: string | undefined): ServiceError =>
  rpcError(
    status.FAILED_PRECONDITION,
    `Delete failed due to WrongExpectedVersion. Stream: ${streamName}, Expected version: ${expected}, Actual version: ${actual ?? "-1"}`,
    {
      exception: "wrong-expected-version",
      "stream-name": streamName,
      "expected-version": expected,
      ...(actual === undefined ? {} : { "actual-version": actual }),
    },
  );

export const maximumAppendSizeExceededError = (maxAppendSize: number): ServiceError =>
  rpcError(status.INVALID_ARGUMENT, `Maximum Append Size of ${maxAppendSize} Exceeded.`, {
    exception: "maximum-append-size-exceeded",
    "maximum-append-size": String(maxAppendSize),
  });

export const invalidArgument = (details: string): ServiceError => rpcError(status.INVALID_ARGUMENT, details);

/** A write that SQLite refused or could not make durable: only the calls of that write fail. */
export const storageError = (cause: unknown): ServiceError =>
  rpcError(status.INTERNAL, `Storage error: ${cause instanceof Error ? cause.message : String(cause)}`);

/** Streams only the standard projections write; a secure node would refuse such a write to any non-admin the same way. */
export const projectionStreamWriteError = (streamName: string): ServiceError =>
  rpcError(status.PERMISSION_DENIED, `Access denied: '${streamName}' is written by the standard projections only.`, {
    exception: "access-denied",
  });
