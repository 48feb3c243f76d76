/**
 * Where the payment token a customer gives with a reservation waits for the automatic charge.
 * Tokens are secrets: they never enter the event store, whose log is immutable and readable from
 * `$all` by anyone holding the store's port. A token lives at most as long as its hold.
 */
export interface PaymentTokenStore {
  store(reservationId: string, token: string, ttlSeconds: number): Promise<void>;
  read(reservationId: string): Promise<string | undefined>;
  discard(reservationId: string): Promise<void>;
}
