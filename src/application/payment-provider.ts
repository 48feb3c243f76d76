/**
 * The payment provider port. Implementations must be idempotent on `paymentId` for charges and on
 * `refundId` for refunds, as real providers are with idempotency keys: asking twice never moves
 * money twice.
 */
export interface ChargeRequest {
  readonly paymentId: string;
  /** Whose money: lets a guard tell one customer's failing card from a provider outage. */
  readonly customerId: string;
  readonly amount: number;
  readonly currency: string;
  readonly token: string;
}

export type ChargeResult =
  { readonly outcome: "succeeded"; readonly reference: string } | { readonly outcome: "declined"; readonly reason: string };

export interface RefundRequest {
  readonly paymentId: string;
  readonly refundId: string;
  readonly amount: number;
  readonly currency: string;
}

export interface PaymentProvider {
  readonly name: string;
  /**
   * Resolves with the provider's verdict; rejects with `PaymentProviderUnavailableError` only when
   * the provider cannot give one (5xx, timeout, connection refused). Anything the provider says about
   * the request itself (an invalid, expired or unknown token, a 4xx) is a decline: an adapter that
   * turned those into failures would let one customer's card look like an outage.
   */
  charge(request: ChargeRequest): Promise<ChargeResult>;
  refund(request: RefundRequest): Promise<{ readonly reference: string }>;
}

// Defined in core: the workers and the read side classify it as transient without the application.
export { PaymentProviderUnavailableError } from "../core/errors.js";
