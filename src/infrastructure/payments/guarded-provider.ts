import CircuitBreaker from "opossum";
import {
  type ChargeRequest,
  type ChargeResult,
  type PaymentProvider,
  PaymentProviderUnavailableError,
  type RefundRequest,
} from "../../application/payment-provider.js";

export interface GuardOptions {
  /** A call slower than this counts as a failure. */
  readonly timeoutMs?: number;
  /** Failure percentage over the rolling window that opens the circuit. */
  readonly errorThresholdPercentage?: number;
  /** How long the circuit stays open before one trial call is let through. */
  readonly resetTimeoutMs?: number;
  /** Calls needed in the window before the percentage means anything. */
  readonly volumeThreshold?: number;
}

export type CircuitState = "closed" | "open" | "half-open";

/**
 * Wraps a provider in circuit breakers (opossum): when it keeps failing or timing out, calls fail
 * at once with `PaymentProviderUnavailableError` instead of piling up, and a trial call after
 * `resetTimeoutMs` closes the circuit again. A decline is an answer, not a failure.
 */
export class GuardedPaymentProvider implements PaymentProvider {
  readonly name: string;
  private readonly chargeBreaker: CircuitBreaker<[ChargeRequest], ChargeResult>;
  private readonly refundBreaker: CircuitBreaker<[RefundRequest], { readonly reference: string }>;
  private readonly resetTimeoutMs: number;

  constructor(provider: PaymentProvider, options: GuardOptions = {}) {
    this.name = provider.name;
    this.resetTimeoutMs = options.resetTimeoutMs ?? 10_000;
    const settings = {
      timeout: options.timeoutMs ?? 3000,
      errorThresholdPercentage: options.errorThresholdPercentage ?? 50,
      resetTimeout: this.resetTimeoutMs,
      volumeThreshold: options.volumeThreshold ?? 5,
      rollingCountTimeout: 10_000,
    };
    this.chargeBreaker = new CircuitBreaker((request: ChargeRequest) => provider.charge(request), settings);
    this.refundBreaker = new CircuitBreaker((request: RefundRequest) => provider.refund(request), settings);
  }

  get state(): CircuitState {
    const breaker = this.chargeBreaker;
    return breaker.opened ? "open" : breaker.halfOpen ? "half-open" : "closed";
  }

  charge(request: ChargeRequest): Promise<ChargeResult> {
    return this.guard(this.chargeBreaker.fire(request));
  }

  refund(request: RefundRequest): Promise<{ readonly reference: string }> {
    return this.guard(this.refundBreaker.fire(request));
  }

  private async guard<T>(call: Promise<T>): Promise<T> {
    try {
      return await call;
    } catch (error) {
      if (error instanceof PaymentProviderUnavailableError) throw error;
      const open = this.state === "open";
      throw new PaymentProviderUnavailableError(
        open ? "the payment provider's circuit is open" : `the payment provider failed: ${error instanceof Error ? error.message : String(error)}`,
        open ? Math.ceil(this.resetTimeoutMs / 1000) : 1,
      );
    }
  }
}
