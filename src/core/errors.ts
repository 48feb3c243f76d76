/**
 * Failures shared by the application, the workers and the read side: the event store or a provider
 * is unavailable, or an aggregate cannot be rebuilt. The HTTP edge maps them to statuses; consumers
 * retry the transient ones (see transient.ts).
 */

/** The aggregate's stream was deleted for good (tombstoned) in the event store: it no longer exists. */
export class AggregateDeletedError extends Error {
  override readonly name = "AggregateDeletedError";
  constructor(readonly streamId: string) {
    super(`${streamId} was deleted`);
  }
}

/**
 * An event of the aggregate's stream does not match its schema, so the aggregate cannot be rebuilt
 * until the event is upcast or the stream repaired: an operator's problem, not the client's.
 */
export class AggregateUnreadableError extends Error {
  override readonly name = "AggregateUnreadableError";
  constructor(
    readonly streamId: string,
    readonly revision: number,
    readonly eventType: string,
    readonly reason: string,
  ) {
    super(`${streamId}@${revision} (${eventType}) does not match its schema: ${reason}`);
  }
}

/** A dependency (the event store) could not be reached or kept conflicting: the client should retry. */
export class ServiceUnavailableError extends Error {
  override readonly name = "ServiceUnavailableError";
  constructor(
    message: string,
    readonly retryAfterSeconds: number,
  ) {
    super(message);
  }
}

/** The provider could not be reached, timed out, or its circuit is open: try again later. */
export class PaymentProviderUnavailableError extends Error {
  override readonly name = "PaymentProviderUnavailableError";
  constructor(
    message: string,
    readonly retryAfterSeconds: number,
  ) {
    super(message);
  }
}

/** A failure worth retrying later (a dependency is down); anything else is parked at once. */
export class TransientError extends Error {
  override readonly name = "TransientError";
}
