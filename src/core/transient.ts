import { CancelledError, DeadlineExceededError, NotLeaderError, TimeoutError, UnavailableError } from "@eventstore/db-client";
import { PaymentProviderUnavailableError, ServiceUnavailableError, TransientError } from "./errors.js";

/** ioredis errors that mean "Redis is not there right now", as opposed to a bad command. */
const REDIS_OUTAGE =
  /Connection is closed|Stream isn't writeable|ECONNREFUSED|ECONNRESET|ETIMEDOUT|EPIPE|max retries per request|enableOfflineQueue|Command timed out/i;

/**
 * Whether a handler failure is worth retrying later: a dependency is down or too busy. Domain rule
 * refusals, malformed events and bugs are not; retrying them would only delay the parking.
 */
export const isTransientFailure = (error: unknown): boolean => {
  if (error instanceof TransientError || error instanceof ServiceUnavailableError || error instanceof PaymentProviderUnavailableError) {
    return true;
  }
  if (
    error instanceof UnavailableError ||
    error instanceof DeadlineExceededError ||
    error instanceof TimeoutError ||
    error instanceof CancelledError ||
    error instanceof NotLeaderError
  ) {
    return true;
  }
  return error instanceof Error && REDIS_OUTAGE.test(error.message);
};
