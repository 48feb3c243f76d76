/**
 * The payment provider port. Implementations must be idempotent on `paymentId` for charges and on
 * `refundId` for refunds, as real providers are with idempotency keys: asking twice never moves
 * money twice.
 */
export interface ChargeRequest {
  readonly paymentId: string;
  readonly amount: number;
  readonly currency: string;
  readonly token: string;
}

export type ChargeResult =
  | { readonly outcome: "succeeded"; readonly reference: string }
  | { readonly outcome: "declined"; readonly reason: string };

export interface RefundRequest {
  readonly paymentId: string;
  readonly refundId: string;
  readonly amount: number;
  readonly currency: string;
}

export interface PaymentProvider {
  readonly name: string;
  /** Resolves with the provider's verdict; rejects with `PaymentProviderUnavailableError` when it cannot give one. */
  charge(request: ChargeRequest): Promise<ChargeResult>;
  refund(request: RefundRequest): Promise<{ readonly reference: string }>;
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
