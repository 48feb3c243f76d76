/**
 * Rule refusals raised by `decide`. `code` is stable and kebab-case: the API uses it
 * as the suffix of the problem `type`. `details` is structured data for the problem
 * body (e.g. `{ available: 3 }`).
 *
 * HTTP mapping expected at the edge: `not-found` -> 404, `invalid-command` -> 400,
 * every other code -> 409.
 */
export type DomainErrorCode =
  | "not-found"
  | "invalid-command"
  | "invalid-transition"
  | "insufficient-availability"
  | "product-withdrawn"
  | "price-changed"
  | "per-customer-limit"
  | "too-many-payment-attempts"
  | "capacity-below-allocated"
  | "units-in-use"
  | "not-next-step"
  | "cancel-not-allowed"
  | "not-yet-expired"
  | "payment-not-payable";

export type DomainErrorDetails = Readonly<Record<string, unknown>>;

export class DomainError extends Error {
  readonly code: DomainErrorCode;
  readonly details: DomainErrorDetails | undefined;

  constructor(code: DomainErrorCode, message: string, details?: DomainErrorDetails) {
    super(message);
    this.name = new.target.name;
    this.code = code;
    this.details = details;
  }
}

export type AggregateName = "product" | "reservation" | "payment";

/** A command other than a create addressed an aggregate whose stream has no creation event. */
export class NotFoundError extends DomainError {
  constructor(aggregate: AggregateName) {
    super("not-found", `${aggregate} does not exist`, { aggregate });
  }
}

/** Defence in depth: the API validates input with zod, the domain still guards its invariants. */
export class InvalidCommandError extends DomainError {
  constructor(field: string, reason: string) {
    super("invalid-command", `${field}: ${reason}`, { field, reason });
  }
}

export class InvalidTransitionError extends DomainError {
  constructor(aggregate: AggregateName, from: string, command: string, reason?: string) {
    super(
      "invalid-transition",
      `cannot ${command} a ${aggregate} that is ${from}${reason ? ` (${reason})` : ""}`,
      reason ? { aggregate, from, command, reason } : { aggregate, from, command },
    );
  }
}

export class InsufficientAvailabilityError extends DomainError {
  constructor(available: number, requested: number) {
    super("insufficient-availability", `only ${available} unit(s) available, ${requested} requested`, {
      available,
      requested,
    });
  }
}

/** The customer agreed to another price than the product has now (a seller changed it meanwhile). */
export class PriceChangedError extends DomainError {
  constructor(unitPrice: number, agreedUnitPrice: number) {
    super("price-changed", `the unit price is now ${unitPrice}, not the ${agreedUnitPrice} agreed to`, {
      unitPrice,
      agreedUnitPrice,
    });
  }
}

/** One customer may hold and reserve at most `perCustomerLimit` units of the product (ticket sales cap seats per buyer). */
export class PerCustomerLimitError extends DomainError {
  constructor(limit: number, allocated: number, requested: number) {
    super("per-customer-limit", `at most ${limit} unit(s) per customer; ${allocated} already held or reserved, ${requested} requested`, {
      limit,
      allocated,
      requested,
    });
  }
}

export class ProductWithdrawnError extends DomainError {
  constructor() {
    super("product-withdrawn", "the product has been withdrawn");
  }
}

export class CapacityBelowAllocatedError extends DomainError {
  constructor(capacity: number, held: number, committed: number) {
    super("capacity-below-allocated", `capacity ${capacity} is below the ${held + committed} unit(s) held or committed`, {
      capacity,
      held,
      committed,
    });
  }
}

export class UnitsInUseError extends DomainError {
  constructor(held: number, inUse: number) {
    super("units-in-use", `cannot withdraw while ${held} unit(s) are held and ${inUse} rented out`, {
      held,
      inUse,
    });
  }
}

export class NotNextStepError extends DomainError {
  constructor(step: string, expected: string | null) {
    super("not-next-step", expected === null ? `no fulfilment step is left, got ${step}` : `the next step is ${expected}, got ${step}`, {
      step,
      expected,
    });
  }
}

export class CancelNotAllowedError extends DomainError {
  constructor(status: string) {
    super("cancel-not-allowed", `a reservation that is ${status} can no longer be cancelled`, { status });
  }
}

/** The expiry arrived before the hold's TTL passed (clock skew, early timer): reschedule it. */
export class NotYetExpiredError extends DomainError {
  constructor(expiresAt: string, now: string) {
    super("not-yet-expired", `the hold expires at ${expiresAt}, it is ${now}`, { expiresAt, now });
  }
}

/** A payment takes a bounded number of attempts, so that repeated declined charges cannot grow it (or hammer the provider) without end. */
export class TooManyPaymentAttemptsError extends DomainError {
  constructor(limit: number) {
    super("too-many-payment-attempts", `a payment takes at most ${limit} attempts; cancel the reservation and place a new one`, { limit });
  }
}

export class PaymentNotPayableError extends DomainError {
  constructor(status: string) {
    super("payment-not-payable", `a payment that is ${status} cannot be paid`, { status });
  }
}
