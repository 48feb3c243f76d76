/**
 * A cap on how many unpaid holds one customer keeps at once, across products (abuse resistance:
 * without it one account can hold stock on every product for as long as the holds last). Not an
 * invariant of any aggregate — it spans products — so it is kept beside the event store, and it
 * gives way when its store is unreachable rather than stopping every reservation.
 */
export interface UnpaidHolds {
  /** How many unpaid holds one customer may keep. */
  readonly limit: number;
  /** Counts the reservation as one of its customer's unpaid holds until `until`; false at the limit. */
  claim(customerId: string, reservationId: string, until: Date): Promise<boolean>;
  /** The hold's real end, once the product has said it. */
  holdUntil(customerId: string, reservationId: string, until: Date): Promise<void>;
  /** The reservation was paid, or ended, or never came to be: it no longer counts. Best effort: never throws. */
  release(customerId: string, reservationId: string): Promise<void>;
}

/** The customer already keeps as many unpaid holds as allowed. */
export class UnpaidHoldsLimitError extends Error {
  override readonly name = "UnpaidHoldsLimitError";
  constructor(readonly limit: number) {
    super(`a customer may keep at most ${limit} unpaid reservations at once; pay or cancel one first`);
  }
}

/** The longest a hold can last (a product's holdTtlSeconds is at most a day). */
export const LONGEST_HOLD_MS = 86_400_000;

/** Until the product has answered, a claim counts for the longest hold there can be. */
export const provisionalHoldEnd = (now: Date): Date => new Date(now.getTime() + LONGEST_HOLD_MS);
