import type { PaymentView } from "./ports.js";

// Shared with the worker and the read side, which may not import the application's own failures.
export { AggregateDeletedError, AggregateUnreadableError, ServiceUnavailableError } from "../core/errors.js";

/**
 * Failures of the application layer that are not domain rule refusals (those are `DomainError`s).
 * The HTTP edge maps each to its status: 403, 404, 412, 503.
 */
export class AccessDeniedError extends Error {
  override readonly name = "AccessDeniedError";
}

export class ResourceNotFoundError extends Error {
  override readonly name = "ResourceNotFoundError";
  constructor(
    readonly resource: "product" | "reservation" | "payment",
    readonly id: string,
  ) {
    super(`${resource} ${id} not found`);
  }
}

export class RevisionMismatchError extends Error {
  override readonly name = "RevisionMismatchError";
  constructor(
    readonly expected: number,
    readonly actual: number,
  ) {
    super(`revision ${actual} does not match If-Match ${expected}`);
  }
}

/**
 * The same Idempotency-Key was used by the same user for a different request. As the IETF
 * Idempotency-Key draft says, that is a client error (422), not a repeat to answer with the first result.
 */
export class IdempotencyKeyReusedError extends Error {
  override readonly name = "IdempotencyKeyReusedError";
  /** `reservationId`: a payment's id is its reservation's, so both requests name one reservation. */
  constructor(
    readonly reservationId: string,
    request: "reservation" | "payment" = "reservation",
  ) {
    super(
      request === "reservation"
        ? `this Idempotency-Key was already used for a different request (reservation ${reservationId})`
        : `this Idempotency-Key was already used to pay with another token (payment ${reservationId})`,
    );
  }
}

/** The provider declined the charge; the attempt is recorded and the payment stays pending. */
export class PaymentDeclinedError extends Error {
  override readonly name = "PaymentDeclinedError";
  constructor(
    readonly reason: string,
    readonly payment: PaymentView,
  ) {
    super(`the payment was declined: ${reason}`);
  }
}
